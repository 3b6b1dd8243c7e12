"""`create_pipeline(config)`: the TFX DAG, built from one config object.

Pure: no I/O and no globals, so the local and the Kubeflow runner compile the very same
DAG. The node ids, runtime parameters and orchestrators are named in pipeline/nodes.py; the
Evaluator's EvalConfig is built in pipeline/evaluation.py.

Where ML Metadata lives is the runner's business (SQLite locally, the cluster's own store on
Kubeflow), so the local runner attaches it.

The DAG has one shape on every orchestrator; only the node that finds the baseline differs
(`nodes.BASELINE`): TFX's ML Metadata resolver locally, an ordinary container task on Kubeflow,
whose open-source backend refuses resolvers.

The data root and the training epochs are TFX runtime parameters whose defaults are the
config's values: LocalDagRunner substitutes the defaults, and on Kubeflow a scheduler can
vary them per run without recompiling (`nodes.RUNTIME_PARAMETERS`: names and types).
"""

from __future__ import annotations

import os
from typing import List, Sequence

import tensorflow_data_validation as tfdv
from tfx import v1 as tfx
from tfx.dsl.components.base.base_beam_component import BaseBeamComponent
from tfx.dsl.input_resolution import canned_resolver_functions

from components.evaluation_report.component import EvaluationReport
from components.image_evaluator.component import ImageEvaluator
from components.image_example_gen.component import ImageExampleGen
from components.image_trainer.component import ImageTrainer
from components.latest_blessed_model.component import LatestBlessedModel
from components.latest_blessed_model.strategy import (
    CANDIDATE_KEY,
    LatestBlessedOtherModelStrategy,
)
from components.serving_pusher.component import ServingPusher
from components.tflite_pusher.component import TFLitePusher
from components.validation_gate.component import ValidationGate
from components.validation_gate.previous_span import PreviousSpanStrategy
from pipeline import nodes
from pipeline.config import NO_SCHEMA, ConfigError, PipelineConfig
from pipeline.evaluation import eval_config
from trainer import features
from trainer.settings import TrainingSettings

PREPROCESSING_FN = "trainer.preprocessing.preprocessing_fn"
RUN_FN = "trainer.run.run_fn"
TUNER_FN = "trainer.tuning.tuner_fn"


