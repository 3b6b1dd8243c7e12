"""Pods that fit (pipeline/kubeflow/resources.py): requests and limits on every task, the
table's defaults and the config over them, Beam's worker count from the pod's CPU, GPUs and
node selectors as each backend reads them, and the config's errors.

The compiled file is read as the KFP API server reads it: the pipeline spec, then an optional
second document, the PlatformSpec (kfp's pipeline_spec_pb2, parsed strictly).
"""

from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from pipeline import config_loader, nodes
from pipeline.config import ConfigError
from pipeline.kubeflow import compiler, resources
from pipeline.kubeflow import spec as spec_lib

REPO = Path(__file__).resolve().parents[2]
T4 = {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}
OVERRIDES = [
    "components.ImageExampleGen.resources={cpu: 2, memory_gb: 3}",
    "components.ImageExampleGen.beam_pipeline_args=[--runner=DataflowRunner]",
    "components.Transform.resources={cpu_request: 6, memory_gb_request: 20}",
    "components.StatisticsGen.beam_pipeline_args=[--direct_num_workers, '0']",
    "components.Evaluator.beam_pipeline_args=[--direct_num_workers=2]",
    "components.Trainer.resources={gpu: 1, gpu_type: nvidia.com/gpu, "
    "node_selector: {cloud.google.com/gke-accelerator: nvidia-tesla-t4}}",
]


def kubeflow_config(overrides=()):
    """configs/kubeflow.yaml with its placeholders filled in, as a user would."""
    filled_in = [
        "output_dir=gs://bucket/image-pipeline",
        "data.root=gs://bucket/images",
        "kubeflow.image=registry.example.com/image-pipeline:test",
    ]
    return config_loader.load_config([REPO / "configs" / "kubeflow.yaml"], [*filled_in, *overrides])


def read(path):
    """The spec and the platform spec ({} when the file has one document), parsed strictly."""
    with open(path) as handle:
        spec, *platform = yaml.safe_load_all(handle)
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    assert len(platform) <= 1
    for document in platform:
        json_format.ParseDict(document, pipeline_spec_pb2.PlatformSpec())
    return spec, (platform[0] if platform else {})


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = tmp_path_factory.mktemp("kfp") / "pipeline.yaml"
    compiler.compile_pipeline(kubeflow_config(overrides=OVERRIDES), str(path))
    return read(path)


def container(spec, task):
    return spec_lib.executor(spec, task)["container"]


def pod(spec, task):
    given = container(spec, task)["resources"]
    return resources.Pod(
        cpu_request=given["cpuRequest"],
        cpu=given["cpuLimit"],
        memory_gb_request=given["memoryRequest"],
        memory_gb=given["memoryLimit"],
    )


def our_tasks(spec):
    """The tasks other modules add with `spec.add_task` (pipeline/kubeflow/tasks.py)."""
    return [
        t for t in spec_lib.tasks(spec) if container(spec, t)["command"] == spec_lib.TASKS_COMMAND
    ]


def test_every_task_gets_requests_within_its_limits(compiled):
    spec, _ = compiled
    assert our_tasks(spec), "the tasks other modules add are in the spec, and covered"
    assert nodes.EXAMPLE_GEN in spec_lib.tasks(spec)
    labels = {spec_lib.component(spec, task)["executorLabel"] for task in spec_lib.tasks(spec)}
    assert labels == set(spec["deploymentSpec"]["executors"])
    for task in spec_lib.tasks(spec):
        given = pod(spec, task)
        assert 0 < given.cpu_request <= given.cpu, task
        assert 0 < given.memory_gb_request <= given.memory_gb, task


def test_defaults_come_from_the_table(compiled):
    spec, _ = compiled
    assert pod(spec, nodes.SCHEMA_GEN) == resources.LIGHT
    for task in our_tasks(spec):
        assert pod(spec, task) == resources.LIGHT, task
    for task in (nodes.TRAINER, nodes.EVALUATOR, nodes.TFLITE_PUSHER, nodes.STATISTICS_GEN):
        assert pod(spec, task) == resources.DEFAULTS[task], task


def test_the_config_wins_and_the_defaults_bend_to_it(compiled):
    spec, _ = compiled
    # Limits set below the default requests: the requests come down to them.
    assert pod(spec, nodes.EXAMPLE_GEN) == resources.Pod(1, 2, 3, 3)
    # Requests set above the default limits: the limits go up to them.
    assert pod(spec, nodes.TRANSFORM) == resources.Pod(6, 6, 20, 20)


def test_beam_workers_follow_the_pods_cpu_limit(compiled):
    spec, _ = compiled
    assert container(spec, nodes.TRANSFORM)["args"][-1] == "--direct_num_workers=6"
    assert container(spec, nodes.STATISTICS_GEN)["args"][-2:] == ["--direct_num_workers", "4"]
    assert container(spec, nodes.EVALUATOR)["args"][-1] == "--direct_num_workers=2"
    # Dataflow ignores the flag; the Trainer does not run Beam.
    assert "--direct_num_workers=0" in container(spec, nodes.EXAMPLE_GEN)["args"]
    assert container(spec, nodes.TRAINER)["args"][-1] == "--direct_num_workers=0"


def test_gpu_and_node_selector_reach_the_spec_as_kfp_reads_them(compiled):
    spec, platform = compiled
    accelerator = container(spec, nodes.TRAINER)["resources"]["accelerator"]
    assert accelerator == {"type": "nvidia.com/gpu", "count": "1"}
    label = spec_lib.component(spec, nodes.TRAINER)["executorLabel"]
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert executors == {label: {"nodeSelector": {"labels": T4}}}


