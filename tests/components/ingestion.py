"""Reads back what ImageExampleGen's executor wrote: the examples of a split, a report file.

The tests run the executor with `components.image_example_gen.standalone.run_executor`.
"""

import json

import tensorflow as tf

from components.image_example_gen import executor


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
