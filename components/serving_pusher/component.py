"""ServingPusher's spec: exactly TFX's Pusher (inputs, blessing gate, outputs), own executor.

Subclassing the component (rather than passing the deprecated `custom_executor_spec`)
keeps TFX's spec, so the Kubeflow compiler and ML Metadata see a Pusher in every respect;
`keep_versions` travels in the Pusher's `custom_config`.
"""

from tfx import types
from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from components.serving_pusher import executor


class ServingPusher(tfx.components.Pusher):
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        model_blessing: types.BaseChannel,
        base_directory: str,
        keep_versions: int,
    ):
        """Pushes a blessed `model` to `<base_directory>/<version>/`; keeps `keep_versions`
        versions, newest first (0 keeps them all)."""
        super().__init__(
            model=model,
            model_blessing=model_blessing,
            push_destination=tfx.proto.PushDestination(
                filesystem=tfx.proto.PushDestination.Filesystem(base_directory=base_directory)
            ),
            custom_config={executor.KEEP_VERSIONS: keep_versions},
        )
