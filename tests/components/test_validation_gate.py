"""The gate's logic on real TFDV statistics: plain-words findings, drift, skew, stop or warn."""

from types import SimpleNamespace

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from components.validation_gate import gate
from components.validation_gate.previous_span import previous_span

SCHEMA = text_format.Parse(
    """
    feature { name: "label" type: BYTES domain: "label" }
    feature { name: "height" type: INT int_domain { min: 8 max: 64 } }
    string_domain { name: "label" value: "cat" value: "dog" }
    """,
    schema_pb2.Schema(),
)


def statistics(labels, heights):
    return tfdv.generate_statistics_from_dataframe(
        pd.DataFrame({"label": labels, "height": heights})
    )


def test_anomalies_are_worded_as_feature_expected_found():
    current = statistics(["cat", "dog", "cow"], [10, 20, 100])
    anomalies = tfdv.validate_statistics(current, SCHEMA)
    findings = gate.schema_findings({"train": anomalies}, SCHEMA)
    by_feature = {finding.feature: finding for finding in findings}
    assert set(by_feature) == {"label", "height"}
    assert by_feature["label"].expected == "one of cat, dog"
    assert "cow" in by_feature["label"].found
    assert by_feature["height"].expected == "a whole number in [8, 64]"
    assert (
        by_feature["label"].as_text().startswith("train/label: expected one of cat, dog; found: ")
    )


def test_drift_beyond_the_limit_is_a_finding_and_within_it_is_not():
    previous = {"train": statistics(["cat"] * 5 + ["dog"] * 5, [10] * 10)}
    drifted = {"train": statistics(["cat"] * 9 + ["dog"] * 1, [10] * 10)}
    findings = gate.drift_findings(drifted, previous, SCHEMA, {"label": 0.3})
    assert [(f.split, f.feature) for f in findings] == [("train", "label")]
    assert findings[0].expected == (
        "a distribution within L-infinity 0.3 of the previous span (validation.max_drift.label)"
    )
    assert "0.4" in findings[0].found
    assert gate.drift_findings(drifted, previous, SCHEMA, {"label": 0.5}) == []


def test_skew_between_train_and_eval_beyond_the_limit_is_a_finding():
    splits = {
        "train": statistics(["cat"] * 8 + ["dog"] * 2, [10] * 10),
        "eval": statistics(["cat"] * 2 + ["dog"] * 3, [10] * 5),
    }
    findings = gate.skew_findings(splits, SCHEMA, {"label": 0.3})
    assert [(f.split, f.feature) for f in findings] == [("train/eval", "label")]
    assert findings[0].expected == (
        "a distribution within L-infinity 0.3 of the eval split (validation.max_skew.label)"
    )
    assert "0.4" in findings[0].found
    assert gate.skew_findings(splits, SCHEMA, {"label": 0.5}) == []
    assert gate.skew_findings(splits, SCHEMA, {}) == []
    assert gate.skew_findings({"train": splits["train"]}, SCHEMA, {"label": 0.3}) == []


def test_stop_raises_with_every_finding_and_warn_returns_them():
    findings = [gate.Finding("train", "label", "one of cat, dog", "cow (~33%)")]
    with pytest.raises(gate.ValidationGateError) as error:
        gate.enforce(findings, gate.STOP)
    lines = str(error.value).splitlines()
    assert (
        lines[0]
        == "Data validation found 1 problem(s); the run stops before Transform and training:"
    )
    assert lines[1] == "  - train/label: expected one of cat, dog; found: cow (~33%)"
    assert "validation.on_anomalies=warn" in lines[2]
    assert error.value.findings == findings
    assert "goes on" in gate.enforce(findings, gate.WARN)
    assert gate.enforce([], gate.STOP) == ""


def test_a_stop_says_how_to_accept_what_the_schema_lacks_with_the_config_given():
    schema = gate.Finding("train", "label", "one of cat, dog", "cow (~33%)")
    skew = gate.Finding("train/eval", "label", "within 0.2", "0.3", in_schema=False)
    (line,) = gate.report([schema], gate.STOP, "configs/pets.yaml").splitlines()[2:]
    assert line == (
        "  To go on: fix the data; or accept what it brought into the schema, once reviewed: "
        "image-pipeline init --update-schema --config configs/pets.yaml (README, 'Reviewing "
        "the schema'); or set validation.on_anomalies=warn."
    )
    (line,) = gate.report([skew], gate.STOP).splitlines()[2:]
    assert "init --update-schema" not in line
    assert "raise the validation limit each drift or skew finding names" in line
    both = gate.report([schema, skew], gate.STOP).splitlines()[-1]
    assert "--config <your config>" in both and "raise the validation limit" in both


def artifact(span, created, artifact_id):
    return SimpleNamespace(
        span=span,
        id=artifact_id,
        mlmd_artifact=SimpleNamespace(create_time_since_epoch=created),
    )


def test_previous_span_is_the_newest_artifact_of_the_span_before_the_newest():
    one, one_again, two = artifact(1, 10, 1), artifact(1, 30, 3), artifact(2, 20, 2)
    assert previous_span([one, two, one_again]) == [one_again]
    assert previous_span([one, one_again]) == []
    assert previous_span([]) == []