def create_pipeline(config: PipelineConfig, orchestrator: str = nodes.LOCAL) -> tfx.dsl.Pipeline:
    """Ingest -> validate (gate) -> transform -> train -> evaluate against the baseline -> push
    (SavedModel, and TFLite conversions that keep their accuracy); the evaluation report is
    written whether or not the model is blessed. `orchestrator` (nodes.LOCAL or
    nodes.KUBEFLOW) chooses how the baseline is found (`_baseline`).

    With `data.span_pattern`, ExampleGen ingests the newest span only; statistics and
    validation look at that span (and its drift from the previous one), while Transform,
    the Trainer and the Evaluator see the `data.latest_spans` newest spans.
    """
    if not config.schema_file:
        raise ConfigError(NO_SCHEMA)
    example_gen, statistics_gen, inferred_schema = _discovery_nodes(config)
    training_examples = (
        canned_resolver_functions.rolling_range(
            _every_run(tfx.types.standard_artifacts.Examples, nodes.EXAMPLE_GEN, "examples"),
            num_spans=config.data.latest_spans,
            min_spans=1,
        )
        if config.data.span_pattern
        else example_gen.outputs["examples"]
    )

    curated_schema = tfx.components.ImportSchemaGen(schema_file=config.schema_file).with_id(
        nodes.IMPORT_SCHEMA_GEN
    )

    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=curated_schema.outputs["schema"],
    ).with_id(nodes.EXAMPLE_VALIDATOR)

    # Drift is between spans, so the baseline resolver exists only with spans. (It is a custom
    # resolver strategy: KubeflowV2DagRunner in TFX 1.16 compiles only the LatestArtifact and
    # LatestBlessedModel strategies, so a spanned pipeline runs with LocalDagRunner.)
    previous_statistics = (
        _previous_span_statistics(statistics_gen) if config.data.span_pattern else None
    )

    gate = ValidationGate(
        anomalies=example_validator.outputs["anomalies"],
        statistics=statistics_gen.outputs["statistics"],
        baseline_statistics=(
            None if previous_statistics is None else previous_statistics.outputs["statistics"]
        ),
        schema=curated_schema.outputs["schema"],
        on_anomalies=config.validation.on_anomalies,
        max_drift=config.validation.max_drift,
        max_skew=config.validation.max_skew,
    ).with_id(nodes.VALIDATION_GATE)

    transform = tfx.components.Transform(
        examples=training_examples,
        schema=curated_schema.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        custom_config={"image_size": config.image_size},
    ).with_id(nodes.TRANSFORM)
    transform.add_upstream_node(gate)

    # Warm start needs the baseline before the Trainer; otherwise it is found after it.
    baseline = _baseline(config, orchestrator) if config.trainer.warm_start else None

    trainer_inputs = dict(
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=curated_schema.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config=trainer_config(config),
    )
    tuner = None
    if config.trainer.tuner.enabled or config.trainer.candidates:
        tuner = tfx.components.Tuner(
            tuner_fn=TUNER_FN,
            **{**trainer_inputs, "custom_config": tuner_config(config)},
        ).with_id(nodes.TUNER)
        trainer_inputs["hyperparameters"] = tuner.outputs["best_hyperparameters"]
    if config.trainer.warm_start:
        trainer_inputs["base_model"] = baseline.outputs["model"]
    trainer = ImageTrainer(
        run_fn=RUN_FN,
        epochs=tfx.dsl.experimental.RuntimeParameter(
            name=nodes.EPOCHS_PARAMETER,
            ptype=nodes.RUNTIME_PARAMETERS[nodes.EPOCHS_PARAMETER],
            default=config.trainer.epochs,
        ),
        **trainer_inputs,
    ).with_id(nodes.TRAINER)
    if config.evaluation.baseline == "latest_blessed" and baseline is None:
        baseline = _baseline(config, orchestrator, trainer)

    evaluator = ImageEvaluator(
        examples=training_examples,
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"] if baseline else None,
        eval_config=eval_config(config),
    ).with_id(nodes.EVALUATOR)

    tflite_pusher = (
        TFLitePusher(
            model=trainer.outputs["model"],
            model_blessing=evaluator.outputs["blessing"],
            transformed_examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            conversions=config.tflite.conversions,
            max_accuracy_drop=config.tflite.max_accuracy_drop,
            qat=config.tflite.qat,
            qat_epochs=config.tflite.qat_epochs,
            base_directory=config.tflite_dir,
            keep_versions=config.serving.keep_versions,
        ).with_id(nodes.TFLITE_PUSHER)
        if config.tflite.conversions
        else None
    )

    # After the TFLitePusher, whose variants the model card lists; the ServingPusher ships
    # the card with the model.
    evaluation_report = EvaluationReport(
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
        model=trainer.outputs["model"],
        model_run=trainer.outputs["model_run"],
        examples=training_examples,
        statistics=statistics_gen.outputs["statistics"],
        pipeline_name=config.pipeline_name,
        model_name=config.serving.model_name,
        tflite_pushed_model=tflite_pusher.outputs["pushed_model"] if tflite_pusher else None,
        intended_use=config.model_card.intended_use,
        limitations=config.model_card.limitations,
    ).with_id(nodes.EVALUATION_REPORT)

    pusher = ServingPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        base_directory=config.serving_dir,
        keep_versions=config.serving.keep_versions,
        examples=training_examples,
        warmup_requests=config.serving.warmup_requests,
        model_card=evaluation_report.outputs["report"],
    ).with_id(nodes.PUSHER)

    components = [
        example_gen,
        statistics_gen,
        inferred_schema,
        curated_schema,
        example_validator,
        *([previous_statistics] if previous_statistics else []),
        gate,
        transform,
        *([baseline] if baseline else []),
        *([tuner] if tuner else []),
        trainer,
        evaluator,
        *([tflite_pusher] if tflite_pusher else []),
        evaluation_report,
        pusher,
    ]
    return _pipeline(config, components, orchestrator)


