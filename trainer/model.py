"""The classifier: a backbone from trainer/backbones.py and a small head, with explicit weight
loading.

Weights are never chosen silently: `none` trains from random initialisation and says so,
`imagenet` goes through Keras' normal download and cache and fails with a message naming
the file when it cannot, and a path loads that file or fails naming the mismatch.

Fine-tuning follows the keras-io recipe: train the head on a frozen backbone, then unfreeze
the top blocks with BatchNormalization kept frozen (its pretrained statistics would be
wrecked by small batches).
"""

from __future__ import annotations

import os
from typing import Dict, List

import numpy as np
import tensorflow as tf
from absl import logging

from trainer import backbones, features
from trainer.backbones import BACKBONES


class WeightsError(RuntimeError):
    """The configured backbone weights cannot be loaded."""


def load_backbone(name: str, weights: str, image_size: int) -> tf.keras.Model:
    """Builds backbone `name` (trainer/backbones.py) without its top, pooled to a feature
    vector, with the configured weights."""
    entry = BACKBONES[name]
    if weights == "none":
        logging.info("Backbone %s: weights none, every layer starts from random values", name)
        return _construct(entry, None, image_size)
    if weights == "imagenet":
        if not entry.has_imagenet_weights:
            raise WeightsError(
                f"trainer.weights=imagenet: {name} has no ImageNet weights; set "
                f"trainer.weights to none, or to a weights file saved from a {name} backbone"
            )
        filename, url = entry.imagenet_weights_file(image_size)
        try:
            backbone = _construct(entry, "imagenet", image_size)
        except Exception as error:  # Keras raises a bare Exception on a failed download
            cached = backbones.keras_cache_path(filename)
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
    backbone = _construct(entry, None, image_size)
    try:
        backbone.load_weights(weights)
    except (ValueError, OSError) as error:
        raise WeightsError(
            f"trainer.weights: {weights} does not fit the {name} backbone "
            f"(include_top=False, {image_size} px): {error}"
        ) from None
    logging.info("Backbone %s: weights loaded from %s", name, weights)
    return backbone


def _construct(entry: backbones.Backbone, weights: str | None, image_size: int) -> tf.keras.Model:
    build = dict(include_top=False, input_shape=(image_size, image_size, 3), pooling="avg")
    if entry.constructor == "compact":
        return compact(**build)
    return getattr(tf.keras.applications, entry.constructor)(weights=weights, **build)


def compact(include_top: bool, input_shape: tuple, pooling: str) -> tf.keras.Model:
    """A small network of separable convolutions for small datasets, trained from scratch
    (`trainer.backbone: compact`): a convolution stem, then four blocks of two separable
    convolutions, BatchNormalization and ReLU, each halving the resolution, then global
    average pooling. About 0.2 M parameters; a deep ImageNet backbone has 4 to 25 M to fit
    to a few thousand images. Takes what the other backbones take (`include_top` false,
    pooling `avg`), so the Trainer builds it like them."""
    if include_top or pooling != "avg":
        raise ValueError("compact: only include_top=False, pooling='avg'")
    inputs = tf.keras.Input(input_shape)
    x = tf.keras.layers.Conv2D(32, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = tf.keras.layers.BatchNormalization(name="stem_bn")(x)
    x = tf.keras.layers.ReLU(name="stem_relu")(x)
    for index, filters in enumerate((48, 96, 160, 256), start=1):
        for conv in (1, 2):
            name = f"block{index}_sepconv{conv}"
            x = tf.keras.layers.SeparableConv2D(
                filters, 3, padding="same", use_bias=False, name=name
            )(x)
            x = tf.keras.layers.BatchNormalization(name=f"{name}_bn")(x)
            x = tf.keras.layers.ReLU(name=f"{name}_relu")(x)
        x = tf.keras.layers.MaxPooling2D(2, padding="same", name=f"block{index}_pool")(x)
    outputs = tf.keras.layers.GlobalAveragePooling2D(name="top_pool")(x)
    return tf.keras.Model(inputs, outputs, name="compact")


def normalisation(name: str) -> List[tf.keras.layers.Layer]:
    """The layers that take raw 0-255 pixels to what backbone `name` expects
    (`backbones.NORMALISATIONS`): none where its model does it itself."""
    kind = BACKBONES[name].normalisation
    if kind == "built_in":
        return []
    if kind == "minus_one_to_one":
        return [tf.keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="normalisation")]
    if kind == "zero_to_one":
        return [tf.keras.layers.Rescaling(1 / 255.0, name="normalisation")]
    # caffe: channels reversed and the mean taken off, as a fixed 1x1 convolution (a plain
    # layer: it saves, loads, converts and quantizes like any other).
    layer = tf.keras.layers.Conv2D(3, 1, trainable=False, name="normalisation")
    _build(layer)
    kernel = np.zeros((1, 1, 3, 3), np.float32)
    for rgb in range(3):
        kernel[0, 0, rgb, 2 - rgb] = 1.0
    layer.set_weights([kernel, -np.array(_CAFFE_BGR_MEAN, np.float32)])
    return [layer]


