"""ServingPusher: TFX's Pusher contract (blessing gate, pushed_* properties) with versions
published whole and pruned, run on a real SavedModel."""

import tensorflow as tf
from tfx import types
from tfx.types import standard_artifacts, standard_component_specs

from components.serving_pusher import executor
from components.serving_pusher.component import ServingPusher
from pipeline import config_loader, nodes
from pipeline.pipeline import create_pipeline


class Multiplier(tf.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = tf.Variable(factor)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def __call__(self, x):
        return self.factor * x


def trained_model(tmp_path, factor: float = 2.0):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / f"model-{factor}")
    tf.saved_model.save(Multiplier(factor), f"{model.uri}/Format-Serving")
    return model


def blessing(blessed: int):
    artifact = standard_artifacts.ModelBlessing()
    artifact.set_int_custom_property("blessed", blessed)
    return artifact


def push(tmp_path, model, blessed: int, keep_versions: int = 2):
    pusher = ServingPusher(
        model=types.Channel(type=standard_artifacts.Model),
        model_blessing=types.Channel(type=standard_artifacts.ModelBlessing),
        base_directory=str(tmp_path / "serving"),
        keep_versions=keep_versions,
    )
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed" / str(len(list(tmp_path.glob("pushed/*")))))  # per push
    executor.Executor().Do(
        {
            standard_component_specs.MODEL_KEY: [model],
            standard_component_specs.MODEL_BLESSING_KEY: [blessing(blessed)],
        },
        {standard_component_specs.PUSHED_MODEL_KEY: [pushed]},
        pusher.exec_properties,
    )
    return pushed


def test_blessed_model_is_published_loadable_and_old_versions_pruned(tmp_path):
    pushed = [push(tmp_path, trained_model(tmp_path, f), blessed=1) for f in (4.0, 3.0, 2.0)]

    versions = sorted((tmp_path / "serving").iterdir())
    assert [p.name for p in versions] == [
        pushed[1].get_string_custom_property("pushed_version"),
        pushed[2].get_string_custom_property("pushed_version"),
    ]
    latest = pushed[2].get_string_custom_property("pushed_destination")
    assert latest == str(versions[-1])
    assert all(p.get_int_custom_property("pushed") == 1 for p in pushed)
    served = tf.saved_model.load(latest)
    assert served(tf.constant([1.5])).numpy().tolist() == [3.0]


def test_the_same_model_pushed_again_stays_the_current_version(tmp_path):
    older, current = trained_model(tmp_path, 3.0), trained_model(tmp_path, 2.0)
    first = push(tmp_path, older, blessed=1)
    pushed = [push(tmp_path, current, blessed=1) for _ in range(3)]

    versions = {p.get_string_custom_property("pushed_version") for p in pushed}
    assert len(versions) == 1
    assert sorted(p.name for p in (tmp_path / "serving").iterdir()) == sorted(
        [first.get_string_custom_property("pushed_version"), *versions]
    )
    assert all(p.get_int_custom_property("pushed") == 1 for p in pushed)


def test_unblessed_model_is_not_pushed_and_the_served_version_is_untouched(tmp_path):
    model = trained_model(tmp_path)
    served = push(tmp_path, model, blessed=1).get_string_custom_property("pushed_destination")
    before = sorted(p.name for p in (tmp_path / "serving").rglob("*"))

    refused = push(tmp_path, model, blessed=0)

    assert refused.get_int_custom_property("pushed") == 0
    assert sorted(p.name for p in (tmp_path / "serving").rglob("*")) == before
    assert tf.saved_model.load(served)(tf.constant([1.0])).numpy().tolist() == [2.0]


def test_the_dag_pushes_through_serving_pusher_with_the_configured_versions():
    config = config_loader.config_from_dict(
        {"output_dir": "/runs/x", "schema_file": "s.pbtxt", "serving": {"keep_versions": 3}}
    )
    pusher = {c.id: c for c in create_pipeline(config).components}[nodes.PUSHER]
    assert isinstance(pusher, ServingPusher)
    assert pusher.inputs["model_blessing"].producer_component_id == nodes.EVALUATOR
    assert '"keep_versions": 3' in pusher.exec_properties["custom_config"]
