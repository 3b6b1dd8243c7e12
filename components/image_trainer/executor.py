"""ImageTrainer's executor: TFX's GenericExecutor, with `epochs` and a resume folder handed
to run_fn.

run_fn reads its settings from `fn_args.custom_config` (see trainer/run.py); the epochs come
from their own execution property instead (see component.py for why), so they are merged
in here and run_fn does not need to know where they came from. An empty `base_model` (on
Kubeflow, before any model was blessed) is no warm start.

A killed Trainer run, started again, is a new execution with new output folders; so that it
resumes the training instead of starting over, run_fn keeps its checkpoints in a folder
named after the work (input artifacts and execution properties) under the Trainer's node
folder, `<pipeline_root>/Trainer/.resume/<key>`, and the executor removes `.resume` once an
execution succeeds.

On Kubeflow the artifact folders belong to one run and, on open-source KFP, are the pod's
local copies, lost with the pod; so the compiled spec gives a `resume_root` execution
property in the object store instead (pipeline/kubeflow/retries.py), where the retried pod,
which gets the same inputs, finds the folder of the same key. Runs of the pipeline share
that root and may run at once, so only this work's folder is removed there.
"""

import hashlib
import json
import os
from typing import Any, Dict, List

import tensorflow as tf
from absl import logging
from tfx import types
from tfx.components.trainer import executor as trainer_executor
from tfx.components.trainer import fn_args_utils
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import json_utils

from components.latest_blessed_model.executor import holding_a_model

EPOCHS_KEY = "epochs"
RESUME_DIR_KEY = "resume_dir"
RESUME_ROOT_KEY = "resume_root"
"""An execution property only the Kubeflow spec has: where resume folders go instead of the
node folder."""


def resume_dir(
    input_dict: Dict[str, List[types.Artifact]],
    output_dict: Dict[str, List[types.Artifact]],
    exec_properties: Dict[str, Any],
) -> str:
    """The resume folder of this work: the same for a re-run of it, another for other work;
    under `resume_root` when the execution properties have one, else in the node folder."""
    work = {
        "inputs": {
            key: sorted([artifact.id, artifact.uri] for artifact in artifacts)
            for key, artifacts in input_dict.items()
        },
        "exec_properties": exec_properties,
    }
    digest = hashlib.sha256(json.dumps(work, sort_keys=True, default=str).encode())
    root = exec_properties.get(RESUME_ROOT_KEY) or _resume_root(output_dict)
    return os.path.join(root, digest.hexdigest()[:16])


def _resume_root(output_dict: Dict[str, List[types.Artifact]]) -> str:
    """`<node folder>/.resume`, the node folder holding the model's `model/<execution id>`."""
    model_uri = artifact_utils.get_single_uri(output_dict[standard_component_specs.MODEL_KEY])
    return os.path.join(os.path.dirname(os.path.dirname(model_uri)), ".resume")


class Executor(trainer_executor.GenericExecutor):
    """Runs run_fn with `custom_config["epochs"]` taken from the `epochs` property, no
    `base_model` when the one given is empty (LatestBlessedModel before any blessing), and
    `custom_config["resume_dir"]`, removed after success (under a `resume_root` that folder
    alone, else the node's whole `.resume`)."""

    def Do(  # noqa: N802 - TFX API
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        key = standard_component_specs.CUSTOM_CONFIG_KEY
        custom_config = json_utils.loads(exec_properties.get(key) or "null") or {}
        folder = resume_dir(input_dict, output_dict, exec_properties)
        custom_config[RESUME_DIR_KEY] = folder
        super().Do(
            input_dict, output_dict, {**exec_properties, key: json_utils.dumps(custom_config)}
        )
        done = folder if exec_properties.get(RESUME_ROOT_KEY) else _resume_root(output_dict)
        if tf.io.gfile.exists(done):
            tf.io.gfile.rmtree(done)
            logging.info("ImageTrainer: training complete, resume checkpoints %s removed", done)

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
