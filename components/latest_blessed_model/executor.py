"""LatestBlessedModel's executor: the newest version in the serving folder, as a Model.

Every blessed model is pushed and nothing else is, so the newest complete version under the
ServingPusher's base directory is the latest blessed model. It is copied into this task's
own Model artifact (`<uri>/Format-Serving`, TFX's layout), so the baseline stays readable
when that version is later pruned. No version yet (the first run): the artifact is left
empty, and the Evaluator and the Trainer treat an empty Model as no baseline
(`holding_a_model`).
"""

import os
from typing import Any, Dict, List

import tensorflow as tf
from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from components import publish

SERVING_DIR_KEY = "serving_dir"
MODEL_KEY = "model"
SOURCE_PROPERTY = "source"
"""Custom property of the output Model: the pushed version it was copied from, or ''."""


class Executor(base_executor.BaseExecutor):
    def Do(  # noqa: N802 - TFX API
        self,
        input_dict: Dict[str, List[types.Artifact]],
        output_dict: Dict[str, List[types.Artifact]],
        exec_properties: Dict[str, Any],
    ) -> None:
        model = artifact_utils.get_single_instance(output_dict[MODEL_KEY])
        serving_dir = exec_properties[SERVING_DIR_KEY]
        version = publish.newest_version(serving_dir)
        if version is None:
            logging.info("LatestBlessedModel: no model pushed to %s yet: no baseline", serving_dir)
            model.set_string_custom_property(SOURCE_PROPERTY, "")
            return
        source = os.path.join(serving_dir, str(version))
        io_utils.copy_dir(source, path_utils.serving_model_path(model.uri))
        model.set_string_custom_property(SOURCE_PROPERTY, source)
        logging.info("LatestBlessedModel: baseline is version %s (%s)", version, source)


def holding_a_model(models: List[types.Artifact]) -> List[types.Artifact]:
    """The Model artifacts that hold a SavedModel: an empty LatestBlessedModel output (no
    blessed model yet) is dropped, so that it reads as no baseline."""
    return [
        model
        for model in models
        if tf.io.gfile.exists(
            os.path.join(path_utils.serving_model_path(model.uri), "saved_model.pb")
        )
    ]
