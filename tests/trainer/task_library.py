"""Classifies image files with a `.tflite` through the real TFLite Task Library, as an app would.

`python -m tests.trainer.task_library <model.tflite> <image>...` prints JSON, one entry per
image: `{"path", "classes", "scores", "pixels"}`, every class best first, and the pixels the
Task Library decoded and classified. The Task Library reads
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

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SCORE_TOLERANCE = {"float32": 1e-4, "dynamic_range": 1e-4, "int8": 1 / 256}
"""Largest score difference between the Task Library and `pipeline.predict` on the same
pixels, by conversion: float rounding, and int8's output step."""
PIXEL_TOLERANCE = {"png": 0, "jpg": 1}
"""Largest difference between the pixels the Task Library decodes from a file and those the
decode contract (`trainer.decode`) decodes, by file type: a PNG is lossless; a JPEG's IDCT
rounds its own way in each decoder (libjpeg's accurate IDCT in the contract)."""


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
        image = rgb_image(path)
        (head,) = classifier.classify(image).classifications
        results.append(
            {
                "path": path,
                "classes": [category.category_name for category in head.categories],
                "scores": [category.score for category in head.categories],
                "pixels": image.buffer.tolist(),
            }
        )
    return results


def rgb_image(path):
    """The file decoded by the Task Library; a grayscale one made RGB (its ImageClassifier
    refuses grayscale: "Grayscale format does not convert to other formats"), as an app
    would before classifying."""
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
    """The Task Library (`run`) against `pipeline.predict`, on files each in a folder named by
    its class. Two comparisons, each the files whose top-1 class differs (with predict's
    margin between its two best scores there) and the largest score difference:
    `same_pixels`, predict given the pixels the Task Library decoded (as a PNG), which
    isolates the model and its metadata where the file is at the model's size (neither
    resizes); `same_file`, predict given the file, which adds the
    two decoders' difference, measured as `largest_pixel_difference`. And each side's
    accuracy on the files."""
    import tensorflow as tf

    from pipeline import predict
    from trainer import decode

    classify = predict.load(str(model_path))
    same_pixels, same_file = _Differences(), _Differences()
    pixel_difference, correct = 0, {"task_library": 0, "predict": 0}
    for path, theirs in zip(image_paths, run(model_path, image_paths), strict=True):
        path = Path(path)
        pixels = np.array(theirs["pixels"], dtype=np.uint8)
        contract = decode.decode(tf.constant(path.read_bytes())).numpy()
        pixel_difference = max(pixel_difference, _largest_difference(pixels, contract))
        on_file = classify(path.read_bytes())
        same_file.add(path, theirs, *on_file)
        same_pixels.add(path, theirs, *classify(tf.io.encode_png(pixels).numpy()))
        correct["task_library"] += theirs["classes"][0] == path.parent.name
        correct["predict"] += on_file[0][0] == path.parent.name
    return {
        "same_pixels": same_pixels.result(),
        "same_file": same_file.result(),
        "largest_pixel_difference": pixel_difference,
        "accuracy": {name: count / len(image_paths) for name, count in correct.items()},
    }


def _largest_difference(a, b):
    if a.shape != b.shape:
        raise AssertionError(f"the Task Library decoded {a.shape}, the decode contract {b.shape}")
    return int(np.abs(a.astype(int) - b.astype(int)).max())


class _Differences:
    def __init__(self):
        self.flipped, self.largest = [], 0.0

    def add(self, path, theirs, classes, scores):
        ours = dict(zip(classes, scores, strict=True))
        if sorted(theirs["classes"]) != sorted(ours):
            raise AssertionError(f"{path}: classes {theirs['classes']}, predict: {classes}")
        if theirs["classes"][0] != classes[0]:
            self.flipped.append({"path": str(path), "margin": float(scores[0] - scores[1])})
        pairs = zip(theirs["classes"], theirs["scores"], strict=True)
        self.largest = max(self.largest, *(abs(ours[name] - score) for name, score in pairs))

    def result(self):
        return {"flipped": self.flipped, "largest_score_difference": float(self.largest)}


def assert_agrees(compared, kind, suffix):
    """`compare_with_predict`'s result for a `kind` of conversion on files of one `suffix`:
    on the same pixels, every score within `SCORE_TOLERANCE[kind]` of predict's, so the same
    top-1 class but where predict's two best scores are within twice that; and the Task
    Library's pixels within `PIXEL_TOLERANCE[suffix]` of the decode contract's."""
    tolerance = SCORE_TOLERANCE[kind]
    same_pixels = compared["same_pixels"]
    assert same_pixels["largest_score_difference"] <= tolerance, compared
    assert all(flip["margin"] <= 2 * tolerance for flip in same_pixels["flipped"]), compared
    assert compared["largest_pixel_difference"] <= PIXEL_TOLERANCE[suffix], compared


def main(argv):
    if len(argv) < 2:
        sys.exit("usage: python -m tests.trainer.task_library <model.tflite> <image>...")
    sys.meta_path.insert(0, _BlockTensorFlow())
    print(json.dumps(classify(argv[0], argv[1:])))


if __name__ == "__main__":
    main(sys.argv[1:])
