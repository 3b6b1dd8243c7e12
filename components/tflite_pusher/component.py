"""TFLitePusher's spec: a blessed model in, TFLite models at a versioned location out.

It takes the Evaluator's blessing like TFX's Pusher, and Transform's outputs for the
pixels: the transformed eval split to measure each conversion, the transformed training
split to calibrate the int8 one and, with `qat`, to fine-tune the classifier with
quantization-aware training when that one misses the tolerance (`qat` is an int exec
property, 0 or 1: ML Metadata stores no booleans). Its `pushed_model` output records what
shipped, where, and each conversion's size and accuracy.
"""

import json
from typing import Sequence

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.tflite_pusher import executor
from components.tflite_pusher.executor import (
    BASE_DIRECTORY_KEY,
    BLESSING_KEY,
    CONVERSIONS_KEY,
    KEEP_VERSIONS_KEY,
    MAX_ACCURACY_DROP_KEY,
    MODEL_KEY,
    PUSHED_MODEL_KEY,
    QAT_EPOCHS_KEY,
    QAT_KEY,
    TRANSFORM_GRAPH_KEY,
    TRANSFORMED_EXAMPLES_KEY,
)


class TFLitePusherSpec(ComponentSpec):
    PARAMETERS = {
        CONVERSIONS_KEY: ExecutionParameter(type=str),
        MAX_ACCURACY_DROP_KEY: ExecutionParameter(type=float),
        QAT_KEY: ExecutionParameter(type=int),
        QAT_EPOCHS_KEY: ExecutionParameter(type=int),
        BASE_DIRECTORY_KEY: ExecutionParameter(type=str),
        KEEP_VERSIONS_KEY: ExecutionParameter(type=int),
    }
    INPUTS = {
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        BLESSING_KEY: ChannelParameter(type=standard_artifacts.ModelBlessing),
        TRANSFORMED_EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
        TRANSFORM_GRAPH_KEY: ChannelParameter(type=standard_artifacts.TransformGraph),
    }
    OUTPUTS = {PUSHED_MODEL_KEY: ChannelParameter(type=standard_artifacts.PushedModel)}


class TFLitePusher(base_component.BaseComponent):
    """Converts a blessed model to TFLite; ships each conversion within the accuracy tolerance."""

    SPEC_CLASS = TFLitePusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        model_blessing: types.BaseChannel,
        transformed_examples: types.BaseChannel,
        transform_graph: types.BaseChannel,
        conversions: Sequence[str],
        max_accuracy_drop: float,
        qat: bool,
        qat_epochs: int,
        base_directory: str,
        keep_versions: int,
    ):
        super().__init__(
            spec=TFLitePusherSpec(
                model=model,
                model_blessing=model_blessing,
                transformed_examples=transformed_examples,
                transform_graph=transform_graph,
                conversions=json.dumps(list(conversions)),
                max_accuracy_drop=max_accuracy_drop,
                qat=int(qat),
                qat_epochs=qat_epochs,
                base_directory=base_directory,
                keep_versions=keep_versions,
                pushed_model=types.Channel(type=standard_artifacts.PushedModel),
            )
        )
