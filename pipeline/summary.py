"""The short summary printed after a run, read back from ML Metadata and the artifacts.

It says what actually happened (not what the config asked for): examples per split, files
quarantined, ignored and dropped as duplicates, the anomalies in plain words, which weights
the model started from, eval accuracy, the blessing, where the pushed model and its model
card are, and the TFLite conversions.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Dict, List

from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.io import fileio
from tfx.utils import io_utils

from components.evaluation_report import gather, model_card, results, writer
from components.image_example_gen import sizes
from components.image_example_gen.executor import REPORT_DIR, read_counts
from components.tflite_pusher.push import POST_TRAINING, QUANTIZATION_AWARE
from components.validation_gate import executor as gate_executor
from components.validation_gate import gate
from pipeline import metadata, nodes
from pipeline.config import PipelineConfig
from trainer import selection
from trainer.settings import SelectionConfig


@dataclasses.dataclass(frozen=True)
class RunSummary:
    run_id: str
    examples_per_split: Dict[str, int]
    files_seen: int
    quarantined: int
    ignored: int
    duplicates: int
    quarantine_reasons: Dict[str, int]
    empty_classes: List[str]
    """Class folders (or manifest labels) none of whose files became an example."""
    sizes_per_class: Dict[str, sizes.Distribution] | None
    """Shorter side of the examples per class (None: ingested before it was recorded)."""
    anomalies: List[str] | None
    """The validator's findings in plain words; None when the run did not validate (init's)."""
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
    report: str | None
    """The EvaluationReport component's HTML page."""
    stopped_at: str | None = None
    """The component a run that did not finish stopped at, and its state."""
    unchanged: bool = False
    """The whole run came from the cache: the pushed model is the one already current."""
    model_card: str | None = None
    """The model card's page: the one shipped in the pushed model, else the report's."""
    backbone_choice: Dict | None = None
    """When the Tuner chose among backbones: `bounds` in words, and `candidates`, its table
    (trainer/selection.py), the chosen one first."""

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
        anomalies = (
            "not checked"
            if self.anomalies is None
            else f"{len(self.anomalies) or 'none'}"
            + "".join(f"\n    - {text}" for text in self.anomalies)
        )
        lines = [
            f"Run {self.run_id}" + (f" {stopped_text(self.stopped_at)}" if self.stopped_at else ""),
            f"  examples         {splits}",
            self.files_line(),
            *(
                [f"  empty classes    {', '.join(f'{c}/' for c in self.empty_classes)}"]
                if self.empty_classes
                else []
            ),
            *self.sizes_lines(),
            f"  anomalies        {anomalies}",
            f"  weights          {weights}",
            *self.backbone_lines(),
            f"  eval accuracy    {accuracy}"
            + ("" if self.macro_f1 is None else f", macro F1 {self.macro_f1:.4f}"),
            f"  blessed          {verdict}",
            f"  report           {self.report or 'not written'}",
            f"  model card       {self.model_card or 'not written'}",
            f"  pushed model     {self._pushed_text()}",
            f"  tflite           {_tflite_text(self.tflite)}",
        ]
        if self.first_run and self.blessed is not None:
            lines.insert(-5, "  baseline         none yet: judged on the absolute bounds alone")
        return "\n".join(lines)

    def _pushed_text(self) -> str:
        if not self.pushed_to:
            return "not pushed"
        if self.unchanged:
            return (
                f"nothing changed, model {os.path.basename(self.pushed_to)} is current "
                f"({self.pushed_to})"
            )
        return self.pushed_to

    def backbone_lines(self) -> List[str]:
        """The backbone chosen, and every candidate's figures, one per line."""
        if not self.backbone_choice:
            return []
        candidates = self.backbone_choice["candidates"]
        return [
            f"  backbone         {candidates[0]['backbone']}, chosen among {len(candidates)} "
            f"by eval accuracy ({self.backbone_choice['bounds']}):",
            *(f"                 {line}" for line in selection.text_lines(candidates)),
        ]

    def sizes_lines(self) -> List[str]:
        """The shorter side per class on one line, then any size shortcut, one per line."""
        return [] if self.sizes_per_class is None else sizes_lines(self.sizes_per_class)

    def files_line(self) -> str:
        """Ingestion's accounting, with the quarantine reasons, on one line."""
        return files_line(
            self.files_seen,
            self.quarantined,
            self.quarantine_reasons,
            self.ignored,
            self.duplicates,
            self.ingestion_report,
        )


