"""TFLitePusher's logic without TFX: convert, compare with the float model, ship or hold back.

Every requested conversion is written to the component's own artifact (for the record, with
its measured accuracy), but only those whose accuracy drop against the SavedModel is within
the tolerance are published to the versioned push location; when none is, nothing is.

With `qat`, an int8 conversion that misses the tolerance is made again after
quantization-aware training (trainer/qat.py); the better of the two is written and judged,
and the result records both accuracies and which one it is.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

from components import publish
from trainer import features, tflite
from trainer import qat as qat_lib
from trainer.conversions import INT8

BUNDLE_DIR = "tflite"
"""In the TFLitePusher's artifact: every conversion made, with its measurements."""
SHIPPED_DIR = "tflite-shipped"
"""In the TFLitePusher's artifact: the conversions that passed, as published."""
POST_TRAINING = "post_training"
QUANTIZATION_AWARE = "quantization_aware"
"""How the int8 conversion was made: calibrated after training, or after QAT."""


@dataclasses.dataclass(frozen=True)
class PushResult:
    float_accuracy: float
    shipped: List[str]
    held_back: Dict[str, str]
    """Conversion -> why it did not ship."""
    sizes: Dict[str, int]
    accuracies: Dict[str, float]
    destination: str | None
    int8_method: str | None
    """POST_TRAINING or QUANTIZATION_AWARE: which int8 model was written; None without int8."""
    int8_accuracies: Dict[str, float]
    """Method -> its int8 model's eval accuracy; QUANTIZATION_AWARE only when QAT ran."""


def split_by_tolerance(
    converted: Sequence[tflite.Conversion], max_accuracy_drop: float
) -> Tuple[List[tflite.Conversion], Dict[str, str]]:
    """The conversions that may ship, and why each other one may not."""
    passed = [c for c in converted if c.accuracy_drop <= max_accuracy_drop]
    held_back = {
        c.kind: f"accuracy drop {c.accuracy_drop:.4f} > tolerance {max_accuracy_drop:.4f}"
        for c in converted
        if c not in passed
    }
    return passed, held_back


def convert_and_push(
    saved_model_dir: str,
    transform_graph_dir: str,
    train_pattern: str,
    eval_pattern: str,
    conversions: Sequence[str],
    max_accuracy_drop: float,
    artifact_dir: str,
    base_directory: str,
    keep_versions: int,
    qat: bool,
    qat_epochs: int,
) -> PushResult:
    """Converts, evaluates on the eval split, writes the bundles into `artifact_dir` (every
    conversion in BUNDLE_DIR, those that passed in SHIPPED_DIR) and publishes what passed.

    `qat`: an int8 conversion whose accuracy drop exceeds `max_accuracy_drop` is redone
    after `qat_epochs` epochs of quantization-aware training, and replaced if that is more
    accurate."""
    transform_output = tft.TFTransformOutput(transform_graph_dir)
    calibration, _ = tflite.read_transformed(
        train_pattern, transform_output, limit=tflite.CALIBRATION_IMAGES
    )
    images, labels = tflite.read_transformed(eval_pattern, transform_output)
    classifier = tflite.load_classifier(saved_model_dir)
    float_accuracy, converted = tflite.convert_and_compare(
        classifier, conversions, calibration, images, labels
    )
    int8 = next((c for c in converted if c.kind == INT8), None)
    int8_accuracies = {POST_TRAINING: int8.accuracy} if int8 else {}
    int8_method = POST_TRAINING if int8 else None
    if qat and int8 and int8.accuracy_drop > max_accuracy_drop:
        aware = quantization_aware_int8(
            classifier,
            tflite.read_transformed(train_pattern, transform_output, limit=qat_lib.TRAIN_IMAGES),
            images,
            labels,
            qat_epochs,
        )
        int8_accuracies[QUANTIZATION_AWARE] = aware.accuracy
        if aware.accuracy > int8.accuracy:
            converted = [aware if c.kind == INT8 else c for c in converted]
            int8_method = QUANTIZATION_AWARE
        logging.info(
            "TFLite int8: post-training accuracy %.4f, quantization-aware %.4f: keeping %s",
            int8.accuracy,
            aware.accuracy,
            int8_method,
        )
    class_names = transform_output.vocabulary_by_name(features.LABEL_VOCABULARY)
    image_size = int(images.shape[1])
    tflite.write_bundle(
        os.path.join(artifact_dir, BUNDLE_DIR),
        converted,
        class_names,
        image_size,
        float_accuracy,
        model_version=saved_model_dir,
    )
    passed, held_back = split_by_tolerance(converted, max_accuracy_drop)
    for kind, reason in held_back.items():
        logging.warning("TFLite %s not shipped: %s", kind, reason)
    destination = None
    if passed:
        staged = os.path.join(artifact_dir, SHIPPED_DIR)
        tflite.write_bundle(
            staged, passed, class_names, image_size, float_accuracy, model_version=saved_model_dir
        )
        destination = publish.publish(staged, base_directory, keep_versions).destination
        logging.info("TFLite: shipped %s to %s", ", ".join(c.kind for c in passed), destination)
    return PushResult(
        float_accuracy=float_accuracy,
        shipped=[c.kind for c in passed],
        held_back=held_back,
        sizes={c.kind: len(c.content) for c in converted},
        accuracies={c.kind: c.accuracy for c in converted},
        destination=destination,
        int8_method=int8_method,
        int8_accuracies=int8_accuracies,
    )


def quantization_aware_int8(
    classifier: tf.keras.Model,
    train: Tuple[np.ndarray, np.ndarray],
    eval_images: np.ndarray,
    eval_labels: np.ndarray,
    epochs: int,
) -> tflite.Conversion:
    """The int8 conversion after quantization-aware training, measured on the eval split
    against the float classifier like `tflite.convert_and_compare` measures the others."""
    content = qat_lib.int8_after_qat(classifier, *train, eval_images, eval_labels, epochs)
    reference = np.argmax(classifier.predict(eval_images, batch_size=32, verbose=0), axis=1)
    return tflite.measure(INT8, content, reference, eval_images, eval_labels)
