"""TF Serving's warm-up file: requests it replays when it loads a version, before serving.

TensorFlow initialises parts of its runtime lazily, so without warm-up the first user
request to a newly loaded version pays for it (often orders of magnitude slower than the
next). TF Serving replays the `PredictionLog` records of
`<SavedModel>/assets.extra/tf_serving_warmup_requests` (a TFRecord file, at most 1000
records) at load time instead (https://www.tensorflow.org/tfx/serving/saved_model_warmup).

One request per image: the docs ask that the warm-up data be representative of the
requests used at serving, and a client of `serving_default` sends the encoded images it
has, typically one at a time. A batch of one is then the shape that the first user request
has; a single batched request would warm up only a batch size that clients rarely send.
"""

import os
from typing import List, Sequence

import tensorflow as tf
from absl import logging
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
from tfx import types
from tfx.types import artifact_utils

from trainer import export, features

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
"""Where TF Serving looks for the warm-up requests, relative to the SavedModel."""
SERVING_INPUT = "image_bytes"
"""The input of trainer/export.py's `serving_default` signature: encoded images."""
SPLIT = "eval"


def eval_images(examples: Sequence[types.Artifact], count: int) -> List[bytes]:
    """The encoded images of the first `count` eval examples, artifact by artifact and file
    by file in name order (the same images on every push of the same data)."""
    images: List[bytes] = []
    for artifact in examples:
        split_uri = artifact_utils.get_split_uri([artifact], SPLIT)
        files = sorted(tf.io.gfile.glob(os.path.join(split_uri, "*")))
        records = tf.data.TFRecordDataset(files, compression_type="GZIP")
        spec = {features.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)}
        for record in records.take(count - len(images)):
            images.append(tf.io.parse_single_example(record, spec)[features.IMAGE_KEY].numpy())
        if len(images) == count:
            break
    return images


def request(image: bytes) -> prediction_log_pb2.PredictionLog:
    """A `serving_default` Predict request for one encoded image, as a PredictionLog."""
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(
            request=predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(signature_name=export.SERVING_DEFAULT),
                inputs={SERVING_INPUT: tf.make_tensor_proto([image], dtype=tf.string)},
            )
        )
    )


def write_warmup_requests(
    saved_model_dir: str, examples: Sequence[types.Artifact], count: int
) -> str:
    """Writes one request per image of the first `count` eval examples to the SavedModel's
    warm-up file; returns its path. Fewer eval examples give fewer requests; none is an
    error (an empty file would warm nothing up, silently)."""
    images = eval_images(examples, count)
    if not images:
        uris = ", ".join(artifact.uri for artifact in examples)
        raise ValueError(f"No {SPLIT} examples to warm TF Serving up with in {uris}")
    path = os.path.join(saved_model_dir, WARMUP_FILE)
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for image in images:
            writer.write(request(image).SerializeToString())
    logging.info("Wrote %d warm-up requests (of %d asked for) to %s", len(images), count, path)
    return path
