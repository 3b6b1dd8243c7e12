"""KFP's cache made to follow the data, the code and the baseline (pipeline/kubeflow/caching.py):
the compiled spec's wiring, the fingerprint and lookup tasks run as the backend runs them
(pipeline/kubeflow/tasks.py, on an ExecutorInput), and the stand-in's cache key. The runs
themselves, cached and not, are in test_kubeflow_check.py."""

import json
import os
import shutil

import pytest

from pipeline import demo_data, nodes
from pipeline.kubeflow import caching, paths, tasks
from tests.components.test_serving_pusher import push, trained_model
from tests.kubeflow import check
from tests.kubeflow.local_kfp import LocalKfp, TaskResult, build_executor_input, root_parameters

ROOT = "minio://mlpipeline/v2/artifacts"


@pytest.fixture
def store(tmp_path, monkeypatch):
    """The launcher's local copy of the object store, here under tmp_path."""
    monkeypatch.setitem(paths.LOCAL_MOUNTS, "minio://", f"{tmp_path}/minio/")
    return tmp_path / "minio"


def task(spec, name):
    return spec["root"]["dag"]["tasks"][name]


def test_the_fingerprint_task_runs_every_time_and_feeds_the_dags_first_tasks(spec):
    fingerprints = task(spec, caching.FINGERPRINT_TASK)
    assert fingerprints["cachingOptions"] == {}
    given = fingerprints["inputs"]["parameters"]
    assert given["input_base"] == {"componentInputParameter": nodes.DATA_ROOT_PARAMETER}
    assert given["schema_file"] == {"runtimeValue": {"constant": check.IMAGE_SCHEMA}}
    for name, key in (
        (nodes.EXAMPLE_GEN, caching.DATA_FINGERPRINT),
        (nodes.IMPORT_SCHEMA_GEN, caching.CODE_FINGERPRINT),
    ):
        entry = task(spec, name)
        assert entry["cachingOptions"] == {"enableCache": True}
        assert entry["inputs"]["parameters"][caching.CACHE_FINGERPRINT_PARAMETER] == {
            "taskOutputParameter": {
                "producerTask": caching.FINGERPRINT_TASK,
                "outputParameterKey": key,
            }
        }
        assert caching.FINGERPRINT_TASK in entry["dependentTasks"]
        executor = spec["deploymentSpec"]["executors"][f"{name}_executor"]["container"]
        inputs_spec = json.loads(
            executor["args"][executor["args"].index("--json_serialized_inputs_spec_args") + 1]
        )
        assert inputs_spec["parameters"][caching.CACHE_FINGERPRINT_PARAMETER] == {
            "parameterType": "STRING"
        }


def test_the_baseline_is_looked_up_every_time_and_copied_only_when_it_changes(spec):
    lookup = task(spec, caching.LOOKUP_TASK)
    assert lookup["cachingOptions"] == {}
    assert lookup["inputs"]["artifacts"][caching.CANDIDATE] == {
        "taskOutputArtifact": {"producerTask": nodes.TRAINER, "outputArtifactKey": "model"}
    }
    baseline = task(spec, nodes.BASELINE)
    assert baseline["cachingOptions"] == {"enableCache": True}
    assert baseline["inputs"]["parameters"][caching.BASELINE_VERSION] == {
        "taskOutputParameter": {
            "producerTask": caching.LOOKUP_TASK,
            "outputParameterKey": caching.BASELINE_VERSION,
        }
    }
    container = spec["deploymentSpec"]["executors"][f"{caching.LOOKUP_TASK}_executor"]
    assert container["container"]["command"] == ["python", "-m", "pipeline.kubeflow.tasks"]
    assert container["container"]["args"] == [caching.LOOKUP_TASK, "{{$}}"]
    assert container["container"]["image"] == "image-pipeline:test"


def test_with_warm_start_the_lookup_has_no_candidate_and_comes_before_the_trainer(tmp_path):
    config = check.config_for(
        tmp_path, "image-pipeline:test", tmp_path / "data", "trainer.warm_start=true"
    )
    spec = check.compiled_spec(config, tmp_path / "pipeline.yaml")
    lookup = task(spec, caching.LOOKUP_TASK)
    assert "artifacts" not in lookup.get("inputs", {})
    assert task(spec, nodes.TRAINER)["inputs"]["artifacts"]["base_model"] == {
        "taskOutputArtifact": {"producerTask": nodes.BASELINE, "outputArtifactKey": "model"}
    }


def run_task(spec, name, parameters, upstream=None):
    """Runs our task `name` in this process as its container would, on the ExecutorInput
    the stand-in backend builds; returns its output parameters."""
    executor_input = build_executor_input(
        spec, name, root_parameters(spec, parameters), upstream or {}, ROOT, "run"
    )
    assert tasks.main(["tasks", name, json.dumps(executor_input)]) == 0
    output_file = paths.local_path(executor_input["outputs"]["outputFile"])
    with open(output_file) as handle:
        return json.load(handle)["parameterValues"]


