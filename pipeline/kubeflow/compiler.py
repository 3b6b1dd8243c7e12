"""Compiles the pipeline for Kubeflow Pipelines (KFP v2) with TFX's KubeflowV2DagRunner.

The DAG is the local run's `create_pipeline(config)`, with the baseline found by an ordinary
task instead of ML Metadata's resolver (`create_pipeline(config, nodes.KUBEFLOW)`). TFX
compiles it with the image every component runs in and the command that runs each task
(`ENTRYPOINTS`, by `kubeflow.backend`); then each module of this package adds to the spec
what a cluster needs: KFP's cache made to follow the data, the code and the baseline
(caching.py), the report's view in the KFP UI and the Vertex console (report_view.py),
retries and the Trainer's resume folder in the object store (retries.py) and, last, every
task's CPU and memory requests and limits, GPUs, node selector and Beam worker count
(resources.py). Compiling reads nothing remote: Transform and Trainer code is referenced by
dotted path and installed in the image, so there is no user-code package to upload. Schema
2.1 (`parameterType`) is what KFP 2 backends read.

The file is the YAML pipeline spec that `kfp.Client` and the KFP UI upload. TFX puts the
runtime parameters' defaults and the pipeline root in the PipelineJob's runtime config, which
that format leaves out, so they are carried over into the spec's own slots for them (the
root's parameter defaults and `defaultPipelineRoot`): a run started from the UI, or with no
arguments, then uses the config's values. Where a task has a node selector, a second YAML
document follows: the Kubernetes PlatformSpec, as kfp's own compiler writes it (resources.py).
"""

from __future__ import annotations

import os
from typing import Any, Dict, NamedTuple

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from pipeline import nodes
from pipeline.config import ConfigError, PipelineConfig, is_uri
from pipeline.kubeflow import caching, report_view, resources, retries
from pipeline.pipeline import create_pipeline

ENTRYPOINTS = {
    "kfp": ["python", "-m", "pipeline.kubeflow.entrypoint"],
    "vertex": list(kubeflow_v2_dag_runner.KUBEFLOW_TFX_CMD),
}
"""The command of every task, by backend: on open-source KFP our entrypoint, which mends what
its launcher hands TFX's (pipeline/kubeflow/entrypoint.py); Vertex runs TFX's as compiled."""


class Compiled(NamedTuple):
    """The spec file written, and its runtime parameters with their defaults."""

    path: str
    parameters: Dict[str, Any]


def compile_pipeline(config: PipelineConfig, package_path: str) -> Compiled:
    """Writes the KFP v2 pipeline spec (YAML, what `kfp.Client` uploads) to `package_path`,
    after refusing what cannot run on a cluster."""
    if not config.kubeflow.image:
        raise ConfigError("kubeflow.image: required on Kubeflow; the image built from Dockerfile")
    if not is_uri(config.output_dir) or not is_uri(config.kubeflow_pipeline_root):
        raise ConfigError(
            f"output_dir: {config.output_dir} (pipeline root {config.kubeflow_pipeline_root}) is "
            "a path on this machine; on Kubeflow both must be URIs the cluster reads and "
            "writes, e.g. gs://my-bucket/image-pipeline"
        )
    if not package_path.endswith((".yaml", ".yml")):
        raise ConfigError(f"{package_path}: the pipeline spec file must end in .yaml")
    if config.data.span_pattern:
        raise ConfigError(
            f"data.span_pattern: {config.data.span_pattern!r} is not supported on Kubeflow: "
            "span resolution uses resolver strategies KubeflowV2DagRunner (TFX 1.16) does not "
            "compile; run spans with the local runner, or remove data.span_pattern"
        )
    return write_spec(config, package_path)


def write_spec(config: PipelineConfig, package_path: str) -> Compiled:
    """Compiles and writes the spec as it is, whatever `output_dir` is: for a harness that
    mounts one folder at the same path in every task (tests/kubeflow)."""
    resources.check(config)
    pipeline = create_pipeline(config, nodes.KUBEFLOW)
    runner_config = tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
        default_image=config.kubeflow.image,
        default_commands=ENTRYPOINTS[config.kubeflow.backend],
        use_pipeline_spec_2_1=True,
    )
    defaults = _runtime_defaults(pipeline)
    job = json_format.ParseDict(
        tfx.orchestration.experimental.KubeflowV2DagRunner(config=runner_config).run(
            pipeline, parameter_values=defaults, write_out=False
        ),
        pipeline_spec_pb2.PipelineJob(),
    )
    spec = json_format.ParseDict(
        json_format.MessageToDict(job.pipeline_spec), pipeline_spec_pb2.PipelineSpec()
    )
    for name, value in job.runtime_config.parameter_values.items():
        spec.root.input_definitions.parameters[name].default_value.CopyFrom(value)
    spec.default_pipeline_root = job.runtime_config.gcs_output_directory
    spec = json_format.MessageToDict(spec)
    # What a cluster needs beyond TFX's components, each in its own module; resources last,
    # so that the tasks the others add get theirs.
    caching.apply(spec, config)
    report_view.apply(spec, config)
    retries.apply(spec, config)
    platform = resources.apply(spec, config)
    os.makedirs(os.path.dirname(os.path.abspath(package_path)), exist_ok=True)
    with open(package_path, "w") as handle:
        yaml.safe_dump_all([spec, platform] if platform else [spec], handle, sort_keys=True)
    return Compiled(package_path, defaults)


def _runtime_defaults(pipeline: tfx.dsl.Pipeline) -> dict:
    return {
        value.name: value.default
        for component in pipeline.components
        for value in component.exec_properties.values()
        if isinstance(value, tfx.dsl.experimental.RuntimeParameter)
    }
