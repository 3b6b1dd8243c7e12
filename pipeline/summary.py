"""The short summary printed after a run, read back from ML Metadata and the artifacts.

It says what actually happened (not what the config asked for): examples per split, files
quarantined, ignored and dropped as duplicates, the anomalies in plain words, which weights
the model started from, eval accuracy, the blessing, and where the pushed model is.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Dict, List

import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma
from ml_metadata.proto import metadata_store_pb2
from tensorflow_model_analysis.slicer import slicer_lib
from tensorflow_model_analysis.writers import eval_config_writer
from tfx.utils import io_utils

from components.image_example_gen.executor import REPORT_DIR, read_summary
from components.validation_gate import executor as gate_executor
from components.validation_gate import gate
from pipeline import metadata
from pipeline import pipeline as dag
from pipeline.config import PipelineConfig

ACCURACY_METRIC = "sparse_categorical_accuracy"
CONFUSION_PLOT = "multiClassConfusionMatrixAtThresholds"


@dataclasses.dataclass(frozen=True)
class RunSummary:
    run_id: str
    examples_per_split: Dict[str, int]
    files_seen: int
    quarantined: int
    ignored: int
    duplicates: int
    quarantine_reasons: Dict[str, int]
    anomalies: List[str]
    weights: str
    eval_accuracy: float | None
    blessed: bool | None
    blessing_failures: List[str]
    pushed_to: str | None
    ingestion_report: str
    macro_f1: float | None
    """Mean over classes of F1, from TFMA's confusion matrix on the overall slice."""
    tflite: Dict | None
    """TFLitePusher's result: shipped and held-back conversions, sizes, accuracies."""
    first_run: bool
    """No baseline existed, so the blessing was judged on the absolute bounds alone."""

    def as_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    def as_text(self) -> str:
        splits = ", ".join(f"{name} {count}" for name, count in self.examples_per_split.items())
        weights = (
            "none (random initialisation, every layer trained)"
            if self.weights == "none"
            else self.weights
        )
        accuracy = "not evaluated" if self.eval_accuracy is None else f"{self.eval_accuracy:.4f}"
        if self.blessed is None:
            verdict = "not evaluated"
        else:
            verdict = "yes" if self.blessed else "no: " + "; ".join(self.blessing_failures)
        anomalies = "".join(f"\n    - {text}" for text in self.anomalies)
        lines = [
            f"Run {self.run_id}",
            f"  examples         {splits}",
            self.files_line(),
            f"  anomalies        {len(self.anomalies) or 'none'}{anomalies}",
            f"  weights          {weights}",
            f"  eval accuracy    {accuracy}"
            + ("" if self.macro_f1 is None else f", macro F1 {self.macro_f1:.4f}"),
            f"  blessed          {verdict}",
            f"  pushed model     {self.pushed_to or 'not pushed'}",
            f"  tflite           {_tflite_text(self.tflite)}",
        ]
        if self.first_run and self.blessed is not None:
            lines.insert(-3, "  baseline         none yet: judged on the absolute bounds alone")
        return "\n".join(lines)

    def files_line(self) -> str:
        """Ingestion's accounting, with the quarantine reasons, on one line."""
        reasons = ", ".join(
            f"{count} {reason}" for reason, count in self.quarantine_reasons.items()
        )
        return (
            f"  files            {self.files_seen} seen, {self.quarantined} quarantined"
            f"{f' ({reasons})' if reasons else ''}, {self.ignored} ignored, "
            f"{self.duplicates} duplicates dropped (report: {self.ingestion_report})"
        )


def summarize(config: PipelineConfig) -> RunSummary:
    """Summary of the latest run of `config`'s pipeline."""
    store = metadata.open_store(config.metadata_path)
    runs = metadata.run_ids(store, config.pipeline_name)
    run_id = runs[-1]
    nodes = metadata.node_runs(store, config.pipeline_name, run_id)
    examples = nodes[dag.EXAMPLE_GEN].output("examples")
    ingestion = read_summary(examples.uri)
    had_baseline = _had_baseline(nodes)
    evaluation = _candidate_evaluation(nodes, had_baseline)
    return RunSummary(
        run_id=run_id,
        examples_per_split=_examples_per_split(nodes[dag.STATISTICS_GEN].output("statistics")),
        files_seen=ingestion["files_seen"],
        quarantined=ingestion["quarantined"],
        ignored=ingestion["ignored"],
        duplicates=ingestion["duplicates"],
        quarantine_reasons=ingestion["reasons"],
        anomalies=_anomalies(
            nodes[dag.EXAMPLE_VALIDATOR].output("anomalies"),
            nodes[dag.IMPORT_SCHEMA_GEN].output("schema"),
        ),
        weights=config.trainer.weights,
        eval_accuracy=_accuracy(evaluation),
        blessed=_blessed(nodes),
        blessing_failures=_blessing_failures(nodes),
        pushed_to=_pushed_to(nodes),
        ingestion_report=os.path.join(examples.uri, REPORT_DIR),
        macro_f1=_macro_f1(evaluation),
        tflite=_tflite(nodes),
        first_run=not had_baseline,
    )


def _candidate_evaluation(
    nodes: Dict[str, metadata.NodeRun], had_baseline: bool
) -> tfma.EvalResult | None:
    """With a baseline, TFMA stores metrics and plots per model, the new one as "candidate"."""
    if dag.EVALUATOR not in nodes or "evaluation" not in nodes[dag.EVALUATOR].outputs:
        return None
    return tfma.load_eval_result(
        nodes[dag.EVALUATOR].output("evaluation").uri,
        model_name="candidate" if had_baseline else None,
    )


