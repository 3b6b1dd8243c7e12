"""`image-pipeline report`: the evaluation report of any run, regenerated from ML Metadata.

The run's artifacts are found the way the pipeline wired them: the Evaluator's evaluation,
blessing and the Examples it read, the Trainer's model and logs, StatisticsGen's counts. So
a run made before the EvaluationReport component existed gets a report too, and a report
can be rewritten after the report code improved, without re-running anything.
"""

from __future__ import annotations

import os

from components.evaluation_report import writer
from components.evaluation_report.gather import ReportInputs
from pipeline import metadata, nodes
from pipeline.config import PipelineConfig


class ReportError(ValueError):
    """No report can be made for the run asked for; the message says why and what to do."""


def regenerate(config: PipelineConfig, run_id: str | None, output_dir: str | None) -> str:
    """Writes the report of `run_id` (default: the latest run) and returns its path.

    It goes to `output_dir`, by default `<output_dir>/reports/<run id>/`: the component's
    own artifact is left as the pipeline wrote it.
    """
    run_id, inputs = report_inputs(config, run_id)
    directory = output_dir or os.path.join(config.output_dir, "reports", run_id)
    return writer.write_report(inputs, directory)


def report_inputs(config: PipelineConfig, run_id: str | None) -> tuple[str, ReportInputs]:
    """The run id and the URIs of the artifacts its report is made from."""
    if not os.path.isfile(config.metadata_path):
        raise ReportError(
            f"{config.metadata_path}: no ML Metadata store; run the pipeline first "
            "(image-pipeline run) or check output_dir"
        )
    store = metadata.open_store(config.metadata_path)
    runs = metadata.run_ids(store, config.pipeline_name)
    if not runs:
        raise ReportError(
            f"no run of pipeline {config.pipeline_name!r} in {config.metadata_path}; "
            "run the pipeline first (image-pipeline run)"
        )
    if run_id is None:
        run_id = runs[-1]
    elif run_id not in runs:
        raise ReportError(
            f"--run {run_id}: no such run of pipeline {config.pipeline_name!r}; "
            f"the latest runs are {', '.join(runs[-3:])}"
        )
    node_runs = metadata.node_runs(store, config.pipeline_name, run_id)
    evaluator = node_runs.get(nodes.EVALUATOR)
    if evaluator is None or "evaluation" not in evaluator.outputs:
        state = evaluator.state if evaluator else "did not run"
        raise ReportError(
            f"run {run_id} of {config.pipeline_name!r} has no evaluation (Evaluator: {state}); "
            "the run stopped before evaluating a model"
        )
    trainer = node_runs[nodes.TRAINER]
    statistics = node_runs[nodes.STATISTICS_GEN].output("statistics")
    tflite = metadata.output_of(node_runs, nodes.TFLITE_PUSHER, "pushed_model")
    return run_id, ReportInputs(
        title=writer.title(config.pipeline_name, run_id),
        evaluation_uri=evaluator.output("evaluation").uri,
        blessing_uri=evaluator.output("blessing").uri,
        model_uri=trainer.output("model").uri,
        model_run_uri=trainer.output("model_run").uri,
        examples_uris=[examples.uri for examples in evaluator.inputs["examples"]],
        statistics_uri=statistics.uri,
        statistics_splits=metadata.split_names(statistics),
        model_name=config.serving.model_name,
        tflite_uri=tflite.uri if tflite else None,
        intended_use=config.model_card.intended_use,
        limitations=config.model_card.limitations,
    )
