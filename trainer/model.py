"""The classifier: an EfficientNet backbone and a small head, with explicit weight loading.

Weights are never chosen silently: `none` trains from random initialisation and says so,
`imagenet` goes through Keras' normal download and cache and fails with a message naming
the file when it cannot, and a path loads that file or fails naming the mismatch.

Fine-tuning follows the keras-io recipe: train the head on a frozen backbone, then unfreeze
the top blocks with BatchNormalization kept frozen (its pretrained statistics would be
wrecked by small batches).
"""

from __future__ import annotations

import os
import re
from typing import Dict, List

import tensorflow as tf
from absl import logging

from trainer import features

_V1_WEIGHTS_URL = "https://storage.googleapis.com/keras-applications/"
_V2_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"
_BLOCK = re.compile(r"^block(\d+)([a-z])_")


class WeightsError(RuntimeError):
    """The configured backbone weights cannot be loaded."""


def imagenet_weights_file(name: str) -> tuple:
    """(file name, URL) Keras downloads for the ImageNet weights of backbone `name`."""
    if name.startswith("EfficientNetV2"):
        filename = "efficientnetv2-" + name[len("EfficientNetV2") :].lower() + "_notop.h5"
        return filename, _V2_WEIGHTS_URL + filename
    filename = name.lower() + "_notop.h5"
    return filename, _V1_WEIGHTS_URL + filename


def keras_cache_path(filename: str) -> str:
    """Where Keras looks for (and downloads) a weights file before fetching it."""
    return os.path.join(os.path.expanduser("~/.keras/models"), filename)


def load_backbone(name: str, weights: str, image_size: int) -> tf.keras.Model:
    """Builds `tf.keras.applications.<name>` without its top, pooled to a feature vector."""
    constructor = getattr(tf.keras.applications, name)
    build = dict(include_top=False, input_shape=(image_size, image_size, 3), pooling="avg")
    if weights == "none":
        logging.info("Backbone %s: weights none, every layer starts from random values", name)
        return constructor(weights=None, **build)
    if weights == "imagenet":
        filename, url = imagenet_weights_file(name)
        try:
            backbone = constructor(weights="imagenet", **build)
        except Exception as error:  # Keras raises a bare Exception on a failed download
            cached = keras_cache_path(filename)
            raise WeightsError(
                f"trainer.weights=imagenet: could not fetch the ImageNet weights for {name} "
                f"({error}). Without network access, copy {url} to {cached}, or set "
                "trainer.weights to a local weights file, or to none to train from random "
                "initialisation"
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
    """Backbone, dropout, softmax over the classes of the label vocabulary.

    The softmax is computed in float32 even under mixed precision, for stable scores.
    """
    inputs = tf.keras.Input(
        shape=(image_size, image_size, 3), name=features.transformed_name(features.IMAGE_KEY)
    )
    base = load_backbone(backbone, weights, image_size)
    for layer in base.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            layer.momentum = batchnorm_momentum
    x = base(inputs)
    x = tf.keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = tf.keras.layers.Dense(
        num_classes, activation="softmax", dtype="float32", name="probabilities"
    )(x)
    return tf.keras.Model(inputs, outputs, name=f"{backbone}_classifier")


def backbone_of(classifier: tf.keras.Model) -> tf.keras.Model:
    """The backbone inside a model made by `build_model` (Keras names it efficientnet...)."""
    (backbone,) = [
        layer
        for layer in classifier.layers
        if isinstance(layer, tf.keras.Model) and layer.name.startswith("efficientnet")
    ]
    return backbone


def blocks(backbone: tf.keras.Model) -> List[List[tf.keras.layers.Layer]]:
    """The backbone's layers grouped into blocks, input to output.

    EfficientNet names its layers `block<stage><letter>_...`; the stem before the first
    block and the `top_*` layers after the last one form a block each.
    """
    groups: List[List[tf.keras.layers.Layer]] = []
    current = None
    for layer in backbone.layers:
        match = _BLOCK.match(layer.name)
        if match:
            key = match.group(0)
        else:
            key = "top" if layer.name.startswith("top_") else current or "stem"
        if key != current:
            groups.append([])
            current = key
        groups[-1].append(layer)
    return groups


def freeze_backbone(classifier: tf.keras.Model) -> None:
    """Phase 1: only the head trains."""
    backbone_of(classifier).trainable = False


def block_rate_factors(classifier: tf.keras.Model, count: int, decay: float) -> Dict[str, float]:
    """Learning-rate factors of the top `count` blocks' variables: decay**k for the k-th
    block from the top (k = 1 for the top block), by variable name; the head is left out
    (it keeps the full rate)."""
    groups = blocks(backbone_of(classifier))
    unfrozen = groups[len(groups) - count :] if count else []
    return {
        variable.name: decay**depth
        for depth, group in enumerate(reversed(unfrozen), start=1)
        for layer in group
        for variable in layer.trainable_weights
    }


def unfreeze_top(classifier: tf.keras.Model, count: int) -> None:
    """Phase 2: the top `count` blocks train, BatchNormalization stays frozen."""
    backbone = backbone_of(classifier)
    backbone.trainable = True
    groups = blocks(backbone)
    unfrozen = groups[len(groups) - count :] if count else []
    unfrozen_layers = {id(layer) for group in unfrozen for layer in group}
    for layer in backbone.layers:
        layer.trainable = id(layer) in unfrozen_layers and not isinstance(
            layer, tf.keras.layers.BatchNormalization
        )
    logging.info(
        "Fine-tuning: top %d of %d backbone blocks unfrozen (BatchNormalization frozen)",
        len(unfrozen),
        len(groups),
    )
