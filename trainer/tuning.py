"""The Tuner's tuner_fn: a small random search over learning rate, dropout and unfreeze depth,
and the choice among backbones when `trainer.backbone` lists several (trainer/selection.py:
every candidate is tried, with every combination of the tuned values when the tuner is on).

keras-tuner 1.4's `Tuner` accepts only Keras 3 models once Keras 3 is installed (it is, as
a TensorFlow 2.16 dependency), and rejects our tf_keras model with a FatalTypeError. Its
`BaseTuner` leaves building and fitting to `run_trial`, so the search loop, oracle and
results stay keras-tuner's while the model trains with tf_keras' own `fit`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import time
from typing import Dict, List

import keras_tuner
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging
from tfx import v1 as tfx
from tfx.components.trainer.fn_args_utils import FnArgs

from trainer import augmentation, data, features, model, run, selection, tflite
from trainer.settings import TrainerConfig, TrainingSettings

OBJECTIVE = "val_accuracy"
LATENCY_RUNS = 50
"""Timed interpreter runs per backbone candidate (after one untimed): the median is kept."""


class _Scores(tf.keras.callbacks.Callback):
    """The eval accuracy of every epoch."""

    def __init__(self):
        super().__init__()
        self.val_accuracy: List[float] = []

    def on_epoch_end(self, epoch, logs=None):
        self.val_accuracy.append(float(logs[OBJECTIVE]))


class TfKerasSearch(keras_tuner.engine.base_tuner.BaseTuner):
    """Each trial: build the classifier with the trial's values, train, score on eval."""

    def __init__(
        self,
        trainer: TrainerConfig,
        image_size: int,
        num_classes: int,
        train_dataset: tf.data.Dataset,
        eval_dataset: tf.data.Dataset,
        calibration: np.ndarray,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._trainer = trainer
        self._image_size = image_size
        self._num_classes = num_classes
        self._train_dataset = train_dataset
        self._eval_dataset = eval_dataset
        self._calibration = calibration

    def run_trial(self, trial, *args, **kwargs) -> Dict[str, float]:
        """Random initialisation trains as the Trainer does (its warm-up and schedule) for
        the trial epochs; pretrained weights train phase 2 alone, the phase the tuned unfreeze
        depth and fine-tuning rate act on."""
        values = trial.hyperparameters.values
        trainer = run.apply_hyperparameters(self._trainer, values)
        classifier = run.build_classifier(trainer, self._image_size, self._num_classes)
        epochs = trainer.tuner.epochs
        scores = _Scores()
        callbacks = [run.EpochLog(epochs, f"Tuner: trial {trial.trial_id}"), scores]
        started = time.monotonic()
        if trainer.pretrained:
            model.unfreeze_top(classifier, run.unfreeze_count(classifier, trainer.fine_tuning))
            run.compile_model(classifier, trainer.fine_tuning.learning_rate, trainer.jit_compile)
            classifier.fit(
                self._train_dataset,
                validation_data=self._eval_dataset,
                epochs=epochs,
                callbacks=callbacks,
                verbose=0,
            )
        else:
            trial_trainer = dataclasses.replace(trainer, epochs=epochs, early_stopping_patience=0)
            run.train(classifier, self._train_dataset, self._eval_dataset, trial_trainer, callbacks)
        metrics = {OBJECTIVE: max(scores.val_accuracy)}
        if self._trainer.candidates:
            metrics["seconds_per_epoch"] = (time.monotonic() - started) / epochs
            metrics.update(int8_figures(classifier, self._calibration))
            metrics[selection.OBJECTIVE] = selection.score(
                metrics[OBJECTIVE], metrics, self._trainer.selection
            )
        logging.info(
            "Tuner: trial %s %s -> %s",
            trial.trial_id,
            values,
            ", ".join(f"{name} {value:.4g}" for name, value in metrics.items()),
        )
        return metrics

    def get_best_hyperparameters(self, num_trials: int = 1) -> List[keras_tuner.HyperParameters]:
        """keras-tuner's, and when backbones were compared, the first carries their table
        (trainer/selection.py), which stops the run when none meets the bounds."""
        best = [hp.copy() for hp in super().get_best_hyperparameters(num_trials)]
        if not self._trainer.candidates:
            return best
        trials = [
            {
                **trial.hyperparameters.values,
                **{name: trial.metrics.get_last_value(name) for name in trial.metrics.metrics},
            }
            for trial in self.oracle.trials.values()
            if trial.status == keras_tuner.engine.trial.TrialStatus.COMPLETED
        ]
        rows = selection.table(trials, self._trainer.selection)
        logging.info(
            "Tuner: %s chosen (%s):\n%s",
            rows[0]["backbone"],
            self._trainer.selection.bounds,
            "\n".join(selection.text_lines(rows)),
        )
        best[0].Fixed(selection.SELECTION_KEY, json.dumps(rows))
        return best


def int8_figures(classifier: tf.keras.Model, calibration: np.ndarray) -> Dict[str, float]:
    """The classifier's int8 TFLite model: its size and median single-image latency on this
    machine's CPU, with the interpreter's default threads."""
    content = tflite.convert(classifier, tflite.INT8, calibration)
    interpreter = tflite.TFLiteClassifier(content)
    image = calibration[:1]
    interpreter.predict(image)
    times = []
    for _ in range(LATENCY_RUNS):
        started = time.perf_counter()
        interpreter.predict(image)
        times.append(time.perf_counter() - started)
    return {
        "int8_size_mb": len(content) / 1e6,
        "int8_latency_ms": 1000 * statistics.median(times),
    }


def search_space(trainer: TrainerConfig) -> keras_tuner.HyperParameters:
    """The backbone, when there are candidates; the tuned values, when the tuner is on
    (unfreeze depth only when a pretrained backbone is tuned)."""
    space = keras_tuner.HyperParameters()
    if trainer.candidates:
        space.Choice("backbone", list(trainer.candidates))
    if trainer.tuner.enabled:
        space.Choice("learning_rate", list(trainer.tuner.learning_rates))
        space.Choice("dropout", list(trainer.tuner.dropouts))
        if trainer.pretrained:
            space.Choice("unfreeze_blocks", list(trainer.tuner.unfreeze_blocks))
    return space


def oracle(trainer: TrainerConfig) -> keras_tuner.Oracle:
    """Random search over the tuned values; every combination when choosing a backbone."""
    space = search_space(trainer)
    if trainer.candidates:
        return keras_tuner.oracles.GridSearchOracle(
            objective=keras_tuner.Objective(selection.OBJECTIVE, "max"),
            # TFX's Tuner executor lists the best trials up to max_trials: it must be a number.
            max_trials=math.prod(len(choice.values) for choice in space.space),
            hyperparameters=space,
        )
    return keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective(OBJECTIVE, "max"),
        max_trials=trainer.tuner.trials,
        hyperparameters=space,
        seed=0,
    )


