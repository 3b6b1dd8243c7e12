"""A small evaluated run for the evaluation report's tests: TFX's own Evaluator on stand-ins.

The stand-in models are tf.Modules with the two signatures TFMA calls on the exported model
(`serving_examples` and `transform_features`), so TFX's Evaluator executor runs with the
pipeline's own EvalConfig and writes a real evaluation, validation and blessing in seconds.
Each model answers with probabilities stored in the example under its own feature, so a
test decides which images a model gets wrong and how confidently. The eval images are real
digit scans; the statistics, ingestion report and TensorBoard logs are written the way
StatisticsGen, ImageExampleGen and Keras write them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Dict, List

import tensorflow as tf
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx.components.evaluator import executor as evaluator_executor
from tfx.types import artifact_utils, standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

from components.evaluation_report.gather import ReportInputs
from components.image_example_gen import executor as example_gen
from pipeline import config_loader
from pipeline.evaluation import eval_config
from trainer import export, features

CLASS_NAMES = ["2", "0", "1"]
EMPTY_CLASS = "9"
SIZES = {
    "0": {"min": 8, "median": 8, "max": 8},
    "1": {"min": 8, "median": 8, "max": 8},
    "2": {"min": 4, "median": 6, "max": 7},
}
"""The shorter side per class as ingestion counts it: class 2 all smaller (a shortcut)."""
"""A class folder that gave no example."""
"""The vocabulary: class id i is CLASS_NAMES[i], not digit i (Transform orders by frequency)."""
PER_CLASS = 10
WRONG_PER_CLASS = 2
"""The candidate gets the first two scans of each class wrong: accuracy 0.8."""
MIN_ACCURACY = 0.7
EPOCHS = 4
QUARANTINED = [
    {"path": "0/<b>bad&.png", "reason": "unreadable", "detail": "not an image"},
    {"path": "1/tiny.png", "reason": "too_small", "detail": "2x2 < 8"},
]
SPLITS = {"train": 120, "eval": PER_CLASS * len(CLASS_NAMES)}


@dataclasses.dataclass(frozen=True)
class Scan:
    source: str
    label: str
    candidate: List[float]
    baseline: List[float]


def scans(digits_root: Path) -> List[Scan]:
    """PER_CLASS scans of each class, with what each stand-in model answers for it.

    The candidate's wrong answers are class id 0 (class id 1 for class 0's scans), with
    scores that differ for every scan (0.95 down), so "most confidently wrong" has one
    right order, and precision and recall differ. The baseline is always right.
    """
    result = []
    for class_id, name in enumerate(CLASS_NAMES):
        paths = sorted((digits_root / name).glob("*.png"))[:PER_CLASS]
        for index, path in enumerate(paths):
            if index < WRONG_PER_CLASS:
                answer, score = int(class_id == 0), 0.95 - 0.1 * index - 0.02 * class_id
            else:
                answer, score = class_id, 0.8
            candidate = [(1 - score) / 2] * 3
            candidate[answer] = score
            baseline = [0.05] * 3
            baseline[class_id] = 0.9
            result.append(Scan(f"{name}/{path.name}", name, candidate, baseline))
    return result


def wrong_scans(all_scans: List[Scan]) -> List[Scan]:
    """The candidate's mistakes, most confident first."""
    wrong = [s for s in all_scans if max(s.candidate) != s.candidate[CLASS_NAMES.index(s.label)]]
    return sorted(wrong, key=lambda s: -max(s.candidate))


class StandIn(tf.Module):
    """A classifier that answers with the probabilities under `key` in each example."""

    def __init__(self, key: str):
        super().__init__()
        self._key = key
        self._names = tf.constant(CLASS_NAMES)
        self._ids = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                self._names, tf.range(len(CLASS_NAMES), dtype=tf.int64)
            ),
            default_value=-1,
        )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serving_examples(self, examples):
        parsed = tf.io.parse_example(
            examples, {self._key: tf.io.FixedLenFeature([len(CLASS_NAMES)], tf.float32)}
        )
        probabilities = parsed[self._key]
        best = tf.math.top_k(probabilities, k=len(CLASS_NAMES))
        return {
            export.CLASSES: tf.gather(self._names, best.indices),
            export.SCORES: best.values,
            export.PROBABILITIES: probabilities,
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(self, examples):
        parsed = tf.io.parse_example(
            examples, {features.LABEL_KEY: tf.io.FixedLenFeature([], tf.string)}
        )
        return {features.transformed_name(features.LABEL_KEY): self._ids[parsed["label"]]}


def save_model(uri: Path, key: str) -> standard_artifacts.Model:
    """A Model artifact whose Format-Serving folder holds a StandIn and the vocabulary."""
    serving = uri / "Format-Serving"
    model = StandIn(key)
    tf.saved_model.save(
        model,
        str(serving),
        signatures={
            export.SERVING_EXAMPLES: model.serving_examples,
            export.TRANSFORM_FEATURES: model.transform_features,
        },
    )
    (serving / "assets").mkdir(exist_ok=True)
    (serving / "assets" / features.LABEL_VOCABULARY).write_text("\n".join(CLASS_NAMES) + "\n")
    return artifact(standard_artifacts.Model, uri)


def write_examples(uri: Path, digits_root: Path, all_scans: List[Scan]) -> None:
    """The eval split as ImageExampleGen writes it (GZIP tf.Examples), and its report."""
    (uri / "Split-eval").mkdir(parents=True)
    with tf.io.TFRecordWriter(str(uri / "Split-eval" / "data.gz"), options="GZIP") as writer:
        for scan in all_scans:
            writer.write(_example(scan, (digits_root / scan.source).read_bytes()))
    report = uri / example_gen.REPORT_DIR
    report.mkdir()
    counts = {
        "files_seen": len(all_scans) + len(QUARANTINED),
        "examples": len(all_scans),
        "quarantined": len(QUARANTINED),
        "ignored": 0,
        "duplicates": 0,
        "reasons": {"too_small": 1, "unreadable": 1},
        "classes": sorted(CLASS_NAMES),
        "examples_per_class": {
            **{name: sum(s.label == name for s in all_scans) for name in CLASS_NAMES},
            EMPTY_CLASS: 0,
        },
        "empty_classes": [EMPTY_CLASS],
        "shorter_side_per_class": SIZES,
    }
    (report / example_gen.COUNTS_FILE).write_text(json.dumps(counts))
    (report / example_gen.QUARANTINE_FILE).write_text(
        "".join(json.dumps(row) + "\n" for row in QUARANTINED)
    )


def _example(scan: Scan, image: bytes) -> bytes:
    def strings(value: str) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))

    def floats(values: List[float]) -> tf.train.Feature:
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))

    def number(value: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    return tf.train.Example(
        features=tf.train.Features(
            feature={
                features.IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[image])),
                features.LABEL_KEY: strings(scan.label),
                features.FORMAT_KEY: strings("PNG"),
                features.HEIGHT_KEY: number(8),
                features.WIDTH_KEY: number(8),
                features.SOURCE_KEY: strings(scan.source),
                "candidate": floats(scan.candidate),
                "baseline": floats(scan.baseline),
            }
        )
    ).SerializeToString()


