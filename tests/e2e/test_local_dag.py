"""The whole DAG with LocalDagRunner on real digit scans, asserted through ML Metadata.

Three classes x 60 images at 32 px: small enough for CI, real enough that the model must
learn to be blessed. The pipeline runs twice, the second time with one epoch less: it must
reuse the cached ingestion, statistics and Transform rather than execute them again, and
compare its new model with the first, blessed one. (A re-run with nothing changed is cached
whole: tests/e2e/test_faults.py.) The evaluation report
of each run, the report command and the TFMA notebook are checked on these runs too.
"""

import json
from pathlib import Path

import nbclient
import nbformat
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_lite_support.metadata.python.metadata import MetadataDisplayer
from tensorflow_model_analysis.writers import eval_config_writer
from tensorflow_serving.apis import prediction_log_pb2

from components.evaluation_report import model_card, writer
from components.serving_pusher import warmup
from pipeline import cli, config_loader, local_runner, metadata, nodes, predict, summary
from tests.trainer import task_library
from trainer import features

REPO = Path(__file__).resolve().parents[2]
CLASSES = {b"0", b"1", b"2"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits_subset):
    output_dir = tmp_path_factory.mktemp("e2e")
    overrides = [
        "pipeline_name=e2e",
        f"output_dir={output_dir}",
        f"data.root={digits_subset}",
        f"schema_file={REPO / 'schema' / 'digits.pbtxt'}",
        "trainer.epochs=12",
        "trainer.batch_size=16",
        "evaluation.min_accuracy=0.6",
        "evaluation.max_accuracy_drop=0.2",
        "serving.model_name=digits_e2e",
    ]
    config = config_loader.load_config(REPO / "configs" / "demo.yaml", overrides)
    first_id = local_runner.run(config)
    first_summary = summary.summarize(config, first_id)
    retrained = config_loader.load_config(
        REPO / "configs" / "demo.yaml", [*overrides, "trainer.epochs=11"]
    )
    second_id = local_runner.run(retrained)
    store = metadata.open_store(config.metadata_path)
    first = metadata.node_runs(store, config.pipeline_name, first_id)
    second = metadata.node_runs(store, config.pipeline_name, second_id)
    return config, first, first_summary, second


def test_every_component_executed(runs):
    _, first, _, _ = runs
    executed = {node for node, run in first.items() if run.state == "complete"}
    components = set(nodes.NODE_IDS) - {nodes.BASELINE}  # a resolver: resolved, not executed
    assert components <= executed, f"not executed: {components - executed}"


def test_examples_per_split_add_up_to_the_images_given(runs):
    _, first, first_summary, _ = runs
    examples = first[nodes.EXAMPLE_GEN].output("examples")
    counted = {}
    for split in ("train", "eval"):
        files = tf.io.gfile.glob(f"{examples.uri}/Split-{split}/*")
        counted[split] = sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))
    assert sum(counted.values()) == 180
    assert min(counted.values()) > 0
    assert first_summary.examples_per_split == counted
    assert (first_summary.files_seen, first_summary.quarantined) == (180, 0)


def test_model_is_blessed_and_pushed(runs):
    config, first, first_summary, _ = runs
    blessing = first[nodes.EVALUATOR].output("blessing")
    assert blessing.custom_properties["blessed"].int_value == 1
    assert first_summary.blessed is True
    assert first_summary.eval_accuracy >= 0.6
    assert first_summary.pushed_to is not None
    assert Path(first_summary.pushed_to).parent == Path(config.serving_dir)
    assert (Path(first_summary.pushed_to) / "saved_model.pb").is_file()


def test_pushed_model_carries_the_configured_warmup_requests_of_eval_images(runs):
    config, first, first_summary, _ = runs
    pushed = Path(first_summary.pushed_to)
    records = tf.data.TFRecordDataset(str(pushed / warmup.WARMUP_FILE))
    requests = [
        prediction_log_pb2.PredictionLog.FromString(r.numpy()).predict_log.request for r in records
    ]
    assert len(requests) == config.serving.warmup_requests == 8
    examples = first[nodes.EXAMPLE_GEN].output("examples")
    eval_files = tf.io.gfile.glob(f"{examples.uri}/Split-eval/*")
    eval_images = {
        tf.train.Example.FromString(r.numpy())
        .features.feature[features.IMAGE_KEY]
        .bytes_list.value[0]
        for r in tf.data.TFRecordDataset(eval_files, compression_type="GZIP")
    }
    serve = tf.saved_model.load(str(pushed)).signatures["serving_default"]
    for request in requests:
        assert request.model_spec.signature_name == "serving_default"
        images = tf.make_ndarray(request.inputs["image_bytes"])
        assert images.shape == (1,) and images[0] in eval_images
        assert serve(image_bytes=tf.constant(images))["classes"].shape == (1, 3)


