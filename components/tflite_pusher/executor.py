"""TFLitePusher's executor: unpacks the artifacts, checks the blessing, records the result.

An unblessed model is not converted at all (the log says so and `pushed` is 0), as with
TFX's Pusher. The version is a UNIX timestamp, like the SavedModel's, so both push
locations sort the same way.
"""

import json
import os
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import path_utils

from components.tflite_pusher import push

MODEL_KEY = "model"
BLESSING_KEY = "model_blessing"
TRANSFORMED_EXAMPLES_KEY = "transformed_examples"
TRANSFORM_GRAPH_KEY = "transform_graph"
PUSHED_MODEL_KEY = "pushed_model"
CONVERSIONS_KEY = "conversions"
MAX_ACCURACY_DROP_KEY = "max_accuracy_drop"
QAT_KEY = "qat"
QAT_EPOCHS_KEY = "qat_epochs"
BASE_DIRECTORY_KEY = "base_directory"
KEEP_VERSIONS_KEY = "keep_versions"


class Executor(base_executor.BaseExecutor):
    def Do(  # noqa: N802 - TFX API
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        pushed = artifact_utils.get_single_instance(output_dict[PUSHED_MODEL_KEY])
        blessing = artifact_utils.get_single_instance(input_dict[BLESSING_KEY])
        if not blessing.get_int_custom_property("blessed"):
            logging.info("TFLite: the model is not blessed, so it is not converted")
            pushed.set_int_custom_property("pushed", 0)
            return
        examples = input_dict[TRANSFORMED_EXAMPLES_KEY]
        model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
        result = push.convert_and_push(
            saved_model_dir=path_utils.serving_model_path(model.uri),
            transform_graph_dir=artifact_utils.get_single_uri(input_dict[TRANSFORM_GRAPH_KEY]),
            train_pattern=os.path.join(artifact_utils.get_split_uri(examples, "train"), "*"),
            eval_pattern=os.path.join(artifact_utils.get_split_uri(examples, "eval"), "*"),
            conversions=json.loads(exec_properties[CONVERSIONS_KEY]),
            max_accuracy_drop=float(exec_properties[MAX_ACCURACY_DROP_KEY]),
            artifact_dir=pushed.uri,
            base_directory=exec_properties[BASE_DIRECTORY_KEY],
            keep_versions=int(exec_properties[KEEP_VERSIONS_KEY]),
            qat=bool(exec_properties[QAT_KEY]),
            qat_epochs=int(exec_properties[QAT_EPOCHS_KEY]),
        )
        pushed.set_int_custom_property("pushed", int(result.destination is not None))
        if result.destination:
            pushed.set_string_custom_property("pushed_destination", result.destination)
            version = os.path.basename(result.destination)
            pushed.set_string_custom_property("pushed_version", version)
        pushed.set_string_custom_property("tflite_result", json.dumps(result.__dict__))
