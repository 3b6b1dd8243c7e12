"""The run summary's text: what each line says, on a summary built by hand.

The summary of real runs, read from ML Metadata, is checked in tests/e2e.
"""

from pipeline.summary import RunSummary

RUN = RunSummary(
    run_id="2026-12-02T03:00:00",
    examples_per_split={"train": 48, "eval": 12},
    files_seen=61,
    quarantined=1,
    ignored=0,
    duplicates=0,
    quarantine_reasons={"truncated": 1},
    empty_classes=[],
    anomalies=[],
    weights="none",
    eval_accuracy=0.9,
    blessed=True,
    blessing_failures=[],
    pushed_to="runs/x/serving/m/1",
    ingestion_report="runs/x/pipeline_root/ImageExampleGen/examples/1/ingestion",
    macro_f1=0.89,
    tflite=None,
    first_run=False,
    report=None,
)


def test_empty_class_folders_get_a_line_of_their_own():
    lines = RunSummary(**{**RUN.__dict__, "empty_classes": ["cat", "dog"]}).as_text().splitlines()
    assert lines[3] == "  empty classes    cat/, dog/"
    assert lines[2].startswith("  files            61 seen, 1 quarantined (1 truncated)")


def test_no_line_when_every_class_gave_examples():
    assert "empty classes" not in RUN.as_text()
