"""ImageTrainer: TFX's Trainer spec plus a top-level `epochs` execution property.

A scheduler varies a Kubeflow run through runtime parameters, and TFX binds a
`RuntimeParameter` only to a whole top-level execution property: it cannot reach inside the
Trainer's `custom_config` (one JSON string) or its `TrainArgs` proto (which counts steps, not
epochs). Giving `epochs` its own property makes it a runtime parameter on Kubeflow and a
plain value locally; everything else is TFX's Trainer unchanged.
"""

from typing import Any, Dict, Optional, Union

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.orchestration import data_types
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils

from components.image_trainer import executor
from components.image_trainer.executor import EPOCHS_KEY


class ImageTrainerSpec(standard_component_specs.TrainerSpec):
    """TrainerSpec with `epochs`."""

    PARAMETERS = {
        **standard_component_specs.TrainerSpec.PARAMETERS,
        EPOCHS_KEY: ExecutionParameter(type=int),
    }


class ImageTrainer(base_component.BaseComponent):
    """Trains with a run_fn given by dotted path; outputs `model` and `model_run` like Trainer.

    `base_model` (warm start) and `hyperparameters` (the Tuner's best) are the Trainer's
    optional inputs of the same names.
    """

    SPEC_CLASS = ImageTrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        transform_graph: types.BaseChannel,
        schema: types.BaseChannel,
        run_fn: str,
        train_args: trainer_pb2.TrainArgs,
        eval_args: trainer_pb2.EvalArgs,
        custom_config: Dict[str, Any],
        epochs: Union[int, data_types.RuntimeParameter],
        base_model: Optional[types.BaseChannel] = None,
        hyperparameters: Optional[types.BaseChannel] = None,
    ):
        super().__init__(
            spec=ImageTrainerSpec(
                examples=examples,
                transform_graph=transform_graph,
                schema=schema,
                run_fn=run_fn,
                train_args=train_args,
                eval_args=eval_args,
                custom_config=json_utils.dumps(custom_config),
                epochs=epochs,
                base_model=base_model,
                hyperparameters=hyperparameters,
                model=types.Channel(type=standard_artifacts.Model),
                model_run=types.Channel(type=standard_artifacts.ModelRun),
            )
        )
