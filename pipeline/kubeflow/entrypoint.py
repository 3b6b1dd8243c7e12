"""The container entrypoint of every task on open-source Kubeflow Pipelines v2.

TFX's KFP v2 entrypoint (`tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor`)
is written against Vertex AI Pipelines, which runs it as compiled. The open-source driver
and launcher (kubeflow/pipelines backend/src/v2) hand it an ExecutorInput it trips on. This
module mends that input, runs TFX's own entrypoint on it, and mends the output file; the
spec compiled for `kubeflow.backend: kfp` names it as the command (pipeline/kubeflow/compiler.py).
Each mend applies only where its trigger is present:

1. The launcher adds an `executor-logs` output typed `system.Artifact` (`--publish_logs`,
   on by default), which TFX cannot map to a class ("Could not import system.Artifact").
   It is the launcher's own: dropped before TFX parses the outputs.
2. Input artifacts come back from ML Metadata with an empty instance schema, so TFX finds no
   type title (`'NoneType' object has no attribute 'get'`; tensorflow/tfx#7768). Their
   types are taken from the component's inputs spec, which the compiled spec passes in
   `--json_serialized_inputs_spec_args`.
3. URIs are the object store's (gs://, s3://, minio://), but the launcher downloads inputs
   to, and uploads outputs from, local paths (/gcs/..., /s3/..., /minio/...). TensorFlow
   cannot read minio:// at all, nor s3:// without tensorflow-io and credentials the
   launcher does not pass; and on GCS, the zero-byte "directory" objects TensorFlow writes
   become files when the next task downloads them (kubeflow/pipelines#13476). So the
   executor reads and writes the local paths (output folders created, as TFX's local
   runners do), and the output file names the object-store URIs again, which the launcher
   records and uploads.
4. The spec gives ExampleGen a `preCacheCheck` hook, TFX's ExampleGen driver, which
   resolves the span, version and input fingerprint that the executor reads; Vertex runs
   it, the open-source backend never does (nothing in backend/src/v2 reads the task's
   lifecycle). We run that driver before an ExampleGen executor that has no span yet.
5. TFX's process can abort at interpreter shutdown ("pure virtual method called") after
   its work is done and written, failing the task; we exit as soon as the output is
   written.

sky-uk/kfp-operator PR #1248 lists the same problems, fixed there by patching TFX's files
in the image; here nothing of TFX is changed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Tuple

import yaml
from absl import app, logging
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen import utils as example_gen_utils
from tfx.orchestration.kubeflow.v2 import compiler_utils
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor
from tfx.orchestration.kubeflow.v2.file_based_example_gen import driver as example_gen_driver
from tfx.types import value_artifact
from tfx.utils import import_utils

from pipeline.kubeflow.paths import local_path

LAUNCHER_LOGS_OUTPUT = "executor-logs"
RemoteUris = Dict[Tuple[str, int], str]
"""(output key, index) -> the object-store URI an output had before it was made local."""


def mend_executor_input(executor_input: dict, inputs_spec: dict) -> RemoteUris:
    """Mends 1-3 of the module docstring in `executor_input` (the parsed JSON, in place);
    returns the outputs' object-store URIs, for `restore_output_uris`."""
    outputs = executor_input.get("outputs", {}).get("artifacts", {})
    outputs.pop(LAUNCHER_LOGS_OUTPUT, None)
    spec_types = {
        key: definition.get("artifactType", {})
        for key, definition in inputs_spec.get("artifacts", {}).items()
    }
    for key, artifact_list in executor_input.get("inputs", {}).get("artifacts", {}).items():
        for artifact in artifact_list.get("artifacts", []):
            if not _type_title(artifact.get("type", {})) and key in spec_types:
                artifact["type"] = spec_types[key]
            artifact["uri"] = local_path(artifact.get("uri", ""))
    remote: RemoteUris = {}
    for key, artifact_list in outputs.items():
        for index, artifact in enumerate(artifact_list.get("artifacts", [])):
            uri = artifact.get("uri", "")
            if local_path(uri) == uri:
                continue
            remote[(key, index)] = uri
            artifact["uri"] = local_path(uri)
            _make_output_folder(artifact)
    return remote


def restore_output_uris(output_file: str, remote: RemoteUris) -> None:
    """Puts the object-store URIs back into the executor output TFX wrote, so that the
    launcher uploads the local folders to them and records them in ML Metadata."""
    if not remote:
        return
    with open(output_file) as handle:
        output = json.load(handle)
    for (key, index), uri in remote.items():
        artifacts = output.get("artifacts", {}).get(key, {}).get("artifacts", [])
        if index < len(artifacts):
            artifacts[index]["uri"] = uri
    with open(output_file, "w") as handle:
        json.dump(output, handle)


def execute(args: argparse.Namespace, beam_args: List[str]) -> str:
    """Mends the input, runs TFX's entrypoint (ExampleGen's driver first where needed),
    mends its output file; returns that file's local path."""
    executor_input = json.loads(args.json_serialized_invocation_args)
    inputs_spec = json.loads(args.json_serialized_inputs_spec_args or "{}")
    remote = mend_executor_input(executor_input, inputs_spec)
    args.json_serialized_invocation_args = json.dumps(executor_input)
    if _needs_example_gen_driver(args.executor_class_path, executor_input):
        logging.info("entrypoint: running ExampleGen's driver (the launcher does not)")
        example_gen_driver._run_driver(
            json_format.Parse(
                args.json_serialized_invocation_args, pipeline_spec_pb2.ExecutorInput()
            ),
            json_format.Parse(json.dumps(inputs_spec), pipeline_spec_pb2.ComponentInputsSpec()),
        )
    kubeflow_v2_run_executor._run_executor(args, beam_args)
    output_file = local_path(executor_input["outputs"]["outputFile"])
    restore_output_uris(output_file, remote)
    logging.info("entrypoint: executor output written to %s", output_file)
    return output_file


def run(parsed_argv: Tuple[argparse.Namespace, List[str]]) -> None:
    """`execute`, then exit at once (mend 5)."""
    execute(*parsed_argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _needs_example_gen_driver(executor_class_path: str, executor_input: dict) -> bool:
    parameters = executor_input.get("inputs", {}).get("parameterValues", {})
    executor_class = import_utils.import_class_by_path(executor_class_path)
    return (
        issubclass(executor_class, base_example_gen_executor.BaseExampleGenExecutor)
        and example_gen_utils.SPAN_PROPERTY_NAME not in parameters
    )


def _type_title(artifact_type: dict) -> str:
    if artifact_type.get("schemaTitle"):
        return artifact_type["schemaTitle"]
    schema = yaml.safe_load(artifact_type.get("instanceSchema") or "") or {}
    return schema.get("title", "") if isinstance(schema, dict) else ""


def _make_output_folder(artifact: dict) -> None:
    """The artifact's folder (a value artifact is one file: its parent folder)."""
    title = _type_title(artifact.get("type", {}))
    class_path = compiler_utils.TITLE_TO_CLASS_PATH.get(title, title)
    try:
        is_value = issubclass(
            import_utils.import_class_by_path(class_path), value_artifact.ValueArtifact
        )
    except (ImportError, AttributeError, ValueError):
        is_value = False
    os.makedirs(os.path.dirname(artifact["uri"]) if is_value else artifact["uri"], exist_ok=True)


def main() -> None:
    app.run(run, flags_parser=kubeflow_v2_run_executor._parse_flags)


if __name__ == "__main__":
    main()
