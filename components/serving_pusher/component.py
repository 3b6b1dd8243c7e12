"""ServingPusher's spec: TFX's Pusher (inputs, blessing gate, outputs) plus the eval
examples its warm-up requests come from and the evaluation report whose model card it ships
with the model; own executor.

Subclassing the component and its spec (rather than passing the deprecated
`custom_executor_spec`) keeps TFX's spec, so the Kubeflow compiler and ML Metadata see a
Pusher in every respect; `keep_versions` and `warmup_requests` travel in the Pusher's
`custom_config`.
"""

from typing import Optional

from tfx import types
from tfx import v1 as tfx
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import component_spec, standard_artifacts, standard_component_specs
from tfx.utils import json_utils

from components.evaluation_report.component import EvaluationReportArtifact
from components.serving_pusher import executor


class ServingPusherSpec(standard_component_specs.PusherSpec):
    INPUTS = {
        **standard_component_specs.PusherSpec.INPUTS,
        executor.EXAMPLES_KEY: component_spec.ChannelParameter(
            type=standard_artifacts.Examples, optional=True
        ),
        executor.MODEL_CARD_KEY: component_spec.ChannelParameter(
            type=EvaluationReportArtifact, optional=True
        ),
    }


class ServingPusher(tfx.components.Pusher):
    SPEC_CLASS = ServingPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        model_blessing: types.BaseChannel,
        base_directory: str,
        keep_versions: int,
        examples: Optional[types.BaseChannel] = None,
        warmup_requests: int = 0,
        model_card: Optional[types.BaseChannel] = None,
    ):
        """Pushes a blessed `model` to `<base_directory>/<version>/`; keeps `keep_versions`
        versions, newest first (0 keeps them all). With `warmup_requests` > 0, the pushed
        SavedModel carries TF Serving's warm-up requests, made from the first
        `warmup_requests` images of the eval split of `examples` (warmup.py). With
        `model_card` (the EvaluationReport's output), the card written with the report is
        shipped in the pushed SavedModel's `assets.extra/`."""
        if warmup_requests and examples is None:
            raise ValueError(
                f"ServingPusher: warmup_requests={warmup_requests} needs the `examples` "
                "whose eval images the requests are made of"
            )
        # Pusher.__init__ would build TFX's PusherSpec, which has no `examples` input.
        base_component.BaseComponent.__init__(
            self,
            spec=ServingPusherSpec(
                model=model,
                model_blessing=model_blessing,
                examples=examples,
                model_card=model_card,
                push_destination=tfx.proto.PushDestination(
                    filesystem=tfx.proto.PushDestination.Filesystem(base_directory=base_directory)
                ),
                custom_config=json_utils.dumps(
                    {
                        executor.KEEP_VERSIONS: keep_versions,
                        executor.WARMUP_REQUESTS: warmup_requests,
                    }
                ),
                pushed_model=types.Channel(type=standard_artifacts.PushedModel),
            ),
        )
