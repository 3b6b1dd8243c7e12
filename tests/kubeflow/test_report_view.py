"""The evaluation report as the KFP UI and the Vertex console show it
(pipeline/kubeflow/report_view.py): the ReportView task in the compiled spec, and the task
run as the backend runs it (tasks.py, on an ExecutorInput) on what EvaluationReport wrote
for a real evaluation (tests/components/evaluated_run.py: TFX's Evaluator on stand-in
models): a Markdown first screen, and an HTML page that needs nothing beside it.
"""

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from kfp import dsl

from components.evaluation_report import gather, model_card, results, summary, writer
from components.image_evaluator import metrics
from pipeline import nodes
from pipeline.kubeflow import paths, report_view, tasks
from tests.components import evaluated_run
from tests.kubeflow.local_kfp import TaskResult, build_executor_input, root_parameters

ACCURACY = metrics.ACCURACY.replace("_", "\\_")
"""The gated metric as the Markdown writes it, its underscores escaped."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits_subset):
    """The first run (no baseline: blessed on the absolute bound, accuracy 0.8 >= 0.7) and a
    run compared with a baseline that is always right (not blessed: a change of -0.2)."""
    root = tmp_path_factory.mktemp("runs")
    return {
        name: evaluated_run.evaluated_run(root / name, digits_subset, with_baseline)
        for name, with_baseline in (("first", False), ("compared", True))
    }


@pytest.fixture(scope="module")
def reports(runs, tmp_path_factory):
    """EvaluationReport's output folder for each run, as its executor writes it."""
    root = tmp_path_factory.mktemp("reports")
    for name, run in runs.items():
        writer.write_report(run.inputs, str(root / name))
    return {name: root / name for name in runs}


def executor_input(spec, root: Path, report_folder: Path) -> dict:
    """ReportView's ExecutorInput as the launcher builds it, under the pipeline root `root`
    (a folder: its URIs are their own local paths), with `report_folder` copied there as
    EvaluationReport's recorded `report` artifact."""
    uri = root / nodes.EVALUATION_REPORT / report_folder.name / "report"
    shutil.copytree(report_folder, uri)
    report = {"name": "report", "uri": str(uri), "metadata": {}, "id": 9}
    upstream = {
        nodes.EVALUATION_REPORT: TaskResult(
            nodes.EVALUATION_REPORT, 0.0, {"report": [report]}, Path("EvaluationReport.log")
        )
    }
    return build_executor_input(
        spec, report_view.TASK, root_parameters(spec, {}), upstream, str(root), "run"
    )


def outputs(given: dict) -> dict:
    """The files the task wrote at its output artifacts' URIs, by output key."""
    return {
        key: Path(paths.local_path(listed["artifacts"][0]["uri"]))
        for key, listed in given["outputs"]["artifacts"].items()
        if key in (report_view.SUMMARY, report_view.REPORT)
    }


def view(spec, root: Path, report_folder: Path):
    """Runs ReportView on `report_folder`; returns its Markdown lines and its HTML page."""
    given = executor_input(spec, root, report_folder)
    assert tasks.main(["tasks", report_view.TASK, json.dumps(given)]) == 0
    files = outputs(given)
    markdown = files[report_view.SUMMARY].read_text()
    return markdown.splitlines(), files[report_view.REPORT].read_text()


def test_the_task_reads_the_report_cached_and_writes_what_the_uis_render(spec):
    task = spec["root"]["dag"]["tasks"][report_view.TASK]
    assert task["cachingOptions"] == {"enableCache": True}
    assert task["dependentTasks"] == [nodes.EVALUATION_REPORT]
    assert task["inputs"]["artifacts"] == {
        report_view.EVALUATION_REPORT: {
            "taskOutputArtifact": {
                "producerTask": nodes.EVALUATION_REPORT,
                "outputArtifactKey": "report",
            }
        }
    }
    assert task["inputs"]["parameters"] == {
        report_view.REPORT_FILE: {"runtimeValue": {"constant": writer.REPORT_FILE}},
        report_view.SUMMARY_FILE: {"runtimeValue": {"constant": summary.SUMMARY_FILE}},
        report_view.CARD_PAGE: {"runtimeValue": {"constant": model_card.CARD_PAGE}},
    }
    component = spec["components"][report_view.TASK]
    report_type = spec["components"][nodes.EVALUATION_REPORT]["outputDefinitions"]["artifacts"][
        "report"
    ]["artifactType"]
    assert component["inputDefinitions"]["artifacts"] == {
        report_view.EVALUATION_REPORT: {"artifactType": report_type}
    }
    # What the UIs pick an artifact's viewer by: the schema title of kfp's own types.
    assert component["outputDefinitions"]["artifacts"] == {
        report_view.SUMMARY: {
            "artifactType": {
                "schemaTitle": dsl.Markdown.schema_title,
                "schemaVersion": dsl.Markdown.schema_version,
            }
        },
        report_view.REPORT: {
            "artifactType": {
                "schemaTitle": dsl.HTML.schema_title,
                "schemaVersion": dsl.HTML.schema_version,
            }
        },
    }
    container = spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
    assert container["command"] == ["python", "-m", "pipeline.kubeflow.tasks"]
    assert container["args"] == [report_view.TASK, "{{$}}"]


