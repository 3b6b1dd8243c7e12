"""LatestBlessedModel's executor: the pushed version BaselineLookup chose, as a Model.

Which version is the baseline is decided before this task, by the uncached BaselineLookup
task the Kubeflow compiler adds (pipeline/kubeflow/caching.py), and reaches it as the
`version` parameter, so that this task's cache key, and the Evaluator's after it, change
only when the baseline does. The version is copied into this task's own Model artifact
(`<uri>/Format-Serving`, TFX's layout), so the baseline stays readable when that version is
later pruned. No version (nothing pushed yet but the candidate): the artifact is left
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

SERVING_DIR_KEY = "serving_dir"
VERSION_KEY = "version"
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
        source = exec_properties.get(VERSION_KEY)
        if source is None:
            raise ValueError(
                "LatestBlessedModel: no `version` parameter; the BaselineLookup task that "
                "chooses it is added by `image-pipeline compile` (pipeline/kubeflow/caching.py)"
                ": recompile the spec with it"
            )
        model.set_string_custom_property(SOURCE_PROPERTY, source)
        if not source:
            logging.info(
                "LatestBlessedModel: no other model pushed to %s: no baseline", serving_dir
            )
            return
        io_utils.copy_dir(source, path_utils.serving_model_path(model.uri))
        logging.info("LatestBlessedModel: baseline is %s", source)


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
