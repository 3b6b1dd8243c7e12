"""`init` then `run`, through the CLI as a user types them, on a folder of our own making.

Three classes of drawn shapes, JPEG and PNG, of varied sizes (tests/e2e/shapes.py): `init`
writes a config and a curated schema, trains nothing, and the run that follows passes the
gate on them, reuses init's ingestion from the cache and ends blessed and pushed. A class
that arrives later stops the gate with the command that accepts it, and that command adds
it to the schema. The run is shortened with `--set` (fewer epochs than init chose, no TFLite,
a lower bar for the blessing): this test is about init and the gate, not accuracy (the
README's walk-through runs init's choices in full).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow_data_validation as tfdv

from pipeline import config_loader, metadata, nodes, summary
from tests.e2e import shapes

REPO = Path(__file__).resolve().parents[2]
SHORT_RUN = ["trainer.epochs=100", "tflite.conversions=[]", "evaluation.min_accuracy=0.5"]
FROM_SCRATCH = ["--set", "trainer.weights=none"]
"""Given, not probed: on a machine online, init would choose ImageNet weights for a run to
download (tests/pipeline/test_init.py checks the choice itself)."""


def cli(cwd, *args):
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_USE_LEGACY_KERAS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )


def load_config(work):
    """The config as the CLI reads it, from the folder the user works in (relative paths)."""
    here = os.getcwd()
    os.chdir(work)
    try:
        return config_loader.load_config("configs/shapes.yaml")
    finally:
        os.chdir(here)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A user's folder (data/shapes) and what init, then run, made of it."""
    work = tmp_path_factory.mktemp("user")
    shapes.write_shapes(work / "data" / "shapes", per_class=50, sides=(16, 40))
    init = cli(work, "init", "data/shapes", "--config", "configs/shapes.yaml", *FROM_SCRATCH)
    config = load_config(work)
    after_init = (
        metadata.latest_run(config.metadata_path, config.pipeline_name),
        summary.summarize(config),
    )
    overrides = [arg for override in SHORT_RUN for arg in ("--set", override)]
    run = cli(work, "run", "--config", "configs/shapes.yaml", *overrides)
    after_run = metadata.latest_run(config.metadata_path, config.pipeline_name)
    return work, config, init, after_init, run, after_run


def test_init_says_what_it_found_and_the_command_to_run_next(work):
    _, _, init, _, _, _ = work
    assert init.returncode == 0, init.stdout + init.stderr[-3000:]
    out = init.stdout
    assert "classes          circle 50, square 50, triangle 50" in out
    assert "formats          JPEG 75, PNG 75" in out
    assert "image sizes      shorter side: circle 16-" in out
    assert "files            150 seen, 0 quarantined" in out
    assert "Wrote configs/shapes.yaml" in out and "configs/shapes.schema.pbtxt" in out
    assert "The validation gate passes this data" in out
    assert out.rstrip().endswith("run --config configs/shapes.yaml")
    assert "Traceback" not in out + init.stderr


def test_init_trains_nothing_and_the_summary_says_what_it_did(work):
    _, _, _, (node_runs, summarized), _, _ = work
    assert set(node_runs) == {nodes.EXAMPLE_GEN, nodes.STATISTICS_GEN, nodes.SCHEMA_GEN}
    text = summarized.as_text()
    assert "files            150 seen" in text
    assert "anomalies        not checked" in text
    assert "blessed          not evaluated" in text
    assert "pushed model     not pushed" in text


def test_the_schema_is_curated_for_the_data_found(work):
    _, config, _, _, _, _ = work
    schema = tfdv.load_schema_text(config.schema_file)
    domains = {domain.name: list(domain.value) for domain in schema.string_domain}
    assert domains == {"label": ["circle", "square", "triangle"], "format": ["JPEG", "PNG"]}
    for key in ("height", "width"):
        bounds = tfdv.get_feature(schema, key).int_domain
        assert (bounds.min, bounds.max) == (config.data.min_side, 40)
    assert tfdv.get_feature(schema, "image").HasField("image_domain")
    for key in ("source", "sha256"):  # SchemaGen listed every path and hash as a domain
        assert tfdv.get_feature(schema, key).WhichOneof("domain_info") is None
    assert all(feature.presence.min_fraction == 1.0 for feature in schema.feature)


