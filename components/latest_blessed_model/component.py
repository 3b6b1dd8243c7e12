"""LatestBlessedModel: the latest blessed model as the output of an ordinary container task.

Locally the DAG finds the baseline with TFX's LatestBlessedModelStrategy resolver, which
reads ML Metadata. On Kubeflow that node cannot run everywhere: the open-source KFP v2
backend refuses resolver executors ("resolver executors not implemented",
kubeflow/pipelines backend/src/v2/compiler/argocompiler/dag.go). This task stands in its
place on both Kubeflow backends, with the same id and output key, so the DAGs keep one
shape: it copies the version the ServingPusher published that BaselineLookup, a task the
Kubeflow compiler adds before it, names in `version` (executor.py).
"""

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import component_spec, standard_artifacts

from components.latest_blessed_model import executor


class LatestBlessedModelSpec(types.ComponentSpec):
    PARAMETERS = {
        executor.SERVING_DIR_KEY: component_spec.ExecutionParameter(type=str),
        # Wired at compile to BaselineLookup's output (pipeline/kubeflow/caching.py).
        executor.VERSION_KEY: component_spec.ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {executor.MODEL_KEY: component_spec.ChannelParameter(type=standard_artifacts.Model)}


class LatestBlessedModel(base_component.BaseComponent):
    """Outputs `model`: a copy of the `version` folder under `serving_dir`, or an empty
    Model when `version` is ''."""

    SPEC_CLASS = LatestBlessedModelSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, serving_dir: str):
        super().__init__(
            spec=LatestBlessedModelSpec(
                serving_dir=serving_dir, model=types.Channel(type=standard_artifacts.Model)
            )
        )