def test_the_data_fingerprint_follows_every_file_and_the_code_follows_the_schema(
    spec, store, tmp_path, monkeypatch
):
    data = tmp_path / "images"
    demo_data.write_digits(data, classes=[0, 1], per_class=5)
    given = {nodes.DATA_ROOT_PARAMETER: str(data)}
    schema = tmp_path / "schema.pbtxt"
    schema.write_text((check.REPO / "schema" / "digits.pbtxt").read_text())
    constant = task(spec, caching.FINGERPRINT_TASK)["inputs"]["parameters"]["schema_file"]
    monkeypatch.setitem(constant["runtimeValue"], "constant", str(schema))

    first = run_task(spec, caching.FINGERPRINT_TASK, given)
    assert run_task(spec, caching.FINGERPRINT_TASK, given) == first
    assert "num_files:2" in first[caching.DATA_FINGERPRINT]  # TFX's: the class folders
    assert "tree:files:10" in first[caching.DATA_FINGERPRINT]  # ours: every file below
    assert first[caching.CODE_FINGERPRINT] in first[caching.DATA_FINGERPRINT]

    seen = {first[caching.DATA_FINGERPRINT]}
    demo_data.write_digits(data, classes=[1], per_class=6)  # an image added
    seen.add(run_task(spec, caching.FINGERPRINT_TASK, given)[caching.DATA_FINGERPRINT])
    os.remove(sorted((data / "0").iterdir())[0])  # one removed
    seen.add(run_task(spec, caching.FINGERPRINT_TASK, given)[caching.DATA_FINGERPRINT])
    replaced = sorted((data / "1").iterdir())[0]
    replaced.write_bytes((data / "1" / sorted(os.listdir(data / "1"))[1]).read_bytes())
    seen.add(run_task(spec, caching.FINGERPRINT_TASK, given)[caching.DATA_FINGERPRINT])
    assert len(seen) == 4

    before = run_task(spec, caching.FINGERPRINT_TASK, given)
    schema.write_text(schema.read_text() + "# rebuilt\n")
    after = run_task(spec, caching.FINGERPRINT_TASK, given)
    assert after[caching.CODE_FINGERPRINT] != before[caching.CODE_FINGERPRINT]
    assert after[caching.DATA_FINGERPRINT] != before[caching.DATA_FINGERPRINT]


def test_the_lookup_names_the_newest_version_that_is_not_the_candidate(
    spec, store, tmp_path, monkeypatch
):
    serving = tmp_path / "serving"
    constant = task(spec, caching.LOOKUP_TASK)["inputs"]["parameters"][caching.SERVING_DIR]
    monkeypatch.setitem(constant["runtimeValue"], "constant", str(serving))
    first, second = trained_model(tmp_path, 2.0), trained_model(tmp_path, 3.0)

    def lookup(candidate):
        """The lookup with `candidate` as the Trainer's model, downloaded as the launcher
        downloads it."""
        uri = f"{ROOT}/kubeflow-check/run/Trainer/1/model"
        local = store / uri.removeprefix("minio://")
        shutil.rmtree(local, ignore_errors=True)
        shutil.copytree(candidate.uri, local)
        model = {"name": "model", "uri": uri, "id": 3}
        upstream = {nodes.TRAINER: TaskResult(nodes.TRAINER, 0.0, {"model": [model]}, None)}
        return run_task(spec, caching.LOOKUP_TASK, {}, upstream)[caching.BASELINE_VERSION]

    assert lookup(first) == ""
    push(tmp_path, first, blessed=1)
    [version_1] = [str(p) for p in serving.iterdir()]
    assert lookup(first) == ""  # the candidate pushed already is not its own baseline
    assert lookup(second) == version_1
    push(tmp_path, second, blessed=1)
    assert lookup(second) == version_1


def executor_input(spec, name, upstream_ids):
    upstream = {
        producer: TaskResult(
            producer, 0.0, {key: [{"name": key, "uri": f"{ROOT}/x/{key}", "id": i}]}, None
        )
        for producer, key, i in upstream_ids
    }
    return build_executor_input(spec, name, root_parameters(spec, {}), upstream, ROOT, "run")


def test_the_stand_ins_cache_key_is_the_backends(spec, tmp_path):
    """Same inputs and ids: same key, whatever the URIs of this run's outputs; another
    input artifact id, another image string or another parameter: another key."""
    backend = LocalKfp("unused", tmp_path, [], tmp_path)
    name = nodes.SCHEMA_GEN
    upstream = [(nodes.STATISTICS_GEN, "statistics", 7)]
    key = backend._cache_key(spec, name, executor_input(spec, name, upstream))
    assert key.startswith("pipeline/kubeflow-check:")
    assert backend._cache_key(spec, name, executor_input(spec, name, upstream)) == key
    other_id = [(nodes.STATISTICS_GEN, "statistics", 8)]
    assert backend._cache_key(spec, name, executor_input(spec, name, other_id)) != key

    retagged = json.loads(json.dumps(spec))
    for executor in retagged["deploymentSpec"]["executors"].values():
        executor["container"]["image"] = "image-pipeline:other"
    assert backend._cache_key(retagged, name, executor_input(retagged, name, upstream)) != key

    given = executor_input(spec, name, upstream)
    given["inputs"]["parameterValues"]["infer_feature_shape"] = 0.0
    assert backend._cache_key(spec, name, given) != key
    assert backend._cache_key(spec, caching.LOOKUP_TASK, given) == ""  # uncached
