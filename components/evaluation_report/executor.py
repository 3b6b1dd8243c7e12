"""EvaluationReport's executor: hands the input artifacts' URIs and the model card's texts
to `writer.write_report`.

It runs whatever the blessing: a rejected model is the one whose report is most needed.
"""

import json
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components.evaluation_report import writer
from components.evaluation_report.gather import ReportInputs

EVALUATION_KEY = "evaluation"
BLESSING_KEY = "blessing"
MODEL_KEY = "model"
MODEL_RUN_KEY = "model_run"
EXAMPLES_KEY = "examples"
STATISTICS_KEY = "statistics"
REPORT_KEY = "report"
PIPELINE_NAME_KEY = "pipeline_name"
TFLITE_KEY = "tflite_pushed_model"
MODEL_NAME_KEY = "model_name"
INTENDED_USE_KEY = "intended_use"
LIMITATIONS_KEY = "limitations"


class Executor(base_executor.BaseExecutor):
    def Do(  # noqa: N802 - TFX API
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        statistics = artifact_utils.get_single_instance(input_dict[STATISTICS_KEY])
        tflite = input_dict.get(TFLITE_KEY)
        inputs = ReportInputs(
            # Kubeflow's executor context has no run id; the artifact URIs still name the run.
            title=writer.title(exec_properties[PIPELINE_NAME_KEY], self._context.pipeline_run_id),
            evaluation_uri=artifact_utils.get_single_uri(input_dict[EVALUATION_KEY]),
            blessing_uri=artifact_utils.get_single_uri(input_dict[BLESSING_KEY]),
            model_uri=artifact_utils.get_single_uri(input_dict[MODEL_KEY]),
            model_run_uri=artifact_utils.get_single_uri(input_dict[MODEL_RUN_KEY]),
            examples_uris=[examples.uri for examples in input_dict[EXAMPLES_KEY]],
            statistics_uri=statistics.uri,
            statistics_splits=artifact_utils.decode_split_names(statistics.split_names),
            model_name=exec_properties[MODEL_NAME_KEY],
            tflite_uri=tflite[0].uri if tflite else None,
            intended_use=exec_properties.get(INTENDED_USE_KEY) or "",
            limitations=json.loads(exec_properties.get(LIMITATIONS_KEY) or "[]"),
        )
        path = writer.write_report(inputs, artifact_utils.get_single_uri(output_dict[REPORT_KEY]))
        logging.info("EvaluationReport: %s", path)
