"""pipeline/kubeflow/entrypoint.py on ExecutorInputs built as the open-source KFP v2 driver and
launcher build them (local_kfp.build_executor_input), for a real task of our compiled spec:
SchemaGen after StatisticsGen. TFX's own entrypoint fails on each problem; ours runs the
executor and writes an output file the launcher can record and upload.
"""

import json
from pathlib import Path

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor

from pipeline import demo_data, nodes
from pipeline.kubeflow import caching, entrypoint, paths
from tests.kubeflow.local_kfp import TaskResult, build_executor_input, root_parameters

ROOT = "minio://mlpipeline/v2/artifacts"


@pytest.fixture
def store(tmp_path, monkeypatch):
    """The launcher's local copy of the object store, here under tmp_path."""
    monkeypatch.setitem(paths.LOCAL_MOUNTS, "minio://", f"{tmp_path}/minio/")
    return tmp_path / "minio"


def statistics_upstream(store):
    """StatisticsGen's output as ML Metadata keeps it, with real statistics on disk."""
    uri = f"{ROOT}/kubeflow-check/run/StatisticsGen/1/statistics"
    stats = tfdv.generate_statistics_from_dataframe(
        pd.DataFrame({"label": ["0", "1", "1"], "height": [8, 8, 8]})
    )
    split = store / uri.removeprefix("minio://") / "Split-train"
    split.mkdir(parents=True)
    (split / "FeatureStats.pb").write_bytes(
        statistics_pb2.DatasetFeatureStatisticsList(datasets=stats.datasets).SerializeToString()
    )
    metadata = {"split_names": '["train"]', "span": 0, "tfx_version": "1.16.0"}
    return {"statistics": [{"name": "statistics", "uri": uri, "metadata": metadata, "id": 7}]}


def done(name, outputs=None, parameters=None):
    """An upstream task as the stand-in backend records it."""
    return TaskResult(name, 0.0, outputs or {}, Path(f"{name}.log"), parameters or {})


def schema_gen_args(spec, store):
    recorded = {nodes.STATISTICS_GEN: done(nodes.STATISTICS_GEN, statistics_upstream(store))}
    executor_input = build_executor_input(
        spec, nodes.SCHEMA_GEN, root_parameters(spec, {}), recorded, ROOT, "run"
    )
    container = spec["deploymentSpec"]["executors"][f"{nodes.SCHEMA_GEN}_executor"]["container"]
    args = [a.replace("{{$}}", json.dumps(executor_input)) for a in container["args"]]
    return executor_input, args


def test_the_input_has_the_launchers_shape(spec, store):
    executor_input, _ = schema_gen_args(spec, store)
    [statistics] = executor_input["inputs"]["artifacts"]["statistics"]["artifacts"]
    assert statistics["type"] == {"instanceSchema": ""}
    assert statistics["name"] == "7" and statistics["metadata"]["span"] == 0.0
    outputs = executor_input["outputs"]["artifacts"]
    assert outputs[entrypoint.LAUNCHER_LOGS_OUTPUT]["artifacts"][0]["type"] == {
        "schemaTitle": "system.Artifact"
    }
    assert outputs["schema"]["artifacts"][0]["uri"].startswith(f"{ROOT}/kubeflow-check/run/")


def run_tfx_entrypoint(args, executor_input):
    args = list(args)
    args[args.index("--json_serialized_invocation_args") + 1] = json.dumps(executor_input)
    kubeflow_v2_run_executor._run_executor(*kubeflow_v2_run_executor._parse_flags(args))


