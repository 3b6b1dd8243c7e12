"""ImageTrainer: the `epochs` property reaches run_fn, and the spec is TFX's TrainerSpec plus it."""

from tfx.types import artifact_utils, standard_artifacts, standard_component_specs

from components.image_trainer.component import ImageTrainerSpec
from components.image_trainer.executor import EPOCHS_KEY, Executor


def artifact(cls, uri, **properties):
    result = cls()
    result.uri = str(uri)
    for name, value in properties.items():
        setattr(result, name, value)
    return result


def test_epochs_property_is_merged_into_run_fn_custom_config(tmp_path):
    examples = artifact(
        standard_artifacts.Examples,
        tmp_path / "examples",
        split_names=artifact_utils.encode_split_names(["train", "eval"]),
    )
    input_dict = {
        standard_component_specs.EXAMPLES_KEY: [examples],
        standard_component_specs.TRANSFORM_GRAPH_KEY: [
            artifact(standard_artifacts.TransformGraph, tmp_path / "transform")
        ],
    }
    output_dict = {
        standard_component_specs.MODEL_KEY: [artifact(standard_artifacts.Model, tmp_path / "m")],
        standard_component_specs.MODEL_RUN_KEY: [
            artifact(standard_artifacts.ModelRun, tmp_path / "run")
        ],
    }
    exec_properties = {
        standard_component_specs.TRAIN_ARGS_KEY: '{"splits": ["train"]}',
        standard_component_specs.EVAL_ARGS_KEY: '{"splits": ["eval"]}',
        standard_component_specs.CUSTOM_CONFIG_KEY: '{"batch_size": 8, "epochs": 99}',
        EPOCHS_KEY: 4,
    }
    fn_args = Executor()._GetFnArgs(input_dict, output_dict, exec_properties)
    assert fn_args.custom_config == {"batch_size": 8, "epochs": 4}
    assert fn_args.transform_output == str(tmp_path / "transform")
    assert fn_args.train_files[0].startswith(str(tmp_path / "examples" / "Split-train"))


def test_spec_is_trainer_spec_plus_epochs():
    trainer = standard_component_specs.TrainerSpec
    assert set(ImageTrainerSpec.PARAMETERS) == set(trainer.PARAMETERS) | {EPOCHS_KEY}
    assert ImageTrainerSpec.INPUTS == trainer.INPUTS
    assert ImageTrainerSpec.OUTPUTS == trainer.OUTPUTS
