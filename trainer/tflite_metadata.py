"""Standard TFLite model metadata, embedded in every `.tflite` we ship.

The metadata (tflite-support's schema, written with its metadata writers) is what the
TFLite Task Library, Android Studio's ML Model Binding and the iOS/Android support
libraries read: the model's name, version and description, the input image (RGB, its
size from the model, pixels in [0, 255] with mean 0 and std 1, since the model normalises
internally), and the output (one probability per class) with `labels.txt` packed in as its
label file, in output order.

Only the writers are imported: they run beside TensorFlow. `import tflite_support` also
loads the Task Library, whose pybind11 types clash with TensorFlow's in one process
(tensorflow/tensorflow#65943).
"""

from __future__ import annotations

import os
import tempfile
from typing import Sequence

from tensorflow_lite_support.metadata import metadata_schema_py_generated as metadata_fb
from tensorflow_lite_support.metadata.python.metadata_writers import (
    image_classifier,
    metadata_info,
    writer_utils,
)

MODEL_NAME = "image_classifier"
LABELS_FILE = "labels.txt"
INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"


def description(class_names: Sequence[str], kind: str, accuracy: float) -> str:
    """What the model classifies, its conversion and its measured accuracy, in one line."""
    return (
        f"Classifies an image into one of {len(class_names)} classes "
        f"({', '.join(class_names)}). TFLite {kind} conversion; accuracy {accuracy:.4f} "
        "on the eval split."
    )


def embed(
    content: bytes,
    class_names: Sequence[str],
    version: str,
    model_description: str,
) -> bytes:
    """`content` with the metadata and `labels.txt` (one class name a line) packed in; an
    empty `version` is left out."""
    with tempfile.TemporaryDirectory() as folder:
        labels = os.path.join(folder, LABELS_FILE)
        with open(labels, "w", encoding="utf-8") as f:
            f.write("".join(f"{name}\n" for name in class_names))
        writer = image_classifier.MetadataWriter.create_from_metadata_info(
            model_buffer=bytearray(content),
            general_md=metadata_info.GeneralMd(
                name=MODEL_NAME, version=version or None, description=model_description
            ),
            input_md=metadata_info.InputImageTensorMd(
                name=INPUT_NAME,
                description="RGB image, pixel values 0-255; the model normalises internally.",
                norm_mean=[0.0],
                norm_std=[1.0],
                color_space_type=metadata_fb.ColorSpaceType.RGB,
                tensor_type=writer_utils.get_input_tensor_types(content)[0],
            ),
            output_md=metadata_info.ClassificationTensorMd(
                name=OUTPUT_NAME,
                description="Probability of each class, in the order of labels.txt.",
                label_files=[metadata_info.LabelFileMd(file_path=labels)],
                tensor_type=writer_utils.get_output_tensor_types(content)[0],
            ),
        )
        return bytes(writer.populate())
