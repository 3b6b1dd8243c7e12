"""Runs the real ImageExampleGen executor in Beam on a folder and reads back what it wrote.

Shared by the component tests and bench/ingestion.py, so both run the executor the same way.
"""

import json

import tensorflow as tf
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.image_example_gen import executor


def run_executor(
    input_base,
    output_dir,
    pattern="*",
    train=8,
    eval_=2,
    min_side=8,
    max_pixels=1_000_000,
    max_quarantine_fraction=1.0,
    min_images_per_class=1,
    beam_pipeline_args=(),
):
    examples = standard_artifacts.Examples()
    examples.uri = str(output_dir / "examples" / "1")  # as in a pipeline root
    exec_properties = {
        "input_base": str(input_base),
        "input_config": proto_utils.proto_to_json(
            example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="all", pattern=pattern)])
        ),
        "output_config": proto_utils.proto_to_json(
            example_gen_pb2.Output(
                split_config=example_gen_pb2.SplitConfig(
                    splits=[
                        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=train),
                        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=eval_),
                    ],
                    partition_feature_name="sha256",
                )
            )
        ),
        "span": 0,
        "version": None,
        "output_data_format": example_gen_pb2.FORMAT_TF_EXAMPLE,
        "output_file_format": example_gen_pb2.FORMAT_TFRECORDS_GZIP,
        executor.MIN_SIDE_KEY: min_side,
        executor.MAX_PIXELS_KEY: max_pixels,
        executor.MAX_QUARANTINE_FRACTION_KEY: max_quarantine_fraction,
        executor.MIN_IMAGES_PER_CLASS_KEY: min_images_per_class,
    }
    context = executor.Executor.Context(beam_pipeline_args=list(beam_pipeline_args))
    executor.Executor(context).Do({}, {"examples": [examples]}, exec_properties)
    return examples


def read_split(examples, split):
    files = tf.io.gfile.glob(f"{examples.uri}/Split-{split}/*")
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    result = []
    for record in records:
        example = tf.train.Example.FromString(record.numpy())
        result.append(
            {
                key: (
                    value.bytes_list.value[0]
                    if value.bytes_list.value
                    else value.int64_list.value[0]
                )
                for key, value in example.features.feature.items()
            }
        )
    return result


def read_report(examples, filename):
    with open(f"{examples.uri}/{executor.REPORT_DIR}/{filename}", encoding="utf-8") as handle:
        return sorted((r["path"], r["reason"]) for r in map(json.loads, handle))
