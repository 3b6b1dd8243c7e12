"""The evaluation report: gathering from a real Evaluator's output, rendering, the executor.

Gathering runs on the two evaluated runs of conftest.py (TFX's Evaluator executor on
stand-in models whose every answer the test chose); rendering is also checked on plain
values, for what a run rarely produces (nothing wrong, no logs, hostile file names).
"""

import base64
import dataclasses
import io
import json
import re

import pytest
from PIL import Image
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils, standard_artifacts

from components.evaluation_report import executor, gather, model_card, render, results, writer
from components.evaluation_report.component import EvaluationReportArtifact
from components.image_evaluator import metrics
from tests.components import evaluated_run

ACCURACY = metrics.ACCURACY
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
"""A resource reference the browser would fetch over the network."""


@pytest.fixture(scope="module")
def first(first_run):
    return gather.gather(first_run.inputs)


@pytest.fixture(scope="module")
def compared(compared_run):
    return gather.gather(compared_run.inputs)


def test_first_run_is_judged_on_the_absolute_bound_alone(first):
    assert first.blessed is True
    assert first.had_baseline is False
    (check,) = first.checks
    assert (check.metric, check.slice, check.change, check.passed) == (
        ACCURACY,
        "Overall",
        False,
        True,
    )
    assert check.measured == pytest.approx(0.8)
    assert check.required == f"at least {evaluated_run.MIN_ACCURACY:g}"
    assert first.baseline == {}
    page = render.render(first)
    assert "First run:" in page and "judged on the absolute bounds alone" in page
    assert '<section id="verdict" class="verdict pass">' in page


def test_a_regression_against_the_baseline_is_not_blessed_and_says_why(compared):
    assert compared.blessed is False
    assert compared.had_baseline is True
    checks = {check.change: check for check in compared.checks}
    assert set(checks) == {False, True} and len(compared.checks) == 2
    assert checks[False].passed and checks[False].measured == pytest.approx(0.8)
    assert not checks[True].passed
    assert checks[True].measured == pytest.approx(-0.2)
    assert checks[True].required == "a change against the baseline of at least -0.01"
    assert compared.baseline["Overall"][ACCURACY] == pytest.approx(1.0)
    assert compared.candidate["Overall"][ACCURACY + "_diff"] == pytest.approx(-0.2)
    page = render.render(compared)
    assert '<section id="verdict" class="verdict fail">' in page
    assert "1 of 2 thresholds failed" in page
    assert "First run" not in page
    assert "-0.2000" in page  # the difference column and the failed check
    calibration = "calibration (top-1)"  # mean top-1 score over accuracy, both models
    assert compared.candidate["Overall"][calibration] > 0
    assert compared.baseline["Overall"][calibration] > 0
    assert calibration in page
    assert "size_bucket:&lt;64" in page  # the 8x8 scans' size slice


def test_blessing_failures_are_the_failed_checks_in_words(first_run, compared_run):
    assert results.blessing_failures(compared_run.inputs.evaluation_uri) == [
        f"{ACCURACY} on slice Overall: measured -0.2000, "
        "required a change against the baseline of at least -0.01"
    ]
    assert results.blessing_failures(first_run.inputs.evaluation_uri) == []


def test_confusion_matrix_is_indexed_by_the_model_vocabulary(first):
    assert first.class_names == evaluated_run.CLASS_NAMES
    assert first.confusion == {
        (0, 0): 8.0,
        (0, 1): 2.0,
        (1, 0): 2.0,
        (1, 1): 8.0,
        (2, 0): 2.0,
        (2, 2): 8.0,
    }
    assert first.per_class[0].precision == pytest.approx(8 / 12)
    assert first.per_class[0].recall == pytest.approx(0.8)
    assert first.per_class[2].precision == pytest.approx(1.0)
    assert first.macro_f1 == pytest.approx((16 / 22 + 0.8 + 16 / 18) / 3)
    page = render.render(first)
    matrix = page[page.index('<table id="confusion-matrix"') :]
    matrix = matrix[: matrix.index("</table>")]
    assert matrix.count("<td") == 9
    assert matrix.count('class="hit"') == 3
    assert "actual 0, predicted 2: 2 (20% of the class)" in matrix  # class id 1 is "0"


def test_most_confidently_wrong_come_first_with_their_thumbnails(first_run, first):
    expected = evaluated_run.wrong_scans(first_run.scans)
    assert (first.scanned, first.wrong_found) == (30, len(expected))
    assert [w.source for w in first.wrong] == [scan.source for scan in expected]
    top = first.wrong[0]
    assert (top.true_class, top.predicted_class) == ("2", "0")
    assert top.score == pytest.approx(0.95)
    prefix = "data:image/png;base64,"
    assert all(w.thumbnail.startswith(prefix) for w in first.wrong)
    image = Image.open(io.BytesIO(base64.b64decode(top.thumbnail[len(prefix) :])))
    assert image.size == (gather.THUMBNAIL_SIDE, gather.THUMBNAIL_SIDE)  # 8x8 scan, scaled up