def _macro_f1(result: tfma.EvalResult | None) -> float | None:
    if result is None:
        return None
    for slice_key, plots in result.plots:
        if not slice_key and CONFUSION_PLOT in plots[""][""]:
            return macro_f1(plots[""][""][CONFUSION_PLOT]["matrices"][0]["entries"])
    return None


def macro_f1(entries: List[Dict]) -> float:
    """Macro F1 from TFMA's confusion-matrix entries (JSON form: zero fields left out)."""
    counts: Dict[tuple, float] = {}
    for entry in entries:
        key = (entry.get("actualClassId", 0), entry.get("predictedClassId", 0))
        counts[key] = entry.get("numWeightedExamples", 0.0)
    classes = {c for pair in counts for c in pair}
    scores = []
    for c in sorted(classes):
        hits = counts.get((c, c), 0.0)
        predicted = sum(n for (_, p), n in counts.items() if p == c)
        actual = sum(n for (a, _), n in counts.items() if a == c)
        scores.append(2 * hits / (predicted + actual) if predicted + actual else 0.0)
    return sum(scores) / len(scores)


def _tflite(nodes: Dict[str, metadata.NodeRun]) -> Dict | None:
    if dag.TFLITE_PUSHER not in nodes or "pushed_model" not in nodes[dag.TFLITE_PUSHER].outputs:
        return None
    pushed = nodes[dag.TFLITE_PUSHER].output("pushed_model")
    if "tflite_result" not in pushed.custom_properties:
        return None
    return json.loads(pushed.custom_properties["tflite_result"].string_value)


def _tflite_text(result: Dict | None) -> str:
    if not result:
        return "not converted"
    parts = [
        f"{kind} {result['sizes'][kind] / 1e6:.1f} MB acc {result['accuracies'][kind]:.4f}"
        + ("" if kind in result["shipped"] else f" (held back: {result['held_back'][kind]})")
        for kind in result["sizes"]
    ]
    return f"{'; '.join(parts)}; float {result['float_accuracy']:.4f} -> " + (
        result["destination"] or "nothing shipped"
    )


def _had_baseline(nodes: Dict[str, metadata.NodeRun]) -> bool:
    """Whether TFMA compared the candidate with a baseline, from the EvalConfig it ran with.

    (Not from the Evaluator's input events in ML Metadata: when the Trainer's output is
    cached, the candidate and the baseline are one artifact, and only one input event is
    kept for it, under either key.)
    """
    if dag.EVALUATOR not in nodes or "evaluation" not in nodes[dag.EVALUATOR].outputs:
        return False
    eval_config, *_ = eval_config_writer.load_eval_run(
        nodes[dag.EVALUATOR].output("evaluation").uri
    )
    return eval_config is not None and any(spec.is_baseline for spec in eval_config.model_specs)


def _split_names(artifact: metadata_store_pb2.Artifact) -> list:
    return json.loads(artifact.properties["split_names"].string_value)


def _examples_per_split(statistics: metadata_store_pb2.Artifact) -> Dict[str, int]:
    counts = {}
    for split in _split_names(statistics):
        stats = tfdv.load_stats_binary(
            os.path.join(statistics.uri, f"Split-{split}", "FeatureStats.pb")
        )
        counts[split] = stats.datasets[0].num_examples
    return counts


def _anomalies(
    anomalies: metadata_store_pb2.Artifact, schema: metadata_store_pb2.Artifact
) -> List[str]:
    """ExampleValidator's anomalies in the gate's plain words (feature, expected, found)."""
    curated = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema.uri))
    by_split = gate_executor.load_anomalies(
        anomalies.uri, anomalies.properties["split_names"].string_value
    )
    findings = gate.schema_findings(by_split, curated)
    return [finding.as_text() for finding in findings]


def _accuracy(result: tfma.EvalResult | None) -> float | None:
    if result is None:
        return None
    for slice_key, metrics in result.slicing_metrics:
        if not slice_key:
            return metrics[""][""][ACCURACY_METRIC]["doubleValue"]
    return None


def _blessed(nodes: Dict[str, metadata.NodeRun]) -> bool | None:
    if dag.EVALUATOR not in nodes or "blessing" not in nodes[dag.EVALUATOR].outputs:
        return None
    blessing = nodes[dag.EVALUATOR].output("blessing")
    return bool(blessing.custom_properties["blessed"].int_value)


def _blessing_failures(nodes: Dict[str, metadata.NodeRun]) -> List[str]:
    """Each failed threshold in words: metric, slice, bound, and TFMA's message."""
    if dag.EVALUATOR not in nodes or "evaluation" not in nodes[dag.EVALUATOR].outputs:
        return []
    validation = tfma.load_validation_result(nodes[dag.EVALUATOR].output("evaluation").uri)
    failures = []
    for per_slice in validation.metric_validations_per_slice:
        slice_name = slicer_lib.stringify_slice_key(
            slicer_lib.deserialize_slice_key(per_slice.slice_key)
        )
        for failure in per_slice.failures:
            threshold = failure.metric_threshold
            bound = (
                f"at least {threshold.value_threshold.lower_bound.value:g}"
                if threshold.value_threshold.HasField("lower_bound")
                else "no worse than the baseline"
            )
            measured = (
                f"measured {failure.metric_value.double_value.value:.4f}"
                if failure.HasField("metric_value")
                else failure.message
            )
            failures.append(
                f"{failure.metric_key.name} on slice {slice_name}: {measured}, required {bound}"
            )
    return failures


def _pushed_to(nodes: Dict[str, metadata.NodeRun]) -> str | None:
    if dag.PUSHER not in nodes or "pushed_model" not in nodes[dag.PUSHER].outputs:
        return None
    pushed = nodes[dag.PUSHER].output("pushed_model")
    if not pushed.custom_properties["pushed"].int_value:
        return None
    return pushed.custom_properties["pushed_destination"].string_value
