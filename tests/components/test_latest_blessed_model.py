"""The Kubeflow baseline: BaselineLookup names the newest pushed version that is not the
candidate (pipeline/kubeflow/baseline.py), LatestBlessedModel copies it, or gives an empty
Model when there is none; the Evaluator and the Trainer read an empty one as no baseline,
where TFX's own Evaluator would fail on it."""

import json
import shutil
from pathlib import Path

import pytest
import tensorflow as tf
from tfx.components.evaluator import executor as tfx_evaluator
from tfx.types import artifact_utils, standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

from components.image_evaluator import executor as image_evaluator
from components.image_trainer import executor as image_trainer
from components.latest_blessed_model import executor, strategy
from components.latest_blessed_model.component import LatestBlessedModel
from pipeline import config_loader
from pipeline.evaluation import eval_config
from pipeline.kubeflow import baseline
from tests.components import evaluated_run
from tests.components.test_serving_pusher import push, trained_model

REPO = Path(__file__).resolve().parents[2]


def latest_blessed(tmp_path, serving_dir, candidate=None):
    """BaselineLookup then LatestBlessedModel, as the Kubeflow spec runs them."""
    excluded = ""
    if candidate is not None:
        excluded = baseline.saved_model_identity(f"{candidate.uri}/Format-Serving")
    version = baseline.baseline_version(str(serving_dir), excluded)
    model = evaluated_run.artifact(standard_artifacts.Model, tmp_path / "baseline")
    component = LatestBlessedModel(serving_dir=str(serving_dir))
    properties = {**component.exec_properties, executor.VERSION_KEY: version}
    executor.Executor().Do({}, {executor.MODEL_KEY: [model]}, properties)
    return model


def test_first_run_no_model_pushed_yet_gives_an_empty_model(tmp_path):
    serving = tmp_path / "serving"
    (serving / ".1700000000.partial").mkdir(parents=True)  # a push that died: not a version
    model = latest_blessed(tmp_path, serving)
    assert model.get_string_custom_property(executor.SOURCE_PROPERTY) == ""
    assert executor.holding_a_model([model]) == []


def test_second_run_gives_a_copy_of_the_newest_pushed_version(tmp_path):
    pushed = [push(tmp_path, trained_model(tmp_path, f), blessed=1) for f in (2.0, 3.0)]
    newest = pushed[-1].get_string_custom_property("pushed_destination")
    model = latest_blessed(tmp_path, tmp_path / "serving", candidate=trained_model(tmp_path, 4.0))
    assert model.get_string_custom_property(executor.SOURCE_PROPERTY) == newest
    assert executor.holding_a_model([model]) == [model]
    loaded = tf.saved_model.load(f"{model.uri}/Format-Serving")
    assert float(loaded(tf.constant([1.5]))[0]) == 4.5


def test_the_candidate_pushed_already_is_not_its_own_baseline(tmp_path):
    """A run whose Trainer came from the cache: its candidate is the newest pushed version,
    and the baseline is the one before it, or none."""
    first, second = trained_model(tmp_path, 2.0), trained_model(tmp_path, 3.0)
    push(tmp_path, first, blessed=1)
    assert (
        latest_blessed(tmp_path, tmp_path / "serving", candidate=first).get_string_custom_property(
            executor.SOURCE_PROPERTY
        )
        == ""
    )
    [earlier] = [str(p) for p in (tmp_path / "serving").iterdir()]
    push(tmp_path, second, blessed=1)
    model = latest_blessed(tmp_path, tmp_path / "serving", candidate=second)
    assert model.get_string_custom_property(executor.SOURCE_PROPERTY) == earlier
    loaded = tf.saved_model.load(f"{model.uri}/Format-Serving")
    assert float(loaded(tf.constant([1.5]))[0]) == 3.0


def test_latest_blessed_model_without_a_version_says_to_recompile(tmp_path):
    model = evaluated_run.artifact(standard_artifacts.Model, tmp_path / "baseline")
    component = LatestBlessedModel(serving_dir=str(tmp_path / "serving"))
    with pytest.raises(ValueError, match="BaselineLookup.*recompile"):
        executor.Executor().Do({}, {executor.MODEL_KEY: [model]}, component.exec_properties)


