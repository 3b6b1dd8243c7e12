"""The model card: the run's model described in the Model Card Toolkit's schema.

`model_card.schema.json` beside this file is the Model Card Toolkit's schema v0.0.2
(tensorflow/model-card-toolkit, Apache 2.0), kept as published: model-card-toolkit 2.0.0 pins
absl-py < 1.1 and TFMA < 0.42, which TFX 1.16 cannot have, so its `ModelCardGenerator`
cannot run here, and the card is written by this module from what the evaluation report
already gathered. Every card is validated against the schema before it is written.

The card says what a reader outside the team needs: the data (examples per split and
class, what was quarantined), the training (backbone, weights, epochs, augmentation), the
evaluation (overall and per-slice metrics, the comparison with the baseline, the
thresholds), the intended use and limitations, and the TFLite variants shipped.
`model_card.json` is the card; `model_card.html` is the same card for people.
"""

from __future__ import annotations

import datetime
import html
import json
import os
from typing import Dict, List, Sequence

import tensorflow as tf

from components.evaluation_report.gather import ReportData
from components.evaluation_report.results import DIFF_SUFFIX, OVERALL
from components.tflite_pusher import push
from trainer import selection, tflite

CARD_FILE = "model_card.json"
CARD_PAGE = "model_card.html"
SHIPPED_DIR = "assets.extra"
"""Where the ServingPusher ships the card inside the pushed SavedModel: TF Serving ignores
`assets.extra` (it reads only its warm-up file there), and the card travels with the model."""
SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "model_card.schema.json")
SCHEMA_VERSION = "0.0.2"
LOWEST_RECALL_SHOWN = 3


def build(
    data: ReportData,
    tflite: Dict | None,
    model_name: str,
    intended_use: str,
    limitations: Sequence[str],
) -> Dict:
    """The card as a dict of the schema. `tflite`: the TFLite bundle's measurements and the
    shipped variants (None without a TFLitePusher)."""
    classes = ", ".join(data.class_names)
    verdict = "blessed" if data.blessed else "not blessed"
    return {
        "schema_version": SCHEMA_VERSION,
        "model_details": {
            "name": model_name,
            "overview": (
                f"Image classifier for {len(data.class_names)} classes ({classes}); "
                f"{verdict} by the Evaluator."
            ),
            "documentation": "\n".join(check.as_text() for check in data.checks)
            or "No threshold was configured.",
            "version": {
                "name": data.title,
                "date": datetime.date.today().isoformat(),
                "diff": _diff(data),
            },
        },
        "model_parameters": {
            "model_architecture": _architecture(data.training),
            "data": _datasets(data),
            "input_format": (
                "serving_default: a batch of encoded images (JPEG, PNG, GIF or BMP) as "
                "`image_bytes` strings; TFLite: one decoded RGB image, pixels in [0, 255]"
            ),
            "output_format": (
                "class names and scores, best first, and the probabilities in label order "
                f"({classes})"
            ),
        },
        "quantitative_analysis": {"performance_metrics": _metrics(data)},
        "considerations": {
            "use_cases": [{"description": intended_use or _default_use(data)}],
            "limitations": [{"description": text} for text in [*_limitations(data), *limitations]],
            "tradeoffs": _tflite_tradeoffs(tflite),
        },
    }


def tflite_record(tflite_uri: str | None) -> Dict | None:
    """Every TFLite conversion measured and which shipped, from the TFLitePusher's artifact;
    None without a TFLitePusher or when it converted nothing (an unblessed model)."""
    if tflite_uri is None:
        return None
    measured = _bundle_models(os.path.join(tflite_uri, push.BUNDLE_DIR))
    if measured is None:
        return None
    shipped = _bundle_models(os.path.join(tflite_uri, push.SHIPPED_DIR)) or {}
    return {"models": measured, "shipped": sorted(shipped)}


def _bundle_models(directory: str) -> Dict | None:
    path = os.path.join(directory, tflite.METADATA_FILE)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as handle:
        return json.load(handle)["models"]


