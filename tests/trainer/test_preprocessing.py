"""preprocessing_fn through real TFT Beam analysis, on real encoded images."""

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from tests.components.images import encoded
from trainer import features, preprocessing

IMAGE_SIZE = 16


def transform(tmp_path, rows):
    raw_metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(
            {
                features.IMAGE_KEY: tf.io.FixedLenFeature([1], tf.string),
                features.LABEL_KEY: tf.io.FixedLenFeature([1], tf.string),
            }
        )
    )
    with tft_beam.Context(temp_dir=str(tmp_path / "tft"), force_tf_compat_v1=False):
        (transformed, _), transform_fn = (
            rows,
            raw_metadata,
        ) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing.preprocessing_fn(inputs, {"image_size": IMAGE_SIZE})
        )
        _ = transform_fn | tft_beam.WriteTransformFn(str(tmp_path / "transform_fn"))
    return transformed, tft.TFTransformOutput(str(tmp_path / "transform_fn"))


def test_images_of_every_shape_and_format_become_fixed_size_rgb(tmp_path):
    rows = [
        {"image": [encoded("PNG", size=(8, 8), mode="L")], "label": [b"b"]},
        {"image": [encoded("PNG", size=(40, 20), mode="RGBA")], "label": [b"a"]},
        {"image": [encoded("JPEG", size=(33, 47))], "label": [b"b"]},
        {"image": [encoded("GIF", size=(5, 9))], "label": [b"c"]},
        {"image": [encoded("BMP", size=(16, 16))], "label": [b"b"]},
    ]
    transformed, output = transform(tmp_path, rows)

    images = np.stack([row["image_xf"] for row in transformed])
    assert images.shape == (5, IMAGE_SIZE, IMAGE_SIZE, 3)
    assert images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 255
    assert images.std() > 10  # real pixels, not a constant

    vocabulary = output.vocabulary_by_name(features.LABEL_VOCABULARY)
    assert vocabulary[0] == b"b"  # most frequent first
    assert sorted(vocabulary) == [b"a", b"b", b"c"]
    labels = [vocabulary[row["label_xf"]] for row in transformed]
    assert labels == [b"b", b"a", b"b", b"c", b"b"]


def test_grayscale_pixels_survive_decode_and_resize(tmp_path):
    gray = encoded("PNG", size=(IMAGE_SIZE, IMAGE_SIZE), mode="L", seed=3)
    expected = tf.io.decode_png(gray, channels=1).numpy().astype(np.float32)
    result = preprocessing.decode_and_resize(tf.constant([gray]), IMAGE_SIZE).numpy()[0]
    for channel in range(3):  # same size: resizing keeps the pixels, gray goes to all channels
        np.testing.assert_allclose(result[..., channel], expected[..., 0], atol=1e-3)
