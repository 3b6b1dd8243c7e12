"""Spans and the validation gate through the real DAG, stopping before any training.

A first span brings a class the curated schema does not know: the run, through the CLI as
a user types it, stops at the gate, names the class and exits non-zero; Transform, the
Trainer and the Pusher never run. A second span arrives: only it is ingested, and the gate
also reports its label drift against the first span.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tfx.dsl.compiler import compiler, constants
from tfx.orchestration import metadata as tfx_metadata
from tfx.orchestration.portable import inputs_utils, runtime_parameter_utils

from components.image_example_gen import executor
from components.validation_gate.gate import ValidationGateError
from pipeline import config_loader, demo_data, local_runner, metadata, nodes, report
from pipeline.pipeline import create_pipeline

REPO = Path(__file__).resolve().parents[2]
DIGITS = {"0": 0, "1": 1, "cat": 2, "dog": 3}
"""Folder name -> the digit scans it holds; `cat` and `dog` are not in the schema."""

NOT_TRAINED = (nodes.TRANSFORM, nodes.TRAINER, nodes.EVALUATOR, nodes.PUSHER)


def write_span(root, span, per_class):
    """Digit scans as `span-<n>/<class>/`; returns how many images it holds."""
    folder = root / f"span-{span}"
    for name, count in per_class.items():
        demo_data.write_digits(folder / "digits", classes=[DIGITS[name]], per_class=count)
        shutil.move(folder / "digits" / str(DIGITS[name]), folder / name)
        (folder / "digits").rmdir()
    return sum(per_class.values())


@pytest.fixture(scope="module")
def spans(tmp_path_factory):
    base = tmp_path_factory.mktemp("spans")
    overrides = [
        "pipeline_name=spans",
        f"output_dir={base / 'out'}",
        f"data.root={base / 'data'}",
        "data.span_pattern=span-{SPAN}",
        "data.latest_spans=2",
        f"schema_file={REPO / 'schema' / 'digits.pbtxt'}",
    ]
    config = config_loader.load_config(REPO / "configs" / "demo.yaml", overrides)

    first_count = write_span(base / "data", 1, {"0": 10, "1": 10, "cat": 10})
    command = [sys.executable, "-m", "pipeline.cli", "run", "--config", "configs/demo.yaml"]
    for override in overrides:
        command += ["--set", override]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_USE_LEGACY_KERAS": "1"}
    first = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    first_nodes = metadata.latest_run(config.metadata_path, config.pipeline_name)

    second_count = write_span(base / "data", 2, {"0": 5, "1": 5, "cat": 5, "dog": 25})
    with pytest.raises(ValidationGateError) as stopped:
        local_runner.run(config)
    second_nodes = metadata.latest_run(config.metadata_path, config.pipeline_name)
    return {
        "config": config,
        "first": (first, first_nodes, first_count),
        "second": (str(stopped.value), second_nodes, second_count),
    }


def test_unknown_class_stops_the_cli_run_at_validation(spans):
    first, node_runs, _ = spans["first"]
    assert first.returncode == 1, first.stderr[-2000:]
    assert "Data validation found" in first.stdout
    assert "the run stops before Transform and training" in first.stdout
    assert "train/label: expected one of 0, 1, 2" in first.stdout
    assert "cat" in first.stdout
    assert "Traceback" not in first.stdout + first.stderr
    assert "30 seen, 0 quarantined" in first.stdout
    assert node_runs[nodes.VALIDATION_GATE].state == "failed"


@pytest.mark.parametrize("run", ["first", "second"])
def test_nothing_is_trained_or_pushed(spans, run):
    _, node_runs, _ = spans[run]
    assert not set(NOT_TRAINED) & set(node_runs)
    assert not Path(spans["config"].serving_dir).exists()


def test_a_run_stopped_before_evaluation_has_no_report(spans):
    with pytest.raises(report.ReportError, match="has no evaluation .Evaluator: did not run."):
        report.report_inputs(spans["config"], None)


def test_only_the_new_span_is_ingested(spans):
    _, first_nodes, first_count = spans["first"]
    _, second_nodes, second_count = spans["second"]
    first = first_nodes[nodes.EXAMPLE_GEN].output("examples")
    second = second_nodes[nodes.EXAMPLE_GEN].output("examples")
    assert second_nodes[nodes.EXAMPLE_GEN].state == "complete"
    assert first.properties["span"].int_value == first.custom_properties["span"].int_value == 1
    assert second.properties["span"].int_value == second.custom_properties["span"].int_value == 2
    assert executor.read_counts(first.uri)["examples"] == first_count
    assert executor.read_counts(second.uri)["examples"] == second_count
    assert executor.read_counts(second.uri)["classes"] == ["0", "1", "cat", "dog"]


def test_new_span_reports_unknown_classes_and_drift(spans):
    message, node_runs, _ = spans["second"]
    assert node_runs[nodes.VALIDATION_GATE].state == "failed"
    assert "train/label: expected one of 0, 1, 2" in message
    assert "dog" in message
    assert "train/label: expected a distribution within L-infinity 0.3 of the previous span" in (
        message
    )


def test_transform_reads_the_latest_spans_once_the_gate_lets_it(spans):
    """Resolves Transform's inputs as the runner would, without running it (no training)."""
    config = spans["config"]
    ir = compiler.Compiler().compile(create_pipeline(config))
    run_id = metadata.run_ids(metadata.open_store(config.metadata_path), config.pipeline_name)[-1]
    runtime_parameter_utils.substitute_runtime_parameter(
        ir, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
    )
    (transform,) = [
        node.pipeline_node
        for node in ir.nodes
        if node.pipeline_node.node_info.id == nodes.TRANSFORM
    ]
    connection = tfx_metadata.sqlite_metadata_connection_config(config.metadata_path)
    with tfx_metadata.Metadata(connection) as handle:
        (inputs,) = inputs_utils.resolve_input_artifacts(
            pipeline_node=transform, metadata_handle=handle
        )
    assert sorted(artifact.span for artifact in inputs["examples"]) == [1, 2]