def test_the_config_is_every_key_set_for_the_data(work):
    root, config, _, _, _, _ = work
    text = (root / "configs" / "shapes.yaml").read_text()
    comments = " ".join(line.strip(" #") for line in text.splitlines())
    assert config.data.root == str(root / "data" / "shapes")
    assert config.pipeline_name == "shapes" and config.serving.model_name == "shapes"
    assert config.preprocessing.image_size == 32  # shorter sides 16-40: median under 32
    assert "# the images' shorter side is 16-" in text
    assert "Set none where mirroring changes the class" in comments
    assert config.trainer.weights == "none"
    assert config.trainer.epochs == 225  # 900 steps from scratch, 4 batches an epoch
    assert "108 training images make 4 batches of 32 an epoch" in comments


def test_the_run_after_init_passes_the_gate_reuses_ingestion_and_is_pushed(work):
    _, config, _, _, run, after_run = work
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for node in (nodes.EXAMPLE_GEN, nodes.STATISTICS_GEN, nodes.SCHEMA_GEN):
        assert after_run[node].state == "cached", node
    assert after_run[nodes.VALIDATION_GATE].state == "complete"
    assert "blessed          yes" in run.stdout
    assert (Path(config.serving_dir)).is_dir()
    assert "image sizes      shorter side:" in run.stdout


def test_a_run_that_ends_not_blessed_exits_3(work):
    """The same data and model (cached), judged against a bound it cannot pass unless perfect:
    only the Evaluator and what follows it run again."""
    root, _, _, _, first, _ = work
    overrides = [arg for override in SHORT_RUN for arg in ("--set", override)]
    judged = cli(
        root,
        "run",
        "--config",
        "configs/shapes.yaml",
        *overrides,
        "--set",
        "evaluation.min_accuracy=1.0",
    )
    perfect = "eval accuracy    1.0000" in first.stdout
    assert judged.returncode == (0 if perfect else 3), judged.stdout[-3000:] + judged.stderr[-2000:]
    if not perfect:
        assert "blessed          no: sparse_categorical_accuracy on slice Overall" in judged.stdout
        assert "pushed model     not pushed" in judged.stdout


def test_a_new_class_stops_the_gate_and_update_schema_accepts_it(work):
    root, config, _, _, _, _ = work
    shapes.write_shapes(root / "data" / "shapes", per_class=50, sides=(16, 40), classes=["line"])
    stopped = cli(root, "run", "--config", "configs/shapes.yaml")
    assert stopped.returncode == 1, stopped.stdout[-3000:] + stopped.stderr[-3000:]
    assert "label: expected one of circle, square, triangle" in stopped.stdout
    assert "image-pipeline init --update-schema --config configs/shapes.yaml" in stopped.stdout
    updated = cli(root, "init", "--update-schema", "--config", "configs/shapes.yaml")
    assert updated.returncode == 0, updated.stdout + updated.stderr[-3000:]
    assert "  label: added line" in updated.stdout
    assert "The validation gate passes this data" in updated.stdout
    assert updated.stdout.rstrip().endswith("run --config configs/shapes.yaml")
    schema = tfdv.load_schema_text(config.schema_file)
    (label,) = [domain for domain in schema.string_domain if domain.name == "label"]
    assert list(label.value) == ["circle", "square", "triangle", "line"]
    assert "Widened by `init --update-schema`" in Path(config.schema_file).read_text()


def test_init_refuses_a_folder_that_gives_no_images(tmp_path):
    for label in ("cat", "dog"):
        (tmp_path / "data" / label).mkdir(parents=True)
        (tmp_path / "data" / label / "notes.jpg").write_text("not an image")
    refused = cli(tmp_path, "init", "data", "--config", "configs/pets.yaml")
    assert refused.returncode == 2, refused.stdout + refused.stderr[-3000:]
    assert "error: " in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "configs").exists()
