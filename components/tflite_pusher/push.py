"""TFLitePusher's logic without TFX: convert, compare with the float model, ship or hold back.

Every requested conversion is written to the component's own artifact (for the record, with
its measured accuracy), but only those whose accuracy drop against the SavedModel is within
the tolerance are published to the versioned push location; when none is, nothing is.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Sequence, Tuple

import tensorflow_transform as tft
from absl import logging

from components import publish
from trainer import features, tflite

BUNDLE_DIR = "tflite"
"""In the TFLitePusher's artifact: every conversion made, with its measurements."""
SHIPPED_DIR = "tflite-shipped"
"""In the TFLitePusher's artifact: the conversions that passed, as published."""


@dataclasses.dataclass(frozen=True)
class PushResult:
    float_accuracy: float
    shipped: List[str]
    held_back: Dict[str, str]
    """Conversion -> why it did not ship."""
    sizes: Dict[str, int]
    accuracies: Dict[str, float]
    destination: str | None


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
) -> PushResult:
    """Converts, evaluates on the eval split, writes the bundles into `artifact_dir` (every
    conversion in BUNDLE_DIR, those that passed in SHIPPED_DIR) and publishes what passed."""
    transform_output = tft.TFTransformOutput(transform_graph_dir)
    calibration, _ = tflite.read_transformed(
        train_pattern, transform_output, limit=tflite.CALIBRATION_IMAGES
    )
    images, labels = tflite.read_transformed(eval_pattern, transform_output)
    float_accuracy, converted = tflite.convert_and_compare(
        tflite.load_classifier(saved_model_dir), conversions, calibration, images, labels
    )
    class_names = transform_output.vocabulary_by_name(features.LABEL_VOCABULARY)
    image_size = int(images.shape[1])
    tflite.write_bundle(
        os.path.join(artifact_dir, BUNDLE_DIR), converted, class_names, image_size, float_accuracy
    )
    passed, held_back = split_by_tolerance(converted, max_accuracy_drop)
    for kind, reason in held_back.items():
        logging.warning("TFLite %s not shipped: %s", kind, reason)
    destination = None
    if passed:
        staged = os.path.join(artifact_dir, SHIPPED_DIR)
        tflite.write_bundle(staged, passed, class_names, image_size, float_accuracy)
        destination = publish.publish(staged, base_directory, keep_versions).destination
        logging.info("TFLite: shipped %s to %s", ", ".join(c.kind for c in passed), destination)
    return PushResult(
        float_accuracy=float_accuracy,
        shipped=[c.kind for c in passed],
        held_back=held_back,
        sizes={c.kind: len(c.content) for c in converted},
        accuracies={c.kind: c.accuracy for c in converted},
        destination=destination,
    )
