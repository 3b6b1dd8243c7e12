"""The KFP v2 spec from `compile`: valid for kfp's own proto, the local DAG, the right image.

Everything is checked on the written file, parsed strictly with
`kfp.pipeline_spec.pipeline_spec_pb2.PipelineSpec`, the message KFP backends read.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from apache_beam.options import pipeline_options
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.dsl.compiler import compiler
from tfx.orchestration.kubeflow.v2 import compiler_utils, kubeflow_v2_dag_runner
from tfx.orchestration.portable import runtime_parameter_utils
from tfx.utils import import_utils, name_utils

from pipeline import config as config_lib
from pipeline import config_loader, nodes
from pipeline.kubeflow import caching, report_view, resources
from pipeline.kubeflow import compiler as kubeflow_compiler
from pipeline.kubeflow import spec as kubeflow_spec
from pipeline.pipeline import create_pipeline

REPO = Path(__file__).resolve().parents[2]
IMAGE = "registry.example.com/image-pipeline:test"
# The placeholders of the templates, filled in as a user would.
FILLED_IN = [
    "output_dir=gs://bucket/image-pipeline",
    "data.root=gs://bucket/images",
    f"kubeflow.image={IMAGE}",
]


def kubeflow_config(*extra_files, overrides=()):
    files = [REPO / "configs" / "kubeflow.yaml", *extra_files]
    return config_loader.load_config(files, [*FILLED_IN, *overrides])


def compile_spec(config, tmp_path):
    path = str(tmp_path / "pipeline.yaml")
    kubeflow_compiler.compile_pipeline(config, path)
    with open(path) as handle:
        spec, *platform = yaml.safe_load_all(handle)
    for document in platform:  # where a task has a node selector: kfp's PlatformSpec
        json_format.ParseDict(document, pipeline_spec_pb2.PlatformSpec())
    return json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())


def container(spec, task):
    """The task's container, parsed strictly as kfp's PipelineDeploymentConfig."""
    deployment = json_format.ParseDict(
        json_format.MessageToDict(spec.deployment_spec),
        pipeline_spec_pb2.PipelineDeploymentConfig(),
    )
    return deployment.executors[f"{task}_executor"].container


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    config = kubeflow_config()
    return config, compile_spec(config, tmp_path_factory.mktemp("kfp"))


def test_spec_is_a_kfp_v2_pipeline_spec(compiled):
    config, spec = compiled
    assert spec.schema_version == "2.1.0"
    assert spec.pipeline_info.name == config.pipeline_name
    assert spec.default_pipeline_root == "gs://bucket/image-pipeline/pipeline_root"


@pytest.mark.parametrize(
    "backend, command",
    [
        ("kfp", ["python", "-m", "pipeline.kubeflow.entrypoint"]),
        ("vertex", list(kubeflow_v2_dag_runner.KUBEFLOW_TFX_CMD)),
    ],
)
def test_every_component_runs_in_the_image_with_the_backends_entrypoint(tmp_path, backend, command):
    """TFX's components with the backend's entrypoint, our own tasks (the cache's, the
    report's view) with ours, the same on both backends; all in the image."""
    config = kubeflow_config(overrides=[f"kubeflow.backend={backend}"])
    spec = compile_spec(config, tmp_path)
    components = create_pipeline(config, nodes.KUBEFLOW).components
    ours = set(spec.root.dag.tasks) - {c.id for c in components}
    assert ours >= {caching.FINGERPRINT_TASK, caching.LOOKUP_TASK}
    for name in ours:
        task = container(spec, name)
        assert task.image == IMAGE
        assert list(task.command) == kubeflow_spec.TASKS_COMMAND
        assert list(task.args) == [name, "{{$}}"]
    for component in components:
        task = container(spec, component.id)
        assert task.image == IMAGE
        assert list(task.command) == command
        executor = name_utils.get_full_name(component.executor_spec.executor_class)
        assert task.args[:2] == ["--executor_class_path", executor]
    assert container(spec, "Trainer").args[1] == "components.image_trainer.executor.Executor"
    driver = container(spec, nodes.EXAMPLE_GEN).lifecycle.pre_cache_check
    assert driver.command[-1] == "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver"


def test_runtime_parameters_have_the_config_values_as_defaults(compiled):
    config, spec = compiled
    parameters = spec.root.input_definitions.parameters
    assert set(parameters) == set(nodes.RUNTIME_PARAMETERS)
    data_root = parameters[nodes.DATA_ROOT_PARAMETER]
    assert data_root.parameter_type == pipeline_spec_pb2.ParameterType.STRING
    assert data_root.default_value.string_value == config.data.root == "gs://bucket/images"
    epochs = parameters[nodes.EPOCHS_PARAMETER]
    assert epochs.parameter_type == pipeline_spec_pb2.ParameterType.NUMBER_INTEGER
    assert epochs.default_value.number_value == config.trainer.epochs == 15


def test_runtime_parameters_feed_the_example_gen_and_the_trainer(compiled):
    _, spec = compiled
    example_gen = spec.root.dag.tasks[nodes.EXAMPLE_GEN].inputs.parameters
    assert example_gen["input_base"].component_input_parameter == "data_root"
    trainer = spec.root.dag.tasks[nodes.TRAINER].inputs.parameters
    assert trainer["epochs"].component_input_parameter == "epochs"
    assert "epochs" not in json.loads(trainer["custom_config"].runtime_value.constant.string_value)


def test_local_run_substitutes_the_config_values():
    config = kubeflow_config(overrides=["trainer.epochs=7"])
    local = compiler.Compiler().compile(create_pipeline(config))
    runtime_parameter_utils.substitute_runtime_parameter(local, {})
    by_id = {node.pipeline_node.node_info.id: node.pipeline_node for node in local.nodes}

    def value(node, name):
        return by_id[node].parameters.parameters[name].field_value

    assert value(nodes.EXAMPLE_GEN, "input_base").string_value == "gs://bucket/images"
    assert value(nodes.TRAINER, "epochs").int_value == 7


def test_beam_args_and_resources_reach_their_containers(tmp_path):
    config = kubeflow_config(
        overrides=[
            "components.Transform.beam_pipeline_args=[--direct_num_workers=3]",
            "components.Trainer.resources={cpu: 2, memory_gb: 8, gpu: 1, gpu_type: nvidia.com/gpu}",
        ]
    )
    spec = compile_spec(config, tmp_path)
    transform = container(spec, "Transform")
    assert transform.args[-3:] == [*config.beam_pipeline_args, "--direct_num_workers=3"]
    assert "--direct_num_workers=3" not in container(spec, "StatisticsGen").args
    trainer = container(spec, "Trainer").resources
    assert (trainer.cpu_limit, trainer.memory_limit) == (2, 8)
    assert (trainer.cpu_request, trainer.memory_request) == (2, 8)  # defaults lowered to fit
    assert (trainer.accelerator.type, trainer.accelerator.count) == ("nvidia.com/gpu", 1)
    assert (transform.resources.cpu_limit, transform.resources.memory_limit) == (4, 16)
    example_gen = container(spec, nodes.EXAMPLE_GEN)
    assert (example_gen.resources.cpu_request, example_gen.resources.cpu_limit) == (1, 4)


@pytest.mark.parametrize("baseline", config_lib.BASELINES)
def test_local_and_kubeflow_run_the_same_dag(tmp_path, baseline):
    """The same nodes and edges, plus the Kubeflow spec's own tasks (caching.py,
    report_view.py); the
    one difference is how the baseline is found: ML Metadata's resolver locally, an
    ordinary container task on Kubeflow (no resolver executor, which the open-source backend
    refuses), given the version BaselineLookup chose."""
    config = kubeflow_config(overrides=[f"evaluation.baseline={baseline}"])
    local = compiler.Compiler().compile(create_pipeline(config))
    local_edges = {
        (upstream, node.pipeline_node.node_info.id)
        for node in local.nodes
        for upstream in node.pipeline_node.upstream_nodes
    }
    local_nodes = {node.pipeline_node.node_info.id: node.pipeline_node for node in local.nodes}

    spec = compile_spec(config, tmp_path)
    kfp_edges = {
        (upstream, name)
        for name, task in spec.root.dag.tasks.items()
        for upstream in [
            *task.dependent_tasks,
            *(a.task_output_artifact.producer_task for a in task.inputs.artifacts.values()),
        ]
    }
    ours = {caching.FINGERPRINT_TASK, caching.LOOKUP_TASK, report_view.TASK}
    assert set(spec.root.dag.tasks) - ours == set(local_nodes)
    assert {edge for edge in kfp_edges if not ours & set(edge)} == local_edges
    our_edges = {
        (caching.FINGERPRINT_TASK, nodes.EXAMPLE_GEN),
        (caching.FINGERPRINT_TASK, nodes.IMPORT_SCHEMA_GEN),
        (nodes.EVALUATION_REPORT, report_view.TASK),
    }
    if baseline == "latest_blessed":
        our_edges |= {
            (nodes.TRAINER, caching.LOOKUP_TASK),
            (caching.LOOKUP_TASK, nodes.BASELINE),
        }
    assert {edge for edge in kfp_edges if ours & set(edge)} == our_edges
    executors = json_format.MessageToDict(spec.deployment_spec)["executors"].values()
    assert [e for e in executors if "container" not in e] == []
    assert (nodes.BASELINE in local_nodes) == (baseline == "latest_blessed")
    if baseline == "latest_blessed":
        local_type = local_nodes[nodes.BASELINE].node_info.type.name
        assert local_type == "tfx.dsl.components.common.resolver.Resolver"
        task = container(spec, nodes.BASELINE)
        assert task.args[1] == "components.latest_blessed_model.executor.Executor"
        assert spec.root.dag.tasks[nodes.BASELINE].caching_options.enable_cache
        assert not spec.root.dag.tasks[caching.LOOKUP_TASK].caching_options.enable_cache


@pytest.mark.parametrize(
    "beam_file, runner",
    [
        ("dataflow.yaml", "DataflowRunner"),
        ("flink.yaml", "PortableRunner"),
        ("spark.yaml", "PortableRunner"),
        ("direct-multiprocessing.yaml", "DirectRunner"),
    ],
)
def test_beam_runner_configs_compile_with_flags_beam_knows(tmp_path, caplog, beam_file, runner):
    config = kubeflow_config(REPO / "configs" / "beam" / beam_file)
    spec = compile_spec(config, tmp_path)
    # DirectRunner's one worker per core is one per CPU of the pod's limit (resources.py).
    args = [
        arg.replace("=0", f"={int(resources.DEFAULTS[nodes.STATISTICS_GEN].cpu)}")
        if arg == "--direct_num_workers=0"
        else arg
        for arg in config.beam_pipeline_args
    ]
    assert container(spec, "StatisticsGen").args[-len(args) :] == args
    options = pipeline_options.PipelineOptions(args)
    options.get_all_options()
    assert "Discarding unparseable args" not in caplog.text
    assert options.view_as(pipeline_options.StandardOptions).runner == runner


def test_component_settings_are_checked_against_the_dag():
    for overrides, message in [
        (["components.Trainr.resources.cpu=2"], "components.Trainr: no such component"),
        (["components.Pusher.beam_pipeline_args=[--x=1]"], "Pusher does not run Beam"),
    ]:
        with pytest.raises(config_lib.ConfigError, match=message):
            create_pipeline(kubeflow_config(overrides=overrides))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["kubeflow.image=''"], "kubeflow.image: required"),
        (["output_dir=runs/x"], "is a path on this machine"),
        (["kubeflow.pipeline_root=/tmp/root"], "is a path on this machine"),
        (["kubeflow.backend=argo"], "kubeflow.backend: expected one of kfp, vertex"),
        (
            ["kubeflow.backend=vertex", "components.Trainer.resources.node_selector={a: b}"],
            "components.Trainer.resources.node_selector: Vertex AI Pipelines has no node",
        ),
        (["data.span_pattern=span-{SPAN}"], "is not supported on Kubeflow"),
    ],
)
def test_what_cannot_run_on_a_cluster_is_refused(tmp_path, overrides, message):
    with pytest.raises(config_lib.ConfigError, match=message):
        compile_spec(kubeflow_config(overrides=overrides), tmp_path)


