"""Trainer's run_fn: read Transform's output, train the classifier, export for serving.

TFX calls `run_fn(fn_args)` with the artifact paths; everything else comes from the
pipeline config in `fn_args.custom_config`, rebuilt and validated as `TrainingSettings`
(trainer/settings.py), overridden by the Tuner's best hyperparameters when the Tuner ran.
The log says what was actually done: weights, phases, precision, caching, and one line per
epoch.

With `resume_dir` in the config (set by ImageTrainer's executor), training survives the
process being killed: each phase is backed up at every epoch end and its weights are kept
once it is done, so running the same work again skips the phases already done and resumes
the interrupted one from its last completed epoch ("resumed from epoch N" in the log).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Dict, List

import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs

from trainer import augmentation, data, export, features, model, progress, schedule, selection
from trainer.settings import FineTuningConfig, TrainerConfig, TrainingSettings

TRAINING_RECORD = "training.json"
"""In the ModelRun artifact: the trainer config the model was trained with."""


class EpochLog(tf.keras.callbacks.Callback):
    """One progress line per epoch in the component log (Keras' bar is unreadable there),
    prefixed with what is training ("Trainer", "Tuner: trial 3")."""

    def __init__(self, epochs: int, who: str = "Trainer"):
        super().__init__()
        self._epochs = epochs
        self._who = who

    def on_epoch_end(self, epoch, logs=None):
        metrics = ", ".join(f"{name} {value:.4g}" for name, value in (logs or {}).items())
        logging.info("%s: epoch %d/%d: %s", self._who, epoch + 1, self._epochs, metrics)


class _EpochsDone(tf.keras.callbacks.Callback):
    """Writes how many epochs the phase's backup holds, for the log of a resumed run."""

    def __init__(self, path: str):
        super().__init__()
        self._path = path

    def on_epoch_end(self, epoch, logs=None):
        with tf.io.gfile.GFile(self._path, "w") as f:
            f.write(str(epoch + 1))


class _PhaseCheckpoints:
    """One phase's folders under resume_dir: its backup while it trains, its weights once done.

    The backup (BackupAndRestore: weights, optimizer and epoch) is kept until the weights
    are saved, so that a kill at any moment leaves one or the other. The saved weights leave
    the optimizer out: the next phase starts with a fresh one, as it does without a kill.
    """

    def __init__(self, resume_dir: str, index: int):
        self._number = index + 1
        self._backup_dir = os.path.join(resume_dir, f"phase-{index}")
        self._done_dir = os.path.join(resume_dir, f"phase-{index}-done")

    def _weights(self, classifier: tf.keras.Model) -> tf.train.Checkpoint:
        return tf.train.Checkpoint(layers=classifier.layers)

    def done(self) -> bool:
        return tf.io.gfile.exists(os.path.join(self._done_dir, "complete"))

    def restore(self, classifier: tf.keras.Model) -> None:
        weights = self._weights(classifier).read(os.path.join(self._done_dir, "weights"))
        weights.assert_existing_objects_matched()
        logging.info(
            "Trainer: phase %d already completed before the interruption; its weights "
            "restored from %s",
            self._number,
            self._done_dir,
        )

    def callbacks(self) -> List[tf.keras.callbacks.Callback]:
        """BackupAndRestore, then the epoch count next to its backup; says where fit resumes."""
        epochs_file = os.path.join(self._backup_dir, "epochs-done")
        if tf.io.gfile.exists(epochs_file):
            with tf.io.gfile.GFile(epochs_file) as f:
                epochs = int(f.read())
            logging.info(
                "Trainer: resumed from epoch %d (checkpoint in %s)", epochs, self._backup_dir
            )
        return [
            tf.keras.callbacks.BackupAndRestore(
                self._backup_dir, save_freq="epoch", delete_checkpoint=False
            ),
            _EpochsDone(epochs_file),
        ]

    def save(self, classifier: tf.keras.Model) -> None:
        self._weights(classifier).write(os.path.join(self._done_dir, "weights"))
        with tf.io.gfile.GFile(os.path.join(self._done_dir, "complete"), "w") as f:
            f.write("")  # GFile creates the file on the first write
        if tf.io.gfile.exists(self._backup_dir):
            tf.io.gfile.rmtree(self._backup_dir)


def build_classifier(trainer: TrainerConfig, image_size: int, num_classes: int) -> tf.keras.Model:
    """The configured classifier (trainer/model.py), as run_fn and every Tuner trial build it."""
    return model.build_model(
        num_classes=num_classes,
        image_size=image_size,
        backbone=trainer.backbone,
        weights=trainer.weights,
        dropout=trainer.dropout,
        batchnorm_momentum=trainer.batchnorm_momentum,
        stem=trainer.stem_filters,
        stem_trainable=trainer.stem_trainable,
    )


def apply_hyperparameters(trainer: TrainerConfig, values: Dict | None) -> TrainerConfig:
    """The trainer config with the Tuner's best values in place (see trainer/tuning.py): the
    chosen backbone, and the tuned learning rate (fine-tuning's, when pretrained), dropout
    and unfreeze depth."""
    if not values:
        return trainer
    fine_tuning = trainer.fine_tuning
    learning_rate = trainer.learning_rate
    if "learning_rate" in values:
        if trainer.pretrained:
            fine_tuning = dataclasses.replace(fine_tuning, learning_rate=values["learning_rate"])
        else:
            learning_rate = values["learning_rate"]
    if trainer.pretrained and "unfreeze_blocks" in values:
        fine_tuning = dataclasses.replace(fine_tuning, unfreeze_blocks=values["unfreeze_blocks"])
    return dataclasses.replace(
        trainer,
        backbone=values.get("backbone", trainer.backbone),
        learning_rate=learning_rate,
        dropout=values.get("dropout", trainer.dropout),
        fine_tuning=fine_tuning,
    )


def class_weights(tf_transform_output: tft.TFTransformOutput) -> Dict[int, float]:
    """Inverse-frequency weights by class index, from the counts Transform stored."""
    names = tf_transform_output.vocabulary_by_name(features.LABEL_VOCABULARY)
    counts = {}
    for line in tf_transform_output.vocabulary_by_name(features.LABEL_COUNTS):
        count, name = line.split(b" ", 1)
        counts[name] = int(count)
    total = sum(counts.values())
    return {index: total / (len(names) * counts[name]) for index, name in enumerate(names)}


def unfreeze_count(classifier: tf.keras.Model, fine_tuning: FineTuningConfig) -> int:
    """How many top blocks phase 2 trains: a count, or a fraction of the backbone's blocks."""
    if fine_tuning.unfreeze_blocks:
        return fine_tuning.unfreeze_blocks
    total = len(model.blocks(classifier))
    return round(total * fine_tuning.unfreeze_fraction)


def compile_model(
    classifier: tf.keras.Model,
    learning_rate: float,
    jit_compile: bool,
    rate_factors: Dict[str, float] | None = None,
) -> None:
    """Adam, or with `rate_factors` (variable name -> factor) differential learning rates."""
    classifier.compile(
        optimizer=(
            schedule.LayerwiseAdam(learning_rate, rate_factors)
            if rate_factors
            else tf.keras.optimizers.Adam(learning_rate)
        ),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(),
        metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile,
    )


def train(
    classifier: tf.keras.Model,
    train_dataset: tf.data.Dataset,
    eval_dataset: tf.data.Dataset,
    trainer: TrainerConfig,
    callbacks: List[tf.keras.callbacks.Callback],
    class_weight: Dict[int, float] | None = None,
    resume_dir: str | None = None,
) -> None:
    """One phase over every layer (random init), or head then fine-tuning (pretrained).

    Each phase has its own learning-rate schedule (warm-up, then cosine or constant).
    Early stopping, when on, watches the last phase and restores its best weights.
    With `resume_dir`, phases done by a killed run are restored instead of trained, and the
    interrupted one continues from its last completed epoch (see _PhaseCheckpoints).
    """
    phases = []  # (first epoch, last epoch + 1, base learning rate, warm-up epochs)
    if not trainer.pretrained:
        phases.append((0, trainer.epochs, trainer.learning_rate, trainer.warmup_epochs))
    else:
        head_epochs = trainer.fine_tuning.head_epochs
        phases.append((0, head_epochs, trainer.learning_rate, trainer.warmup_epochs))
        phases.append((head_epochs, trainer.epochs, trainer.fine_tuning.learning_rate, 0))
    for index, (start, stop, base_rate, warmup) in enumerate(phases):
        last = index == len(phases) - 1
        rate_factors = None
        if trainer.pretrained:
            if index == 0:
                model.freeze_backbone(classifier)
                logging.info("Phase 1: head only, backbone frozen, epochs %d-%d", start + 1, stop)
            else:
                count = unfreeze_count(classifier, trainer.fine_tuning)
                model.unfreeze_top(classifier, count)
                decay = trainer.fine_tuning.layer_decay
                logging.info(
                    "Phase 2: fine-tuning, epochs %d-%d, %s",
                    start + 1,
                    stop,
                    f"learning rate x{decay} per block down" if decay < 1 else "one learning rate",
                )
                if decay < 1:
                    rate_factors = model.block_rate_factors(classifier, count, decay)
        checkpoints = _PhaseCheckpoints(resume_dir, index) if resume_dir else None
        if checkpoints and checkpoints.done():
            checkpoints.restore(classifier)
            continue
        compile_model(classifier, base_rate, trainer.jit_compile, rate_factors)
        phase_callbacks = (checkpoints.callbacks() if checkpoints else []) + list(callbacks)
        phase_callbacks.append(
            tf.keras.callbacks.LearningRateScheduler(
                lambda epoch, _, start=start, stop=stop, base=base_rate, warmup=warmup: (
                    schedule.learning_rate(
                        epoch - start, base, warmup, stop - start, trainer.lr_schedule
                    )
                )
            )
        )
        if last and trainer.early_stopping_patience:
            # Not in the backup: after a kill, its best weights and patience start afresh.
            phase_callbacks.append(
                tf.keras.callbacks.EarlyStopping(
                    monitor="val_accuracy",
                    mode="max",
                    patience=trainer.early_stopping_patience,
                    restore_best_weights=True,
                    verbose=1,
                )
            )
        classifier.fit(
            train_dataset,
            validation_data=eval_dataset,
            initial_epoch=start,
            epochs=stop,
            verbose=0,
            callbacks=phase_callbacks,
            class_weight=class_weight,
        )
        if checkpoints:
            checkpoints.save(classifier)


def set_precision(mode: str) -> str:
    """Turns mixed precision on (on, or auto with a GPU present); returns the policy name."""
    gpu = bool(tf.config.list_physical_devices("GPU"))
    policy = "mixed_float16" if mode == "on" or (mode == "auto" and gpu) else "float32"
    tf.keras.mixed_precision.set_global_policy(policy)
    return policy


def warm_start(classifier: tf.keras.Model, base_model: str, class_names: List[bytes]) -> None:
    """Starts from the latest blessed model: its backbone, and its head for known classes.

    Classes are matched by name, because the label vocabulary's order follows class
    frequencies and may change between runs; a class the previous model did not know keeps
    its fresh initialisation.
    """
    previous = tf.keras.models.load_model(base_model, compile=False)
    try:
        for layer in classifier.layers:
            if layer.weights and layer.name != "probabilities":
                layer.set_weights(previous.get_layer(layer.name).get_weights())
    except ValueError as error:
        raise model.WeightsError(
            f"trainer.warm_start: the latest blessed model {base_model} has another backbone, "
            f"stem or image size than this run ({error}); set trainer.warm_start to false"
        ) from None
    with tf.io.gfile.GFile(os.path.join(base_model, "assets", features.LABEL_VOCABULARY)) as f:
        previous_names = [line.rstrip("\n").encode() for line in f]
    kernel, bias = previous.get_layer("probabilities").get_weights()
    head = classifier.get_layer("probabilities")
    new_kernel, new_bias = head.get_weights()
    for index, name in enumerate(class_names):
        if name in previous_names:
            new_kernel[:, index] = kernel[:, previous_names.index(name)]
            new_bias[index] = bias[previous_names.index(name)]
    head.set_weights([new_kernel, new_bias])
    known = sum(name in previous_names for name in class_names)
    logging.info(
        "Warm start from %s: backbone (and stem), and the head for %d of %d classes",
        base_model,
        known,
        len(class_names),
    )


def write_training_record(
    model_run_dir: str, settings: TrainingSettings, candidates: List[Dict] | None = None
) -> None:
    """What trained the model (backbone, weights, epochs, augmentation, ...), as JSON in the
    ModelRun artifact: the model card, the report and the run summary read it. With
    `candidates`, the Tuner's table of the backbones it chose among (trainer/selection.py)."""
    record = {k: v for k, v in settings.custom_config().items() if k != "resume_dir"}
    if candidates:
        record[selection.SELECTION_KEY] = candidates
    tf.io.gfile.makedirs(model_run_dir)
    with tf.io.gfile.GFile(os.path.join(model_run_dir, TRAINING_RECORD), "w") as handle:
        handle.write(json.dumps(record, indent=2, sort_keys=True))


def run_fn(fn_args: FnArgs) -> None:
    """Trains on the train split, validates on the eval split, exports the SavedModel."""
    tuned = (
        keras_tuner.HyperParameters.from_config(fn_args.hyperparameters).values
        if fn_args.hyperparameters
        else None
    )
    settings = TrainingSettings.from_custom_config(fn_args.custom_config)
    trainer = apply_hyperparameters(settings.trainer, tuned)
    if tuned:
        logging.info(
            "Trainer: using the Tuner's best hyperparameters %s",
            {name: value for name, value in tuned.items() if name != selection.SELECTION_KEY},
        )
    if trainer.candidates:
        raise selection.SelectionError(
            f"trainer.backbone lists {', '.join(trainer.candidates)}, but no choice among them "
            "reached the Trainer: its hyperparameters input must be the Tuner's "
            "best_hyperparameters (pipeline/pipeline.py wires it)"
        )
    candidates = (
        json.loads(tuned[selection.SELECTION_KEY])
        if tuned and selection.SELECTION_KEY in tuned
        else None
    )
    settings = dataclasses.replace(settings, trainer=trainer)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    class_names = tf_transform_output.vocabulary_by_name(features.LABEL_VOCABULARY)
    policy = set_precision(trainer.mixed_precision)
    logging.info(
        "Trainer: %s on %d classes at %d px, weights %s, %d epochs, batch %d, precision %s, "
        "jit_compile %s",
        trainer.backbone,
        len(class_names),
        settings.image_size,
        trainer.weights,
        trainer.epochs,
        trainer.batch_size,
        policy,
        trainer.jit_compile,
    )
    augmenter = augmentation.build_augmenter(settings.augmentation, settings.image_size)
    logging.info(
        "Trainer: augmentation %s",
        [layer.name for layer in augmenter.layers] if augmenter else "off",
    )
    train_dataset = data.input_fn(
        fn_args.train_files,
        tf_transform_output,
        trainer.batch_size,
        training=True,
        augmenter=augmenter,
        cache_max_mb=trainer.cache_max_mb,
    )
    eval_dataset = data.input_fn(
        fn_args.eval_files,
        tf_transform_output,
        trainer.batch_size,
        training=False,
        cache_max_mb=trainer.cache_max_mb,
    )
    classifier = build_classifier(trainer, settings.image_size, len(class_names))
    if trainer.warm_start:
        if fn_args.base_model:
            warm_start(classifier, fn_args.base_model, class_names)
        else:
            logging.info("Warm start: no blessed model yet, starting from the configured weights")
    weights = class_weights(tf_transform_output) if trainer.class_weights else None
    if weights:
        logging.info("Trainer: class weights %s", weights)
    train(
        classifier,
        train_dataset,
        eval_dataset,
        trainer,
        callbacks=[
            EpochLog(trainer.epochs),
            tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir),
        ],
        class_weight=weights,
        resume_dir=settings.resume_dir or None,
    )
    write_training_record(fn_args.model_run_dir, settings, candidates)
    with progress.heartbeat(f"Trainer: exporting the SavedModel to {fn_args.serving_model_dir}"):
        export.export_serving_model(
            classifier, tf_transform_output, fn_args.serving_model_dir, settings.max_pixels
        )
