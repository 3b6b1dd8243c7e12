"""ImageTrainer's executor: TFX's GenericExecutor, with `epochs` handed to run_fn.

run_fn reads its settings from `fn_args.custom_config` (see trainer/run.py); the epochs come
from their own execution property instead (see component.py for why), so they are merged
in here and run_fn does not need to know where they came from. An empty `base_model` (on
Kubeflow, before any model was blessed) is no warm start.
"""

from typing import Any, Dict, List

from tfx import types
from tfx.components.trainer import executor as trainer_executor
from tfx.components.trainer import fn_args_utils
from tfx.types import standard_component_specs

from components.latest_blessed_model.executor import holding_a_model

EPOCHS_KEY = "epochs"


class Executor(trainer_executor.GenericExecutor):
    """Runs run_fn with `custom_config["epochs"]` taken from the `epochs` property, and no
    `base_model` when the one given is empty (LatestBlessedModel before any blessing)."""

    def _GetFnArgs(  # noqa: N802 - TFX API
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> fn_args_utils.FnArgs:
        key = standard_component_specs.BASE_MODEL_KEY
        if key in input_dict:
            input_dict = {**input_dict, key: holding_a_model(input_dict[key])}
        fn_args = super()._GetFnArgs(input_dict, output_dict, exec_properties)
        fn_args.custom_config = {
            **(fn_args.custom_config or {}),
            EPOCHS_KEY: int(exec_properties[EPOCHS_KEY]),
        }
        return fn_args
