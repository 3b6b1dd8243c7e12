"""Reading what the Evaluator decided, from its artifacts alone: TFMA's metrics, plots and
validations, the blessing, and the example counts StatisticsGen recorded.

The run summary and the evaluation report ask the same questions of the same files, so the
answers are computed here once. Everything takes artifact URIs, not ML Metadata records, so
the report component (which gets artifacts) and the CLI (which reads ML Metadata) share it.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Sequence, Tuple

import tensorflow as tf
import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma
from tensorflow_metadata.proto.v0 import statistics_pb2
from tensorflow_model_analysis.metrics import metric_specs
from tensorflow_model_analysis.slicer import slicer_lib
from tensorflow_model_analysis.writers import eval_config_writer
from tfx.components.evaluator import constants as evaluator_constants

from components.image_evaluator import metrics

DIFF_SUFFIX = "_diff"
"""TFMA's JSON form names a metric's change against the baseline `<metric>_diff`."""
OVERALL = slicer_lib.OVERALL_SLICE_NAME

SliceKey = Tuple[Tuple[str, object], ...]


@dataclasses.dataclass(frozen=True)
class Models:
    """The model names TFMA stored results under: the candidate's is "" without a baseline."""

    candidate: str
    baseline: str | None

    @property
    def had_baseline(self) -> bool:
        return self.baseline is not None


def models(evaluation_uri: str) -> Models:
    """Whether TFMA compared the candidate with a baseline, from the EvalConfig it ran with.

    (Not from the Evaluator's input events in ML Metadata: when the Trainer's output is
    cached, the candidate and the baseline are one artifact, and only one input event is
    kept for it, under either key.)
    """
    return _models(load_eval_config(evaluation_uri))


def _models(eval_config: tfma.EvalConfig | None) -> Models:
    specs = eval_config.model_specs if eval_config else []
    baseline = next((spec.name for spec in specs if spec.is_baseline), None)
    candidate = next((spec.name for spec in specs if not spec.is_baseline), "")
    return Models(candidate=candidate, baseline=baseline)


def load_eval_config(evaluation_uri: str) -> tfma.EvalConfig | None:
    """The EvalConfig TFMA ran with, as TFX completed it (no change thresholds on a first run)."""
    eval_config, *_ = eval_config_writer.load_eval_run(evaluation_uri)
    return eval_config


def load_result(evaluation_uri: str, model_name: str) -> tfma.EvalResult:
    """One model's metrics and plots; a candidate's metrics include `<metric>_diff`."""
    return tfma.load_eval_result(evaluation_uri, model_name=model_name or None)


_SUB_KEYS = {"": "", metrics.TOP_1: " (top-1)"}
"""Sub keys the EvalConfig uses, as a suffix of the metric name: `k:1` is the calibration of
the first-ranked class (pipeline/evaluation.py)."""


def sliced_metrics(result: tfma.EvalResult) -> Dict[SliceKey, Dict[str, float]]:
    """Every slice's scalar metrics, by slice key (`()` is the overall slice).

    JSON keeps infinities and NaN (a calibration with no correct prediction) as strings;
    float() reads them back.
    """
    return {
        slice_key: {
            name + _SUB_KEYS.get(sub_key, f" ({sub_key})"): float(value["doubleValue"])
            for sub_key, by_name in by_sub_key[""].items()
            for name, value in by_name.items()
            if "doubleValue" in value
        }
        for slice_key, by_sub_key in result.slicing_metrics
    }


def accuracy(result: tfma.EvalResult) -> float | None:
    return sliced_metrics(result).get((), {}).get(metrics.ACCURACY)


def confusion_entries(result: tfma.EvalResult) -> List[Dict] | None:
    """The overall slice's confusion-matrix entries (JSON form: zero fields left out)."""
    for slice_key, plots in result.plots:
        if not slice_key and metrics.CONFUSION_PLOT in plots[""][""]:
            return plots[""][""][metrics.CONFUSION_PLOT]["matrices"][0]["entries"]
    return None


def confusion_counts(entries: List[Dict]) -> Dict[Tuple[int, int], float]:
    """(actual class id, predicted class id) -> weighted example count."""
    return {
        (entry.get("actualClassId", 0), entry.get("predictedClassId", 0)): entry.get(
            "numWeightedExamples", 0.0
        )
        for entry in entries
    }


@dataclasses.dataclass(frozen=True)
class ClassScores:
    precision: float | None
    """None when the class was never predicted."""
    recall: float | None
    """None when the class has no examples."""
    f1: float
    support: float


def per_class_scores(entries: List[Dict]) -> Dict[int, ClassScores]:
    """Precision, recall, F1 and support of every class that occurs as truth or prediction."""
    counts = confusion_counts(entries)
    scores = {}
    for c in sorted({c for pair in counts for c in pair}):
        hits = counts.get((c, c), 0.0)
        predicted = sum(n for (_, p), n in counts.items() if p == c)
        actual = sum(n for (a, _), n in counts.items() if a == c)
        scores[c] = ClassScores(
            precision=hits / predicted if predicted else None,
            recall=hits / actual if actual else None,
            f1=2 * hits / (predicted + actual) if predicted + actual else 0.0,
            support=actual,
        )
    return scores


def macro_f1(entries: List[Dict]) -> float:
    """Mean over classes of F1, every class weighing the same however many examples it has."""
    scores = per_class_scores(entries)
    return sum(score.f1 for score in scores.values()) / len(scores)


