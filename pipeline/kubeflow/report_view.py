"""The ReportView task: the evaluation report as the KFP UI and the Vertex AI console show it.

Both pick what to render by the artifact type's schema title, and read the artifact's URI
as one file. The open-source UI (its Visualization tab, and run comparison) renders
`system.HTML` in a sandboxed iframe and `system.Markdown` in place, each fetched whole from
the URI, for artifacts with a `display_name`, which the launcher sets to the output's name
(frontend/src/components/viewers/MetricsVisualizations.tsx:284-316 and 844-896,
HTMLViewer.tsx:54 and 82, MarkdownViewer.tsx:58 and 119-123: Markdown past 400,000
characters is cut and raw HTML in it is not rendered; backend/src/v2/metadata/
client.go:1198-1211 and 1234-1237). Vertex shows Markdown in place and opens HTML in a new
tab (its Pipelines guide, "Output HTML and Markdown"). EvaluationReport's output is a folder
of a type of its own, which neither renders; the UI's server even finds nothing at a
folder's key on GCS, and sends a folder on MinIO or S3 as a .tar.gz
(frontend/server/handlers/artifacts.ts:866-893 and 674).

So this task, cached, reads that folder and writes two files:

- `summary` (system.Markdown): the EvaluationReport's `summary.md` (the verdict, the failed
  thresholds and the key figures: components/evaluation_report/summary.py), then where the
  full report is;
- `report` (system.HTML): `report.html` with the model card, which it links to as a file
  beside it, put at its end and the link made an anchor: the thumbnails, charts and styles
  already are inline, so the page needs nothing beside it.

It imports no TensorFlow, so that its pod starts in a second: the file names come in as
parameters, set at compile from the modules that write the files (they import TensorFlow).
"""

from __future__ import annotations

import os
from typing import Dict

from pipeline import nodes
from pipeline.config import PipelineConfig
from pipeline.kubeflow import spec as spec_lib
from pipeline.kubeflow.tasks import TaskIO

TASK = "ReportView"
EVALUATION_REPORT = "evaluation_report"
"""The input: EvaluationReport's `report` folder."""
SUMMARY = "summary"
REPORT = "report"
REPORT_FILE = "report_file"
SUMMARY_FILE = "summary_file"
CARD_PAGE = "card_page"

MARKDOWN = {"schemaTitle": "system.Markdown", "schemaVersion": "0.0.1"}
HTML = {"schemaTitle": "system.HTML", "schemaVersion": "0.0.1"}
"""The types of the kfp SDK's `dsl.Markdown` and `dsl.HTML`."""

CARD_ANCHOR = "model-card"


def apply(spec: dict, config: PipelineConfig) -> None:
    """Adds ReportView after EvaluationReport, cached: its outputs follow from its input."""
    from components.evaluation_report import executor, model_card, summary, writer

    outputs = spec_lib.component(spec, nodes.EVALUATION_REPORT)["outputDefinitions"]
    spec_lib.add_task(
        spec,
        TASK,
        parameters={
            REPORT_FILE: spec_lib.constant(writer.REPORT_FILE),
            SUMMARY_FILE: spec_lib.constant(summary.SUMMARY_FILE),
            CARD_PAGE: spec_lib.constant(model_card.CARD_PAGE),
        },
        artifacts={
            EVALUATION_REPORT: spec_lib.artifact_from_task(
                nodes.EVALUATION_REPORT, executor.REPORT_KEY
            )
        },
        artifact_types={
            EVALUATION_REPORT: outputs["artifacts"][executor.REPORT_KEY]["artifactType"]
        },
        output_artifacts={SUMMARY: MARKDOWN, REPORT: HTML},
    )


def run(io: TaskIO) -> Dict[str, str]:
    folder = io.inputs[EVALUATION_REPORT]
    names = io.parameters
    where = (
        "The full report, with every slice, the confusion matrix, the most confidently wrong "
        f"images, the training curves, the data and the model card: the `{REPORT}` HTML "
        f"artifact beside this one (on Vertex AI: View HTML), and `{names[REPORT_FILE]}` in "
        f"{nodes.EVALUATION_REPORT}'s output.\n"
    )
    _write(io.outputs[SUMMARY], _read(folder, names[SUMMARY_FILE]) + "\n" + where)
    page = self_contained(
        _read(folder, names[REPORT_FILE]), _read(folder, names[CARD_PAGE]), names[CARD_PAGE]
    )
    _write(io.outputs[REPORT], page)
    return {}


def self_contained(page: str, card_page: str, card_file: str) -> str:
    """`page` with the body of `card_page` appended as a section, and its link to
    `card_file` pointing there. Both pages escape every value from the run, so their own
    markup is the only `<body>` and link in them."""
    link = f'href="{card_file}"'
    card = card_page.split("<body>", 1)[1].rsplit("</body>", 1)[0]
    head, tail = page.rsplit("</body>", 1)
    return (
        head.replace(link, f'href="#{CARD_ANCHOR}"')
        + f'<section id="{CARD_ANCHOR}">{card}</section>\n</body>'
        + tail
    )


def _read(folder: str, name: str) -> str:
    with open(os.path.join(folder, name), encoding="utf-8") as handle:
        return handle.read()


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
