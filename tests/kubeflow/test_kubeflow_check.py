"""The pipeline image, built here with Docker, and every task of the compiled spec executed
in it by the stand-in open-source KFP backend (local_kfp.py): a first run, with runtime
parameters given, to a blessed and pushed model with no baseline. (What a second run's
baseline task gives is tested without Docker: tests/components/test_latest_blessed_model.py.)

Builds the image with scripts/image.sh, which installs Docker and starts dockerd when none
runs (the daemon it started is stopped at the end).
"""

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from pipeline import demo_data, nodes
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
def given_data(tmp_path_factory):
    """The data root given at run time: 50 images a class, where the config's has 60."""
    root = tmp_path_factory.mktemp("given_data")
    demo_data.write_digits(root, classes=[0, 1, 2], per_class=50)
    return root


@pytest.fixture(scope="module")
def first(image, tmp_path_factory, given_data):
    """One run with the runtime parameters given: the data root and the epochs."""
    work = tmp_path_factory.mktemp("kubeflow")
    parameters = {nodes.DATA_ROOT_PARAMETER: str(given_data), nodes.EPOCHS_PARAMETER: EPOCHS}
    return check.run_check(IMAGE, work, parameters)


def test_the_image_is_checked(image):
    assert "image check: entrypoints and packages import" in image
    assert "Keras 2.16.0 (tf_keras)" in image
    assert "image check: pip check clean; no CA certificate of this machine" in image
    assert "image size: image-pipeline:test" in image


def test_every_task_ran_in_its_own_container_to_a_pushed_model(first):
    assert set(first.run.tasks) == set(first.spec["root"]["dag"]["tasks"])
    result = check.outcome(first)
    assert result["blessed"]
    assert result["pushed"] and Path(result["pushed"], "saved_model.pb").is_file()
    assert Path(result["pushed"]).parent == Path(first.config.serving_dir)
    assert result["tflite"] == ["model_dynamic_range.tflite"]


def test_run_parameters_reach_the_tasks(first, given_data):
    [given] = first.run.tasks[nodes.EXAMPLE_GEN].outputs["examples"]
    assert given["metadata"]["examples"] == 150 == len(list(given_data.rglob("*.png")))
    assert len(list(Path(first.config.data.root).rglob("*.png"))) == 180  # the default
    trainer_log = first.run.tasks[nodes.TRAINER].log.read_text()
    assert f"Trainer: epoch {EPOCHS}/{EPOCHS}:" in trainer_log  # run_fn's line per epoch
    assert f"epoch {EPOCHS + 1}/" not in trainer_log


def test_outputs_are_recorded_at_the_object_store_uris_the_launcher_gave(first):
    for name, task in first.run.tasks.items():
        for key, [artifact] in task.outputs.items():
            prefix = f"{check.PIPELINE_ROOT}/kubeflow-check/{first.run.run_id}/{name}/"
            assert artifact["uri"].startswith(prefix) and artifact["uri"].endswith(f"/{key}")
            assert first.backend.host_path(artifact["uri"]).exists(), (name, key)


def test_the_first_run_has_an_empty_baseline_and_evaluates_without_one(first):
    [empty] = first.run.tasks[nodes.BASELINE].outputs["model"]
    assert empty["metadata"]["source"] == ""
    [evaluation] = first.run.tasks[nodes.EVALUATOR].outputs["evaluation"]
    config = first.backend.host_path(evaluation["uri"]) / "eval_config.json"
    model_specs = json.loads(config.read_text())["evalConfig"]["modelSpecs"]
    assert [spec for spec in model_specs if spec.get("isBaseline")] == []