def _pipeline(
    config: PipelineConfig, components: list, orchestrator: str, whole: bool = True
) -> tfx.dsl.Pipeline:
    """`components` as one TFX pipeline; `whole` is False for a part of the DAG."""
    _add_component_beam_args(config, components, whole)
    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.kubeflow_pipeline_root
        if orchestrator == nodes.KUBEFLOW
        else config.pipeline_root,
        components=components,
        enable_cache=True,
        beam_pipeline_args=beam_args(config.beam_pipeline_args, orchestrator),
    )


SETUP_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "setup.py")
"""This repository's setup.py: the package with the pipeline's own code and dependencies."""
_DEPENDENCY_FLAGS = (
    "--extra_package",
    "--extra_packages",
    "--setup_file",
    "--requirements_file",
    "--worker_harness_container_image",
    "--sdk_container_image",
)


def beam_args(configured: Sequence[str], orchestrator: str) -> List[str]:
    """The pipeline-level Beam args for a run.

    When the args name no dependency for Beam's workers, TFX copies its own install and
    builds an sdist of it before every Beam component (5-25 s each, 4 components a run).
    The DirectRunner never reads it: it runs in this environment. The remote configs
    (configs/beam/) name the pipeline image, so TFX builds nothing there. So a local run
    names this repository's setup.py: ignored by the DirectRunner, and what a staging
    runner would need anyway (TFX's sdist holds TFX, not this pipeline's components).
    Kubeflow tasks run in the image, where this checkout's path means nothing: unchanged.
    """
    args = list(configured)
    named = any(arg.split("=", 1)[0] in _DEPENDENCY_FLAGS for arg in args)
    if orchestrator == nodes.LOCAL and not named and os.path.isfile(SETUP_FILE):
        args.append(f"--setup_file={SETUP_FILE}")
    return args


def create_discovery_pipeline(config: PipelineConfig) -> tfx.dsl.Pipeline:
    """The DAG's first nodes alone (ingestion, statistics, the inferred schema), built as
    `create_pipeline` builds them: what `image-pipeline init` runs to see the data the way a
    run will. Nothing trains. Its executions have the run's cache keys (same pipeline, same
    nodes, same inputs and parameters), so the first run takes them from the cache.
    """
    return _pipeline(config, list(_discovery_nodes(config)), nodes.LOCAL, whole=False)


def _discovery_nodes(config: PipelineConfig) -> tuple:
    """ImageExampleGen, StatisticsGen and SchemaGen: what the data is, before any schema."""
    example_gen = ImageExampleGen(
        input_base=tfx.dsl.experimental.RuntimeParameter(
            name=nodes.DATA_ROOT_PARAMETER,
            ptype=nodes.RUNTIME_PARAMETERS[nodes.DATA_ROOT_PARAMETER],
            default=config.data.root,
        ),
        input_config=tfx.proto.Input(
            splits=[tfx.proto.Input.Split(name="images", pattern=config.data.input_pattern)]
        ),
        min_side=config.data.min_side,
        max_pixels=config.data.max_pixels,
        max_quarantine_fraction=config.data.max_quarantine_fraction,
        min_images_per_class=config.data.min_images_per_class,
        output_config=tfx.proto.Output(
            split_config=tfx.proto.SplitConfig(
                splits=[
                    tfx.proto.SplitConfig.Split(name=name, hash_buckets=buckets)
                    for name, buckets in config.data.split.items()
                ],
                partition_feature_name=features.SHA256_KEY,
            )
        ),
    ).with_id(nodes.EXAMPLE_GEN)
    statistics_gen = tfx.components.StatisticsGen(
        examples=example_gen.outputs["examples"],
        stats_options=tfdv.StatsOptions(enable_semantic_domain_stats=True),
    ).with_id(nodes.STATISTICS_GEN)

    inferred_schema = tfx.components.SchemaGen(
        statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True
    ).with_id(nodes.SCHEMA_GEN)

    return example_gen, statistics_gen, inferred_schema