_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
"""ImageNet's mean pixel, blue green red (tf.keras.applications.imagenet_utils, mode caffe)."""


def stem_filters(kind: str, trainable: bool) -> List[tf.keras.layers.Layer]:
    """`trainer.stem_filters` (backbones.STEM_FILTERS): `sobel` is a 3x3 convolution on the
    raw pixels whose three outputs start as the gray image and its horizontal and vertical
    Sobel edges (scaled to 0-255 around 127.5), so the backbone sees edges from its first
    layer; frozen unless `trainable`."""
    if kind == "none":
        return []
    gray = np.array([0.299, 0.587, 0.114], np.float32)
    sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32) / 8
    kernel = np.zeros((3, 3, 3, 3), np.float32)
    kernel[1, 1, :, 0] = gray
    kernel[:, :, :, 1] = sobel_x[:, :, None] * gray
    kernel[:, :, :, 2] = sobel_x.T[:, :, None] * gray
    layer = tf.keras.layers.Conv2D(3, 3, padding="same", trainable=trainable, name="stem_filters")
    _build(layer)
    layer.set_weights([kernel, np.array([0.0, 127.5, 127.5], np.float32)])
    return [layer]


def _build(layer: tf.keras.layers.Layer) -> None:
    """Builds a layer whose weights are set by hand by calling it once, not by `build`:
    only a call records the input shape, and `load_model` needs it to rebuild the layer
    from its config (the export keeps no traced call functions)."""
    layer(tf.zeros((1, 1, 1, 3)))


def build_model(
    num_classes: int,
    image_size: int,
    backbone: str,
    weights: str,
    dropout: float,
    batchnorm_momentum: float,
    stem: str = "none",
    stem_trainable: bool = False,
) -> tf.keras.Model:
    """Raw 0-255 pixels, the optional stem filters (`stem_filters`), the backbone's
    normalisation (`normalisation`), the backbone, dropout, and a softmax over the classes
    of the label vocabulary.

    The softmax is computed in float32 even under mixed precision, for stable scores.
    """
    inputs = tf.keras.Input(
        shape=(image_size, image_size, 3), name=features.transformed_name(features.IMAGE_KEY)
    )
    base = load_backbone(backbone, weights, image_size)
    for layer in base.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            layer.momentum = batchnorm_momentum
    x = inputs
    for layer in [*stem_filters(stem, stem_trainable), *normalisation(backbone), base]:
        x = layer(x)
    x = tf.keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = tf.keras.layers.Dense(
        num_classes, activation="softmax", dtype="float32", name="probabilities"
    )(x)
    return tf.keras.Model(inputs, outputs, name=backbone + _CLASSIFIER)


_CLASSIFIER = "_classifier"
"""The classifier's name after its backbone's, by which `blocks` finds the backbone's entry."""


def backbone_of(classifier: tf.keras.Model) -> tf.keras.Model:
    """The backbone inside a model made by `build_model`: the one nested model in its graph
    (an exported model also tracks Transform's layer, a model called by no layer)."""
    (backbone,) = [
        layer
        for layer in classifier.layers
        if isinstance(layer, tf.keras.Model) and layer.inbound_nodes
    ]
    return backbone


def blocks(classifier: tf.keras.Model) -> List[List[tf.keras.layers.Layer]]:
    """The layers of a `build_model` classifier's backbone grouped into blocks, input to
    output, as the backbone's entry in trainer/backbones.py says: the stem before the first
    block and the top after the last one form a block each."""
    backbone = backbone_of(classifier)
    name = classifier.name.removesuffix(_CLASSIFIER)
    if name not in BACKBONES:
        raise ValueError(f"{classifier.name} is not named <backbone>{_CLASSIFIER} by build_model")
    entry = BACKBONES[name]
    keys = [entry.block_of(layer.name) for layer in backbone.layers]
    named = [index for index, key in enumerate(keys) if key]
    if not named:
        raise ValueError(f"{name}: no layer of {backbone.name} matches {entry.block!r}")
    groups: List[List[tf.keras.layers.Layer]] = []
    current = None
    for index, (layer, key) in enumerate(zip(backbone.layers, keys, strict=True)):
        if index < named[0]:
            key = "stem"
        elif index > named[-1]:
            key = "top"
        else:
            key = key or current
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
    groups = blocks(classifier)
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
    groups = blocks(classifier)
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
