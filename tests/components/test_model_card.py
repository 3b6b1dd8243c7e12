"""The model card: written beside the report from the same gathered run, valid against the
Model Card Toolkit's schema, and saying what the data, training, evaluation and TFLite
variants were.

Runs on the evaluated runs of conftest.py, with a training record as the Trainer writes it
and a TFLite bundle as the TFLitePusher writes it (real conversions of a tiny model).
"""

import dataclasses
import json
import shutil

import jsonschema
import numpy as np
import pytest
import tensorflow as tf

from components.evaluation_report import model_card, writer
from components.image_evaluator import metrics
from components.tflite_pusher import push
from pipeline import config_loader
from pipeline.pipeline import trainer_config
from tests.components import evaluated_run
from trainer import features, run, selection, tflite
from trainer.conversions import FLOAT32, INT8
from trainer.settings import SelectionConfig, TrainingSettings

INTENDED_USE = "Reading the digits 0, 1 and 2 <from forms>"
LIMITATION = "Not tried on digits written in other scripts."
BOUNDS = {"max_latency_ms": 5.0}
CANDIDATES = selection.table(
    [
        {"backbone": name, "val_accuracy": accuracy, "int8_latency_ms": latency}
        | {"int8_size_mb": size, "seconds_per_epoch": 3.0}
        | {selection.OBJECTIVE: accuracy - 2 * (latency > BOUNDS["max_latency_ms"])}
        for name, accuracy, latency, size in [
            ("EfficientNetB0", 0.95, 3.1, 4.6),
            ("VGG16", 0.97, 21.4, 14.8),
        ]
    ],
    SelectionConfig(**BOUNDS),
)
"""The Tuner's table when VGG16, the more accurate, is too slow for the bound."""


def tflite_artifact(root, shipped):
    """The TFLitePusher's artifact folder: every conversion measured, `shipped` published."""
    image = tf.keras.Input([8, 8, 3], name=features.transformed_name(features.IMAGE_KEY))
    pooled = tf.keras.layers.GlobalAveragePooling2D()(image)
    classifier = tf.keras.Model(
        {image.name: image}, tf.keras.layers.Dense(3, activation="softmax")(pooled)
    )
    images = np.random.default_rng(0).uniform(0, 255, [6, 8, 8, 3]).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 1, 2])
    float_accuracy, converted = tflite.convert_and_compare(
        classifier, [FLOAT32, INT8], images, images, labels
    )
    names = evaluated_run.CLASS_NAMES
    tflite.write_bundle(str(root / push.BUNDLE_DIR), converted, names, 8, float_accuracy)
    passed = [c for c in converted if c.kind in shipped]
    tflite.write_bundle(str(root / push.SHIPPED_DIR), passed, names, 8, float_accuracy)
    return {c.kind: c for c in converted}


