"""Everything the evaluation report shows, read from the run's artifacts into plain values.

Reading (TFMA's results, TensorBoard event files, the eval split through the candidate's
`serving_examples` signature, the ingestion report) is kept apart from rendering, so the
HTML is tested on plain values and the reading on real artifacts.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import heapq
import itertools
import json
import os
from typing import Dict, List, Sequence, Tuple

import tensorflow as tf
from tensorflow_model_analysis.slicer import slicer_lib
from tfx.utils import path_utils

from components.evaluation_report import results
from components.image_example_gen import executor as example_gen
from components.image_example_gen import sizes
from trainer import export, features, run

MAX_SCANNED = 2000
"""Eval examples run through the model to find the most confidently wrong ones: enough to
find the worst mistakes of a typical eval split in seconds, without a second full
evaluation of a large one (the report says how many were scanned)."""

WRONG_SHOWN = 12
"""Most confidently wrong predictions shown as thumbnails."""

THUMBNAIL_SIDE = 96
"""Longest side of a thumbnail in pixels; small scans are scaled up with nearest neighbour."""

QUARANTINE_SHOWN = 50
"""Quarantined files listed by name; the counts cover all of them."""

_BATCH = 64
_SERIES = ("train", "validation")
"""The sub-folders Keras' TensorBoard callback writes, one curve each."""
_EPOCH_PREFIX = "epoch_"


@dataclasses.dataclass(frozen=True)
class WrongPrediction:
    source: str
    """The image's path relative to the data root, as ingested."""
    true_class: str
    predicted_class: str
    score: float
    thumbnail: str
    """A `data:image/png;base64,...` URI, so the report needs no file beside it."""


@dataclasses.dataclass(frozen=True)
class Ingestion:
    """One Examples artifact's ingestion report (one per span the Evaluator saw)."""

    uri: str
    files_seen: int
    examples: int
    quarantined: int
    ignored: int
    duplicates: int
    reasons: Dict[str, int]
    empty_classes: List[str]
    """Class folders none of whose files became an example."""
    examples_per_class: Dict[str, int]
    sizes_per_class: Dict[str, sizes.Distribution] | None
    """Shorter side of the examples per class (None: ingested before it was recorded)."""
    quarantine: List[Dict[str, str]]
    """The first QUARANTINE_SHOWN quarantined files: path, reason, detail."""


@dataclasses.dataclass(frozen=True)
class ReportData:
    title: str
    blessed: bool
    had_baseline: bool
    checks: List[results.ThresholdCheck]
    candidate: Dict[str, Dict[str, float]]
    """Slice name -> the candidate's metrics, changes against the baseline included."""
    baseline: Dict[str, Dict[str, float]]
    """Slice name -> the baseline's metrics; empty without a baseline."""
    class_names: List[str]
    """In the model's label-vocabulary order: class id i is class_names[i]."""
    confusion: Dict[Tuple[int, int], float]
    """(actual class id, predicted class id) -> examples, on the overall slice."""
    per_class: Dict[int, results.ClassScores]
    macro_f1: float | None
    wrong: List[WrongPrediction]
    scanned: int
    wrong_found: int
    curves: Dict[str, Dict[str, List[Tuple[int, float]]]]
    """Metric (loss, accuracy) -> series (train, validation) -> (epoch, value), epochs from 0."""
    examples_per_split: Dict[str, int]
    ingestion: List[Ingestion]
    training: Dict | None = None
    """The Trainer's training record (trainer/run.py); None for a model trained before the
    Trainer kept one."""


@dataclasses.dataclass(frozen=True)
class ReportInputs:
    """Where the report's data lives: the URIs of the run's artifacts."""

    title: str
    evaluation_uri: str
    blessing_uri: str
    model_uri: str
    """The Trainer's Model artifact (the SavedModel is in its Format-Serving folder)."""
    model_run_uri: str
    examples_uris: Sequence[str]
    """The Examples the Evaluator evaluated (several with spans)."""
    statistics_uri: str
    statistics_splits: Sequence[str]
    model_name: str
    tflite_uri: str | None = None
    """The TFLitePusher's PushedModel artifact; None without one."""
    intended_use: str = ""
    """The model card's intended use; empty: said from the classes."""
    limitations: Sequence[str] = ()
    """The model card's limitations beyond those the run shows."""


