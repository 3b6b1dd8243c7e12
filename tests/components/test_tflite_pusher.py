"""TFLitePusher: its place in the DAG, and what it does with a model that is not blessed.

Conversions themselves are tested on a trained model in tests/trainer/test_tflite.py and in
the whole DAG in tests/e2e; here nothing is trained.
"""

import json

import pytest
from tfx.types import standard_artifacts

from components.tflite_pusher import executor
from pipeline import config as config_lib
from pipeline import config_loader, nodes
from pipeline.pipeline import create_pipeline


def components(**tflite):
    config = config_loader.config_from_dict(
        {"tflite": tflite, "output_dir": "/runs/x", "schema_file": "s.pbtxt"}
    )
    return {c.id: c for c in create_pipeline(config).components}


def test_tflite_pusher_follows_the_blessing_and_transform():
    pusher = components()[nodes.TFLITE_PUSHER]
    inputs = pusher.inputs
    assert inputs["model_blessing"].producer_component_id == nodes.EVALUATOR
    assert inputs["model"].producer_component_id == nodes.TRAINER
    assert inputs["transformed_examples"].producer_component_id == nodes.TRANSFORM
    assert json.loads(pusher.exec_properties["conversions"]) == ["float32", "dynamic_range", "int8"]
    assert pusher.exec_properties["base_directory"] == "/runs/x/tflite/image_classifier"
    assert pusher.exec_properties["max_accuracy_drop"] == 0.01


def test_qat_settings_reach_the_executor():
    assert components()[nodes.TFLITE_PUSHER].exec_properties["qat"] == 0
    pusher = components(qat=True, qat_epochs=3)[nodes.TFLITE_PUSHER]
    assert (pusher.exec_properties["qat"], pusher.exec_properties["qat_epochs"]) == (1, 3)


def test_no_conversions_leaves_tflite_out_of_the_dag():
    assert nodes.TFLITE_PUSHER not in components(conversions=[])


@pytest.mark.parametrize(
    "tflite, message",
    [
        ({"conversions": ["int4"]}, "tflite.conversions[0]: expected one of float32"),
        ({"conversions": ["int8", "int8"]}, "each conversion at most once"),
        ({"max_accuracy_drop": 5}, "tflite.max_accuracy_drop: expected a fraction"),
    ],
)
def test_tflite_config_mistakes_are_named(tflite, message):
    with pytest.raises(config_lib.ConfigError, match=message.replace("[", r"\[")):
        config_loader.config_from_dict({"tflite": tflite})


def test_unblessed_model_is_neither_converted_nor_pushed(tmp_path):
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property("blessed", 0)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    executor.Executor().Do(
        {executor.BLESSING_KEY: [blessing]},
        {executor.PUSHED_MODEL_KEY: [pushed]},
        {executor.BASE_DIRECTORY_KEY: str(tmp_path / "tflite")},
    )
    assert pushed.get_int_custom_property("pushed") == 0
    assert not (tmp_path / "tflite").exists()
