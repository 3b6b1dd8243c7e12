"""`eval_config(config)`: what the Evaluator measures, on which slices, and what blesses.

The metric names are shared with the run summary and the evaluation report, which read
what TFMA stored (components/image_evaluator/metrics.py).
"""

from __future__ import annotations

import json
from typing import List, Sequence

import tensorflow_model_analysis as tfma

from components.image_evaluator import metrics
from pipeline.config import PipelineConfig
from trainer import export, features

SLICE_FEATURES = (features.LABEL_KEY, features.FORMAT_KEY)
"""Raw features TFMA slices by, besides the overall slice: per true class, per file format."""


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
    (docs/architecture.md).
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
                        class_name=metrics.ACCURACY_CLASS,
                        per_slice_thresholds=[
                            tfma.PerSliceMetricThreshold(
                                slicing_specs=[overall], threshold=accuracy_threshold
                            )
                        ],
                    ),
                    tfma.MetricConfig(
                        class_name=metrics.TOP_K_CLASS,
                        config=json.dumps({"k": top_k, "name": metrics.top_k_accuracy(top_k)}),
                    ),
                    tfma.MetricConfig(class_name=metrics.EXAMPLE_COUNT_CLASS),
                    tfma.MetricConfig(class_name=metrics.CONFUSION_PLOT_CLASS),
                ],
            ),
            tfma.MetricsSpec(
                metrics=[
                    tfma.MetricConfig(class_name=metrics.CALIBRATION_CLASS),
                    tfma.MetricConfig(class_name=metrics.CALIBRATION_PLOT_CLASS),
                ],
                binarize=tfma.BinarizationOptions(k_list={"values": [1]}),
            ),
        ],
    )


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
        f"SELECT STRUCT(CASE {' '.join(cases)} ELSE '>={edges[-1]}' END AS {metrics.SIZE_BUCKET}) "
        f"FROM example.{features.HEIGHT_KEY}, example.{features.WIDTH_KEY}"
    )
    return [tfma.SlicingSpec(slice_keys_sql=sql)]
