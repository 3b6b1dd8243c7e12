"""pipeline/kubeflow/retries.py: the retry policies in the compiled spec, their config, and
the Trainer's resume folder on Kubeflow.

The Trainer's ExecutorInput is built as the open-source driver and launcher build it
(local_kfp.build_executor_input), mended by our entrypoint into the pod's local paths and
parsed by TFX's entrypoint code, as in a pod. The backend hands a retried pod the ExecutorInput
its driver wrote once (retries.py cites the code), so "a retry" here is the same
ExecutorInput on a fresh pod: the launcher's local copies gone. The killed pod run end to end
in the image is tests/kubeflow/check.py's.
"""

import json
import shutil
from pathlib import Path

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.orchestration.kubeflow.v2.container import (
    kubeflow_v2_entrypoint_utils,
    kubeflow_v2_run_executor,
)

from components.image_trainer import executor
from pipeline import config_loader, nodes
from pipeline.config import ConfigError
from pipeline.kubeflow import entrypoint, paths
from pipeline.kubeflow import spec as spec_lib
from tests.kubeflow import check
from tests.kubeflow.local_kfp import TaskResult, build_executor_input, root_parameters

REPO = Path(__file__).resolve().parents[2]
ROOT = "minio://mlpipeline/v2/artifacts"
OUTPUT_DIR = "gs://bucket/image-pipeline"
LONG_RUNNING = [nodes.TRANSFORM, nodes.TUNER, nodes.TRAINER, nodes.EVALUATOR, nodes.TFLITE_PUSHER]


def kubeflow_config(*overrides, output_dir=OUTPUT_DIR):
    """configs/kubeflow.yaml filled in, with `overrides` (`key=value`)."""
    return config_loader.load_config(
        [REPO / "configs" / "kubeflow.yaml"],
        [
            f"output_dir={output_dir}",
            "data.root=gs://bucket/images",
            "kubeflow.image=registry.example.com/image-pipeline:test",
            *overrides,
        ],
    )


def retry_policies(spec: dict) -> dict:
    """Each task's retry policy, parsed strictly as kfp's PipelineSpec."""
    parsed = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    return {
        name: task.retry_policy
        for name, task in parsed.root.dag.tasks.items()
        if task.HasField("retry_policy")
    }


def test_the_trainer_alone_is_retried_by_default(tmp_path):
    policies = retry_policies(check.compiled_spec(kubeflow_config(), tmp_path / "pipeline.yaml"))
    assert list(policies) == [nodes.TRAINER]
    policy = policies[nodes.TRAINER]
    assert policy.max_retry_count == 2
    assert policy.backoff_duration.seconds == 60
    assert policy.backoff_factor == 2.0
    assert policy.backoff_max_duration.seconds == 48 * 3600


def test_the_configured_tasks_get_the_configs_policy(tmp_path):
    config = kubeflow_config(
        "trainer.tuner.enabled=true",
        f"kubeflow.retries.tasks=[{', '.join(LONG_RUNNING)}]",
        "kubeflow.retries.max_retries=3",
        "kubeflow.retries.backoff_s=30",
        "kubeflow.retries.backoff_factor=3",
        "kubeflow.retries.max_duration_h=1.5",
    )
    policies = retry_policies(check.compiled_spec(config, tmp_path / "pipeline.yaml"))
    assert sorted(policies) == sorted(LONG_RUNNING)
    for policy in policies.values():
        assert policy.max_retry_count == 3
        assert policy.backoff_duration.seconds == 30
        assert policy.backoff_factor == 3.0
        assert policy.backoff_max_duration.seconds == 5400


@pytest.mark.parametrize(
    "override",
    [
        "kubeflow.retries.max_retries=0",
        "kubeflow.retries.tasks=[]",
        "kubeflow.retries.tasks=[Tuner]",  # no Tuner in this DAG: skipped
    ],
)
def test_no_retry_policy_where_retries_are_off(tmp_path, override):
    assert (
        retry_policies(check.compiled_spec(kubeflow_config(override), tmp_path / "pipeline.yaml"))
        == {}
    )


