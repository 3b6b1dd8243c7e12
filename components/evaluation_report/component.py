"""EvaluationReport's spec: the Evaluator's outputs and what they judged in; one HTML page
and the model card out.

Its inputs are the evaluation and blessing, the model (to find the most confidently wrong
eval images), the Trainer's ModelRun (training curves from its TensorBoard logs, the
training record), the Examples the Evaluator read, StatisticsGen's counts and, when there
is one, the TFLitePusher's output (the TFLite variants the card lists; so the report runs
after it). The output is an artifact of its own type, so ML Metadata, the run summary and
the CLI find the report of any run, and the ServingPusher ships the card with the model.
"""

import json
from typing import Sequence

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.evaluation_report import executor
from components.evaluation_report.executor import (
    BLESSING_KEY,
    EVALUATION_KEY,
    EXAMPLES_KEY,
    INTENDED_USE_KEY,
    LIMITATIONS_KEY,
    MODEL_KEY,
    MODEL_NAME_KEY,
    MODEL_RUN_KEY,
    PIPELINE_NAME_KEY,
    REPORT_KEY,
    STATISTICS_KEY,
    TFLITE_KEY,
)


class EvaluationReportArtifact(types.Artifact):
    """A folder holding `report.html`, `summary.md` and the model card (writer.py beside this).

    KFP v2 takes `<module>.<Class>` as the type of an artifact that is not TFX's own, and
    TFX's Kubeflow entrypoint imports the class by that name: `components.EvaluationReport`
    is this class (components/__init__.py).
    """

    TYPE_NAME = "components.EvaluationReport"


class EvaluationReportSpec(ComponentSpec):
    PARAMETERS = {
        PIPELINE_NAME_KEY: ExecutionParameter(type=str),
        MODEL_NAME_KEY: ExecutionParameter(type=str),
        INTENDED_USE_KEY: ExecutionParameter(type=str),
        LIMITATIONS_KEY: ExecutionParameter(type=str),  # a JSON list of strings
    }
    INPUTS = {
        EVALUATION_KEY: ChannelParameter(type=standard_artifacts.ModelEvaluation),
        BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        MODEL_RUN_KEY: ChannelParameter(type=standard_artifacts.ModelRun),
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics),
        TFLITE_KEY: ChannelParameter(type=standard_artifacts.PushedModel, optional=True),
    }
    OUTPUTS = {REPORT_KEY: ChannelParameter(type=EvaluationReportArtifact)}


class EvaluationReport(base_component.BaseComponent):
    """Writes the HTML evaluation report of a run, blessed or not."""

    SPEC_CLASS = EvaluationReportSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        evaluation: types.BaseChannel,
        blessing: types.BaseChannel,
        model: types.BaseChannel,
        model_run: types.BaseChannel,
        examples: types.BaseChannel,
        statistics: types.BaseChannel,
        pipeline_name: str,
        model_name: str,
        tflite_pushed_model: types.BaseChannel | None = None,
        intended_use: str = "",
        limitations: Sequence[str] = (),
    ):
        super().__init__(
            spec=EvaluationReportSpec(
                evaluation=evaluation,
                blessing=blessing,
                model=model,
                model_run=model_run,
                examples=examples,
                statistics=statistics,
                pipeline_name=pipeline_name,
                model_name=model_name,
                tflite_pushed_model=tflite_pushed_model,
                intended_use=intended_use,
                limitations=json.dumps(list(limitations)),
                report=types.Channel(type=EvaluationReportArtifact),
            )
        )
