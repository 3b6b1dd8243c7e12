"""Trainer's run_fn: read Transform's output, train the classifier, export for serving.

TFX calls `run_fn(fn_args)` with the artifact paths; everything else comes from the
pipeline config in `fn_args.custom_config` (see pipeline/config.py, TrainerConfig).
"""

import tensorflow as tf
import tensorflow_transform as tft
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs

from trainer import data, export, features, model


class _EpochLog(tf.keras.callbacks.Callback):
    """One progress line per epoch in the component log (Keras' bar is unreadable there)."""

    def __init__(self, epochs: int):
        super().__init__()
        self._epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        metrics = ", ".join(f"{name} {value:.4f}" for name, value in (logs or {}).items())
        logging.info("Trainer: epoch %d/%d: %s", epoch + 1, self._epochs, metrics)


def run_fn(fn_args: FnArgs) -> None:
    """Trains on the train split, validates on the eval split, exports the SavedModel."""
    config = fn_args.custom_config
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    class_names = tf_transform_output.vocabulary_by_name(features.LABEL_VOCABULARY)
    logging.info(
        "Trainer: %s on %d classes at %d px, weights %s, %d epochs",
        config["backbone"],
        len(class_names),
        config["image_size"],
        config["weights"],
        config["epochs"],
    )
    train_dataset, eval_dataset = (
        data.input_fn(
            files,
            fn_args.data_accessor,
            tf_transform_output,
            batch_size=config["batch_size"],
            training=training,
        )
        for files, training in ((fn_args.train_files, True), (fn_args.eval_files, False))
    )
    classifier = model.build_model(
        num_classes=len(class_names),
        image_size=config["image_size"],
        backbone=config["backbone"],
        weights=config["weights"],
        dropout=config["dropout"],
        batchnorm_momentum=config["batchnorm_momentum"],
    )
    classifier.compile(
        optimizer=tf.keras.optimizers.Adam(config["learning_rate"]),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(),
        metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    classifier.fit(
        train_dataset,
        validation_data=eval_dataset,
        epochs=config["epochs"],
        verbose=0,
        callbacks=[
            _EpochLog(config["epochs"]),
            tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir),
        ],
    )
    export.export_serving_model(classifier, tf_transform_output, fn_args.serving_model_dir)
    logging.info("Trainer: model exported to %s", fn_args.serving_model_dir)