@pytest.mark.parametrize(
    "retries, error",
    [
        ({"tasks": ["Trainr"]}, "kubeflow.retries.tasks: expected node ids among"),
        ({"tasks": "Trainer"}, "kubeflow.retries.tasks: expected a list"),
        ({"max_retries": -1}, "kubeflow.retries.max_retries: expected 0 or more"),
        ({"backoff_s": -5}, "kubeflow.retries.backoff_s: expected 0 or more"),
        ({"backoff_factor": 0}, "kubeflow.retries.backoff_factor: expected 1 or more"),
        ({"backoff_factor": 1.5}, "kubeflow.retries.backoff_factor: expected a whole number"),
        ({"max_duration_h": 0.01}, "kubeflow.retries.max_duration_h: expected longer than"),
        ({"attempts": 3}, "unknown key 'kubeflow.retries.attempts'"),
    ],
)
def test_config_errors_name_the_key(retries, error):
    with pytest.raises(ConfigError, match=f"^{error}") as raised:
        config_loader.config_from_dict({"kubeflow": {"retries": retries}})
    assert "\n" not in str(raised.value)


@pytest.fixture
def store(tmp_path, monkeypatch):
    """The launcher's local copy of the object store, here under tmp_path: a pod's disk."""
    monkeypatch.setitem(paths.LOCAL_MOUNTS, "minio://", f"{tmp_path}/minio/")
    return tmp_path / "minio"


def upstream(store: Path, transform_graph_id: int = 22) -> dict:
    """What the Trainer reads, as the backend records it: ImportSchemaGen's schema (on the
    store, as TFX's Trainer lists its folder) and Transform's outputs."""
    schema_uri = f"{ROOT}/image-pipeline/run-1/ImportSchemaGen/1/schema"
    schema_dir = store / schema_uri.removeprefix("minio://")
    schema_dir.mkdir(parents=True, exist_ok=True)
    (schema_dir / "schema.pbtxt").write_text("")
    transform = f"{ROOT}/image-pipeline/run-1/Transform/2"
    splits = {"split_names": '["train", "eval"]'}
    return {
        nodes.IMPORT_SCHEMA_GEN: TaskResult(
            nodes.IMPORT_SCHEMA_GEN,
            0.0,
            {"schema": [{"name": "schema", "uri": schema_uri, "id": 20}]},
            Path("schema.log"),
        ),
        nodes.TRANSFORM: TaskResult(
            nodes.TRANSFORM,
            0.0,
            {
                "transformed_examples": [
                    {
                        "name": "examples",
                        "uri": f"{transform}/examples",
                        "id": 21,
                        "metadata": splits,
                    }
                ],
                "transform_graph": [
                    {"name": "graph", "uri": f"{transform}/graph", "id": transform_graph_id}
                ],
            },
            Path("transform.log"),
        ),
    }


def trainer_input(spec: dict, store: Path, transform_graph_id: int = 22, epochs: int = 15):
    """The Trainer's ExecutorInput from the driver, and its container arguments."""
    executor_input = build_executor_input(
        spec,
        nodes.TRAINER,
        root_parameters(spec, {nodes.EPOCHS_PARAMETER: epochs}),
        upstream(store, transform_graph_id),
        ROOT,
        "run-1",
    )
    args = spec_lib.executor(spec, nodes.TRAINER)["container"]["args"]
    return executor_input, args


def resume_dir_in_the_pod(executor_input: dict, args: list) -> tuple:
    """The Trainer's resume folder as the executor names it in a pod: the input mended by our
    entrypoint, then parsed by TFX's; with the input artifacts' URIs it was given."""
    mended = json.loads(json.dumps(executor_input))
    inputs_spec = json.loads(args[args.index("--json_serialized_inputs_spec_args") + 1])
    entrypoint.mend_executor_input(mended, inputs_spec)
    parsed = json_format.ParseDict(mended, pipeline_spec_pb2.ExecutorInput())
    inputs = kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(parsed.inputs.artifacts, {})
    outputs = kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(parsed.outputs.artifacts, {})
    exec_properties = kubeflow_v2_entrypoint_utils.parse_execution_properties(
        parsed.inputs.parameter_values,
        parsed.inputs.parameters,
        json_format.ParseDict(inputs_spec, pipeline_spec_pb2.ComponentInputsSpec()),
    )
    uris = sorted(artifact.uri for artifacts in inputs.values() for artifact in artifacts)
    return executor.resume_dir(inputs, outputs, exec_properties), uris


