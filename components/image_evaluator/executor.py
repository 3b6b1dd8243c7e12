"""ImageEvaluator's executor: TFX's Evaluator executor, minus an empty baseline.

On Kubeflow the baseline comes from the LatestBlessedModel task, which always outputs a
Model artifact, empty while no model has been blessed; TFX's executor would try to load it.
Dropping it here makes the first Kubeflow run what the first local run is (the resolver
finds nothing): no baseline, the change threshold skipped, the absolute bound deciding.
"""

from typing import Any, Dict, List

from tfx import types
from tfx.components.evaluator import executor as tfx_evaluator
from tfx.types import standard_component_specs

from components.latest_blessed_model.executor import holding_a_model
from trainer import progress


class Executor(tfx_evaluator.Executor):
    def Do(  # noqa: N802 - TFX API
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        key = standard_component_specs.BASELINE_MODEL_KEY
        input_dict = {**input_dict, key: holding_a_model(input_dict.get(key, []))}
        with progress.heartbeat("Evaluator: TFMA on the eval split"):
            super().Do(input_dict, output_dict, exec_properties)