def tuner_fn(fn_args: FnArgs) -> tfx.components.TunerFnResult:
    """Builds the search over the transformed train and eval splits, the training split
    augmented as the Trainer's is."""
    settings = TrainingSettings.from_custom_config(fn_args.custom_config)
    trainer = settings.trainer
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    class_names = tf_transform_output.vocabulary_by_name(features.LABEL_VOCABULARY)
    augmenter = augmentation.build_augmenter(settings.augmentation, settings.image_size)
    datasets = {
        training: data.input_fn(
            files,
            tf_transform_output,
            trainer.batch_size,
            training=training,
            augmenter=augmenter if training else None,
            cache_max_mb=trainer.cache_max_mb,
        )
        for files, training in ((fn_args.train_files, True), (fn_args.eval_files, False))
    }
    calibration = (
        tflite.read_transformed(
            fn_args.train_files[0], tf_transform_output, tflite.CALIBRATION_IMAGES
        )[0]
        if trainer.candidates
        else None
    )
    search = TfKerasSearch(
        trainer=trainer,
        image_size=settings.image_size,
        num_classes=len(class_names),
        train_dataset=datasets[True],
        eval_dataset=datasets[False],
        calibration=calibration,
        oracle=oracle(trainer),
        directory=fn_args.working_dir,
        project_name="search",
    )
    return tfx.components.TunerFnResult(tuner=search, fit_kwargs={})