def test_pushed_model_ships_the_runs_model_card_and_the_summary_points_to_it(runs):
    _, first, first_summary, _ = runs
    shipped = Path(first_summary.pushed_to, model_card.SHIPPED_DIR)
    assert first_summary.model_card == str(shipped / model_card.CARD_PAGE)
    assert f"  model card       {first_summary.model_card}" in first_summary.as_text()
    written = Path(first[nodes.EVALUATION_REPORT].output("report").uri)
    for name in (model_card.CARD_FILE, model_card.CARD_PAGE):
        assert (shipped / name).read_bytes() == (written / name).read_bytes()
    card = json.loads((shipped / model_card.CARD_FILE).read_text())
    assert card["model_details"]["name"] == "digits_e2e"
    tradeoffs = [item["description"] for item in card["considerations"]["tradeoffs"]]
    assert any(t.startswith("TFLite float32: ") and t.endswith("shipped") for t in tradeoffs)


def test_pushed_model_classifies_png_bytes_from_disk(runs, digits_subset):
    _, _, first_summary, _ = runs
    model = tf.saved_model.load(first_summary.pushed_to)
    paths = sorted(digits_subset.rglob("*.png"))
    images = [path.read_bytes() for path in paths]
    outputs = model.signatures["serving_default"](image_bytes=tf.constant(images))
    classes = outputs["classes"].numpy()
    scores = outputs["scores"].numpy()
    assert classes.shape == (len(images), 3)
    assert {c for row in classes for c in row} == CLASSES
    assert np.all(np.diff(scores, axis=1) <= 0)  # best first
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-4)
    truth = np.array([path.parent.name.encode() for path in paths])
    accuracy = float(np.mean(classes[:, 0] == truth))
    assert accuracy >= 0.6, f"pushed model accuracy on the images given: {accuracy:.3f}"


def test_rerun_reuses_cached_ingestion_statistics_and_transform(runs):
    _, _, _, second = runs
    for node in (nodes.EXAMPLE_GEN, nodes.STATISTICS_GEN, nodes.TRANSFORM):
        assert second[node].state == "cached", f"{node} ran again: {second[node].state}"


def test_first_run_is_judged_on_absolute_bounds_and_says_so(runs):
    _, _, first_summary, _ = runs
    assert first_summary.first_run is True
    assert "judged on the absolute bounds alone" in first_summary.as_text()
    assert 0.5 <= first_summary.macro_f1 <= 1  # from TFMA's confusion matrix


def test_tflite_is_measured_and_the_float_conversion_ships_with_its_labels(runs, digits_subset):
    config, _, first_summary, _ = runs
    result = first_summary.tflite
    assert set(result["sizes"]) == {"float32", "dynamic_range", "int8"}
    assert set(result["shipped"]) | set(result["held_back"]) == set(result["sizes"])
    assert "float32" in result["shipped"]
    pushed = Path(result["destination"])
    assert pushed.parent == Path(config.tflite_dir)
    assert sorted((pushed / "labels.txt").read_text().split()) == ["0", "1", "2"]
    image = str(sorted(digits_subset.rglob("*.png"))[0])
    predictions = predict.predict_files(
        predict.load(str(pushed / "model_float32.tflite")), [image], top_k=3
    )
    assert sorted(predictions[0].classes) == ["0", "1", "2"] and not predictions[0].error