def test_compile_command_takes_under_30_seconds_without_network(tmp_path):
    """The whole command, imports included, as a user runs it (no network is needed)."""
    output = tmp_path / "spec.yaml"
    command = [sys.executable, "-m", "pipeline.cli", "compile", "--output", str(output)]
    command += ["--config", str(REPO / "configs" / "kubeflow.yaml")]
    for override in FILLED_IN:
        command += ["--set", override]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_USE_LEGACY_KERAS": "1"}
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert output.is_file()
    assert elapsed < 30, f"compile took {elapsed:.1f} s"


def test_every_artifact_type_in_the_spec_imports_by_its_title(compiled):
    """TFX's Kubeflow entrypoint finds an artifact's class from its type's title (TFX's own
    types through TITLE_TO_CLASS_PATH, the others as `<module>.<Class>`)."""
    _, spec = compiled
    spec = json_format.MessageToDict(spec)
    types = [
        definition["artifactType"]
        for component in spec["components"].values()
        for side in ("inputDefinitions", "outputDefinitions")
        for definition in component.get(side, {}).get("artifacts", {}).values()
    ]
    titles = {
        yaml.safe_load(kind["instanceSchema"])["title"]
        for kind in types
        if "instanceSchema" in kind
    }
    # The report's view (report_view.py) writes kfp's own types, which TFX never reads.
    assert {kind["schemaTitle"] for kind in types if "schemaTitle" in kind} == {
        report_view.HTML["schemaTitle"],
        report_view.MARKDOWN["schemaTitle"],
    }
    assert "components.EvaluationReport" in titles
    for title in titles:
        artifact_class = import_utils.import_class_by_path(
            compiler_utils.TITLE_TO_CLASS_PATH.get(title, title)
        )
        assert artifact_class.TYPE_NAME in (title, title.removeprefix("tfx."))
