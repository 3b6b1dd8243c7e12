"""ImageEvaluator: exactly TFX's Evaluator (spec, TFMA, blessing), with its own executor.

Subclassed like ServingPusher, so the Kubeflow compiler and ML Metadata see an Evaluator in
every respect; the executor only drops an empty baseline (executor.py).
"""

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from components.image_evaluator import executor


class ImageEvaluator(tfx.components.Evaluator):
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)
