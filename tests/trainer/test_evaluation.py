"""The pipeline's TFMA EvalConfig run for real on the session's trained model.

The Evaluator component is TFMA's run_model_analysis on raw tf.Examples; running that here
on the eval split (raw PNG Examples with `label` and `format`) checks every configured
metric, slice and plot exists under the names the summary and reports read, and that the
absolute threshold sits on the overall slice alone, without a whole DAG run.
"""

import tensorflow as tf
import tensorflow_model_analysis as tfma

from pipeline import config as config_lib
from pipeline import pipeline as dag


def example(path) -> bytes:
    def feature(value: bytes) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    return tf.train.Example(
        features=tf.train.Features(
            feature={
                "image": feature(path.read_bytes()),
                "label": feature(path.parent.name.encode()),
                "format": feature(b"png"),
            }
        )
    ).SerializeToString()


def test_eval_config_computes_every_metric_slice_and_plot(trained, digits_subset, tmp_path):
    data = tmp_path / "eval.tfrecord"
    with tf.io.TFRecordWriter(str(data)) as writer:
        for path in sorted(digits_subset.rglob("*.png"))[::6]:
            writer.write(example(path))
    config = config_lib.config_from_dict({"evaluation": {"min_accuracy": 1.0, "top_k": 2}})
    eval_config = dag.eval_config(config)

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
    assert columns == ["format", "label", "label", "label"]
    plots = {key: value[""][""] for key, value in result.plots}
    assert "multiClassConfusionMatrixAtThresholds" in plots[()]
    validation = tfma.load_validation_result(str(tmp_path / "evaluation"))
    failed_slices = [v.slice_key for v in validation.metric_validations_per_slice]
    assert len(failed_slices) == 1 and not failed_slices[0].single_slice_keys  # overall only