def test_scanning_stops_at_the_cap_and_shows_the_worst(first_run):
    model_dir = f"{first_run.inputs.model_uri}/Format-Serving"
    patterns = [f"{uri}/Split-eval/*" for uri in first_run.inputs.examples_uris]
    wrong, scanned, found = gather.confidently_wrong(model_dir, patterns, shown=2, max_scanned=11)
    # The first 11 scans: class "2" (mistakes at 0.95 and 0.85), then one "0" (wrong at 0.93).
    assert (scanned, found) == (11, 3)
    assert [w.score for w in wrong] == pytest.approx([0.95, 0.93])


def test_training_curves_are_read_from_the_tensorboard_logs(first_run, first):
    assert set(first.curves) == {"loss", "accuracy"}
    for metric, by_series in first_run.logged.items():
        for series, values in by_series.items():
            epochs, read = zip(*first.curves[metric][series], strict=True)
            assert epochs == tuple(range(evaluated_run.EPOCHS))
            assert read == pytest.approx(values)
    page = render.render(first)
    assert page.count('<svg class="chart"') == 2
    assert page.count("<polyline") == 4


def test_data_section_counts_splits_and_lists_quarantined_files_escaped(first):
    assert first.examples_per_split == evaluated_run.SPLITS
    (ingestion,) = first.ingestion
    assert (ingestion.files_seen, ingestion.examples, ingestion.quarantined) == (32, 30, 2)
    assert ingestion.quarantine == evaluated_run.QUARANTINED
    assert ingestion.empty_classes == [evaluated_run.EMPTY_CLASS]
    page = render.render(first)
    assert "0/&lt;b&gt;bad&amp;.png" in page and "<b>bad" not in page
    assert f"Class folders that gave no example: {evaluated_run.EMPTY_CLASS}/" in page


def test_data_shows_the_image_sizes_per_class_and_the_size_shortcut(first):
    (ingestion,) = first.ingestion
    assert ingestion.sizes_per_class == evaluated_run.SIZES
    page = render.render(first)
    assert "Image sizes per class (shorter side, pixels)" in page
    assert '<td>2</td><td class="num">' in page
    assert (
        "every 2 image (4-7 px (median 6)) is smaller than every image of 0 (8 px), 1 (8 px)"
        in page
    )


def test_the_page_needs_nothing_from_the_network(first, compared):
    for data in (first, compared):
        page = render.render(data)
        assert not EXTERNAL.search(page)
        assert "http://" not in page and "https://" not in page
        for reference in re.findall(r"""(?:src|href)="([^"]*)\"""", page):
            # The one file it links to is the model card, written beside it.
            assert reference.startswith(("#", "data:image/png;base64,")) or (
                reference == model_card.CARD_PAGE
            ), reference


def test_what_a_run_may_lack_is_said_rather_than_left_blank(first):
    bare = dataclasses.replace(
        first,
        wrong=[],
        wrong_found=0,
        curves={},
        confusion={},
        per_class={},
        macro_f1=None,
        class_names=['<img src="https://x">'],
        title="Evaluation report: <script>",
    )
    page = render.render(bare)
    assert "30 eval examples run through the candidate, 0 predicted wrong.</p>" in page
    assert "The Trainer logged no per-epoch metrics." in page
    assert "TFMA stored no confusion matrix" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert not EXTERNAL.search(page)


def test_executor_writes_the_report_into_its_artifact(first_run, tmp_path):
    inputs = first_run.inputs
    artifact = evaluated_run.artifact
    statistics = artifact(standard_artifacts.ExampleStatistics, inputs.statistics_uri)
    statistics.split_names = artifact_utils.encode_split_names(list(inputs.statistics_splits))
    output = artifact(EvaluationReportArtifact, str(tmp_path / "report"))
    context = base_executor.BaseExecutor.Context(pipeline_run_id="run-7")
    executor.Executor(context).Do(
        {
            executor.EVALUATION_KEY: [
                artifact(standard_artifacts.ModelEvaluation, inputs.evaluation_uri)
            ],
            executor.BLESSING_KEY: [
                artifact(standard_artifacts.ModelBlessing, inputs.blessing_uri)
            ],
            executor.MODEL_KEY: [artifact(standard_artifacts.Model, inputs.model_uri)],
            executor.MODEL_RUN_KEY: [artifact(standard_artifacts.ModelRun, inputs.model_run_uri)],
            executor.EXAMPLES_KEY: [artifact(standard_artifacts.Examples, inputs.examples_uris[0])],
            executor.STATISTICS_KEY: [statistics],
        },
        {executor.REPORT_KEY: [output]},
        {
            executor.PIPELINE_NAME_KEY: "digits",
            executor.MODEL_NAME_KEY: "digits",
            executor.INTENDED_USE_KEY: "",
            executor.LIMITATIONS_KEY: "[]",
        },
    )
    page = (tmp_path / "report" / writer.REPORT_FILE).read_text()
    assert "<title>Evaluation report: digits, run run-7</title>" in page
    card = json.loads((tmp_path / "report" / model_card.CARD_FILE).read_text())
    assert card["model_details"]["name"] == "digits"
    assert page == render.render(
        dataclasses.replace(gather.gather(inputs), title=writer.title("digits", "run-7"))
    )
