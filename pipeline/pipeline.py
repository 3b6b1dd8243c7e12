"""`create_pipeline(config)`: the TFX DAG, built from one config object.

Pure: no I/O and no globals, so the local and the Kubeflow runner compile the very same
DAG. Node ids are constants so that tests, the run summary and ML Metadata queries name
components the same way.

Where ML Metadata lives is the runner's business (SQLite locally, the cluster's own store on
Kubeflow), so the local runner attaches it.

The DAG has one shape on every orchestrator; only the node that finds the baseline differs
(`BASELINE`): TFX's ML Metadata resolver locally, an ordinary container task on Kubeflow,
whose open-source backend refuses resolvers.

The data root and the training epochs are TFX runtime parameters whose defaults are the
config's values: LocalDagRunner substitutes the defaults, and on Kubeflow a scheduler can
vary them per run without recompiling (`RUNTIME_PARAMETERS`: their names and types).
"""

from __future__ import annotations

import dataclasses
import json
from typing import List, Sequence

import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma
from tfx import v1 as tfx
from tfx.dsl.components.base.base_beam_component import BaseBeamComponent
from tfx.dsl.input_resolution import canned_resolver_functions

from components.evaluation_report.component import EvaluationReport
from components.image_evaluator.component import ImageEvaluator
from components.image_example_gen.component import ImageExampleGen
from components.image_trainer.component import ImageTrainer
from components.latest_blessed_model.component import LatestBlessedModel
from components.serving_pusher.component import ServingPusher
from components.tflite_pusher.component import TFLitePusher
from components.validation_gate.component import ValidationGate
from components.validation_gate.previous_span import PreviousSpanStrategy
from pipeline.config import NO_SCHEMA, ConfigError, PipelineConfig
from trainer import export, features

PREPROCESSING_FN = "trainer.preprocessing.preprocessing_fn"
RUN_FN = "trainer.run.run_fn"
TUNER_FN = "trainer.tuning.tuner_fn"

EXAMPLE_GEN = "ImageExampleGen"
STATISTICS_GEN = "StatisticsGen"
SCHEMA_GEN = "SchemaGen"
IMPORT_SCHEMA_GEN = "ImportSchemaGen"
EXAMPLE_VALIDATOR = "ExampleValidator"
PREVIOUS_SPAN_RESOLVER = "PreviousSpanStatisticsResolver"
"""Only in pipelines with `data.span_pattern`, so not in NODE_IDS."""
VALIDATION_GATE = "ValidationGate"
TRANSFORM = "Transform"
TUNER = "Tuner"
TRAINER = "Trainer"
BASELINE = "LatestBlessedModel"
EVALUATOR = "Evaluator"
EVALUATION_REPORT = "EvaluationReport"
PUSHER = "Pusher"
TFLITE_PUSHER = "TFLitePusher"

DATA_ROOT_PARAMETER = "data_root"
EPOCHS_PARAMETER = "epochs"
RUNTIME_PARAMETERS = {DATA_ROOT_PARAMETER: str, EPOCHS_PARAMETER: int}

LOCAL = "local"
KUBEFLOW = "kubeflow"
ORCHESTRATORS = (LOCAL, KUBEFLOW)

NODE_IDS = (
    EXAMPLE_GEN,
    STATISTICS_GEN,
    SCHEMA_GEN,
    IMPORT_SCHEMA_GEN,
    EXAMPLE_VALIDATOR,
    VALIDATION_GATE,
    TRANSFORM,
    TRAINER,
    BASELINE,
    EVALUATOR,
    EVALUATION_REPORT,
    PUSHER,
    TFLITE_PUSHER,
)


