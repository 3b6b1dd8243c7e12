"""TFLite conversions of the trained classifier, each measured against the float model.

A TFLite model takes the decoded image, float32 `[1, size, size, 3]` with values in [0, 255]
(uint8 for the full-integer conversion): decoding and `ParseExample` are not builtin TFLite
ops, and Select TF ops would bloat every app that embeds the model. The app decodes and
resizes, as `metadata.json` says; the model normalises internally, like the SavedModel.

Quantisation can cost accuracy, so every conversion is run with the real
`tf.lite.Interpreter` on the transformed eval split and compared with the Keras classifier
on the very same pixels: a conversion ships only when its accuracy drop is within the
configured tolerance. The full-integer conversion is calibrated on transformed training
images.

Every model `write_bundle` writes carries standard TFLite model metadata
(trainer/tflite_metadata.py): name, version, a description with its conversion and
accuracy, the input's normalisation (mean 0, std 1 on RGB pixels in [0, 255]) and the
output's label file. So the TFLite Task Library and Android Studio's ML Model Binding use
it as is; `labels.txt` and `metadata.json` beside it say the same for any other client.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Dict, List, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

from trainer import features, progress, tflite_metadata
from trainer.conversions import CONVERSIONS, DYNAMIC_RANGE, FLOAT32, INT8

LABELS_FILE = tflite_metadata.LABELS_FILE
METADATA_FILE = "metadata.json"
CALIBRATION_IMAGES = 100
"""Representative training images for the int8 calibration; more adds time, not accuracy."""

IMAGE = features.transformed_name(features.IMAGE_KEY)
LABEL = features.transformed_name(features.LABEL_KEY)


@dataclasses.dataclass(frozen=True)
class Conversion:
    """One converted model and how it compares with the float classifier on the eval split."""

    kind: str
    content: bytes
    accuracy: float
    agreement: float
    """Fraction of eval images on which it predicts the same class as the float classifier."""
    accuracy_drop: float

    @property
    def filename(self) -> str:
        return f"model_{self.kind}.tflite"


def load_classifier(saved_model_dir: str) -> tf.keras.Model:
    """The Keras classifier inside the exported SavedModel (its input: transformed images)."""
    return tf.keras.models.load_model(saved_model_dir, compile=False)


def read_transformed(
    file_pattern: str, tf_transform_output: tft.TFTransformOutput, limit: int = 0
) -> Tuple[np.ndarray, np.ndarray]:
    """Transformed images `[n, size, size, 3]` and integer labels `[n]` from gzipped TFRecords."""
    spec = tf_transform_output.transformed_feature_spec()
    files = sorted(tf.io.gfile.glob(file_pattern))
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if limit:
        dataset = dataset.take(limit)
    images, labels = [], []
    for batch in dataset.batch(64).map(lambda x: tf.io.parse_example(x, spec)):
        images.append(batch[IMAGE].numpy())
        labels.append(np.reshape(batch[LABEL].numpy(), [-1]))
    if not images:
        raise ValueError(f"{file_pattern}: no transformed examples found")
    return np.concatenate(images), np.concatenate(labels)


class Classify:
    """The classifier as the one function its conversions are made from: a decoded image
    `[1, size, size, 3]` in, probabilities out.

    Traced once, then shared by every conversion and by the float predictions they are
    compared with: a trace of EfficientNetB0 takes about 6 s on 2 cores, and each conversion
    (and Keras' `predict`) traced it again.
    """

    def __init__(self, classifier: tf.keras.Model, size: int):
        @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32, name="image")])
        def classify(image):
            return {"probabilities": classifier({IMAGE: image}, training=False)}

        self._function = classify.get_concrete_function()
        # The converter saves what it is given as a SavedModel first. Given the Keras model,
        # that save traces a function per layer (about 50 s for EfficientNetB0, at every
        # conversion); a module holding only the variables saves the one function.
        self._variables = tf.Module()
        self._variables.held = list(classifier.variables)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Images `[n, size, size, 3]` -> probabilities `[n, classes]`, one image at a time
        through the function the conversions are made from."""
        return np.concatenate(
            [
                self._function(tf.constant(image[np.newaxis], tf.float32))["probabilities"].numpy()
                for image in images
            ]
        )

    def convert(self, kind: str, calibration: np.ndarray) -> bytes:
        """The TFLite flatbuffer of one conversion; `calibration`: transformed training
        images (int8 only)."""
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [self._function], self._variables
        )
        if kind in (DYNAMIC_RANGE, INT8):
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if kind == INT8:
            representative_images = pixel_range_pinned(calibration[:CALIBRATION_IMAGES])

            def representative():
                for image in representative_images:
                    yield [image[np.newaxis]]

            converter.representative_dataset = representative
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.uint8
        elif kind not in (FLOAT32, DYNAMIC_RANGE):
            raise ValueError(
                f"TFLite conversion {kind!r}: expected one of {', '.join(CONVERSIONS)}"
            )
        return converter.convert()