def test_a_blessed_first_run_shows_the_verdict_and_the_figures_first(spec, tmp_path, reports):
    lines, _ = view(spec, tmp_path, reports["first"])
    assert lines[0] == "## Blessed"
    assert "The candidate passed every threshold (1): it is pushed." in lines[2]
    assert "**First run**: no baseline model" in lines[2]
    assert not any(line.startswith("- **Failed**") for line in lines)
    assert f"| {ACCURACY} | Overall | at least 0.7 | 0.8000 | pass |" in lines[:8]
    head = lines[: lines.index("| class | examples | precision | recall | F1 |")]
    assert len(head) < 20
    assert "| overall | candidate |" in head
    assert f"| {ACCURACY} | 0.8000 |" in head
    assert "| example\\_count | 30 |" in head
    assert "Examples per split: train 120, eval 30." in head
    # Per class in the vocabulary's order (class ids 0, 1, 2 are "2", "0", "1"); each class
    # has 2 of its 10 scans wrong, predicted as class id 0 (class id 1 for class id 0).
    table = lines.index("| class | examples | precision | recall | F1 |")
    assert lines[table + 2 : table + 5] == [
        "| 2 | 10 | 0.6667 | 0.8000 | 0.7273 |",
        "| 0 | 10 | 0.8000 | 0.8000 | 0.8000 |",
        "| 1 | 10 | 1.0000 | 0.8000 | 0.8889 |",
    ]
    assert lines[-1].startswith("The full report, with every slice")
    assert f"`{writer.REPORT_FILE}` in {nodes.EVALUATION_REPORT}'s output." in lines[-1]


def test_a_regression_says_it_is_not_blessed_and_which_threshold_failed(spec, tmp_path, reports):
    lines, _ = view(spec, tmp_path, reports["compared"])
    assert lines[0] == "## Not blessed"
    assert "1 of 2 thresholds failed: the model is not pushed." in lines[2]
    assert "Compared with the baseline: the latest blessed model." in lines[2]
    assert lines[4] == (
        f"- **Failed**: {ACCURACY} on slice Overall: measured -0.2000, required a change "
        "against the baseline of at least -0.01"
    )
    failed_row = (
        f"| {ACCURACY} change | Overall | a change against the baseline of at least -0.01 "
        "| -0.2000 | **fail** |"
    )
    assert failed_row in lines[:12]
    assert f"| {ACCURACY} | 0.8000 | 1.0000 | -0.2000 |" in lines[:20]


def test_the_html_page_needs_nothing_beside_it(spec, tmp_path, reports):
    for name, folder in reports.items():
        _, page = view(spec, tmp_path, folder)
        original = (folder / writer.REPORT_FILE).read_text()
        assert f'href="{model_card.CARD_PAGE}"' in original
        references = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]*)""", page)
        assert references, name
        for reference in references:
            assert reference.startswith(("#", "data:image/png;base64,")), (name, reference)
        for anchor in re.findall(r'href="#([^"]+)"', page):
            assert f'id="{anchor}"' in page, (name, anchor)
        assert page.count("<body>") == page.count("</body>") == 1
        assert page.rstrip().endswith("</html>")
        card = (folder / model_card.CARD_PAGE).read_text()
        card_body = card.split("<body>")[1].split("</body>")[0]
        assert f'<section id="{report_view.CARD_ANCHOR}">{card_body}</section>' in page
        assert "<h1>Model card: digits</h1>" in page
        # The rest of the page is the report as written.
        assert page.replace(card_body, "").replace(
            f'href="#{report_view.CARD_ANCHOR}"', f'href="{model_card.CARD_PAGE}"'
        ) == original.replace(
            "</body>", f'<section id="{report_view.CARD_ANCHOR}"></section>\n</body>'
        )


def test_the_task_starts_without_tensorflow(spec, tmp_path, reports):
    given = executor_input(spec, tmp_path, reports["first"])
    program = (
        "import json, sys\n"
        "from pipeline.kubeflow import tasks\n"
        f"code = tasks.main(['tasks', {report_view.TASK!r}, sys.stdin.read()])\n"
        "heavy = sorted({'tensorflow', 'tfx', 'tensorflow_model_analysis'} & set(sys.modules))\n"
        "print(json.dumps([code, heavy]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        input=json.dumps(given),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert json.loads(done.stdout.splitlines()[-1]) == [0, []]
    files = outputs(given)
    assert files[report_view.SUMMARY].is_file() and files[report_view.REPORT].is_file()


def test_the_summary_escapes_the_users_names_and_shortens_a_long_class_list(runs):
    data = gather.gather(runs["compared"].inputs)
    scores = {
        class_id: results.ClassScores(precision=0.5, recall=class_id / 20, f1=0.5, support=4)
        for class_id in range(summary.CLASSES_SHOWN + 2)
    }
    hostile = dataclasses.replace(
        data,
        title="Evaluation report: a|b <script>",
        class_names=["*x*|<img src=y>", *(f"c{i}" for i in range(1, len(scores)))],
        per_class=scores,
    )
    lines = summary.render(hostile).splitlines()
    assert "**Evaluation report: a\\|b \\<script\\>**." in lines[2]
    rows = [line for line in lines if line.startswith("| ") and line.endswith(" | 0.5000 |")]
    assert len(rows) == summary.CLASSES_SHOWN
    assert rows[0] == "| \\*x\\*\\|\\<img src=y\\> | 4 | 0.5000 | 0.0000 | 0.5000 |"
    assert all(row.count(" | ") == 4 for row in rows)
    assert f"The {summary.CLASSES_SHOWN} of {len(scores)} classes with the lowest recall." in lines