@dataclasses.dataclass(frozen=True)
class ThresholdCheck:
    """One threshold TFMA applied to one slice, what was measured, and TFMA's verdict."""

    metric: str
    slice: str
    change: bool
    """A bound on the change against the baseline, rather than on the value itself."""
    required: str
    measured: float | None
    passed: bool
    message: str = ""
    """TFMA's reason when there was no value to compare (e.g. "Metric not found.")."""

    def as_text(self) -> str:
        measured = f"measured {self.measured:.4f}" if self.measured is not None else self.message
        return f"{self.metric} on slice {self.slice}: {measured}, required {self.required}"


def threshold_checks(evaluation_uri: str) -> List[ThresholdCheck]:
    """Every threshold in the EvalConfig TFMA ran with, on every slice it applies to.

    Pass or fail is TFMA's own validation result (which made the blessing); the measured
    value is the candidate's metric, or its change against the baseline. A failure TFMA
    recorded that matches no configured slice is listed too, so no failure is ever hidden.
    Cross-slice thresholds are not shown (the pipeline's EvalConfig has none).
    """
    eval_config = load_eval_config(evaluation_uri)
    if eval_config is None:
        return []
    names = _models(eval_config)
    sliced = sliced_metrics(load_result(evaluation_uri, names.candidate))
    failures = _failures(evaluation_uri)
    configured = metric_specs.metric_thresholds_from_metrics_specs(
        eval_config.metrics_specs, eval_config=eval_config
    )
    checks = []
    for key, thresholds in configured.items():
        if key.model_name != names.candidate:
            continue
        name = key.name + (DIFF_SUFFIX if key.is_diff else "")
        for slice_spec, threshold in thresholds:
            if slice_spec is not None and not isinstance(slice_spec, tfma.SlicingSpec):
                continue
            spec = slicer_lib.SingleSliceSpec(spec=slice_spec) if slice_spec else None
            for slice_key, values in sliced.items():
                if spec is not None and not spec.is_slice_applicable(slice_key):
                    continue
                identity = (
                    slicer_lib.stringify_slice_key(slice_key),
                    key.name,
                    key.is_diff,
                    threshold.SerializeToString(),
                )
                failure = failures.pop(identity, None)
                checks.append(
                    ThresholdCheck(
                        metric=key.name,
                        slice=identity[0],
                        change=key.is_diff,
                        required=_required(threshold),
                        measured=values.get(name),
                        passed=failure is None,
                        message=failure.message if failure else "",
                    )
                )
    for (slice_name, metric, change, _), failure in failures.items():
        threshold = failure.metric_threshold
        checks.append(
            ThresholdCheck(
                metric=metric,
                slice=slice_name,
                change=change,
                required=_required(
                    threshold.change_threshold if change else threshold.value_threshold
                ),
                measured=(
                    failure.metric_value.double_value.value
                    if failure.HasField("metric_value")
                    else None
                ),
                passed=False,
                message=failure.message,
            )
        )
    return checks


def _failures(evaluation_uri: str) -> Dict[tuple, object]:
    """TFMA's failed validations by (slice, metric, is change, serialized threshold)."""
    validation = tfma.load_validation_result(evaluation_uri)
    failures = {}
    for per_slice in validation.metric_validations_per_slice:
        slice_name = slicer_lib.stringify_slice_key(
            slicer_lib.deserialize_slice_key(per_slice.slice_key)
        )
        for failure in per_slice.failures:
            change = failure.metric_key.is_diff
            threshold = failure.metric_threshold
            generic = threshold.change_threshold if change else threshold.value_threshold
            key = (slice_name, failure.metric_key.name, change, generic.SerializeToString())
            failures[key] = failure
    return failures


def _required(threshold) -> str:
    """A GenericValueThreshold or GenericChangeThreshold in words."""
    if isinstance(threshold, tfma.GenericValueThreshold):
        parts = []
        if threshold.HasField("lower_bound"):
            parts.append(f"at least {threshold.lower_bound.value:g}")
        if threshold.HasField("upper_bound"):
            parts.append(f"at most {threshold.upper_bound.value:g}")
        return " and ".join(parts) or "any value"
    higher = threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    bound = "at least" if higher else "at most"
    parts = []
    if threshold.HasField("absolute"):
        parts.append(f"{bound} {threshold.absolute.value:+g}")
    if threshold.HasField("relative"):
        parts.append(f"{bound} {threshold.relative.value:+.2%} relative")
    return "a change against the baseline of " + " and ".join(parts)


def blessing_failures(evaluation_uri: str) -> List[str]:
    """Each failed threshold in words: metric, slice, measured value and bound."""
    return [check.as_text() for check in threshold_checks(evaluation_uri) if not check.passed]


def blessed(blessing_uri: str) -> bool:
    """The Evaluator's verdict, from the marker file it writes into the blessing artifact."""
    return tf.io.gfile.exists(os.path.join(blessing_uri, evaluator_constants.BLESSED_FILE_NAME))


def examples_per_split(statistics_uri: str, split_names: Sequence[str]) -> Dict[str, int]:
    """Examples per split, as counted by StatisticsGen (no pass over the data)."""
    return {
        split: load_statistics(statistics_uri, split).datasets[0].num_examples
        for split in split_names
    }


def load_statistics(statistics_uri: str, split: str) -> statistics_pb2.DatasetFeatureStatisticsList:
    """One split's statistics from a StatisticsGen artifact."""
    return tfdv.load_stats_binary(os.path.join(statistics_uri, f"Split-{split}", "FeatureStats.pb"))
