"""The pipeline's TFMA EvalConfig run for real on the session's trained model.

The Evaluator component is TFMA's run_model_analysis on raw tf.Examples; running that here
on the eval split (raw PNG Examples with `label` and `format`) checks every configured
metric, slice and plot exists under the names the summary and reports read, and that the
absolute threshold sits on the overall slice alone, without a whole DAG run.
"""

import hashlib

import tensorflow as tf
import tensorflow_model_analysis as tfma

from components.image_example_gen import reading
from pipeline import config_loader, evaluation


def example(path, side: int) -> bytes:
    """A raw Example as ImageExampleGen writes it; `side` stands in for the decoded size."""
    return reading.make_example(
        image=path.read_bytes(),
        label=path.parent.name,
        height=side,
        width=side + 10,
        image_format="png",
        source=path.name,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    ).SerializeToString()


def test_eval_config_computes_every_metric_slice_and_plot(trained, digits_subset, tmp_path):
    data = tmp_path / "eval.tfrecord"
    with tf.io.TFRecordWriter(str(data)) as writer:
        for index, path in enumerate(sorted(digits_subset.rglob("*.png"))[::6]):
            writer.write(example(path, side=20 if index % 3 else 100))  # 20 small, 10 large
    config = config_loader.config_from_dict(
        {"evaluation": {"min_accuracy": 1.0, "top_k": 2, "size_buckets": [32, 64]}}
    )
    eval_config = evaluation.eval_config(config)
    # An unreachable bound (the config refuses one above 1): every slice would fail it if
    # the threshold applied to every slice, so the failures show where it applies.
    threshold = eval_config.metrics_specs[0].metrics[0].per_slice_thresholds[0].threshold
    threshold.value_threshold.lower_bound.value = 1.01

    result = tfma.run_model_analysis(
        # No baseline: rubber-stamped like the Evaluator's first run, change thresholds skipped.
        eval_shared_model=tfma.default_eval_shared_model(
            trained.serving_model_dir, eval_config=eval_config, rubber_stamp=True
        ),
        eval_config=eval_config,
        data_location=str(data),
        output_path=str(tmp_path / "evaluation"),
    )

    metrics = {key: value[""][""] for key, value in result.slicing_metrics}
    overall = metrics[()]
    assert {"sparse_categorical_accuracy", "top_2_accuracy", "example_count"} <= set(overall)
    assert overall["example_count"]["doubleValue"] == 30
    assert (
        overall["top_2_accuracy"]["doubleValue"]
        >= overall["sparse_categorical_accuracy"]["doubleValue"]
    )
    columns = sorted(column for key in metrics for column, _ in key)
    assert columns == ["format", "label", "label", "label", "size_bucket", "size_bucket"]
    sizes = {
        key[0][1]: value["example_count"]["doubleValue"]
        for key, value in metrics.items()
        if key and key[0][0] == "size_bucket"
    }
    assert sizes == {"<32": 20, ">=64": 10}
    # Calibration of the top-1 score, binarised on the top class.
    top_1 = {key: value[""]["k:1"] for key, value in result.slicing_metrics}[()]
    accuracy = overall["sparse_categorical_accuracy"]["doubleValue"]
    # calibration = mean top-1 score / accuracy, and a top-1 score of 3 classes is >= 1/3
    assert 1 / (3 * accuracy) <= top_1["calibration"]["doubleValue"] <= 1 / accuracy

    plots = {key: value[""][""] for key, value in result.plots}
    assert "multiClassConfusionMatrixAtThresholds" in plots[()]
    top_1_plots = {key: value[""]["k:1"] for key, value in result.plots}[()]
    buckets = top_1_plots["calibrationHistogramBuckets"]["buckets"]
    assert sum(bucket.get("numWeightedExamples", 0) for bucket in buckets) == 30
    validation = tfma.load_validation_result(str(tmp_path / "evaluation"))
    failed_slices = [v.slice_key for v in validation.metric_validations_per_slice]
    assert len(failed_slices) == 1 and not failed_slices[0].single_slice_keys  # overall only