def create_pipeline(config: PipelineConfig, orchestrator: str = LOCAL) -> tfx.dsl.Pipeline:
    """Ingest -> validate (gate) -> transform -> train -> evaluate against the baseline -> push
    (SavedModel, and TFLite conversions that keep their accuracy); the evaluation report is
    written whether or not the model is blessed. `orchestrator` (LOCAL or KUBEFLOW) chooses
    how the baseline is found (`_baseline`).

    With `data.span_pattern`, ExampleGen ingests the newest span only; statistics and
    validation look at that span (and its drift from the previous one), while Transform,
    the Trainer and the Evaluator see the `data.latest_spans` newest spans.
    """
    if not config.schema_file:
        raise ConfigError(NO_SCHEMA)
    example_gen, statistics_gen, inferred_schema = _discovery_nodes(config)
    training_examples = (
        canned_resolver_functions.rolling_range(
            _every_run(tfx.types.standard_artifacts.Examples, EXAMPLE_GEN, "examples"),
            num_spans=config.data.latest_spans,
            min_spans=1,
        )
        if config.data.span_pattern
        else example_gen.outputs["examples"]
    )

    curated_schema = tfx.components.ImportSchemaGen(schema_file=config.schema_file).with_id(
        IMPORT_SCHEMA_GEN
    )

    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=curated_schema.outputs["schema"],
    ).with_id(EXAMPLE_VALIDATOR)

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
    ).with_id(VALIDATION_GATE)

    transform = tfx.components.Transform(
        examples=training_examples,
        schema=curated_schema.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        custom_config={"image_size": config.image_size},
    ).with_id(TRANSFORM)
    transform.add_upstream_node(gate)

    baseline = (
        _baseline(config, orchestrator) if config.evaluation.baseline == "latest_blessed" else None
    )

    trainer_inputs = dict(
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=curated_schema.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config=trainer_config(config),
    )
    tuner = None
    if config.trainer.tuner.enabled:
        tuner = tfx.components.Tuner(tuner_fn=TUNER_FN, **trainer_inputs).with_id(TUNER)
        trainer_inputs["hyperparameters"] = tuner.outputs["best_hyperparameters"]
    if config.trainer.warm_start:
        trainer_inputs["base_model"] = baseline.outputs["model"]
    trainer = ImageTrainer(
        run_fn=RUN_FN,
        epochs=tfx.dsl.experimental.RuntimeParameter(
            name=EPOCHS_PARAMETER,
            ptype=RUNTIME_PARAMETERS[EPOCHS_PARAMETER],
            default=config.trainer.epochs,
        ),
        **trainer_inputs,
    ).with_id(TRAINER)

    evaluator = ImageEvaluator(
        examples=training_examples,
        model=trainer.outputs["model"],
        baseline_model=baseline.outputs["model"] if baseline else None,
        eval_config=eval_config(config),
    ).with_id(EVALUATOR)

    evaluation_report = EvaluationReport(
        evaluation=evaluator.outputs["evaluation"],
        blessing=evaluator.outputs["blessing"],
        model=trainer.outputs["model"],
        model_run=trainer.outputs["model_run"],
        examples=training_examples,
        statistics=statistics_gen.outputs["statistics"],
        pipeline_name=config.pipeline_name,
    ).with_id(EVALUATION_REPORT)

    pusher = ServingPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        base_directory=config.serving_dir,
        keep_versions=config.serving.keep_versions,
    ).with_id(PUSHER)

    tflite_pusher = (
        TFLitePusher(
            model=trainer.outputs["model"],
            model_blessing=evaluator.outputs["blessing"],
            transformed_examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            conversions=config.tflite.conversions,
            max_accuracy_drop=config.tflite.max_accuracy_drop,
            base_directory=config.tflite_dir,
            keep_versions=config.serving.keep_versions,
        ).with_id(TFLITE_PUSHER)
        if config.tflite.conversions
        else None
    )

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
        evaluation_report,
        pusher,
        *([tflite_pusher] if tflite_pusher else []),
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
        if orchestrator == KUBEFLOW
        else config.pipeline_root,
        components=components,
        enable_cache=True,
        beam_pipeline_args=list(config.beam_pipeline_args),
    )


def create_discovery_pipeline(config: PipelineConfig) -> tfx.dsl.Pipeline:
    """The DAG's first nodes alone (ingestion, statistics, the inferred schema), built as
    `create_pipeline` builds them: what `image-pipeline init` runs to see the data the way a
    run will. Nothing trains. Its executions have the run's cache keys (same pipeline, same
    nodes, same inputs and parameters), so the first run takes them from the cache.
    """
    return _pipeline(config, list(_discovery_nodes(config)), LOCAL, whole=False)


