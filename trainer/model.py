"""The classifier: an EfficientNet backbone and a small head, with explicit weight loading.

Weights are never chosen silently: `none` trains from random initialisation and says so,
`imagenet` goes through Keras' normal download and cache and fails with a message naming
the file when it cannot, and a path loads that file or fails naming the mismatch.
"""

from __future__ import annotations

import os

import tensorflow as tf
from absl import logging

from trainer import features

_KERAS_WEIGHTS_URL = "https://storage.googleapis.com/keras-applications/"


class WeightsError(RuntimeError):
    """The configured backbone weights cannot be loaded."""


def load_backbone(name: str, weights: str, image_size: int) -> tf.keras.Model:
    """Builds `tf.keras.applications.<name>` without its top, pooled to a feature vector."""
    constructor = getattr(tf.keras.applications, name)
    build = dict(include_top=False, input_shape=(image_size, image_size, 3), pooling="avg")
    if weights == "none":
        logging.info("Backbone %s: weights none, every layer starts from random values", name)
        return constructor(weights=None, **build)
    if weights == "imagenet":
        filename = f"{name.lower()}_notop.h5"
        try:
            backbone = constructor(weights="imagenet", **build)
        except Exception as error:  # Keras raises a bare Exception on a failed download
            cached = os.path.join(os.path.expanduser("~/.keras/models"), filename)
            raise WeightsError(
                f"trainer.weights=imagenet: could not fetch the ImageNet weights for {name} "
                f"({error}). Without network access, copy {_KERAS_WEIGHTS_URL}{filename} to "
                f"{cached}, or set trainer.weights to a local weights file, or to none to "
                "train from random initialisation"
            ) from None
        logging.info("Backbone %s: ImageNet weights loaded (%s)", name, filename)
        return backbone
    if not os.path.isfile(weights):
        raise WeightsError(
            f"trainer.weights: weights file {weights} not found; give the path of a weights "
            f"file saved from a {name} backbone, or imagenet, or none"
        )
    try:
        backbone = constructor(weights=weights, **build)
    except (ValueError, OSError) as error:
        raise WeightsError(
            f"trainer.weights: {weights} does not fit the {name} backbone "
            f"(include_top=False, {image_size} px): {error}"
        ) from None
    logging.info("Backbone %s: weights loaded from %s", name, weights)
    return backbone


def build_model(
    num_classes: int,
    image_size: int,
    backbone: str,
    weights: str,
    dropout: float,
    batchnorm_momentum: float,
) -> tf.keras.Model:
    """Backbone, dropout, softmax over the classes of the label vocabulary."""
    inputs = tf.keras.Input(
        shape=(image_size, image_size, 3), name=features.transformed_name(features.IMAGE_KEY)
    )
    base = load_backbone(backbone, weights, image_size)
    for layer in base.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            layer.momentum = batchnorm_momentum
    x = base(inputs)
    x = tf.keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = tf.keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return tf.keras.Model(inputs, outputs, name=f"{backbone}_classifier")