def gather(inputs: ReportInputs) -> ReportData:
    """Reads everything the page shows; the candidate's model runs once over the eval split."""
    names = results.models(inputs.evaluation_uri)
    candidate = results.load_result(inputs.evaluation_uri, names.candidate)
    baseline = (
        results.load_result(inputs.evaluation_uri, names.baseline) if names.had_baseline else None
    )
    model_dir = path_utils.serving_model_path(inputs.model_uri)
    entries = results.confusion_entries(candidate) or []
    wrong, scanned, wrong_found = confidently_wrong(
        model_dir,
        [os.path.join(uri, "Split-eval", "*") for uri in inputs.examples_uris],
    )
    return ReportData(
        title=inputs.title,
        blessed=results.blessed(inputs.blessing_uri),
        had_baseline=names.had_baseline,
        checks=results.threshold_checks(inputs.evaluation_uri),
        candidate=_by_slice_name(candidate),
        baseline=_by_slice_name(baseline) if baseline else {},
        class_names=class_names(model_dir),
        confusion=results.confusion_counts(entries),
        per_class=results.per_class_scores(entries),
        macro_f1=results.macro_f1(entries) if entries else None,
        wrong=wrong,
        scanned=scanned,
        wrong_found=wrong_found,
        curves=training_curves(inputs.model_run_uri),
        examples_per_split=results.examples_per_split(
            inputs.statistics_uri, inputs.statistics_splits
        ),
        ingestion=[ingestion(uri) for uri in inputs.examples_uris],
        training=training_record(inputs.model_run_uri),
    )


def training_record(model_run_uri: str) -> Dict | None:
    """The Trainer's record of what trained the model, from its ModelRun artifact; None for
    a model trained before the Trainer kept one."""
    path = os.path.join(model_run_uri, run.TRAINING_RECORD)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as handle:
        return json.load(handle)


def _by_slice_name(result) -> Dict[str, Dict[str, float]]:
    return {
        slicer_lib.stringify_slice_key(key): metrics
        for key, metrics in results.sliced_metrics(result).items()
    }


def class_names(model_dir: str) -> List[str]:
    """The label vocabulary the exported model carries (TFMA's class ids index it)."""
    path = os.path.join(model_dir, "assets", features.LABEL_VOCABULARY)
    with tf.io.gfile.GFile(path) as handle:
        return [line.rstrip("\n") for line in handle]


def confidently_wrong(
    model_dir: str,
    eval_patterns: Sequence[str],
    shown: int = WRONG_SHOWN,
    max_scanned: int = MAX_SCANNED,
) -> Tuple[List[WrongPrediction], int, int]:
    """The `shown` wrong predictions with the highest scores among the first `max_scanned`
    eval examples, plus how many were scanned and how many were wrong.

    It runs the exported `serving_examples` signature, the same graph TFMA evaluated, on
    the raw examples, so a thumbnail shows exactly the image the model was scored on.
    """
    serve = tf.saved_model.load(model_dir).signatures[export.SERVING_EXAMPLES]
    files = sorted(path for pattern in eval_patterns for path in tf.io.gfile.glob(pattern))
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").take(max_scanned)
    spec = {
        features.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string),
        features.LABEL_KEY: tf.io.FixedLenFeature([], tf.string),
        features.SOURCE_KEY: tf.io.FixedLenFeature([], tf.string, default_value=""),
    }
    worst: List[tuple] = []  # a min-heap of (score, order, prediction fields)
    scanned = wrong_found = 0
    for batch in dataset.batch(_BATCH):
        outputs = serve(examples=batch)
        parsed = tf.io.parse_example(batch, spec)
        predicted = outputs[export.CLASSES][:, 0].numpy()
        scores = outputs[export.SCORES][:, 0].numpy()
        for index, label in enumerate(parsed[features.LABEL_KEY].numpy()):
            if predicted[index] != label:
                wrong_found += 1
                entry = (
                    float(scores[index]),
                    scanned + index,
                    label.decode(),
                    predicted[index].decode(),
                    parsed[features.SOURCE_KEY][index].numpy().decode(),
                    parsed[features.IMAGE_KEY][index].numpy(),
                )
                if len(worst) < shown:
                    heapq.heappush(worst, entry)
                else:
                    heapq.heappushpop(worst, entry)
        scanned += len(predicted)
    ranked = sorted(worst, key=lambda entry: (-entry[0], entry[1]))
    return (
        [
            WrongPrediction(
                source=source,
                true_class=true_class,
                predicted_class=predicted_class,
                score=score,
                thumbnail=thumbnail(image),
            )
            for score, _, true_class, predicted_class, source, image in ranked
        ],
        scanned,
        wrong_found,
    )