def sizes_lines(sizes_per_class: Dict[str, sizes.Distribution]) -> List[str]:
    """The shorter side per class on one line, then any size shortcut, one per line."""
    texts = {label: sizes.as_text(d) for label, d in sizes_per_class.items()}
    if len(set(texts.values())) == 1:
        shown = f"{next(iter(texts.values()))} in every class"
    else:
        shown = "; ".join(f"{label} {text}" for label, text in texts.items())
    lines = [f"  image sizes      shorter side: {shown}"]
    lines += [f"  size shortcut    {line}" for line in sizes.shortcuts(sizes_per_class)]
    return lines


def files_line(
    files_seen: int,
    quarantined: int,
    reasons: Dict[str, int],
    ignored: int,
    duplicates: int,
    report: str,
) -> str:
    """Ingestion's accounting, with the quarantine reasons, on one line."""
    named = ", ".join(f"{count} {reason}" for reason, count in reasons.items())
    return (
        f"  files            {files_seen} seen, {quarantined} quarantined"
        f"{f' ({named})' if named else ''}, {ignored} ignored, "
        f"{duplicates} duplicates dropped (report: {report})"
    )


@dataclasses.dataclass(frozen=True)
class StoppedRun:
    """A run that stopped before its data was ingested and counted: nothing more to say."""

    run_id: str
    stopped_at: str
    blessed: None = None

    def as_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    def as_text(self) -> str:
        return f"Run {self.run_id} {stopped_text(self.stopped_at)}"

    def files_line(self) -> str:
        return "  files            not ingested"


def stopped_text(stopped_at: str) -> str:
    """What an unfinished run's first line says after its id."""
    if stopped_at.endswith("(failed)"):
        return f"failed at {stopped_at[: -len(' (failed)')]} (its error is in the run's log)"
    return (
        f"did not finish: stopped at {stopped_at}; the same `image-pipeline run` command "
        "resumes it (finished components are cached)"
    )


def summarize(config: PipelineConfig, run_id: str | None = None) -> RunSummary | StoppedRun:
    """Summary of the run `run_id` of `config`'s pipeline (default: the latest)."""
    store = metadata.open_store(config.metadata_path)
    if run_id is None:
        runs = metadata.run_ids(store, config.pipeline_name)
        if not runs:
            raise metadata.MetadataError(
                f"{config.metadata_path}: no run of {config.pipeline_name!r} yet"
            )
        run_id = runs[-1]
    node_runs = metadata.node_runs(store, config.pipeline_name, run_id)
    stopped_at = _stopped_at(node_runs)
    examples = metadata.output_of(node_runs, nodes.EXAMPLE_GEN, "examples")
    statistics = metadata.output_of(node_runs, nodes.STATISTICS_GEN, "statistics")
    if examples is None or statistics is None:
        return StoppedRun(run_id, stopped_at or f"{nodes.STATISTICS_GEN} (not started)")
    anomalies = metadata.output_of(node_runs, nodes.EXAMPLE_VALIDATOR, "anomalies")
    schema = metadata.output_of(node_runs, nodes.IMPORT_SCHEMA_GEN, "schema")
    ingestion = read_counts(examples.uri)
    evaluation_uri = _evaluation_uri(node_runs)
    names = results.models(evaluation_uri) if evaluation_uri else None
    evaluation = results.load_result(evaluation_uri, names.candidate) if names else None
    entries = results.confusion_entries(evaluation) if evaluation else None
    return RunSummary(
        run_id=run_id,
        examples_per_split=_examples_per_split(statistics),
        files_seen=ingestion["files_seen"],
        quarantined=ingestion["quarantined"],
        ignored=ingestion["ignored"],
        duplicates=ingestion["duplicates"],
        quarantine_reasons=ingestion["reasons"],
        empty_classes=ingestion["empty_classes"],
        sizes_per_class=ingestion.get("shorter_side_per_class"),
        anomalies=_anomalies(anomalies, schema) if anomalies and schema else None,
        weights=config.trainer.weights,
        eval_accuracy=results.accuracy(evaluation) if evaluation else None,
        blessed=_blessed(node_runs),
        blessing_failures=results.blessing_failures(evaluation_uri) if evaluation_uri else [],
        pushed_to=_pushed_to(node_runs),
        ingestion_report=os.path.join(examples.uri, REPORT_DIR),
        macro_f1=results.macro_f1(entries) if entries else None,
        tflite=_tflite(node_runs),
        first_run=not (names and names.had_baseline),
        report=_report(node_runs),
        model_card=_model_card(node_runs),
        backbone_choice=_backbone_choice(node_runs),
        stopped_at=stopped_at,
        unchanged=all(
            run.state == "cached" for node, run in node_runs.items() if node not in nodes.RESOLVERS
        ),
    )