def convert(classifier: tf.keras.Model, kind: str, calibration: np.ndarray) -> bytes:
    """The classifier as a TFLite flatbuffer taking one decoded image (see Classify).

    `calibration`: transformed training images, which also give the input size.
    """
    return Classify(classifier, int(calibration.shape[1])).convert(kind, calibration)


def pixel_range_pinned(images: np.ndarray) -> np.ndarray:
    """The calibration images as float32, the first image's first two pixels set to 0 and
    255. The converter takes the uint8 input's scale from the smallest and largest value it
    sees there; with both, the input is the pixel value itself (scale 1, zero point 0), as
    the metadata says and the Task Library feeds it. Darker or paler calibration images
    would otherwise stretch the scale over their own range. (A fake-quant op on the input
    pins it too, but breaks the conversion of a quantization-aware model.)"""
    pinned = images.astype(np.float32)
    pinned[0, 0, :2] = [[0.0] * 3, [255.0] * 3]
    return pinned


class TFLiteClassifier:
    """`tf.lite.Interpreter` around a converted model: float images in, probabilities out."""

    def __init__(self, content: bytes):
        self._interpreter = tf.lite.Interpreter(model_content=content)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]

    @property
    def input_dtype(self) -> str:
        return np.dtype(self._input["dtype"]).name

    @property
    def input_quantization(self) -> Tuple[float, int]:
        """The input's (scale, zero point); (0.0, 0) for a float input."""
        scale, zero_point = self._input["quantization"]
        return float(scale), int(zero_point)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Images `[n, size, size, 3]` in [0, 255] -> probabilities `[n, classes]`."""
        return np.concatenate([self._one(image[np.newaxis]) for image in images])

    def _one(self, image: np.ndarray) -> np.ndarray:
        dtype = self._input["dtype"]
        if dtype != np.float32:
            scale, zero_point = self._input["quantization"]
            limits = np.iinfo(dtype)
            image = np.clip(np.round(image / scale + zero_point), limits.min, limits.max)
        self._interpreter.set_tensor(self._input["index"], image.astype(dtype))
        self._interpreter.invoke()
        output = self._interpreter.get_tensor(self._output["index"])
        if output.dtype != np.float32:
            scale, zero_point = self._output["quantization"]
            output = (output.astype(np.float32) - zero_point) * scale
        return output


def convert_and_compare(
    classifier: tf.keras.Model,
    kinds: Sequence[str],
    calibration: np.ndarray,
    eval_images: np.ndarray,
    eval_labels: np.ndarray,
) -> Tuple[float, List[Conversion]]:
    """The float classifier's eval accuracy, and each conversion measured against it."""
    classify = Classify(classifier, int(calibration.shape[1]))
    reference = np.argmax(classify.predict(eval_images), axis=1)
    float_accuracy = float(np.mean(reference == eval_labels))
    logging.info(
        "TFLite: float SavedModel accuracy %.4f on %d eval images", float_accuracy, len(eval_labels)
    )
    conversions = []
    for kind in kinds:
        started = time.monotonic()
        with progress.heartbeat(f"TFLite {kind}: converting"):
            content = classify.convert(kind, calibration)
        conversion = measure(kind, content, reference, eval_images, eval_labels)
        logging.info(
            "TFLite %s: %.2f MB, accuracy %.4f (drop %.4f), agrees with the float model on "
            "%.1f%% of images, converted and evaluated in %.0f s",
            kind,
            len(conversion.content) / 1e6,
            conversion.accuracy,
            conversion.accuracy_drop,
            100 * conversion.agreement,
            time.monotonic() - started,
        )
        conversions.append(conversion)
    return float_accuracy, conversions


