"""The evaluation report's entry point: gather the run's artifacts, render, write the page
and the model card.

The component's executor and `image-pipeline report` both call `write_report`, so a report
regenerated from ML Metadata is the one the pipeline wrote.
"""

from __future__ import annotations

import os

import tensorflow as tf

from components.evaluation_report import gather, model_card, render, summary

REPORT_FILE = "report.html"


def write_report(inputs: gather.ReportInputs, directory: str) -> str:
    """Writes `<directory>/report.html`, its first screen in Markdown (`summary.md`) and
    the model card it links to beside it (`model_card.json`, `model_card.html`); returns the
    report's path."""
    data = gather.gather(inputs)
    tf.io.gfile.makedirs(directory)
    path = os.path.join(directory, REPORT_FILE)
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(render.render(data))
    with tf.io.gfile.GFile(os.path.join(directory, summary.SUMMARY_FILE), "w") as handle:
        handle.write(summary.render(data))
    card = model_card.build(
        data,
        model_card.tflite_record(inputs.tflite_uri),
        inputs.model_name,
        inputs.intended_use,
        inputs.limitations,
    )
    model_card.write(card, directory)
    return path


def title(pipeline_name: str, run_id: str | None) -> str:
    return f"Evaluation report: {pipeline_name}" + (f", run {run_id}" if run_id else "")
