"""A Trainer killed mid-training resumes from its last completed epoch when run again.

The kill is an exception raised by a callback as an epoch begins or ends (at the end, after
the backup of that epoch, as a SIGKILL then would be); the re-run is a fresh classifier
trained with the same `resume_dir`, as the next execution of the same work gets from
ImageTrainer's executor (its folder key and clean-up are tested at the end). Two training
batches per epoch, run eagerly, keep this cheap.
"""

import logging
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs

from components.image_trainer import executor
from tests.trainer.conftest import IMAGE_SIZE, local_weights, trainer_settings
from trainer import model, run, schedule


@pytest.fixture(autouse=True)
def eager():
    """Tracing EfficientNet's train step takes a minute here, longer than these few eager
    steps; what resuming does is the same either way."""
    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(False)


class KilledError(Exception):
    """Stands for the SIGKILL."""


class Kill(tf.keras.callbacks.Callback):
    """Kills training as epoch `number` (1-based) begins or ends, noting the weights and the
    optimizer steps it had then."""

    def __init__(self, number: int, at: str = "end"):
        super().__init__()
        self.number, self.at = number, at
        self.weights = self.iterations = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.at == "begin" and epoch + 1 == self.number:
            self.kill()

    def on_epoch_end(self, epoch, logs=None):
        if self.at == "end" and epoch + 1 == self.number:
            self.kill()

    def kill(self):
        self.weights = self.model.get_weights()
        self.iterations = int(self.model.optimizer.iterations.numpy())
        raise KilledError


