"""The pipeline image, built here with Docker, and a nightly schedule of the compiled spec run
by the stand-in open-source KFP backend (local_kfp.py, which models KFP's cache key and
retries; check.py): run 1 blessed and pushed, with runtime parameters given; run 2, nothing
changed, taken from the cache but for the two tasks that compute the cache parameters; run
3, after images were added, ingests them, is judged against run 1's model, and its Trainer,
killed mid-epoch, resumes on the retry. (The run with a rebuilt image is `make
kubeflow-check`'s; the cache key's image and code parts are in test_caching.py.)

Builds the image with scripts/image.sh, which installs Docker and starts dockerd when none
runs (the daemon it started is stopped at the end).
"""

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from pipeline import nodes
from tests.kubeflow import check

REPO = Path(__file__).resolve().parents[2]
IMAGE = "image-pipeline:test"
DOCKERD_PIDFILE = "/tmp/image-pipeline-dockerd.pid"
EPOCHS = 12


def engine_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


@pytest.fixture(scope="module")
def image():
    """Builds the image; yields the build's output (its checks and size)."""
    had_engine = engine_answers()
    result = subprocess.run(
        [str(REPO / "scripts" / "image.sh")],
        env={**os.environ, "IMAGE": IMAGE},
        capture_output=True,
        text=True,
    )
    print(result.stdout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    yield result.stdout
    if not had_engine and os.path.exists(DOCKERD_PIDFILE):
        os.kill(int(Path(DOCKERD_PIDFILE).read_text()), signal.SIGTERM)


@pytest.fixture(scope="module")
def schedule(image, tmp_path_factory):
    """The three runs; yields the check and each run's Run by name."""
    work = tmp_path_factory.mktemp("kubeflow")
    nightly = check.prepare(IMAGE, work, EPOCHS)
    runs = {"first": nightly.run(), "unchanged": nightly.run()}
    added_total = check.add_images(nightly)
    killed = check.Fault(nodes.TRAINER, f"Trainer: epoch {check.KILLED_AT_EPOCH}/")
    runs["new_images"] = nightly.run(fault=killed)
    for name, run in runs.items():
        print(name, json.dumps(check.outcome(nightly, run)))
    return nightly, runs, added_total


def test_the_image_is_checked(image):
    assert "image check: entrypoints and packages import" in image
    assert "Keras 2.16.0 (tf_keras)" in image
    assert "image check: pip check clean; no CA certificate of this machine" in image
    assert "image size: image-pipeline:test" in image


def test_the_first_run_runs_every_task_in_its_own_container_to_a_pushed_model(schedule):
    nightly, runs, _ = schedule
    first = runs["first"]
    assert first.executed() == list(first.tasks) and set(first.tasks) == set(
        nightly.spec["root"]["dag"]["tasks"]
    )
    result = check.outcome(nightly, first)
    assert result["blessed"]
    assert result["pushed"] and Path(result["pushed"], "saved_model.pb").is_file()
    assert Path(result["pushed"]).parent == Path(nightly.config.serving_dir)
    assert result["tflite"] == ["model_dynamic_range.tflite"]


def test_run_parameters_reach_the_tasks(schedule):
    nightly, runs, _ = schedule
    given = Path(nightly.parameters[nodes.DATA_ROOT_PARAMETER])
    [examples] = runs["first"].tasks[nodes.EXAMPLE_GEN].outputs["examples"]
    assert examples["metadata"]["examples"] == 150 == 3 * check.GIVEN_PER_CLASS
    assert len(list(Path(nightly.config.data.root).rglob("*.png"))) == 180  # the default
    trainer_log = runs["first"].tasks[nodes.TRAINER].log.read_text()
    assert f"Trainer: epoch {EPOCHS}/{EPOCHS}:" in trainer_log  # run_fn's line per epoch
    assert f"epoch {EPOCHS + 1}/" not in trainer_log
    assert given.is_dir()


def test_outputs_are_recorded_at_the_object_store_uris_the_launcher_gave(schedule):
    nightly, runs, _ = schedule
    first = runs["first"]
    for name, task in first.tasks.items():
        for key, [artifact] in task.outputs.items():
            prefix = f"{check.PIPELINE_ROOT}/kubeflow-check/{first.run_id}/{name}/"
            assert artifact["uri"].startswith(prefix) and artifact["uri"].endswith(f"/{key}")
            assert nightly.backend.host_path(artifact["uri"]).exists(), (name, key)


def test_the_first_run_has_an_empty_baseline_and_evaluates_without_one(schedule):
    nightly, runs, _ = schedule
    [empty] = runs["first"].tasks[nodes.BASELINE].outputs["model"]
    assert empty["metadata"]["source"] == ""
    [evaluation] = runs["first"].tasks[nodes.EVALUATOR].outputs["evaluation"]
    config = nightly.backend.host_path(evaluation["uri"]) / "eval_config.json"
    model_specs = json.loads(config.read_text())["evalConfig"]["modelSpecs"]
    assert [spec for spec in model_specs if spec.get("isBaseline")] == []


def test_a_run_with_nothing_changed_is_taken_from_the_cache_end_to_end(schedule):
    _, runs, _ = schedule
    unchanged, first = runs["unchanged"], runs["first"]
    assert sorted(unchanged.executed()) == sorted(check.UNCACHED)
    for name in set(first.tasks) - set(check.UNCACHED):
        assert unchanged.tasks[name].outputs == first.tasks[name].outputs, name
    # The candidate, pushed by run 1, is not its own baseline: still none.
    [baseline] = unchanged.tasks[nodes.BASELINE].outputs["model"]
    assert baseline["metadata"]["source"] == ""
    assert unchanged.tasks[check.caching.LOOKUP_TASK].parameters == {"version": ""}


def test_added_images_are_ingested_and_the_model_is_judged_against_run_ones(schedule):
    nightly, runs, added_total = schedule
    new, first = runs["new_images"], runs["first"]
    # Everything ran again but the curated schema's import, whose key follows the code only.
    assert set(new.executed()) == set(first.tasks) - {nodes.IMPORT_SCHEMA_GEN}
    [examples] = new.tasks[nodes.EXAMPLE_GEN].outputs["examples"]
    assert examples["metadata"]["examples"] == added_total == 150 + 30
    result = check.outcome(nightly, new)
    assert result["baseline"] == check.outcome(nightly, first)["pushed"]
    [evaluation] = new.tasks[nodes.EVALUATOR].outputs["evaluation"]
    config = nightly.backend.host_path(evaluation["uri"]) / "eval_config.json"
    model_specs = json.loads(config.read_text())["evalConfig"]["modelSpecs"]
    assert [spec.get("isBaseline", False) for spec in model_specs] == [False, True]


def test_a_trainer_killed_mid_epoch_resumes_on_its_retry_and_ends_blessed(schedule):
    nightly, runs, _ = schedule
    trainer = runs["new_images"].tasks[nodes.TRAINER]
    assert trainer.attempts == 2
    killed = trainer.log.with_name(trainer.log.name.replace("-2.log", "-1.log")).read_text()
    assert f"Trainer: epoch {check.KILLED_AT_EPOCH}/" in killed
    resumed = trainer.log.read_text()
    assert "Trainer: resumed from epoch" in resumed
    assert "Trainer: epoch 1/" not in resumed
    assert check.outcome(nightly, runs["new_images"])["blessed"]