def test_tfx_entrypoint_fails_on_each_problem(spec, store):
    executor_input, args = schema_gen_args(spec, store)
    # The input artifacts' empty instance schema (tensorflow/tfx#7768).
    with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'get'"):
        run_tfx_entrypoint(args, executor_input)
    # Typed inputs: then the launcher's executor-logs output.
    [statistics] = executor_input["inputs"]["artifacts"]["statistics"]["artifacts"]
    statistics["type"] = {"schemaTitle": "tfx.ExampleStatistics"}
    with pytest.raises(ImportError, match="system.Artifact"):
        run_tfx_entrypoint(args, executor_input)
    # Neither: then the object-store URI TensorFlow cannot read.
    executor_input["outputs"]["artifacts"].pop(entrypoint.LAUNCHER_LOGS_OUTPUT)
    with pytest.raises(Exception, match="minio"):
        run_tfx_entrypoint(args, executor_input)


def test_mended_input_is_typed_local_and_without_the_launchers_output(spec, store):
    executor_input, args = schema_gen_args(spec, store)
    mended = json.loads(json.dumps(executor_input))
    inputs_spec = json.loads(args[args.index("--json_serialized_inputs_spec_args") + 1])
    remote = entrypoint.mend_executor_input(mended, inputs_spec)

    [statistics] = mended["inputs"]["artifacts"]["statistics"]["artifacts"]
    assert "title: tfx.ExampleStatistics" in statistics["type"]["instanceSchema"]
    assert statistics["uri"].startswith(str(store))
    assert entrypoint.LAUNCHER_LOGS_OUTPUT not in mended["outputs"]["artifacts"]
    schema_uri = executor_input["outputs"]["artifacts"]["schema"]["artifacts"][0]["uri"]
    assert remote == {("schema", 0): schema_uri}
    assert (store / schema_uri.removeprefix("minio://")).is_dir()


def test_the_executor_runs_and_its_output_names_the_object_store(spec, store):
    executor_input, args = schema_gen_args(spec, store)
    output_file = entrypoint.execute(*kubeflow_v2_run_executor._parse_flags(args))

    schema_uri = executor_input["outputs"]["artifacts"]["schema"]["artifacts"][0]["uri"]
    schema_file = store / schema_uri.removeprefix("minio://") / "schema.pbtxt"
    assert 'name: "label"' in schema_file.read_text()
    with open(output_file) as handle:
        written = json.load(handle)
    assert written["artifacts"]["schema"]["artifacts"][0]["uri"] == schema_uri


def test_example_gen_gets_the_driver_the_launcher_never_runs(spec, store, tmp_path):
    data = tmp_path / "images"
    demo_data.write_digits(data, classes=[0, 1], per_class=5)
    fingerprints = done(caching.FINGERPRINT_TASK, parameters={caching.DATA_FINGERPRINT: "fp"})
    executor_input = build_executor_input(
        spec,
        nodes.EXAMPLE_GEN,
        root_parameters(spec, {"data_root": str(data)}),
        {caching.FINGERPRINT_TASK: fingerprints},
        ROOT,
        "run",
    )
    assert "span" not in executor_input["inputs"]["parameterValues"]
    assert executor_input["inputs"]["parameterValues"]["cache_fingerprint"] == "fp"
    container = spec["deploymentSpec"]["executors"][f"{nodes.EXAMPLE_GEN}_executor"]["container"]
    args = [a.replace("{{$}}", json.dumps(executor_input)) for a in container["args"]]
    output_file = entrypoint.execute(*kubeflow_v2_run_executor._parse_flags(args))

    with open(output_file) as handle:
        [examples] = json.load(handle)["artifacts"]["examples"]["artifacts"]
    assert examples["uri"].startswith(f"{ROOT}/")
    assert examples["metadata"]["span"] == 0
    assert examples["metadata"]["examples"] == 10
    assert json.loads(examples["metadata"]["split_names"]) == ["train", "eval"]


@pytest.mark.parametrize(
    "uri, local",
    [
        ("gs://bucket/a/b", "/gcs/bucket/a/b"),
        ("s3://bucket/a", "/s3/bucket/a"),
        ("minio://mlpipeline/v2/x", "/minio/mlpipeline/v2/x"),
        ("/already/local", "/already/local"),
    ],
)
def test_local_paths_are_the_launchers(uri, local):
    assert paths.local_path(uri) == local
