"""The Tuner's tuner_fn: a small random search over learning rate, dropout and unfreeze depth.

keras-tuner 1.4's `Tuner` accepts only Keras 3 models once Keras 3 is installed (it is, as
a TensorFlow 2.16 dependency), and rejects our tf_keras model with a FatalTypeError. Its
`BaseTuner` leaves building and fitting to `run_trial`, so the search loop, oracle and
results stay keras-tuner's while the model trains with tf_keras' own `fit`.
"""

from __future__ import annotations

from typing import Dict

import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging
from tfx import v1 as tfx
from tfx.components.trainer.fn_args_utils import FnArgs

from trainer import data, features, model, run
from trainer.settings import TrainerConfig, TrainingSettings

OBJECTIVE = "val_accuracy"


class TfKerasSearch(keras_tuner.engine.base_tuner.BaseTuner):
    """Each trial: build the classifier with the trial's values, train, score on eval."""

    def __init__(
        self,
        trainer: TrainerConfig,
        image_size: int,
        num_classes: int,
        train_dataset: tf.data.Dataset,
        eval_dataset: tf.data.Dataset,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._trainer = trainer
        self._image_size = image_size
        self._num_classes = num_classes
        self._train_dataset = train_dataset
        self._eval_dataset = eval_dataset

    def run_trial(self, trial, *args, **kwargs) -> Dict[str, float]:
        values = trial.hyperparameters.values
        trainer = run.apply_hyperparameters(self._trainer, values)
        classifier = run.build_classifier(trainer, self._image_size, self._num_classes)
        learning_rate = trainer.learning_rate
        if trainer.pretrained:
            model.unfreeze_top(classifier, values["unfreeze_blocks"])
            learning_rate = trainer.fine_tuning.learning_rate
        run.compile_model(classifier, learning_rate, trainer.jit_compile)
        history = classifier.fit(
            self._train_dataset,
            validation_data=self._eval_dataset,
            epochs=trainer.tuner.epochs,
            verbose=0,
        )
        score = max(history.history[OBJECTIVE])
        logging.info("Tuner: trial %s %s -> %s %.4f", trial.trial_id, values, OBJECTIVE, score)
        return {OBJECTIVE: score}


def search_space(trainer: TrainerConfig) -> keras_tuner.HyperParameters:
    """The tuned values; unfreeze depth only matters when a pretrained backbone is tuned."""
    space = keras_tuner.HyperParameters()
    space.Choice("learning_rate", list(trainer.tuner.learning_rates))
    space.Choice("dropout", list(trainer.tuner.dropouts))
    unfreeze = list(trainer.tuner.unfreeze_blocks) if trainer.pretrained else [0]
    space.Choice("unfreeze_blocks", unfreeze)
    return space


def tuner_fn(fn_args: FnArgs) -> tfx.components.TunerFnResult:
    """Builds the search over the transformed train and eval splits."""
    settings = TrainingSettings.from_custom_config(fn_args.custom_config)
    trainer = settings.trainer
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    class_names = tf_transform_output.vocabulary_by_name(features.LABEL_VOCABULARY)
    datasets = {
        training: data.input_fn(
            files,
            tf_transform_output,
            trainer.batch_size,
            training=training,
            cache_max_mb=trainer.cache_max_mb,
        )
        for files, training in ((fn_args.train_files, True), (fn_args.eval_files, False))
    }
    search = TfKerasSearch(
        trainer=trainer,
        image_size=settings.image_size,
        num_classes=len(class_names),
        train_dataset=datasets[True],
        eval_dataset=datasets[False],
        oracle=keras_tuner.oracles.RandomSearchOracle(
            objective=keras_tuner.Objective(OBJECTIVE, "max"),
            max_trials=trainer.tuner.trials,
            hyperparameters=search_space(trainer),
            seed=0,
        ),
        directory=fn_args.working_dir,
        project_name="search",
    )
    return tfx.components.TunerFnResult(tuner=search, fit_kwargs={})