def measure(
    kind: str,
    content: bytes,
    reference: np.ndarray,
    eval_images: np.ndarray,
    eval_labels: np.ndarray,
) -> Conversion:
    """The converted model `content` run by the interpreter on the eval images, against the
    labels and against `reference`, the float classifier's predicted classes."""
    predicted = np.argmax(TFLiteClassifier(content).predict(eval_images), axis=1)
    accuracy = float(np.mean(predicted == eval_labels))
    return Conversion(
        kind=kind,
        content=content,
        accuracy=accuracy,
        agreement=float(np.mean(predicted == reference)),
        accuracy_drop=float(np.mean(reference == eval_labels)) - accuracy,
    )


def write_bundle(
    directory: str,
    conversions: Sequence[Conversion],
    class_names: Sequence[str | bytes],
    image_size: int,
    float_accuracy: float,
    model_version: str = "",
) -> None:
    """The models, with their metadata embedded, `labels.txt` (in output order) and
    `metadata.json` into `directory`.

    `model_version`: the embedded version, e.g. the Trainer's model artifact the models were
    converted from; empty leaves it out.
    """
    names = [_text(name) for name in class_names]
    models = {
        conversion.kind: tflite_metadata.embed(
            conversion.content,
            names,
            model_version,
            tflite_metadata.description(names, conversion.kind, conversion.accuracy),
        )
        for conversion in conversions
    }
    tf.io.gfile.makedirs(directory)
    for conversion in conversions:
        with tf.io.gfile.GFile(os.path.join(directory, conversion.filename), "wb") as f:
            f.write(models[conversion.kind])
    with tf.io.gfile.GFile(os.path.join(directory, LABELS_FILE), "w") as f:
        f.write("".join(f"{name}\n" for name in names))
    with tf.io.gfile.GFile(os.path.join(directory, METADATA_FILE), "w") as f:
        f.write(
            json.dumps(bundle_metadata(conversions, models, image_size, float_accuracy), indent=2)
        )


def _text(name: str | bytes) -> str:
    return name.decode() if isinstance(name, bytes) else name


def bundle_metadata(
    conversions: Sequence[Conversion],
    models: Dict[str, bytes],
    image_size: int,
    float_accuracy: float,
) -> Dict:
    """What an app needs to feed the model and read its output; `models`: each kind's
    `.tflite` as written."""
    return {
        "input": {
            "name": "image",
            "shape": [1, image_size, image_size, 3],
            "value_range": [0, 255],
            "color": "RGB",
        },
        "preprocessing": [
            "decode the image (JPEG, PNG, GIF or BMP) to 3-channel RGB, upright: apply the "
            "JPEG's EXIF orientation; a GIF gives its first frame, cropped to its canvas",
            f"resize to {image_size}x{image_size} (bilinear, antialiased), no crop",
            "keep pixel values in [0, 255]: the model normalises internally",
        ],
        "output": {"name": "probabilities", "classes": LABELS_FILE},
        "float_model_accuracy": float_accuracy,
        "models": {
            conversion.kind: {
                "file": conversion.filename,
                "input_dtype": TFLiteClassifier(conversion.content).input_dtype,
                "size_bytes": len(models[conversion.kind]),
                "embedded_metadata": True,
                "accuracy": conversion.accuracy,
                "accuracy_drop": conversion.accuracy_drop,
                "agreement_with_float_model": conversion.agreement,
            }
            for conversion in conversions
        },
    }
