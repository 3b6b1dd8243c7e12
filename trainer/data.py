"""The Trainer's input pipeline over Transform's output.

Examples are already decoded and resized by Transform, so this is parse, batch, prefetch.
Training data is reshuffled every epoch; evaluation data is read in order.
"""

from typing import List

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import DataAccessor
from tfx_bsl.public import tfxio

from trainer import features


def input_fn(
    file_pattern: List[str],
    data_accessor: DataAccessor,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
    training: bool,
) -> tf.data.Dataset:
    """One pass over the split as `(features, label)` batches."""
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size,
            label_key=features.transformed_name(features.LABEL_KEY),
            num_epochs=1,
            shuffle=training,
            shuffle_seed=None,
        ),
        tf_transform_output.transformed_metadata.schema,
    )
    return dataset.prefetch(tf.data.AUTOTUNE)
