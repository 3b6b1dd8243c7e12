"""The validation gate's logic, without TFX: anomalies in plain words, drift and skew.

ExampleValidator records anomalies but never stops a run: Transform and the Trainer would
go on to train on data with a class nobody reviewed. The gate turns the anomalies into
findings a person can act on (feature, what was expected, what was found), adds drift of
the new span against the previous one and skew between the train and eval splits beyond
the configured limits (TFDV's L-infinity comparators on categorical features), and either
stops the run with all of them in one block or, when the config says so, only warns.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import List, Mapping, Sequence

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

STOP = "stop"
WARN = "warn"

_SHOWN_VALUES = 12


class ValidationGateError(RuntimeError):
    """The data failed validation; the message lists every finding, one per line.

    `findings` are kept for whoever catches it (the CLI words the fix with the config it was
    given); an error read back from elsewhere has only its message.
    """

    def __init__(self, message: str, findings: Sequence[Finding] = ()):
        super().__init__(message)
        self.findings = list(findings)


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem with the data: where, what the schema or limit expects, what was found."""

    split: str
    feature: str
    expected: str
    found: str
    in_schema: bool = True
    """Against the schema (widened by `init --update-schema`), not a drift or skew limit."""

    def as_text(self) -> str:
        return f"{self.split}/{self.feature}: expected {self.expected}; found: {self.found}"


def schema_findings(
    anomalies: Mapping[str, anomalies_pb2.Anomalies], schema: schema_pb2.Schema
) -> List[Finding]:
    """ExampleValidator's anomalies, per split, worded against the schema."""
    findings = []
    for split, result in sorted(anomalies.items()):
        for feature, info in sorted(result.anomaly_info.items()):
            found = " ".join(r.description.strip() for r in info.reason) or info.description
            findings.append(Finding(split, feature, _expected(schema, feature), found))
        if result.HasField("dataset_anomaly_info"):
            info = result.dataset_anomaly_info
            findings.append(
                Finding(split, "(dataset)", "the schema's dataset constraints", info.description)
            )
    return findings


def _expected(schema: schema_pb2.Schema, feature_name: str) -> str:
    features = {feature.name: feature for feature in schema.feature}
    if feature_name not in features:
        return "no such feature (it is not in the schema)"
    feature = features[feature_name]
    domain = feature.WhichOneof("domain_info")
    if domain in ("domain", "string_domain"):
        values = (
            feature.string_domain.value
            if domain == "string_domain"
            else {d.name: d for d in schema.string_domain}[feature.domain].value
        )
        shown = ", ".join(values[:_SHOWN_VALUES])
        more = f" and {len(values) - _SHOWN_VALUES} more" if len(values) > _SHOWN_VALUES else ""
        return f"one of {shown}{more}"
    if domain == "int_domain":
        return f"a whole number in [{feature.int_domain.min}, {feature.int_domain.max}]"
    if domain == "image_domain":
        return "an encoded image"
    return "what the schema says"


def drift_findings(
    current: Mapping[str, statistics_pb2.DatasetFeatureStatisticsList],
    previous: Mapping[str, statistics_pb2.DatasetFeatureStatisticsList],
    schema: schema_pb2.Schema,
    max_drift: Mapping[str, float],
) -> List[Finding]:
    """Drift of each split against the same split of the previous span, beyond `max_drift`.

    `max_drift` maps a categorical feature to the largest L-infinity distance allowed
    between its value distributions (the largest change in any one value's share).
    """
    with_limits = _with_limits(schema, max_drift, "drift_comparator")
    findings = []
    for split in sorted(set(current) & set(previous)):
        result = tfdv.validate_statistics(
            current[split], with_limits, previous_statistics=previous[split]
        )
        findings += _over_limit(result, split, max_drift, "the previous span", "max_drift")
    return findings


def skew_findings(
    statistics: Mapping[str, statistics_pb2.DatasetFeatureStatisticsList],
    schema: schema_pb2.Schema,
    max_skew: Mapping[str, float],
    train_split: str = "train",
    eval_split: str = "eval",
) -> List[Finding]:
    """Skew between the train and the eval split of one run, beyond `max_skew`.

    The eval split stands in for what the model will be judged on: TFDV's skew comparator
    (L-infinity, as for drift) between the two splits' value distributions.
    """
    if not max_skew or not {train_split, eval_split} <= set(statistics):
        return []
    result = tfdv.validate_statistics(
        statistics[train_split],
        _with_limits(schema, max_skew, "skew_comparator"),
        serving_statistics=statistics[eval_split],
    )
    return _over_limit(
        result, f"{train_split}/{eval_split}", max_skew, f"the {eval_split} split", "max_skew"
    )


def _with_limits(
    schema: schema_pb2.Schema, limits: Mapping[str, float], comparator: str
) -> schema_pb2.Schema:
    with_limits = copy.deepcopy(schema)
    for feature_name, limit in limits.items():
        getattr(
            tfdv.get_feature(with_limits, feature_name), comparator
        ).infinity_norm.threshold = limit
    return with_limits


def _over_limit(
    result: anomalies_pb2.Anomalies,
    where: str,
    limits: Mapping[str, float],
    other: str,
    key: str,
) -> List[Finding]:
    """L-infinity findings, each naming the config key that sets the limit."""
    findings = []
    for feature, info in sorted(result.anomaly_info.items()):
        for reason in info.reason:
            if reason.type == anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH:
                expected = (
                    f"a distribution within L-infinity {limits[feature]:g} of {other} "
                    f"(validation.{key}.{feature})"
                )
                findings.append(
                    Finding(where, feature, expected, reason.description.strip(), in_schema=False)
                )
    return findings


ACCEPT_COMMAND = "image-pipeline init --update-schema --config {config}"
"""How new classes, formats and sizes are accepted into the schema (pipeline/init.py)."""


def report(findings: Sequence[Finding], mode: str, config: str = "<your config>") -> str:
    """The block printed for a person: what the gate did and every finding, one per line,
    then how to go on: `config` is the config file(s) the run was given, for the command
    that accepts what the data brought into the schema."""
    outcome = (
        "the run stops before Transform and training"
        if mode == STOP
        else "validation.on_anomalies=warn, so the run goes on"
    )
    lines = [f"Data validation found {len(findings)} problem(s); {outcome}:"]
    lines += [f"  - {finding.as_text()}" for finding in findings]
    if mode == STOP:
        fixes = ["fix the data"]
        if any(finding.in_schema for finding in findings):
            fixes.append(
                f"accept what it brought into the schema, once reviewed: "
                f"{ACCEPT_COMMAND.format(config=config)} (README, 'Reviewing the schema')"
            )
        if not all(finding.in_schema for finding in findings):
            fixes.append("raise the validation limit each drift or skew finding names")
        fixes.append("set validation.on_anomalies=warn")
        lines.append(f"  To go on: {'; or '.join(fixes)}.")
    return "\n".join(lines)


def enforce(findings: List[Finding], mode: str) -> str:
    """Raises ValidationGateError with the report in `stop` mode; else returns the report.

    Returns "" when there is nothing to report.
    """
    if not findings:
        return ""
    if mode == STOP:
        raise ValidationGateError(report(findings, mode), findings)
    return report(findings, mode)