def write(card: Dict, directory: str) -> str:
    """Validates `card` against the schema, writes `model_card.json` and `model_card.html`
    into `directory`, and returns the JSON file's path."""
    # Imported here: it takes seconds (its format checkers build grammars at import), and
    # compiling the DAG imports this module without writing any card.
    import jsonschema

    with open(SCHEMA_FILE) as handle:
        jsonschema.validate(card, json.load(handle))
    tf.io.gfile.makedirs(directory)
    path = os.path.join(directory, CARD_FILE)
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(json.dumps(card, indent=2))
    with tf.io.gfile.GFile(os.path.join(directory, CARD_PAGE), "w") as handle:
        handle.write(render(card))
    return path


def ship(report_dir: str, saved_model_dir: str) -> List[str]:
    """Copies the card written into `report_dir` into `<saved_model_dir>/assets.extra/`;
    returns the copies' paths. A report without a card (written before cards were) is an
    error: the pipeline that asks for the card to be shipped writes one."""
    destination = os.path.join(saved_model_dir, SHIPPED_DIR)
    tf.io.gfile.makedirs(destination)
    copies = []
    for name in (CARD_FILE, CARD_PAGE):
        source = os.path.join(report_dir, name)
        if not tf.io.gfile.exists(source):
            raise FileNotFoundError(
                f"No model card at {source}: the EvaluationReport that made {report_dir} "
                "wrote none. Rerun the pipeline so its report writes the card."
            )
        copies.append(os.path.join(destination, name))
        tf.io.gfile.copy(source, copies[-1], overwrite=True)
    return copies


def render(card: Dict) -> str:
    """The card as a self-contained HTML page, every value escaped."""
    details, parameters = card["model_details"], card["model_parameters"]
    considerations = card["considerations"]
    rows = "".join(
        f"<tr><td>{_e(m.get('slice', OVERALL))}</td><td>{_e(m['type'])}</td>"
        f"<td>{_e(m['value'])}</td></tr>"
        for m in card["quantitative_analysis"]["performance_metrics"]
    )
    datasets = "".join(
        f"<li><b>{_e(d['name'])}</b>: {_e(d['description'])}</li>" for d in parameters["data"]
    )

    def items(key: str) -> str:
        return "".join(f"<li>{_e(item['description'])}</li>" for item in considerations[key])

    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Model card: {_e(details['name'])}</title>\n</head>\n<body>\n"
        f"<h1>Model card: {_e(details['name'])}</h1>\n"
        f"<p>{_e(details['overview'])}</p>\n"
        f"<p>{_e(details['version']['name'])}, {_e(details['version']['date'])}. "
        f"{_e(details['version']['diff'])}</p>\n"
        f"<pre>{_e(details['documentation'])}</pre>\n"
        f"<h2>Training</h2>\n<p>{_e(parameters['model_architecture'])}</p>\n"
        f"<h2>Data</h2>\n<ul>{datasets}</ul>\n"
        f"<h2>Input and output</h2>\n<p>{_e(parameters['input_format'])}</p>\n"
        f"<p>{_e(parameters['output_format'])}</p>\n"
        "<h2>Evaluation</h2>\n<table border=1><tr><th>slice</th><th>metric</th>"
        f"<th>value</th></tr>{rows}</table>\n"
        f"<h2>Intended use</h2>\n<ul>{items('use_cases')}</ul>\n"
        f"<h2>Limitations</h2>\n<ul>{items('limitations')}</ul>\n"
        f"<h2>TFLite variants</h2>\n<ul>{items('tradeoffs')}</ul>\n</body>\n</html>\n"
    )


def _diff(data: ReportData) -> str:
    if not data.had_baseline:
        return "First model: judged on the absolute thresholds alone, with no baseline."
    changes = {
        name[: -len(DIFF_SUFFIX)]: value
        for name, value in data.candidate.get(OVERALL, {}).items()
        if name.endswith(DIFF_SUFFIX)
    }
    return "Against the last blessed model: " + ", ".join(
        f"{name} {value:+.4f}" for name, value in sorted(changes.items())
    )