def test_vertex_gets_its_accelerator_type_in_a_single_document(tmp_path):
    config = kubeflow_config(
        overrides=[
            "kubeflow.backend=vertex",
            "kubeflow.project=my-project",
            "components.Trainer.resources={gpu: 2, gpu_type: NVIDIA_TESLA_T4}",
        ]
    )
    path = tmp_path / "pipeline.yaml"
    compiler.compile_pipeline(config, str(path))
    spec, platform = read(path)
    assert platform == {}
    accelerator = container(spec, nodes.TRAINER)["resources"]["accelerator"]
    assert accelerator == {"type": "NVIDIA_TESLA_T4", "count": "2"}


def workers(args, cpu=None, task=nodes.TRANSFORM):
    """The args `apply` leaves in a one-task spec whose executor is `task`'s TFX executor."""
    executor_class = {
        nodes.TRANSFORM: "tfx.components.transform.executor.Executor",
        nodes.TRAINER: "components.image_trainer.executor.Executor",
    }[task]
    spec = {
        "root": {"dag": {"tasks": {task: {"componentRef": {"name": task}}}}},
        "components": {task: {"executorLabel": f"{task}_executor"}},
        "deploymentSpec": {
            "executors": {
                f"{task}_executor": {
                    "container": {"args": ["--executor_class_path", executor_class, *args]}
                }
            }
        },
    }
    overrides = [f"components.{task}.resources.cpu={cpu}"] if cpu else []
    resources.apply(spec, kubeflow_config(overrides=overrides))
    return container(spec, task)["args"][2:]


MP = "--direct_running_mode=multi_processing"
MT = "--direct_running_mode=multi_threading"
WORKERS_4 = "--direct_num_workers=4"


@pytest.mark.parametrize(
    "args, expected",
    [
        # One per core (0), or no count with a parallel mode: the pod's CPU limit (4).
        ([MP, "--direct_num_workers=0"], [MP, WORKERS_4]),
        ([MT], [MT, WORKERS_4]),
        (["--direct_num_workers", "0"], ["--direct_num_workers", "4"]),
        (["--runner=direct", "--direct_num_workers=0"], ["--runner=direct", WORKERS_4]),
        # A count given last, another runner, one in-memory worker: kept.
        (["--direct_num_workers=0", "--direct_num_workers=3"], None),
        (["--runner=DataflowRunner", "--direct_num_workers=0"], None),
        (["--direct_running_mode=in_memory"], None),
        ([], None),
    ],
)
def test_worker_count_rule(args, expected):
    assert workers(args) == (args if expected is None else expected)


def test_worker_count_is_whole_cpus_at_least_one_and_only_in_beam_components():
    assert workers(["--direct_num_workers=0"], cpu=0.5)[-1] == "--direct_num_workers=1"
    assert workers(["--direct_num_workers=0"], cpu=6.9)[-1] == "--direct_num_workers=6"
    assert workers(["--direct_num_workers=0"], task=nodes.TRAINER) == ["--direct_num_workers=0"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["components.Trainer.resources.cpu=-1"], "components.Trainer.resources.cpu: expected 0"),
        (
            ["components.Trainer.resources={cpu: 2, cpu_request: 4}"],
            "components.Trainer.resources.cpu_request: expected at most "
            "components.Trainer.resources.cpu \\(2.0\\)",
        ),
        (
            ["components.Evaluator.resources={memory_gb: 8, memory_gb_request: 9}"],
            "components.Evaluator.resources.memory_gb_request: expected at most",
        ),
        (
            ["components.Trainer.resources.memory_gb_request=-2"],
            "components.Trainer.resources.memory_gb_request: expected 0 or more",
        ),
        (["components.Trainer.resources.gpu=1"], "components.Trainer.resources.gpu_type"),
        (
            ["components.Trainer.resources.node_selector={'': x}"],
            "components.Trainer.resources.node_selector: expected node labels",
        ),
    ],
)
def test_config_errors_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message) as error:
        kubeflow_config(overrides=overrides)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "backend, resources_given, message",
    [
        (
            "vertex",
            "{node_selector: {pool: gpu}}",
            "components.Trainer.resources.node_selector: Vertex AI Pipelines has no node",
        ),
        (
            "kfp",
            "{gpu: 1, gpu_type: NVIDIA_TESLA_T4}",
            "components.Trainer.resources.gpu_type: 'NVIDIA_TESLA_T4' is not a Kubernetes",
        ),
        (
            "vertex",
            "{gpu: 1, gpu_type: nvidia.com/gpu}",
            "components.Trainer.resources.gpu_type: 'nvidia.com/gpu' is a Kubernetes",
        ),
    ],
)
def test_what_the_backend_cannot_take_is_refused_before_compiling(
    backend, resources_given, message
):
    config = kubeflow_config(
        overrides=[
            f"kubeflow.backend={backend}",
            "kubeflow.project=my-project",
            f"components.Trainer.resources={resources_given}",
        ]
    )
    with pytest.raises(ConfigError, match=message) as error:
        resources.check(config)
    assert "\n" not in str(error.value)


def test_config_keys_load_from_yaml(tmp_path):
    path = tmp_path / "gpu.yaml"
    path.write_text(
        "components:\n  Trainer:\n    resources:\n"
        "      cpu_request: 2\n      memory_gb_request: 6\n"
        "      node_selector: {cloud.google.com/gke-accelerator: nvidia-tesla-t4}\n"
    )
    config = config_loader.load_config([path])
    given = config.components[nodes.TRAINER].resources
    assert (given.cpu_request, given.memory_gb_request, dict(given.node_selector)) == (2, 6, T4)
