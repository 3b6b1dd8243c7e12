"""The run summary's text: what each line says, on a summary built by hand.

The summary of real runs, read from ML Metadata, is checked in tests/e2e.
"""

from pipeline.summary import RunSummary, StoppedRun

RUN = RunSummary(
    run_id="2026-12-02T03:00:00",
    examples_per_split={"train": 48, "eval": 12},
    files_seen=61,
    quarantined=1,
    ignored=0,
    duplicates=0,
    quarantine_reasons={"truncated": 1},
    empty_classes=[],
    sizes_per_class={
        "cat": {"min": 8, "median": 8, "max": 8},
        "dog": {"min": 8, "median": 8, "max": 8},
    },
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


def test_one_size_line_when_every_class_has_the_same_sizes():
    lines = RUN.as_text().splitlines()
    assert lines[3] == "  image sizes      shorter side: 8 px in every class"
    assert "size shortcut" not in RUN.as_text()


def test_sizes_per_class_and_a_line_per_size_shortcut():
    varied = {
        "cat": {"min": 32, "median": 40, "max": 48},
        "dog": {"min": 64, "median": 100, "max": 256},
    }
    lines = run_with(sizes_per_class=varied).as_text().splitlines()
    assert lines[3] == (
        "  image sizes      shorter side: cat 32-48 px (median 40); dog 64-256 px (median 100)"
    )
    assert lines[4].startswith(
        "  size shortcut    every cat image (32-48 px (median 40)) is smaller than every image "
        "of dog (64-256 px (median 100))"
    )


def test_no_size_line_for_an_ingestion_that_did_not_record_sizes():
    assert "image sizes" not in run_with(sizes_per_class=None).as_text()


def run_with(**changes):
    return RunSummary(**{**RUN.__dict__, **changes})


def test_a_run_taken_whole_from_the_cache_says_the_pushed_model_is_current():
    text = run_with(unchanged=True).as_text()
    assert "  pushed model     nothing changed, model 1 is current (runs/x/serving/m/1)" in text
    assert "  pushed model     runs/x/serving/m/1" in RUN.as_text()


def test_a_run_that_did_not_finish_says_where_it_stopped_and_how_to_resume():
    first = run_with(stopped_at="Trainer (canceled)").as_text().splitlines()[0]
    assert first == (
        "Run 2026-12-02T03:00:00 did not finish: stopped at Trainer (canceled); the same "
        "`image-pipeline run` command resumes it (finished components are cached)"
    )
    early = StoppedRun("2026-12-02T03:00:00", "ImageExampleGen (canceled)").as_text()
    assert early.startswith("Run 2026-12-02T03:00:00 did not finish: stopped at ImageExampleGen")


def test_a_failed_run_points_to_its_log_instead():
    first = run_with(stopped_at="ValidationGate (failed)").as_text().splitlines()[0]
    assert first == (
        "Run 2026-12-02T03:00:00 failed at ValidationGate (its error is in the run's log)"
    )


def test_the_model_card_line_follows_the_report_and_the_baseline_line_the_accuracy():
    lines = run_with(first_run=True, model_card="runs/x/serving/m/1/assets.extra/model_card.html")
    text = lines.as_text().splitlines()
    report = text.index("  report           not written")
    assert text[report - 2] == "  baseline         none yet: judged on the absolute bounds alone"
    assert text[report - 3].startswith("  eval accuracy")
    assert text[report + 1] == "  model card       runs/x/serving/m/1/assets.extra/model_card.html"
    assert "  model card       not written" in RUN.as_text()


TFLITE = {
    "float_accuracy": 0.9,
    "shipped": ["float32", "int8"],
    "held_back": {},
    "sizes": {"float32": 4_100_000, "int8": 1_300_000},
    "accuracies": {"float32": 0.9, "int8": 0.88},
    "destination": "runs/x/tflite/1",
    "int8_method": "quantization_aware",
    "int8_accuracies": {"post_training": 0.8, "quantization_aware": 0.88},
}


def test_tflite_line_says_which_int8_model_quantization_aware_training_kept():
    line = next(line for line in run_with(tflite=TFLITE).as_text().splitlines() if "tflite" in line)
    assert line == (
        "  tflite           float32 4.1 MB acc 0.9000; int8 1.3 MB acc 0.8800; int8 post-training "
        "acc 0.8000, quantization-aware 0.8800 (kept quantization-aware); float 0.9000 -> "
        "runs/x/tflite/1"
    )
    post_training_only = {**TFLITE, "int8_method": "post_training"}
    post_training_only["int8_accuracies"] = {"post_training": 0.88}
    assert "quantization-aware" not in run_with(tflite=post_training_only).as_text()


def test_a_chosen_backbone_shows_every_candidates_figures_under_the_weights():
    candidates = [
        {"backbone": "compact", "accuracy": 0.93, "int8_size_mb": 0.24, "int8_latency_ms": 0.25}
        | {"seconds_per_epoch": 4.0, "within_bounds": True, "chosen": True},
        {"backbone": "VGG16", "accuracy": 0.97, "int8_size_mb": 14.8, "int8_latency_ms": 2.06}
        | {"seconds_per_epoch": 31.5, "within_bounds": False, "chosen": False},
    ]
    choice = {"bounds": "int8 latency <= 1 ms", "candidates": candidates}
    lines = run_with(backbone_choice=choice).as_text().splitlines()
    at = lines.index("  weights          none (random initialisation, every layer trained)")
    assert lines[at + 1 : at + 4] == [
        "  backbone         compact, chosen among 2 by eval accuracy (int8 latency <= 1 ms):",
        "                 * compact           acc 0.9300  int8   0.24 MB    0.25 ms"
        "     4.0 s/epoch",
        "                   VGG16             acc 0.9700  int8  14.80 MB    2.06 ms"
        "    31.5 s/epoch  (outside the bounds)",
    ]
    assert lines[at + 4].startswith("  eval accuracy")
    assert "backbone" not in RUN.as_text()