def thumbnail(image: bytes, side: int = THUMBNAIL_SIDE) -> str:
    """A PNG data URI of the image scaled so its longest side is `side` pixels."""
    decoded = tf.io.decode_image(image, channels=3, expand_animations=False)
    height, width = int(decoded.shape[0]), int(decoded.shape[1])
    scale = side / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    method = tf.image.ResizeMethod.NEAREST_NEIGHBOR if scale > 1 else tf.image.ResizeMethod.AREA
    resized = tf.cast(tf.image.resize(decoded, size, method=method), tf.uint8)
    encoded = tf.io.encode_png(resized).numpy()
    return "data:image/png;base64," + base64.b64encode(encoded).decode("ascii")


def training_curves(model_run_uri: str) -> Dict[str, Dict[str, List[Tuple[int, float]]]]:
    """Per-epoch scalars from the TensorBoard logs the Trainer wrote into its ModelRun.

    Keras' TensorBoard callback logs `epoch_<metric>` under `train/` and `validation/`; a
    later event for the same epoch (a resumed run) replaces an earlier one.
    """
    curves: Dict[str, Dict[str, Dict[int, float]]] = collections.defaultdict(
        lambda: collections.defaultdict(dict)
    )
    for series in _SERIES:
        files = sorted(
            tf.io.gfile.glob(os.path.join(model_run_uri, series, "events.out.tfevents.*"))
        )
        if not files:
            continue
        for record in tf.data.TFRecordDataset(files):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if not value.tag.startswith(_EPOCH_PREFIX):
                    continue
                number = (
                    tf.make_ndarray(value.tensor).item()
                    if value.HasField("tensor")
                    else value.simple_value
                )
                curves[value.tag[len(_EPOCH_PREFIX) :]][series][event.step] = float(number)
    return {
        metric: {series: sorted(points.items()) for series, points in by_series.items()}
        for metric, by_series in curves.items()
    }


def ingestion(examples_uri: str) -> Ingestion:
    """The counts ImageExampleGen stored with the Examples, and the first quarantined files."""
    counts = example_gen.read_counts(examples_uri)
    path = os.path.join(examples_uri, example_gen.REPORT_DIR, example_gen.QUARANTINE_FILE)
    with tf.io.gfile.GFile(path) as handle:
        quarantine = [json.loads(line) for line in itertools.islice(handle, QUARANTINE_SHOWN)]
    return Ingestion(
        uri=examples_uri,
        files_seen=counts["files_seen"],
        examples=counts["examples"],
        quarantined=counts["quarantined"],
        ignored=counts["ignored"],
        duplicates=counts["duplicates"],
        reasons=counts["reasons"],
        empty_classes=counts["empty_classes"],
        examples_per_class=counts["examples_per_class"],
        sizes_per_class=counts.get("shorter_side_per_class"),
        quarantine=quarantine,
    )
