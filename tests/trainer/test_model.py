"""Backbone weights through the real loading path, with files the test creates."""

import numpy as np
import pytest
import tensorflow as tf

from trainer import model

SIZE = 32


def test_local_weights_file_is_loaded(tmp_path):
    source = tf.keras.applications.EfficientNetB0(
        include_top=False, weights=None, input_shape=(SIZE, SIZE, 3), pooling="avg"
    )
    path = str(tmp_path / "b0_notop.h5")
    source.save_weights(path)

    loaded = model.load_backbone("EfficientNetB0", path, SIZE)

    assert len(loaded.weights) == len(source.weights)
    for expected, actual in zip(source.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(expected.numpy(), actual.numpy())


def test_weights_of_another_backbone_are_refused(tmp_path):
    other = tf.keras.applications.EfficientNetB1(
        include_top=False, weights=None, input_shape=(SIZE, SIZE, 3), pooling="avg"
    )
    path = str(tmp_path / "b1_notop.h5")
    other.save_weights(path)
    with pytest.raises(model.WeightsError, match="does not fit the EfficientNetB0 backbone"):
        model.load_backbone("EfficientNetB0", path, SIZE)


def test_missing_weights_file(tmp_path):
    with pytest.raises(model.WeightsError, match="not found"):
        model.load_backbone("EfficientNetB0", str(tmp_path / "missing.h5"), SIZE)


def test_random_initialisation_builds_the_classifier():
    classifier = model.build_model(
        num_classes=4,
        image_size=SIZE,
        backbone="EfficientNetB0",
        weights="none",
        dropout=0.2,
        batchnorm_momentum=0.9,
    )
    probabilities = classifier(tf.random.uniform((2, SIZE, SIZE, 3), maxval=255.0))
    assert probabilities.shape == (2, 4)
    np.testing.assert_allclose(probabilities.numpy().sum(axis=1), 1.0, rtol=1e-5)
