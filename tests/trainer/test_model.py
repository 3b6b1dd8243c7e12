"""Backbone weights through the real loading path, with files the test creates."""

import numpy as np
import pytest
import tensorflow as tf

from trainer import model
from trainer.backbones import BACKBONES

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


def test_imagenet_offline_names_the_file_and_where_to_put_it(tmp_path, monkeypatch):
    """No network: Keras' download fails at the socket, and the error says what to do."""
    from urllib.error import URLError

    from tf_keras.src.utils import data_utils

    def offline(*args, **kwargs):
        raise URLError("network unreachable")

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(data_utils, "urlopen", offline)
    with pytest.raises(model.WeightsError) as error:
        model.load_backbone("EfficientNetB0", "imagenet", SIZE)
    message = str(error.value)
    assert "efficientnetb0_notop.h5" in message
    assert str(tmp_path / ".keras" / "models" / "efficientnetb0_notop.h5") in message
    assert "trainer.weights" in message and "none" in message


def test_imagenet_weights_file_names_for_v1_and_v2():
    assert BACKBONES["EfficientNetB3"].imagenet_weights_file(300)[0] == "efficientnetb3_notop.h5"
    name, url = BACKBONES["EfficientNetV2S"].imagenet_weights_file(384)
    assert name == "efficientnetv2-s_notop.h5"
    assert url.endswith("efficientnet_v2/efficientnetv2-s_notop.h5")


def test_deeper_unfrozen_blocks_get_smaller_rate_factors():
    classifier = model.build_model(3, SIZE, "EfficientNetB0", "none", 0.2, 0.9)
    model.unfreeze_top(classifier, 3)
    factors = model.block_rate_factors(classifier, 3, decay=0.5)

    backbone = model.backbone_of(classifier)
    groups = model.blocks(classifier)
    by_block = [
        {factors.get(v.name) for layer in group for v in layer.trainable_weights}
        for group in groups[-4:]
    ]
    assert by_block == [set(), {0.125}, {0.25}, {0.5}]  # 4th from the top stays frozen
    head = [v.name for layer in classifier.layers if layer is not backbone for v in layer.weights]
    assert head and not set(head) & set(factors)  # the head keeps the full rate
    assert not any("bn" in name for name in factors)  # BatchNormalization stays frozen
