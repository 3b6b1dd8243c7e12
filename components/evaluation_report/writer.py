"""The evaluation report's entry point: gather the run's artifacts, render, write one file.

The component's executor and `image-pipeline report` both call `write_report`, so a report
regenerated from ML Metadata is the one the pipeline wrote.
"""

from __future__ import annotations

import os

import tensorflow as tf

from components.evaluation_report import gather, render

REPORT_FILE = "report.html"


def write_report(inputs: gather.ReportInputs, directory: str) -> str:
    """Writes `<directory>/report.html` and returns its path."""
    page = render.render(gather.gather(inputs))
    tf.io.gfile.makedirs(directory)
    path = os.path.join(directory, REPORT_FILE)
    with tf.io.gfile.GFile(path, "w") as handle:
        handle.write(page)
    return path


def title(pipeline_name: str, run_id: str | None) -> str:
    return f"Evaluation report: {pipeline_name}" + (f", run {run_id}" if run_id else "")
