"""The Trainer's input pipeline over Transform's output.

Examples are already decoded and resized by Transform, so an epoch is: read records
(in parallel), shuffle (training only), batch, parse a whole batch at once, augment
(training only), prefetch. When the split fits in `cache_max_mb` its records are cached in
memory after the first epoch, so later epochs never touch the disk; the shuffle comes after
the cache, so the order is still new every epoch.
"""

from typing import List, Tuple

import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

from trainer import augmentation, features

_SHUFFLE_BUFFER = 10_000


def split_size(files: List[str], cache_max_mb: int) -> Tuple[int, int] | None:
    """(records, bytes) of a split when it may fit in `cache_max_mb`, else None.

    Counting reads the split once, so it is skipped when the compressed files alone are
    already over the budget.
    """
    compressed = sum(tf.io.gfile.stat(path).length for path in files)
    if compressed > cache_max_mb * 2**20:
        return None
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    count, size = records.reduce(
        (tf.constant(0, tf.int64), tf.constant(0, tf.int64)),
        lambda totals, record: (
            totals[0] + 1,
            totals[1] + tf.cast(tf.strings.length(record), tf.int64),
        ),
    )
    return int(count), int(size)


def input_fn(
    file_pattern: List[str],
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
    training: bool,
    augmenter: tf.keras.Sequential | None = None,
    cache_max_mb: int = 0,
) -> tf.data.Dataset:
    """One pass over the split as `(features, label)` batches."""
    files = sorted(path for pattern in file_pattern for path in tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"no transformed examples match {file_pattern}")
    spec = tf_transform_output.transformed_feature_spec()
    label_key = features.transformed_name(features.LABEL_KEY)
    image_key = features.transformed_name(features.IMAGE_KEY)

    records = tf.data.TFRecordDataset(
        files, compression_type="GZIP", num_parallel_reads=tf.data.AUTOTUNE
    )
    size = split_size(files, cache_max_mb) if cache_max_mb else None
    if size and size[1] <= cache_max_mb * 2**20:
        logging.info(
            "Input: caching %d examples (%.0f MB) of %s in memory",
            size[0],
            size[1] / 2**20,
            files[0],
        )
        records = records.cache()
    if training:
        buffer = min(size[0], _SHUFFLE_BUFFER) if size else _SHUFFLE_BUFFER
        records = records.shuffle(buffer, reshuffle_each_iteration=True)

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, spec)
        return {image_key: parsed[image_key]}, parsed[label_key]

    batches = records.batch(batch_size).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    if training and augmenter is not None:
        # Keras' preprocessing layers are written for graph mode as they are; AutoGraph
        # converting their code took 8 s of the Trainer's start on the demo (0.6 s without).
        @tf.autograph.experimental.do_not_convert
        def augment(inputs, labels):
            return {image_key: augmentation.augment(inputs[image_key], augmenter)}, labels

        batches = batches.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    return batches.prefetch(tf.data.AUTOTUNE)
