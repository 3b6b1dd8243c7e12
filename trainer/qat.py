"""Quantization-aware training (QAT): fine-tune the classifier with simulated int8, then
convert it to full-integer TFLite.

tensorflow-model-optimization's 8-bit scheme quantizes neither a model nested in another
(the EfficientNet backbone is one) nor every layer: it has no scheme for Rescaling,
Normalization or Multiply (the squeeze-and-excitation gate), and BatchNormalization only
where it folds into the convolution before it (as in EfficientNet: every one does). So the
classifier is first rebuilt flat, with the same weights; the layers tfmot supports are
annotated and trained with fake quantization, the others train in float, and the converter
calibrates those from the representative images like a post-training conversion does.
BatchNormalization stays frozen, as in fine-tuning.
"""

from __future__ import annotations

import time
from typing import List

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
from absl import logging
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
    default_8bit_quantize_registry,
)

from trainer import tflite
from trainer.conversions import INT8

TRAIN_IMAGES = 1000
"""Transformed training images QAT fine-tunes on: enough to learn the activation ranges."""
LEARNING_RATE = 1e-5
"""Low: QAT adapts the trained weights to int8, it does not retrain them."""
BATCH_SIZE = 32


def chain(classifier: tf.keras.Model) -> List[tf.keras.layers.Layer]:
    """The layers of the classifier's graph, input to output, each taking the previous
    one's output, as `trainer.model.build_model` makes them; layers only tracked on the
    model (the exported SavedModel's `tft_layer`) are not in it."""
    if len(classifier.inputs) != 1 or len(classifier.outputs) != 1:
        raise ValueError(f"QAT: {classifier.name} must have one input and one output")
    layers = []
    tensor = classifier.outputs[0]
    layer, node_index, _ = tensor._keras_history
    while not isinstance(layer, tf.keras.layers.InputLayer):
        inputs = tf.nest.flatten(layer.inbound_nodes[node_index].keras_inputs)
        if len(inputs) != 1:
            raise ValueError(
                f"QAT: {classifier.name} is not a chain of layers, so it cannot be flattened: "
                f"layer {layer.name} takes {len(inputs)} inputs"
            )
        layers.append(layer)
        layer, node_index, _ = inputs[0]._keras_history
    return layers[::-1]


def flatten(classifier: tf.keras.Model) -> tf.keras.Model:
    """The classifier with each nested model (the backbone) inlined as a copy with the same
    weights; it takes the same named input."""
    inputs = tf.keras.Input(classifier.input_shape[1:], name=classifier.input_names[0])
    x = inputs
    for layer in chain(classifier):
        if isinstance(layer, tf.keras.Model):
            nested = tf.keras.models.clone_model(layer, input_tensors=[x])
            nested.set_weights(layer.get_weights())
            x = nested.output
        else:
            x = layer(x)
    return tf.keras.Model(inputs, x, name=f"{classifier.name}_flat")


def quantize(classifier: tf.keras.Model) -> tf.keras.Model:
    """The flattened classifier with fake quantization on every layer tfmot's 8-bit scheme
    supports, the other layers left in float, and BatchNormalization frozen."""
    flat = flatten(classifier)
    registry = default_8bit_quantize_registry.Default8BitQuantizeRegistry()

    def quantizable(layer):
        return registry.supports(layer) or isinstance(layer, tf.keras.layers.BatchNormalization)

    unsupported = sorted(
        {type(layer).__name__ for layer in flat.layers[1:] if not quantizable(layer)}
    )
    logging.info("QAT: layers left in float (no tfmot 8-bit scheme): %s", ", ".join(unsupported))

    def annotate(layer):
        clone = layer.__class__.from_config(layer.get_config())
        if quantizable(layer):
            return tfmot.quantization.keras.quantize_annotate_layer(clone)
        return clone

    annotated = tf.keras.models.clone_model(flat, clone_function=annotate)
    annotated.set_weights(flat.get_weights())
    quantized = tfmot.quantization.keras.quantize_apply(annotated)
    for layer in quantized.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, tf.keras.layers.BatchNormalization):
            inner.trainable = False
    return quantized


class _EpochLog(tf.keras.callbacks.Callback):
    def __init__(self, epochs: int):
        super().__init__()
        self._epochs = epochs
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        logging.info(
            "QAT epoch %d/%d: loss %.4f, accuracy %.4f, eval accuracy (fake-quantized) %.4f, "
            "%.0f s",
            epoch + 1,
            self._epochs,
            logs["loss"],
            logs["accuracy"],
            logs["val_accuracy"],
            time.monotonic() - self._started,
        )


def int8_after_qat(
    classifier: tf.keras.Model,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    eval_images: np.ndarray,
    eval_labels: np.ndarray,
    epochs: int,
) -> bytes:
    """Full-integer TFLite (uint8 input) of the classifier fine-tuned for `epochs` epochs with
    quantization-aware training on the transformed training images.

    The conversion is `trainer.tflite.convert`'s int8 one, calibrated on the same training
    images for the layers QAT left in float.
    """
    started = time.monotonic()
    quantized = quantize(classifier)
    quantized.compile(
        optimizer=tf.keras.optimizers.Adam(LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    logging.info(
        "QAT: fine-tuning on %d training images for %d epochs (learning rate %g)",
        len(train_labels),
        epochs,
        LEARNING_RATE,
    )
    quantized.fit(
        train_images,
        train_labels,
        batch_size=BATCH_SIZE,
        epochs=epochs,
        validation_data=(eval_images, eval_labels),
        callbacks=[_EpochLog(epochs)],
        shuffle=True,
        verbose=0,
    )
    content = tflite.convert(quantized, INT8, train_images)
    logging.info("QAT: trained and converted in %.0f s", time.monotonic() - started)
    return content