@pytest.fixture(scope="module")
def written(first_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("card")
    model_run = root / "model_run"
    shutil.copytree(first_run.inputs.model_run_uri, model_run)
    config = config_loader.config_from_dict(
        {
            "augmentation": {"flip": "horizontal"},
            "trainer": {"backbone": ["EfficientNetB0", "VGG16"], "selection": BOUNDS},
        }
    )
    settings = TrainingSettings.from_custom_config({**trainer_config(config), "epochs": 4})
    trainer = run.apply_hyperparameters(settings.trainer, {"backbone": "EfficientNetB0"})
    run.write_training_record(
        str(model_run), dataclasses.replace(settings, trainer=trainer), CANDIDATES
    )
    conversions = tflite_artifact(root / "tflite", shipped=[FLOAT32])
    inputs = dataclasses.replace(
        first_run.inputs,
        model_run_uri=str(model_run),
        tflite_uri=str(root / "tflite"),
        intended_use=INTENDED_USE,
        limitations=[LIMITATION],
    )
    report = writer.write_report(inputs, str(root / "report"))
    card = json.loads((root / "report" / model_card.CARD_FILE).read_text())
    return root / "report", report, card, conversions


def test_card_is_valid_against_the_model_card_toolkit_schema(written):
    _, _, card, _ = written
    with open(model_card.SCHEMA_FILE) as handle:
        schema = json.load(handle)
    jsonschema.validate(card, schema)
    assert card["schema_version"] == "0.0.2"
    assert schema["title"] == "Model Card"


def test_card_says_what_the_data_was(written):
    _, _, card, _ = written
    data = {d["name"]: d["description"] for d in card["model_parameters"]["data"]}
    assert data["train split"] == "120 examples"
    assert data["eval split"] == "30 examples"
    (ingested,) = [text for name, text in data.items() if name.startswith("ingested")]
    assert "32 files seen, 30 examples (0 10, 1 10, 2 10, 9 0)" in ingested
    assert "2 quarantined (1 too_small, 1 unreadable)" in ingested


def test_card_says_how_the_model_was_trained(written):
    _, _, card, _ = written
    architecture = card["model_parameters"]["model_architecture"]
    assert architecture.startswith("EfficientNetB0 backbone with a classification head")
    assert "weights none" in architecture
    assert "4 epochs, batch 32" in architecture
    assert "flip horizontal" in architecture
    assert architecture.endswith(
        "the backbone was chosen among EfficientNetB0, VGG16 (the report's Backbone selection "
        "table)"
    )


def test_report_shows_the_backbone_selection_table_the_chosen_first(written):
    _, report, _, _ = written
    with open(report) as handle:
        page = handle.read()
    section = page[page.index('<section id="selection">') :]
    section = section[: section.index("</section>")]
    assert "Each candidate trained 2 epochs" in section
    assert "Bounds: int8 latency &lt;= 5 ms." in section
    rows = [row for row in section.split("<tr>")[2:]]
    assert [row.count("<td") for row in rows] == [6, 6]
    assert '<td class="pass">EfficientNetB0 (chosen)</td>' in rows[0]
    assert (
        '<td class="num">0.9500</td><td class="num">4.60</td><td class="num">3.10</td>' in rows[0]
    )
    assert "<td>VGG16</td>" in rows[1] and '<td class="fail num">no</td>' in rows[1]
    assert 'href="#selection"' in page


def test_card_holds_overall_and_sliced_metrics_and_the_thresholds(written):
    _, _, card, _ = written
    by_slice = {}
    for metric in card["quantitative_analysis"]["performance_metrics"]:
        by_slice.setdefault(metric["slice"], {})[metric["type"]] = metric["value"]
    assert by_slice["Overall"][metrics.ACCURACY] == "0.8000"
    assert len(by_slice) > 1, "the size and class slices are in the card too"
    assert "First model" in card["model_details"]["version"]["diff"]
    assert (
        f"{metrics.ACCURACY} on slice Overall: measured 0.8000"
        in (card["model_details"]["documentation"])
    )
    assert "blessed by the Evaluator" in card["model_details"]["overview"]


def test_card_says_the_intended_use_and_the_limitations(written):
    _, _, card, _ = written
    considerations = card["considerations"]
    assert considerations["use_cases"] == [{"description": INTENDED_USE}]
    limitations = [item["description"] for item in considerations["limitations"]]
    assert limitations[-1] == LIMITATION
    assert any("no 'unknown' class" in text for text in limitations)
    assert any(text.startswith("Lowest recall on the eval split:") for text in limitations)
    assert any("resized to 224 x 224 px" in text for text in limitations)


def test_card_lists_the_tflite_variants_and_which_shipped(written):
    _, _, card, conversions = written
    tradeoffs = [item["description"] for item in card["considerations"]["tradeoffs"]]
    assert len(tradeoffs) == 2
    float32, int8 = tradeoffs
    assert float32.startswith(f"TFLite float32: {len(conversions[FLOAT32].content) / 1e6:.2f} MB")
    assert float32.endswith("; shipped")
    assert int8.startswith("TFLite int8") and int8.endswith("not shipped (over the tolerance)")


def test_report_links_the_card_and_the_page_escapes_the_run(written):
    directory, report, _, _ = written
    with open(report) as handle:
        assert 'href="model_card.html"' in handle.read()
    page = (directory / model_card.CARD_PAGE).read_text()
    assert "Reading the digits 0, 1 and 2 &lt;from forms&gt;" in page
    assert "<from forms>" not in page


def test_card_of_a_regression_compares_with_the_baseline(compared_run, tmp_path):
    writer.write_report(compared_run.inputs, str(tmp_path))
    card = json.loads((tmp_path / model_card.CARD_FILE).read_text())
    assert "not blessed" in card["model_details"]["overview"]
    assert card["model_details"]["version"]["diff"].startswith("Against the last blessed model")
    assert f"{metrics.ACCURACY} -0.2000" in card["model_details"]["version"]["diff"]
    types = {m["type"] for m in card["quantitative_analysis"]["performance_metrics"]}
    assert f"{metrics.ACCURACY} (baseline)" in types
    architecture = card["model_parameters"]["model_architecture"]
    assert architecture.startswith("Not recorded")
    tradeoffs = card["considerations"]["tradeoffs"]
    assert tradeoffs == [{"description": "No TFLite conversion was made."}]


def test_a_card_outside_the_schema_is_refused_and_not_written(written, tmp_path):
    _, _, card, _ = written
    with pytest.raises(jsonschema.ValidationError, match="'owner' was unexpected"):
        model_card.write({**card, "owner": "someone"}, str(tmp_path))
    assert not list(tmp_path.iterdir())
