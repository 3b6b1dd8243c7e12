"""`predict`: classify image files with a pushed model, the way a client would.

It takes a SavedModel (a version dir, or the push location, whose newest version is used)
and calls its `serving_default` signature on the file's bytes, or a `.tflite` file, which
it feeds exactly as `metadata.json` next to it tells an app to (decode by the contract in
trainer/decode.py, resize, [0, 255]), reading the class names from `labels.txt`; a
SavedModel refuses images over its `serving.max_pixels`, a `.tflite` over the default
`serving.max_pixels`, before decoding them. Either way it checks what the model ships with,
not what training saw. A file that cannot be read or decoded is one line naming it, and
the others are still classified.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Callable, List, Sequence, Tuple

import numpy as np
import tensorflow as tf

from pipeline.config import ServingConfig
from trainer import decode, export, preprocessing, tflite

Classify = Callable[[bytes], Tuple[List[str], List[float]]]
"""Encoded image -> class names and scores, best first."""


class PredictError(ValueError):
    """The model to predict with cannot be used; the message names the path and the fix."""


@dataclasses.dataclass(frozen=True)
class Prediction:
    path: str
    classes: Sequence[str] = ()
    scores: Sequence[float] = ()
    error: str = ""

    def as_text(self) -> str:
        if self.error:
            return f"{self.path}: error: {self.error}"
        pairs = zip(self.classes, self.scores, strict=True)
        best = ", ".join(f"{name} {score:.4f}" for name, score in pairs)
        return f"{self.path}: {best}"


def load(model_path: str) -> Classify:
    """A classifier for a `.tflite` file or a SavedModel directory (or push location)."""
    if model_path.endswith(".tflite"):
        return _tflite(model_path)
    loaded = tf.saved_model.load(resolve_saved_model(model_path))
    serve = loaded.signatures[export.SERVING_DEFAULT]

    def classify(image: bytes) -> Tuple[List[str], List[float]]:
        result = serve(image_bytes=tf.constant([image]))
        classes, scores = result[export.CLASSES], result[export.SCORES]
        return [c.decode() for c in classes.numpy()[0]], list(scores[0].numpy())

    return classify


def resolve_saved_model(model_path: str) -> str:
    """A SavedModel directory, or the newest version in a push location."""
    if not tf.io.gfile.isdir(model_path):
        raise PredictError(
            f"{model_path}: not found; give a pushed SavedModel directory or a .tflite file"
        )
    if tf.io.gfile.exists(os.path.join(model_path, "saved_model.pb")):
        return model_path
    versions = [v.rstrip("/") for v in tf.io.gfile.listdir(model_path)]
    versions = sorted((v for v in versions if v.isdigit()), key=int)
    if not versions:
        raise PredictError(
            f"{model_path}: no saved_model.pb and no version folders; give a pushed "
            "SavedModel directory (e.g. <output_dir>/serving/<model_name>) or a .tflite file"
        )
    return os.path.join(model_path, versions[-1])


def _tflite(model_path: str) -> Classify:
    folder = os.path.dirname(model_path)
    for name in (tflite.LABELS_FILE, tflite.METADATA_FILE):
        if not tf.io.gfile.exists(os.path.join(folder, name)):
            raise PredictError(
                f"{model_path}: {name} is missing next to it; use a pushed TFLite version "
                "folder (<output_dir>/tflite/<model_name>/<version>/)"
            )
    with tf.io.gfile.GFile(os.path.join(folder, tflite.LABELS_FILE)) as f:
        class_names = np.array(f.read().split("\n")[:-1])
    with tf.io.gfile.GFile(os.path.join(folder, tflite.METADATA_FILE)) as f:
        size = json.load(f)["input"]["shape"][1]
    with tf.io.gfile.GFile(model_path, "rb") as f:
        interpreter = tflite.TFLiteClassifier(f.read())

    @tf.function
    def model_input(image_bytes):
        checked = decode.check_image_bytes(image_bytes, ServingConfig.max_pixels)
        return preprocessing.decode_and_resize(checked, size)

    def classify(image: bytes) -> Tuple[List[str], List[float]]:
        probabilities = interpreter.predict(model_input(tf.constant([image])).numpy())[0]
        order = np.argsort(-probabilities)
        return list(class_names[order]), list(probabilities[order])

    return classify


def predict_files(classify: Classify, paths: Sequence[str], top_k: int) -> List[Prediction]:
    """One Prediction per file, in order; unreadable files carry an error instead."""
    predictions = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                classes, scores = classify(f.read())
        except OSError as error:
            predictions.append(Prediction(path, error=error.strerror or str(error)))
            continue
        except tf.errors.InvalidArgumentError as error:
            predictions.append(Prediction(path, error=_reason(error.message)))
            continue
        predictions.append(Prediction(path, classes[:top_k], [float(s) for s in scores[:top_k]]))
    return predictions


def _reason(message: str) -> str:
    """The check's text without TF's wrapping and the batch index (one file is one image):
    '... [image_bytes[0] is not a JPEG, ...]' -> 'not a JPEG, ...', '... is 30000x30000
    pixels, over serving.max_pixels=...' -> '30000x30000 pixels, over ...'. A file that
    passes the check but does not decode (e.g. truncated) gets a plain sentence, not TF's
    graph dump."""
    found = re.search(r"image_bytes\[\d+\] is ([^\]]*)", message)
    return found.group(1) if found else "could not be decoded as an image (truncated or corrupt?)"
