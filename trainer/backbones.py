"""The backbones the Trainer builds: one entry each, everything the rest of the code needs to
know about a backbone. Adding one is a change to this file and its test.

No TensorFlow here: pipeline/config.py and pipeline/init.py read the catalogue without
loading it. How an entry becomes layers is trainer/model.py's.

Every classifier takes raw 0-255 RGB pixels, in training, serving and TFLite alike: a
backbone whose `tf.keras.applications` constructor expects other values gets its
normalisation as the classifier's first layer (`Backbone.normalisation`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Dict, Tuple

_KERAS_APPLICATIONS = "https://storage.googleapis.com/tensorflow/keras-applications/"

NORMALISATIONS = {
    "built_in": "none added: the constructor's model normalises 0-255 pixels itself",
    "minus_one_to_one": "pixels / 127.5 - 1 (the constructor's preprocess_input, mode tf)",
    "caffe": "RGB to BGR, minus the ImageNet mean per channel (preprocess_input, mode caffe)",
    "zero_to_one": "pixels / 255",
}
"""How a backbone's input is normalised, by the name its entry gives."""


@dataclasses.dataclass(frozen=True)
class Backbone:
    """One backbone.

    `constructor` is its `tf.keras.applications` name, or `compact` for the one built here
    (trainer/model.py). `native_size` is the input side it was designed for (and its
    ImageNet weights trained at). `block` is a regular expression matched against layer
    names at their start: the matched text names the block a layer opens; layers before the
    first block form the stem, layers after the last one the top, and the unmatched layers
    in between (activations, additions) join the block they follow. Staged unfreezing counts
    these blocks. `weights_file` is the ImageNet weights file Keras downloads (`{size}`
    stands for the input side, for backbones with a file per size among `weights_sizes`, 224
    otherwise), under `weights_url`; empty for a backbone with no ImageNet weights.
    """

    constructor: str
    native_size: int
    normalisation: str
    block: str
    weights_file: str = ""
    weights_url: str = ""
    weights_sizes: Tuple[int, ...] = ()

    @property
    def has_imagenet_weights(self) -> bool:
        return bool(self.weights_file)

    def imagenet_weights_file(self, image_size: int) -> Tuple[str, str]:
        """(file name, URL) of the ImageNet weights Keras downloads at `image_size`."""
        if not self.has_imagenet_weights:
            raise ValueError(f"{self.constructor} has no ImageNet weights")
        size = image_size if image_size in self.weights_sizes else 224
        filename = self.weights_file.format(size=size)
        return filename, self.weights_url + filename

    def block_of(self, layer_name: str) -> str | None:
        """The block a layer named `layer_name` opens or belongs to by name, or None."""
        match = re.match(self.block, layer_name)
        return match.group(0) if match else None


def _efficientnet(name: str, size: int) -> Backbone:
    return Backbone(
        name,
        size,
        "built_in",
        r"block\d+[a-z]_",
        name.lower() + "_notop.h5",
        "https://storage.googleapis.com/keras-applications/",
    )


def _efficientnet_v2(name: str, size: int) -> Backbone:
    variant = name[len("EfficientNetV2") :].lower()
    return Backbone(
        name,
        size,
        "built_in",
        r"block\d+[a-z]_",
        f"efficientnetv2-{variant}_notop.h5",
        _KERAS_APPLICATIONS + "efficientnet_v2/",
    )


def _mobilenet_v3(name: str) -> Backbone:
    variant = name[len("MobileNetV3") :].lower()
    return Backbone(
        name,
        224,
        "built_in",
        r"expanded_conv(_\d+)?/",
        f"weights_mobilenet_v3_{variant}_224_1.0_float_no_top_v2.h5",
        _KERAS_APPLICATIONS + "mobilenet_v3/",
    )


def _resnet(name: str, normalisation: str) -> Backbone:
    return Backbone(
        name,
        224,
        normalisation,
        r"conv\d+_block\d+_",
        f"{name.lower()}_weights_tf_dim_ordering_tf_kernels_notop.h5",
        _KERAS_APPLICATIONS + "resnet/",
    )


_EFFICIENTNET_SIZES = {"B0": 224, "B1": 240, "B2": 260, "B3": 300, "B4": 380}
_EFFICIENTNET_SIZES.update({"B5": 456, "B6": 528, "B7": 600})
_EFFICIENTNET_V2_SIZES = {"B0": 224, "B1": 240, "B2": 260, "B3": 300, "S": 384}

BACKBONES: Dict[str, Backbone] = {
    **{
        f"EfficientNet{v}": _efficientnet(f"EfficientNet{v}", s)
        for v, s in _EFFICIENTNET_SIZES.items()
    },
    **{
        f"EfficientNetV2{v}": _efficientnet_v2(f"EfficientNetV2{v}", s)
        for v, s in _EFFICIENTNET_V2_SIZES.items()
    },
    "MobileNetV2": Backbone(
        "MobileNetV2",
        224,
        "minus_one_to_one",
        r"(block_\d+|expanded_conv)_",
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}_no_top.h5",
        _KERAS_APPLICATIONS + "mobilenet_v2/",
        (96, 128, 160, 192, 224),
    ),
    "MobileNetV3Small": _mobilenet_v3("MobileNetV3Small"),
    "MobileNetV3Large": _mobilenet_v3("MobileNetV3Large"),
    "ResNet50": _resnet("ResNet50", "caffe"),
    "ResNet50V2": _resnet("ResNet50V2", "minus_one_to_one"),
    "VGG16": Backbone(
        "VGG16",
        224,
        "caffe",
        r"block\d+_",
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        _KERAS_APPLICATIONS + "vgg16/",
    ),
    "compact": Backbone("compact", 96, "zero_to_one", r"block\d+_"),
}
"""Every backbone the Trainer builds, by the name `trainer.backbone` takes."""

STEM_FILTERS = ("none", "sobel")
"""`trainer.stem_filters`: an optional first convolution on the raw pixels, before the
backbone: `sobel` starts it as (gray, horizontal edges, vertical edges) for domains where
edges carry the class (scans, drawings); see trainer/model.py."""


def keras_cache_path(filename: str) -> str:
    """Where Keras looks for (and downloads) a weights file before fetching it."""
    return os.path.join(os.path.expanduser("~/.keras/models"), filename)