class Watch(tf.keras.callbacks.Callback):
    """The epochs trained (0-based, as fit counts them), their learning rate, and the
    weights and optimizer steps when the first of them began."""

    def __init__(self):
        super().__init__()
        self.epochs, self.rates = [], []
        self.first_weights = self.first_iterations = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_weights is None:
            self.first_weights = self.model.get_weights()
            self.first_iterations = int(self.model.optimizer.iterations.numpy())
        self.epochs.append(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self.rates.append(float(tf.keras.backend.get_value(self.model.optimizer.learning_rate)))


def train(transformed_digits, config, resume_dir, callbacks, classifier=None):
    """run.train on a fresh classifier (or the one given), two training batches an epoch."""
    output = transformed_digits.tf_transform_output
    train_data = run.data.input_fn(transformed_digits.train_files, output, 16, training=True)
    eval_data = run.data.input_fn(transformed_digits.eval_files, output, 16, training=False)
    run.train(
        classifier or run.build_classifier(config, IMAGE_SIZE, 3),
        train_data.take(2),
        eval_data.take(1),
        config,
        callbacks=callbacks,
        resume_dir=resume_dir,
    )


def assert_same_weights(expected, actual):
    assert len(expected) == len(actual)
    for left, right in zip(expected, actual, strict=True):
        np.testing.assert_array_equal(left, right)


def test_killed_training_resumes_from_its_last_completed_epoch(
    transformed_digits, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="absl")
    config = trainer_settings(epochs=4, learning_rate=0.002, warmup_epochs=1)
    resume_dir = str(tmp_path / "resume")
    kill = Kill(2)
    with pytest.raises(KilledError):
        train(transformed_digits, config, resume_dir, [kill])
    assert "resumed from epoch" not in caplog.text
    assert not os.path.exists(os.path.join(resume_dir, "phase-0-done"))

    watch = Watch()
    train(transformed_digits, config, resume_dir, [run.EpochLog(config.epochs), watch])

    assert watch.epochs == [2, 3]
    assert_same_weights(kill.weights, watch.first_weights)
    assert watch.first_iterations == kill.iterations > 0  # Adam's state came back too
    assert watch.rates == pytest.approx(
        [schedule.learning_rate(epoch, 0.002, 1, 4, config.lr_schedule) for epoch in [2, 3]]
    )
    backup = os.path.join(resume_dir, "phase-0")
    assert f"Trainer: resumed from epoch 2 (checkpoint in {backup})" in caplog.text
    assert "Trainer: epoch 3/4" in caplog.text
    assert "Trainer: epoch 1/4" not in caplog.text
    assert os.path.exists(os.path.join(resume_dir, "phase-0-done", "complete"))
    assert not os.path.exists(backup)  # the phase is done: its backup went


def test_killed_fine_tuning_restores_the_head_phase_and_resumes(
    transformed_digits, tmp_path, caplog
):
    """Killed as phase 2 begins (phase 1 done), then again after phase 2's first epoch."""
    caplog.set_level(logging.INFO, logger="absl")
    weights_file = local_weights(tmp_path)
    config = trainer_settings(
        weights=weights_file,
        epochs=3,
        fine_tuning={"head_epochs": 1, "unfreeze_blocks": 3, "layer_decay": 0.5},
    )
    resume_dir = str(tmp_path / "resume")
    done = os.path.join(resume_dir, "phase-0-done")
    phase_1_end = Kill(2, at="begin")
    with pytest.raises(KilledError):
        train(transformed_digits, config, resume_dir, [phase_1_end])

    fresh_phase_2, first_epoch_end = Watch(), Kill(2)
    with pytest.raises(KilledError):
        train(transformed_digits, config, resume_dir, [fresh_phase_2, first_epoch_end])
    assert fresh_phase_2.epochs == [1]  # phase 1 not trained again
    assert_same_weights(phase_1_end.weights, fresh_phase_2.first_weights)
    assert fresh_phase_2.first_iterations == 0  # a fresh optimizer, as without the kill
    assert (
        f"Trainer: phase 1 already completed before the interruption; its weights restored "
        f"from {done}" in caplog.text
    )
    assert "resumed from epoch" not in caplog.text

    classifier, resumed = run.build_classifier(config, IMAGE_SIZE, 3), Watch()
    train(transformed_digits, config, resume_dir, [resumed], classifier)

    assert resumed.epochs == [2]
    assert_same_weights(first_epoch_end.weights, resumed.first_weights)
    assert resumed.first_iterations == first_epoch_end.iterations > 0
    assert isinstance(classifier.optimizer, schedule.LayerwiseAdam)
    assert model.backbone_of(classifier).trainable_weights  # fine-tuning set up
    backup = os.path.join(resume_dir, "phase-1")
    assert f"Trainer: resumed from epoch 2 (checkpoint in {backup})" in caplog.text
    assert os.path.exists(os.path.join(resume_dir, "phase-1-done", "complete"))


def artifact(cls, artifact_id, uri, **properties):
    result = cls()
    result.id = artifact_id
    result.uri = str(uri)
    for name, value in properties.items():
        setattr(result, name, value)
    return result


def work(root, execution_id=12, custom_config='{"batch_size": 8}', examples_id=7, run_fn="ok"):
    """ImageTrainer's inputs, outputs and properties, as its executor gets them."""
    inputs = {
        standard_component_specs.EXAMPLES_KEY: [
            artifact(
                standard_artifacts.Examples,
                examples_id,
                root / "ExampleGen/examples/3",
                split_names=artifact_utils.encode_split_names(["train", "eval"]),
            )
        ],
        standard_component_specs.TRANSFORM_GRAPH_KEY: [
            artifact(standard_artifacts.TransformGraph, 9, root / "Transform/graph/5")
        ],
    }
    outputs = {
        standard_component_specs.MODEL_KEY: [
            artifact(standard_artifacts.Model, 0, root / f"Trainer/model/{execution_id}")
        ],
        standard_component_specs.MODEL_RUN_KEY: [
            artifact(standard_artifacts.ModelRun, 0, root / f"Trainer/run/{execution_id}")
        ],
    }
    properties = {
        standard_component_specs.TRAIN_ARGS_KEY: '{"splits": ["train"]}',
        standard_component_specs.EVAL_ARGS_KEY: '{"splits": ["eval"]}',
        standard_component_specs.CUSTOM_CONFIG_KEY: custom_config,
        standard_component_specs.RUN_FN_KEY: f"{__name__}.{run_fn}_run_fn",
        executor.EPOCHS_KEY: 3,
    }
    return inputs, outputs, properties


def ok_run_fn(fn_args):
    """Stands for trainer.run.run_fn: a checkpoint in the resume folder, then the model."""
    tf.io.gfile.makedirs(os.path.join(fn_args.custom_config[executor.RESUME_DIR_KEY], "phase-0"))
    tf.io.gfile.makedirs(fn_args.serving_model_dir)


def killed_run_fn(fn_args):
    """Killed after its first checkpoint (TFX imports it afresh: another KilledError class)."""
    tf.io.gfile.makedirs(os.path.join(fn_args.custom_config[executor.RESUME_DIR_KEY], "phase-0"))
    raise RuntimeError("killed")


def test_resume_dir_is_named_after_the_work_not_the_execution(tmp_path):
    first = executor.resume_dir(*work(tmp_path))
    assert os.path.dirname(first) == str(tmp_path / "Trainer/.resume")
    assert executor.resume_dir(*work(tmp_path, execution_id=13)) == first  # the re-run
    assert executor.resume_dir(*work(tmp_path, 13, '{"batch_size": 16}')) != first
    assert executor.resume_dir(*work(tmp_path, 13, examples_id=8)) != first


def test_executor_keeps_the_resume_folder_until_an_execution_succeeds(tmp_path):
    killed = work(tmp_path, run_fn="killed")
    with pytest.raises(RuntimeError, match="killed"):
        executor.Executor().Do(*killed)
    assert os.path.isdir(os.path.join(executor.resume_dir(*killed), "phase-0"))

    executor.Executor().Do(*work(tmp_path, execution_id=13))
    assert os.path.isdir(tmp_path / "Trainer/model/13/Format-Serving")
    assert not os.path.exists(tmp_path / "Trainer/.resume")