@pytest.fixture(scope="module")
def evaluator_inputs(tmp_path_factory, digits_subset):
    root = tmp_path_factory.mktemp("evaluator")
    write_dir = root / "examples"
    evaluated_run.write_examples(write_dir, digits_subset, evaluated_run.scans(digits_subset))
    examples = evaluated_run.artifact(standard_artifacts.Examples, write_dir)
    examples.split_names = artifact_utils.encode_split_names(["eval"])
    candidate = evaluated_run.save_model(root / "model", "candidate")
    empty = evaluated_run.artifact(standard_artifacts.Model, root / "empty_baseline")
    config = config_loader.config_from_dict(
        {"evaluation": {"min_accuracy": evaluated_run.MIN_ACCURACY}}
    )
    properties = {specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(eval_config(config))}
    inputs = {
        specs.EXAMPLES_KEY: [examples],
        specs.MODEL_KEY: [candidate],
        specs.BASELINE_MODEL_KEY: [empty],
    }
    return root, inputs, properties


def evaluate(executor_class, root, inputs, properties):
    outputs = {
        specs.EVALUATION_KEY: [
            evaluated_run.artifact(standard_artifacts.ModelEvaluation, root / "evaluation")
        ],
        specs.BLESSING_KEY: [
            evaluated_run.artifact(standard_artifacts.ModelBlessing, root / "blessing")
        ],
    }
    executor_class().Do(inputs, outputs, properties)
    return outputs


def test_tfx_evaluator_fails_on_an_empty_baseline(evaluator_inputs, tmp_path):
    _, inputs, properties = evaluator_inputs
    with pytest.raises(Exception, match="empty_baseline"):
        evaluate(tfx_evaluator.Executor, tmp_path, inputs, properties)


def test_image_evaluator_reads_an_empty_baseline_as_none(evaluator_inputs, tmp_path):
    _, inputs, properties = evaluator_inputs
    outputs = evaluate(image_evaluator.Executor, tmp_path, inputs, properties)
    blessing = outputs[specs.BLESSING_KEY][0]
    assert blessing.get_int_custom_property("blessed") == 1  # on the absolute bound alone
    with open(tmp_path / "evaluation" / "eval_config.json") as handle:
        model_specs = json.load(handle)["evalConfig"]["modelSpecs"]
    assert not [spec for spec in model_specs if spec.get("isBaseline")]


def test_image_trainer_reads_an_empty_base_model_as_no_warm_start(tmp_path):
    def artifact(artifact_type, name):
        return evaluated_run.artifact(artifact_type, tmp_path / name)

    inputs = {
        specs.EXAMPLES_KEY: [artifact(standard_artifacts.Examples, "examples")],
        specs.TRANSFORM_GRAPH_KEY: [artifact(standard_artifacts.TransformGraph, "graph")],
        specs.SCHEMA_KEY: [artifact(standard_artifacts.Schema, "schema")],
        specs.BASE_MODEL_KEY: [artifact(standard_artifacts.Model, "empty_baseline")],
    }
    inputs[specs.EXAMPLES_KEY][0].split_names = artifact_utils.encode_split_names(["train"])
    (tmp_path / "schema").mkdir()
    shutil.copy(REPO / "schema" / "digits.pbtxt", tmp_path / "schema")
    outputs = {
        specs.MODEL_KEY: [artifact(standard_artifacts.Model, "model")],
        specs.MODEL_RUN_KEY: [artifact(standard_artifacts.ModelRun, "model_run")],
    }
    properties = {
        specs.TRAIN_ARGS_KEY: '{"splits": ["train"]}',
        specs.EVAL_ARGS_KEY: '{"splits": ["train"]}',
        specs.CUSTOM_CONFIG_KEY: "{}",
        image_trainer.EPOCHS_KEY: 1,
    }
    fn_args = image_trainer.Executor()._GetFnArgs(inputs, outputs, properties)
    assert fn_args.base_model is None


def test_locally_the_evaluator_baseline_is_the_latest_blessed_model_but_the_candidate():
    def model(artifact_id):
        artifact = standard_artifacts.Model()
        artifact.id = artifact_id
        return artifact

    def blessing(model_id, blessed):
        artifact = standard_artifacts.ModelBlessing()
        artifact.set_int_custom_property("current_model_id", model_id)
        artifact.set_int_custom_property("blessed", blessed)
        return artifact

    models = [model(1), model(2), model(3)]
    blessings = [blessing(1, 1), blessing(2, 1), blessing(3, 0)]

    def baseline(candidate):
        resolved = strategy.LatestBlessedOtherModelStrategy().resolve_artifacts(
            None,
            {
                strategy.MODEL_KEY: list(models),
                strategy.BLESSING_KEY: blessings,
                strategy.CANDIDATE_KEY: [candidate],
            },
        )
        return [artifact.id for artifact in resolved[strategy.MODEL_KEY]]

    assert baseline(models[2]) == [2]  # a new candidate: the latest blessed one
    assert baseline(models[1]) == [1]  # a cached, blessed candidate: not against itself
    assert baseline(models[0]) == [2]