def write_statistics(uri: Path) -> None:
    """Per-split FeatureStats.pb holding the example counts, as StatisticsGen writes them."""
    for split, count in SPLITS.items():
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        stats.datasets.add(num_examples=count)
        (uri / f"Split-{split}").mkdir(parents=True)
        (uri / f"Split-{split}" / "FeatureStats.pb").write_bytes(stats.SerializeToString())


def write_training_logs(uri: Path) -> Dict[str, Dict[str, List[float]]]:
    """Keras' TensorBoard layout: `epoch_loss` and `epoch_accuracy` under train/, validation/."""
    logged: Dict[str, Dict[str, List[float]]] = {}
    for series, offset in (("train", 0.0), ("validation", 0.1)):
        writer = tf.summary.create_file_writer(str(uri / series))
        with writer.as_default():
            for epoch in range(EPOCHS):
                values = {"loss": 1 / (epoch + 1) + offset, "accuracy": 0.2 * epoch + 0.1 - offset}
                for metric, value in values.items():
                    tf.summary.scalar(f"epoch_{metric}", value, step=epoch)
                    logged.setdefault(metric, {}).setdefault(series, []).append(value)
        writer.close()
    return logged


def evaluate(root: Path, examples_uri: Path, candidate, baseline=None) -> Dict[str, Path]:
    """TFX's Evaluator executor with the pipeline's EvalConfig; returns its output URIs."""
    config = config_loader.config_from_dict({"evaluation": {"min_accuracy": MIN_ACCURACY}})
    examples = artifact(standard_artifacts.Examples, examples_uri)
    examples.split_names = artifact_utils.encode_split_names(["eval"])
    outputs = {"evaluation": root / "evaluation", "blessing": root / "blessing"}
    input_dict = {specs.EXAMPLES_KEY: [examples], specs.MODEL_KEY: [candidate]}
    if baseline is not None:
        input_dict[specs.BASELINE_MODEL_KEY] = [baseline]
    evaluator_executor.Executor().Do(
        input_dict,
        {
            specs.EVALUATION_KEY: [
                artifact(standard_artifacts.ModelEvaluation, outputs["evaluation"])
            ],
            specs.BLESSING_KEY: [artifact(standard_artifacts.ModelBlessing, outputs["blessing"])],
        },
        {specs.EVAL_CONFIG_KEY: proto_utils.proto_to_json(eval_config(config))},
    )
    return outputs


def artifact(artifact_type, uri):
    """An artifact of `artifact_type` at `uri`, as an orchestrator hands it to an executor."""
    made = artifact_type()
    made.uri = str(uri)
    return made


@dataclasses.dataclass(frozen=True)
class EvaluatedRun:
    inputs: ReportInputs
    scans: List[Scan]
    logged: Dict[str, Dict[str, List[float]]]


def evaluated_run(root: Path, digits_root: Path, with_baseline: bool) -> EvaluatedRun:
    """Examples, statistics, logs, models and the Evaluator's outputs under `root`."""
    all_scans = scans(digits_root)
    write_examples(root / "examples", digits_root, all_scans)
    write_statistics(root / "statistics")
    logged = write_training_logs(root / "model_run")
    candidate = save_model(root / "model", "candidate")
    baseline = save_model(root / "baseline_model", "baseline") if with_baseline else None
    outputs = evaluate(root, root / "examples", candidate, baseline)
    return EvaluatedRun(
        inputs=ReportInputs(
            title="Evaluation report: test",
            evaluation_uri=str(outputs["evaluation"]),
            blessing_uri=str(outputs["blessing"]),
            model_uri=str(root / "model"),
            model_run_uri=str(root / "model_run"),
            examples_uris=[str(root / "examples")],
            statistics_uri=str(root / "statistics"),
            statistics_splits=list(SPLITS),
            model_name="digits",
        ),
        scans=all_scans,
        logged=logged,
    )
