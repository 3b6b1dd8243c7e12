"""The Tuner's tuner_fn: a small random search over learning rate, dropout and unfreeze depth.

keras-tuner 1.4's `Tuner` accepts only Keras 3 models once Keras 3 is installed (it is, as
a TensorFlow 2.16 dependency), and rejects our tf_keras model with a FatalTypeError. Its
`BaseTuner` leaves building and fitting to `run_trial`, so the search loop, oracle and
results stay keras-tuner's while the model trains with tf_keras' own `fit`.
"""

from __future__ import annotations

from typing import Any, Dict

import keras_tuner
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging
from tfx import v1 as tfx
from tfx.components.trainer.fn_args_utils import FnArgs

from trainer import data, features, model, run

OBJECTIVE = "val_accuracy"


class TfKerasSearch(keras_tuner.engine.base_tuner.BaseTuner):
    """Each trial: build the classifier with the trial's values, train, score on eval."""

    def __init__(
        self,
        config: Dict[str, Any],
        num_classes: int,
        train_dataset: tf.data.Dataset,
        eval_dataset: tf.data.Dataset,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._config = config
        self._num_classes = num_classes
        self._train_dataset = train_dataset
        self._eval_dataset = eval_dataset

    def run_trial(self, trial, *args, **kwargs) -> Dict[str, float]:
        values = trial.hyperparameters.values
        config = run.apply_hyperparameters(self._config, values)
        classifier = run.build_classifier(config, self._num_classes)
        learning_rate = config["learning_rate"]
        if config["weights"] != "none":
            model.unfreeze_top(classifier, values["unfreeze_blocks"])
            learning_rate = config["fine_tuning"]["learning_rate"]
        run.compile_model(classifier, learning_rate, config["jit_compile"])
        history = classifier.fit(
            self._train_dataset,
            validation_data=self._eval_dataset,
            epochs=config["tuner"]["epochs"],
            verbose=0,
        )
        score = max(history.history[OBJECTIVE])
        logging.info("Tuner: trial %s %s -> %s %.4f", trial.trial_id, values, OBJECTIVE, score)
        return {OBJECTIVE: score}


def search_space(config: Dict[str, Any]) -> keras_tuner.HyperParameters:
    """The tuned values; unfreeze depth only matters when a pretrained backbone is tuned."""
    space = keras_tuner.HyperParameters()
    tuner = config["tuner"]
    space.Choice("learning_rate", list(tuner["learning_rates"]))
    space.Choice("dropout", list(tuner["dropouts"]))
    unfreeze = list(tuner["unfreeze_blocks"]) if config["weights"] != "none" else [0]
    space.Choice("unfreeze_blocks", unfreeze)
    return space


def tuner_fn(fn_args: FnArgs) -> tfx.components.TunerFnResult:
    """Builds the search over the transformed train and eval splits."""
    config = fn_args.custom_config
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    class_names = tf_transform_output.vocabulary_by_name(features.LABEL_VOCABULARY)
    datasets = {
        training: data.input_fn(
            files,
            tf_transform_output,
            config["batch_size"],
            training=training,
            cache_max_mb=config["cache_max_mb"],
        )
        for files, training in ((fn_args.train_files, True), (fn_args.eval_files, False))
    }
    search = TfKerasSearch(
        config=config,
        num_classes=len(class_names),
        train_dataset=datasets[True],
        eval_dataset=datasets[False],
        oracle=keras_tuner.oracles.RandomSearchOracle(
            objective=keras_tuner.Objective(OBJECTIVE, "max"),
            max_trials=config["tuner"]["trials"],
            hyperparameters=search_space(config),
            seed=0,
        ),
        directory=fn_args.working_dir,
        project_name="search",
    )
    return tfx.components.TunerFnResult(tuner=search, fit_kwargs={})