def _stopped_at(node_runs: Dict[str, metadata.NodeRun]) -> str | None:
    """The component an unfinished run stopped at ("Trainer (canceled)"), or None."""
    for node_id, run in node_runs.items():
        if run.state not in ("complete", "cached"):
            return f"{node_id} ({run.state})"
    return None


def _evaluation_uri(node_runs: Dict[str, metadata.NodeRun]) -> str | None:
    evaluation = metadata.output_of(node_runs, nodes.EVALUATOR, "evaluation")
    return evaluation.uri if evaluation else None


def _report(node_runs: Dict[str, metadata.NodeRun]) -> str | None:
    report = metadata.output_of(node_runs, nodes.EVALUATION_REPORT, "report")
    return os.path.join(report.uri, writer.REPORT_FILE) if report else None


def _model_card(node_runs: Dict[str, metadata.NodeRun]) -> str | None:
    pushed_to = _pushed_to(node_runs)
    report = metadata.output_of(node_runs, nodes.EVALUATION_REPORT, "report")
    candidates = [
        *([os.path.join(pushed_to, model_card.SHIPPED_DIR)] if pushed_to else []),
        *([report.uri] if report else []),
    ]
    pages = [os.path.join(folder, model_card.CARD_PAGE) for folder in candidates]
    return next((page for page in pages if fileio.exists(page)), None)


def _backbone_choice(node_runs: Dict[str, metadata.NodeRun]) -> Dict | None:
    model_run = metadata.output_of(node_runs, nodes.TRAINER, "model_run")
    training = gather.training_record(model_run.uri) if model_run else None
    if not training or selection.SELECTION_KEY not in training:
        return None
    return {
        "bounds": SelectionConfig(**training["selection"]).bounds,
        "candidates": training[selection.SELECTION_KEY],
    }


def _tflite(node_runs: Dict[str, metadata.NodeRun]) -> Dict | None:
    pushed = metadata.output_of(node_runs, nodes.TFLITE_PUSHER, "pushed_model")
    if not pushed or "tflite_result" not in pushed.custom_properties:
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
    aware = result.get("int8_accuracies", {}).get(QUANTIZATION_AWARE)
    if aware is not None:
        kept = (
            "quantization-aware" if result["int8_method"] == QUANTIZATION_AWARE else "post-training"
        )
        parts.append(
            f"int8 post-training acc {result['int8_accuracies'][POST_TRAINING]:.4f}, "
            f"quantization-aware {aware:.4f} (kept {kept})"
        )
    return f"{'; '.join(parts)}; float {result['float_accuracy']:.4f} -> " + (
        result["destination"] or "nothing shipped"
    )


def _examples_per_split(statistics: metadata_store_pb2.Artifact) -> Dict[str, int]:
    return results.examples_per_split(statistics.uri, metadata.split_names(statistics))


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


def _blessed(node_runs: Dict[str, metadata.NodeRun]) -> bool | None:
    blessing = metadata.output_of(node_runs, nodes.EVALUATOR, "blessing")
    return bool(blessing.custom_properties["blessed"].int_value) if blessing else None


def _pushed_to(node_runs: Dict[str, metadata.NodeRun]) -> str | None:
    pushed = metadata.output_of(node_runs, nodes.PUSHER, "pushed_model")
    if not pushed or not pushed.custom_properties["pushed"].int_value:
        return None
    return pushed.custom_properties["pushed_destination"].string_value