def test_the_trainers_resume_folder_is_under_output_dir_and_the_same_on_a_retry(tmp_path, store):
    spec = check.compiled_spec(kubeflow_config(), tmp_path / "pipeline.yaml")
    resume_root = f"{OUTPUT_DIR}/.resume/image-pipeline/{nodes.TRAINER}"
    parameter = spec_lib.tasks(spec)[nodes.TRAINER]["inputs"]["parameters"]["resume_root"]
    assert parameter == spec_lib.constant(resume_root)

    executor_input, args = trainer_input(spec, store)
    folder, uris = resume_dir_in_the_pod(executor_input, args)
    assert all(uri.startswith(f"{store}/") for uri in uris)  # the pod's local copies
    assert folder.startswith(f"{resume_root}/")

    # A retry: the same ExecutorInput. A later run with its upstream from the cache: the
    # same inputs, other output URIs.
    assert resume_dir_in_the_pod(executor_input, args)[0] == folder
    again, args = trainer_input(spec, store)
    assert again["outputs"] != executor_input["outputs"]
    assert resume_dir_in_the_pod(again, args)[0] == folder
    # Other work: another transform graph, other epochs.
    assert resume_dir_in_the_pod(*trainer_input(spec, store, transform_graph_id=23))[0] != folder
    assert resume_dir_in_the_pod(*trainer_input(spec, store, epochs=30))[0] != folder


def resuming_run_fn(fn_args):
    """Stands for trainer.run.run_fn: the first try is killed after its first checkpoint;
    a try that finds the checkpoint exports a model that says so."""
    checkpoint = Path(fn_args.custom_config[executor.RESUME_DIR_KEY]) / "phase-0"
    if not checkpoint.is_dir():
        checkpoint.mkdir(parents=True)
        raise RuntimeError("killed")
    Path(fn_args.serving_model_dir).mkdir(parents=True)
    (Path(fn_args.serving_model_dir) / "resumed").write_text(str(checkpoint))


def test_a_retried_trainer_finds_its_checkpoint_and_removes_only_its_folder(tmp_path, store):
    output_dir = tmp_path / "bucket"  # the object store, as a folder every pod reads
    spec = check.compiled_spec(
        kubeflow_config(output_dir=str(output_dir)), tmp_path / "pipeline.yaml"
    )
    executor_input, args = trainer_input(spec, store)
    executor_input["inputs"]["parameterValues"]["run_fn"] = f"{__name__}.resuming_run_fn"
    args = [arg.replace("{{$}}", json.dumps(executor_input)) for arg in args]
    resume_root = output_dir / ".resume" / "image-pipeline" / nodes.TRAINER
    other_work = resume_root / "0123456789abcdef" / "phase-0"  # another run's, going on
    other_work.mkdir(parents=True)

    with pytest.raises(RuntimeError, match="killed"):
        entrypoint.execute(*kubeflow_v2_run_executor._parse_flags(args))
    [folder] = [path for path in resume_root.iterdir() if path != other_work.parent]
    assert (folder / "phase-0").is_dir()

    pod_disk = store / "mlpipeline/v2/artifacts/image-pipeline/run-1" / nodes.TRAINER
    shutil.rmtree(pod_disk)  # the retry runs in a fresh pod
    entrypoint.execute(*kubeflow_v2_run_executor._parse_flags(args))
    [model] = executor_input["outputs"]["artifacts"]["model"]["artifacts"]
    exported = store / model["uri"].removeprefix("minio://") / "Format-Serving" / "resumed"
    assert exported.read_text() == str(folder / "phase-0")
    assert not folder.exists()
    assert other_work.is_dir()