def _baseline(
    config: PipelineConfig, orchestrator: str, trainer: ImageTrainer | None = None
) -> tfx.dsl.Resolver | LatestBlessedModel:
    """The latest blessed model, output `model`, for the Evaluator and warm start; after the
    `trainer` when one is given, on both orchestrators (one shape).

    Locally a resolver reads it from ML Metadata (nothing yet: an empty channel): after the
    Trainer, the latest blessed model other than the Trainer's (strategy.py: a re-run with
    nothing changed is then cached whole); for warm start, before it, TFX's
    LatestBlessedModelStrategy. On Kubeflow an ordinary task, LatestBlessedModel, copies the
    newest version the Pusher published (nothing yet: an empty Model, which the Evaluator
    and the Trainer read as none): the open-source backend refuses resolver executors, and
    Vertex runs the task as well.
    """
    if orchestrator not in nodes.ORCHESTRATORS:
        raise ValueError(f"orchestrator: {orchestrator!r}; expected one of {nodes.ORCHESTRATORS}")
    if orchestrator == nodes.KUBEFLOW:
        task = LatestBlessedModel(serving_dir=config.serving_dir).with_id(nodes.BASELINE)
        if trainer:
            task.add_upstream_node(trainer)
        return task
    every_run = dict(
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    )
    if trainer is None:
        strategy = tfx.dsl.experimental.LatestBlessedModelStrategy
    else:
        strategy = LatestBlessedOtherModelStrategy
        every_run[CANDIDATE_KEY] = trainer.outputs["model"]
    return tfx.dsl.Resolver(strategy_class=strategy, **every_run).with_id(nodes.BASELINE)


def trainer_config(config: PipelineConfig) -> dict:
    """What run_fn and tuner_fn read from `fn_args.custom_config`: plain JSON-able values,
    rebuilt there as `TrainingSettings` (trainer/settings.py).

    The epochs are left out: they reach run_fn through ImageTrainer's `epochs` property, a
    runtime parameter (see components/image_trainer/component.py).
    """
    settings = TrainingSettings(
        config.trainer, config.augmentation, config.image_size, config.serving.max_pixels
    )
    return {k: v for k, v in settings.custom_config().items() if k not in ("epochs", "resume_dir")}


def tuner_config(config: PipelineConfig) -> dict:
    """What tuner_fn reads from `fn_args.custom_config`: the Trainer's, with the configured
    epochs (the search trains `trainer.tuner.epochs` a trial; the Trainer's are still
    checked against the fine-tuning phases when the config is rebuilt)."""
    return {**trainer_config(config), "epochs": config.trainer.epochs}


def _add_component_beam_args(config: PipelineConfig, components: list, whole: bool) -> None:
    """Appends `components.<id>.beam_pipeline_args` after the pipeline-level Beam args.

    A node id the DAG lacks is a mistake in the config, unless `components` are only part
    of the DAG (`whole` False): then the settings of the other nodes wait for the full run.
    """
    by_id = {component.id: component for component in components}
    for name, settings in config.components.items():
        if name not in by_id and not whole:
            continue
        if name not in by_id:
            raise ConfigError(
                f"components.{name}: no such component in this pipeline; "
                f"components are {', '.join(by_id)}"
            )
        if not settings.beam_pipeline_args:
            continue
        if not isinstance(by_id[name], BaseBeamComponent):
            beam_ids = [i for i, c in by_id.items() if isinstance(c, BaseBeamComponent)]
            raise ConfigError(
                f"components.{name}.beam_pipeline_args: {name} does not run Beam; "
                f"Beam components are {', '.join(beam_ids)}"
            )
        by_id[name].with_beam_pipeline_args(list(settings.beam_pipeline_args))


def _previous_span_statistics(statistics_gen: tfx.components.StatisticsGen) -> tfx.dsl.Resolver:
    """The statistics of the span before this run's span: the gate's drift baseline."""
    resolver = tfx.dsl.Resolver(
        strategy_class=PreviousSpanStrategy,
        statistics=_every_run(
            tfx.types.standard_artifacts.ExampleStatistics, nodes.STATISTICS_GEN, "statistics"
        ),
    ).with_id(nodes.PREVIOUS_SPAN_RESOLVER)
    resolver.add_upstream_node(statistics_gen)  # so that it sees this run's span as well
    return resolver


def _every_run(artifact_type: type, producer: str, output_key: str) -> tfx.dsl.Channel:
    """A node's outputs from every run of the pipeline.

    An upstream node's `outputs[...]` channel holds the current run's artifacts only; span
    resolution needs the earlier spans too. Such a channel adds no dependency, so callers
    order themselves after the producer (the gate does, for Transform).
    """
    return tfx.dsl.Channel(
        type=artifact_type, producer_component_id=producer, output_key=output_key
    )