def _discovery_nodes(config: PipelineConfig) -> tuple:
    """ImageExampleGen, StatisticsGen and SchemaGen: what the data is, before any schema."""
    example_gen = ImageExampleGen(
        input_base=tfx.dsl.experimental.RuntimeParameter(
            name=DATA_ROOT_PARAMETER,
            ptype=RUNTIME_PARAMETERS[DATA_ROOT_PARAMETER],
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
    ).with_id(EXAMPLE_GEN)
    statistics_gen = tfx.components.StatisticsGen(
        examples=example_gen.outputs["examples"],
        stats_options=tfdv.StatsOptions(enable_semantic_domain_stats=True),
    ).with_id(STATISTICS_GEN)

    inferred_schema = tfx.components.SchemaGen(
        statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True
    ).with_id(SCHEMA_GEN)

    return example_gen, statistics_gen, inferred_schema


def _baseline(config: PipelineConfig, orchestrator: str) -> tfx.dsl.Resolver | LatestBlessedModel:
    """The latest blessed model, output `model`, for the Evaluator and warm start.

    Locally TFX's LatestBlessedModelStrategy reads it from ML Metadata (nothing yet: an empty
    channel). On Kubeflow an ordinary task, LatestBlessedModel, copies the newest version the
    Pusher published (nothing yet: an empty Model, which the Evaluator and the Trainer read
    as none): the open-source backend refuses resolver executors, and Vertex runs the task
    as well.
    """
    if orchestrator not in ORCHESTRATORS:
        raise ValueError(f"orchestrator: {orchestrator!r}; expected one of {ORCHESTRATORS}")
    if orchestrator == KUBEFLOW:
        return LatestBlessedModel(serving_dir=config.serving_dir).with_id(BASELINE)
    return tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id(BASELINE)


def trainer_config(config: PipelineConfig) -> dict:
    """What run_fn and tuner_fn read from `fn_args.custom_config`: plain JSON-able values.

    The epochs are left out: they reach run_fn through ImageTrainer's `epochs` property, a
    runtime parameter (see components/image_trainer/component.py).
    """
    trainer = {k: v for k, v in dataclasses.asdict(config.trainer).items() if k != "epochs"}
    return {
        **trainer,
        "image_size": config.image_size,
        "max_pixels": config.serving.max_pixels,
        "augmentation": dataclasses.asdict(config.augmentation),
    }


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


SLICE_FEATURES = (features.LABEL_KEY, features.FORMAT_KEY)
"""Raw features TFMA slices by, besides the overall slice: per true class, per file format."""


def _previous_span_statistics(statistics_gen: tfx.components.StatisticsGen) -> tfx.dsl.Resolver:
    """The statistics of the span before this run's span: the gate's drift baseline."""
    resolver = tfx.dsl.Resolver(
        strategy_class=PreviousSpanStrategy,
        statistics=_every_run(
            tfx.types.standard_artifacts.ExampleStatistics, STATISTICS_GEN, "statistics"
        ),
    ).with_id(PREVIOUS_SPAN_RESOLVER)
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


def eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    """TFMA: accuracy gated on the overall slice, absolutely and against the baseline.

    Also reported, not gated: top-k accuracy, the example count, the multi-class confusion
    matrix (per-class precision and recall come from it; accuracy on a `label` slice is that
    class's recall), and calibration of the top-1 score (binarised on the first-ranked class,
    TFMA's sub key `k:1`: the label is "the top class is right", the prediction its score;
    `calibration` is the mean score over the accuracy, 1 when confidence matches accuracy,
    with its reliability plot). (`top_k_list` would not do: it keeps every class and sets
    the others to -inf.)
    Slices: overall, per true class, per original format, and per size bucket (a SQL slice
    on the shorter side of the original image, `size_bucket`).

    Thresholds sit in `per_slice_thresholds` on the overall slice: a plain threshold would
    apply to every slice, and a weak class would then block the blessing by itself. With no
    baseline yet (the first run) TFMA skips the change threshold, so the absolute bound
    alone decides. `tf_generic` is much faster than `tf_keras` with tf_keras models
    (DESIGN.md).
    """
    overall = tfma.SlicingSpec()
    accuracy_threshold = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(
            lower_bound={"value": config.evaluation.min_accuracy}
        ),
        change_threshold=tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
            absolute={"value": -config.evaluation.max_accuracy_drop},
        ),
    )
    top_k = config.evaluation.top_k
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=export.SERVING_EXAMPLES,
                preprocessing_function_names=[export.TRANSFORM_FEATURES],
                label_key=features.transformed_name(features.LABEL_KEY),
                prediction_key=export.PROBABILITIES,
                model_type=tfma.TF_GENERIC,
            )
        ],
        slicing_specs=[
            overall,
            *(tfma.SlicingSpec(feature_keys=[k]) for k in SLICE_FEATURES),
            *_size_slices(config.evaluation.size_buckets),
        ],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(
                        class_name="SparseCategoricalAccuracy",
                        per_slice_thresholds=[
                            tfma.PerSliceMetricThreshold(
                                slicing_specs=[overall], threshold=accuracy_threshold
                            )
                        ],
                    ),
                    tfma.MetricConfig(
                        class_name="SparseTopKCategoricalAccuracy",
                        config=json.dumps({"k": top_k, "name": f"top_{top_k}_accuracy"}),
                    ),
                    tfma.MetricConfig(class_name="ExampleCount"),
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                ],
            ),
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name="Calibration"),
                    tfma.MetricConfig(class_name="CalibrationPlot"),
                ],
                binarize=tfma.BinarizationOptions(k_list={"values": [1]}),
            ),
        ],
    )


SIZE_BUCKET = "size_bucket"
"""The slice column of the size slices."""


def _size_slices(edges: Sequence[int]) -> List[tfma.SlicingSpec]:
    """One SQL slice over raw `height` and `width`: the bucket of the shorter side."""
    if not edges:
        return []
    shorter = f"LEAST({features.HEIGHT_KEY}, {features.WIDTH_KEY})"
    cases = [f"WHEN {shorter} < {edges[0]} THEN '<{edges[0]}'"]
    cases += [
        f"WHEN {shorter} < {high} THEN '{low}-{high - 1}'"
        for low, high in zip(edges, edges[1:], strict=False)
    ]
    sql = (
        f"SELECT STRUCT(CASE {' '.join(cases)} ELSE '>={edges[-1]}' END AS {SIZE_BUCKET}) "
        f"FROM example.{features.HEIGHT_KEY}, example.{features.WIDTH_KEY}"
    )
    return [tfma.SlicingSpec(slice_keys_sql=sql)]
