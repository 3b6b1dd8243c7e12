"""Classifies image files with a `.tflite` through the real TFLite Task Library, as an app would.

`python -m tests.trainer.task_library <model.tflite> <image>...` prints JSON, one entry per
image: `{"path", "classes", "scores"}`, every class, best first. The Task Library reads
everything it needs (label file, normalisation, input size) from the model's metadata.

It runs in its own process, which must never import TensorFlow: tflite-support 0.4.4's
pybind11 types clash with TensorFlow's (tensorflow/tensorflow#65943), and the Task
Library's optional_dependencies tries `tensorflow.tools.docs`, so TensorFlow is blocked
before the Task Library is imported.
"""

import importlib.abc
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCORE_TOLERANCE = {
    "png": {"float32": 1e-4, "dynamic_range": 1e-4, "int8": 1 / 256},
    "jpg": {"float32": 0.05, "dynamic_range": 0.3, "int8": 0.3},
}
"""Largest score difference between the Task Library and `pipeline.predict` on one file, by
file type and conversion. On a PNG both see the same pixels: float rounding, and int8's
output step. A JPEG each decodes its own way: the Task Library's decoder is within 1 of
libjpeg's accurate IDCT, which the decode contract uses, and a quantized model magnifies
that. Measured on digit scans at 32 px: up to 0.011 (float32), 0.21 (dynamic range) and
0.19 (int8), over 30 scans in tests and 361 in bench/task_library.py; with TensorFlow's
fast IDCT, which the contract used before, up to 0.55, and 1 to 3 of 30 changed class."""


class _BlockTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname == "tensorflow" or fullname.startswith("tensorflow."):
            raise ModuleNotFoundError(f"{fullname} is blocked in this process", name=fullname)
        return None


def classify(model_path, image_paths):
    from tflite_support.task import core, processor, vision

    with open(model_path, "rb") as f:
        content = f.read()
    # No max_results: every class, like `pipeline.predict`.
    options = vision.ImageClassifierOptions(
        base_options=core.BaseOptions(file_content=content),
        classification_options=processor.ClassificationOptions(),
    )
    classifier = vision.ImageClassifier.create_from_options(options)
    results = []
    for path in image_paths:
        (head,) = classifier.classify(rgb_image(path)).classifications
        results.append(
            {
                "path": path,
                "classes": [category.category_name for category in head.categories],
                "scores": [category.score for category in head.categories],
            }
        )
    return results


def rgb_image(path):
    """The file decoded by the Task Library; a grayscale one made RGB (its ImageClassifier
    refuses grayscale: "Grayscale format does not convert to other formats"), as an app
    would before classifying."""
    import numpy as np
    from tflite_support.task import vision

    image = vision.TensorImage.create_from_file(path)
    if image.buffer.shape[-1] == 1:
        return vision.TensorImage.create_from_array(np.repeat(image.buffer, 3, axis=-1))
    return image


def run(model_path, image_paths):
    """`classify` in a fresh process (this one may have TensorFlow loaded)."""
    command = [sys.executable, "-m", "tests.trainer.task_library", str(model_path)]
    done = subprocess.run(
        [*command, *map(str, image_paths)], cwd=REPO, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"Task Library on {model_path} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def write_at_size(image_paths, size, folder):
    """Each image resized to `size` x `size` as the model's preprocessing resizes it
    (`trainer.preprocessing.decode_and_resize`), written as RGB PNG and JPEG (quality 95)
    files in `folder`, by suffix ("png", "jpg"): at the model's input size neither the Task
    Library nor `pipeline.predict` resizes, and the pixels are those the model was trained
    on."""
    import numpy as np
    import tensorflow as tf
    from PIL import Image

    from trainer import preprocessing

    folder = Path(folder)
    encoded = tf.constant([Path(path).read_bytes() for path in image_paths])
    resized = preprocessing.decode_and_resize(encoded, size).numpy()
    pixels = np.clip(np.round(resized), 0, 255).astype(np.uint8)
    written = {"png": [], "jpg": []}
    for suffix, paths in written.items():
        for path, image in zip(image_paths, pixels, strict=True):
            target = folder / Path(path).parent.name / f"{Path(path).stem}.{suffix}"
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(target, quality=95)  # PNG ignores the quality
            paths.append(target)
    return written


def compare_with_predict(model_path, image_paths):
    """The Task Library (`run`) against `pipeline.predict` on the same files, each in a
    folder named by its class: the files whose top-1 class differs (with predict's margin
    between its two best scores there), the largest score difference on any file, and each
    one's accuracy."""
    from pipeline import predict

    classify = predict.load(str(model_path))
    flipped, largest, correct = [], 0.0, {"task_library": 0, "predict": 0}
    for path, theirs in zip(image_paths, run(model_path, image_paths), strict=True):
        path = Path(path)
        classes, scores = classify(path.read_bytes())
        ours = dict(zip(classes, scores, strict=True))
        if sorted(theirs["classes"]) != sorted(ours):
            raise AssertionError(f"{path}: classes {theirs['classes']}, predict: {classes}")
        if theirs["classes"][0] != classes[0]:
            flipped.append({"path": str(path), "margin": float(scores[0] - scores[1])})
        pairs = zip(theirs["classes"], theirs["scores"], strict=True)
        largest = max(largest, *(abs(ours[name] - score) for name, score in pairs))
        correct["task_library"] += theirs["classes"][0] == path.parent.name
        correct["predict"] += classes[0] == path.parent.name
    accuracy = {name: count / len(image_paths) for name, count in correct.items()}
    return {"flipped": flipped, "largest_score_difference": float(largest), "accuracy": accuracy}


def assert_agrees(compared, tolerance):
    """`compare_with_predict`'s result: every score within `tolerance` of predict's, and the
    same top-1 class but on a near-tie (predict's two best scores within `tolerance`)."""
    assert compared["largest_score_difference"] <= tolerance, compared
    assert all(flip["margin"] <= tolerance for flip in compared["flipped"]), compared


def main(argv):
    if len(argv) < 2:
        sys.exit("usage: python -m tests.trainer.task_library <model.tflite> <image>...")
    sys.meta_path.insert(0, _BlockTensorFlow())
    print(json.dumps(classify(argv[0], argv[1:])))


if __name__ == "__main__":
    main(sys.argv[1:])