def test_shipped_tflite_carries_metadata_and_the_task_library_agrees_with_predict(
    runs, digits_subset, tmp_path
):
    """Every shipped `.tflite` names the Trainer's model it was converted from and packs
    labels.txt; the real Task Library, fed by that metadata alone, classifies digit scans
    written at the model's input size (so neither resizes) like `predict` on the pixels it
    decoded, and decodes them as the decode contract does (a JPEG within 1)."""
    _, first, first_summary, _ = runs
    pushed = Path(first_summary.tflite["destination"])
    size = json.loads((pushed / "metadata.json").read_text())["input"]["shape"][1]
    files = task_library.write_at_size(sorted(digits_subset.rglob("*.png"))[::6], size, tmp_path)
    trainer_model = first[nodes.TRAINER].output("model").uri
    for kind in first_summary.tflite["shipped"]:
        model = pushed / f"model_{kind}.tflite"
        displayer = MetadataDisplayer.with_model_file(str(model))
        assert json.loads(displayer.get_metadata_json())["version"].startswith(trainer_model)
        labels = displayer.get_associated_file_buffer("labels.txt")
        assert labels == (pushed / "labels.txt").read_bytes()
        for suffix, paths in files.items():
            compared = task_library.compare_with_predict(model, paths)
            task_library.assert_agrees(compared, kind, suffix)
            assert compared["accuracy"]["task_library"] >= 0.6, (kind, suffix)


def test_second_run_is_compared_with_the_blessed_baseline(runs):
    config, first, _, second = runs
    assert nodes.EVALUATOR in second and second[nodes.EVALUATOR].state == "complete"
    _, _, _, models = eval_config_writer.load_eval_run(
        second[nodes.EVALUATOR].output("evaluation").uri
    )
    first_model = first[nodes.TRAINER].output("model").uri
    assert Path(models["baseline"]).parent == Path(first_model)
    latest = summary.summarize(config)
    assert latest.first_run is False
    assert "judged on the absolute bounds alone" not in latest.as_text()
    assert 0.5 <= latest.macro_f1 <= 1  # the candidate's plots, keyed by model name


def test_each_run_has_a_report_that_names_its_verdict(runs):
    _, first, first_summary, second = runs
    assert first_summary.report in first_summary.as_text()
    first_page = Path(first_summary.report).read_text()
    second_page = Path(second[nodes.EVALUATION_REPORT].output("report").uri, writer.REPORT_FILE)
    second_page = second_page.read_text()
    for page in (first_page, second_page):
        assert '<section id="verdict" class="verdict pass">\n<h2>Blessed</h2>' in page
        assert '<table id="confusion-matrix"' in page
        assert '<svg class="chart"' in page  # training curves from the Trainer's logs
    assert "judged on the absolute bounds alone" in first_page
    assert "judged on the absolute bounds alone" not in second_page
    assert "Compared with the baseline" in second_page


def test_report_command_rewrites_the_report_of_any_run(runs, tmp_path, capsys):
    config, first, first_summary, _ = runs
    first_id = metadata.run_ids(metadata.open_store(config.metadata_path), "e2e")[0]
    command = [
        "report",
        *("--config", str(REPO / "configs" / "demo.yaml")),
        *("--set", "pipeline_name=e2e", "--set", f"output_dir={config.output_dir}"),
    ]
    assert cli.main([*command, "--run", first_id, "--output-dir", str(tmp_path)]) == 0
    written = capsys.readouterr().out.strip()
    assert written == str(tmp_path / writer.REPORT_FILE)
    assert Path(written).read_text() == Path(first_summary.report).read_text()
    assert cli.main([*command, "--run", "no-such-run"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: --run no-such-run: no such run of pipeline 'e2e'")
    assert "\n" not in error


def test_notebook_shows_the_latest_run_in_tfma_views(runs):
    config, _, _, _ = runs
    notebook = nbformat.read(REPO / "notebooks" / "evaluation.ipynb", as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert not any(cell.outputs or cell.execution_count for cell in code)  # stored clean
    (parameters,) = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    notebook.cells.insert(
        notebook.cells.index(parameters) + 1,
        nbformat.v4.new_code_cell(
            f"CONFIG_FILES = [{str(REPO / 'configs' / 'demo.yaml')!r}]\n"
            f"OVERRIDES = ['pipeline_name=e2e', 'output_dir={config.output_dir}']"
        ),
    )
    nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    ).execute()
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    printed = "".join(output.get("text", "") for output in outputs)
    assert "baseline: baseline" in printed  # the latest run was compared with the first
    widgets = [
        o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert len(widgets) == 3  # two slicing-metrics views and the plot