def _architecture(training: Dict | None) -> str:
    if training is None:
        return "Not recorded (the model was trained before training records were kept)."
    augmentation = ", ".join(
        f"{name} {value}" for name, value in sorted(training["augmentation"].items())
    )
    return (
        f"{training['backbone']} backbone with a classification head, weights "
        f"{training['weights']}, {training['image_size']} px input; {training['epochs']} "
        f"epochs, batch {training['batch_size']}, learning rate {training['learning_rate']} "
        f"({training['lr_schedule']}); augmentation: {augmentation or 'off'}"
        + _chosen_among(training)
    )


def _chosen_among(training: Dict) -> str:
    candidates = training.get(selection.SELECTION_KEY)
    if not candidates:
        return ""
    names = ", ".join(row["backbone"] for row in candidates)
    return f"; the backbone was chosen among {names} (the report's Backbone selection table)"


def _datasets(data: ReportData) -> List[Dict]:
    datasets = [
        {"name": f"{split} split", "description": f"{count} examples"}
        for split, count in data.examples_per_split.items()
    ]
    for item in data.ingestion:
        per_class = ", ".join(f"{name} {n}" for name, n in sorted(item.examples_per_class.items()))
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(item.reasons.items()))
        datasets.append(
            {
                "name": f"ingested images ({item.uri})",
                "description": (
                    f"{item.files_seen} files seen, {item.examples} examples ({per_class}); "
                    f"{item.quarantined} quarantined"
                    + (f" ({reasons})" if reasons else "")
                    + f", {item.duplicates} duplicates, {item.ignored} ignored"
                ),
            }
        )
    return datasets


def _metrics(data: ReportData) -> List[Dict]:
    metrics = [
        {"type": name, "value": f"{value:.4f}", "slice": slice_name}
        for slice_name, values in data.candidate.items()
        for name, value in sorted(values.items())
    ]
    metrics += [
        {"type": f"{name} (baseline)", "value": f"{value:.4f}", "slice": slice_name}
        for slice_name, values in data.baseline.items()
        for name, value in sorted(values.items())
    ]
    return metrics


def _default_use(data: ReportData) -> str:
    return (
        f"Sorting images like those it was trained on into one of {len(data.class_names)} "
        f"classes ({', '.join(data.class_names)}), served by TF Serving or on device with "
        "TFLite."
    )


def _limitations(data: ReportData) -> List[str]:
    training = data.training
    found = [
        "It answers with one of its classes for every image, including images of none of "
        "them: there is no 'unknown' class.",
        "Measured on the eval split of the same data it was trained on; images from another "
        "source (camera, lighting, resolution) may score lower.",
    ]
    if training is not None:
        found.append(
            f"Images are resized to {training['image_size']} x {training['image_size']} px: "
            "detail smaller than that is lost."
        )
    recalls = sorted(
        (scores.recall, data.class_names[class_id])
        for class_id, scores in data.per_class.items()
        if scores.recall is not None and class_id < len(data.class_names)
    )
    if recalls:
        weakest = ", ".join(
            f"{name} {recall:.2f}" for recall, name in recalls[:LOWEST_RECALL_SHOWN]
        )
        found.append(f"Lowest recall on the eval split: {weakest}.")
    return found


def _tflite_tradeoffs(tflite: Dict | None) -> List[Dict]:
    if tflite is None:
        return [{"description": "No TFLite conversion was made."}]
    return [
        {
            "description": (
                f"TFLite {kind}: {model['size_bytes'] / 1e6:.2f} MB, accuracy "
                f"{model['accuracy']:.4f} (drop {model['accuracy_drop']:+.4f} against the "
                "SavedModel); "
                + ("shipped" if kind in tflite["shipped"] else "not shipped (over the tolerance)")
            )
        }
        for kind, model in tflite["models"].items()
    ]


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
