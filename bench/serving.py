"""Serving latency and size: the SavedModel's serving_default against each TFLite model.

    .venv/bin/python bench/serving.py --saved-model <push location or version> \\
        --tflite <tflite version folder> --images <folder of images>

Single-image and batch-32 latency (p50, p99 over `--repeats` calls, after a warm-up) and
model sizes. Side by side with the plain-Keras way: the Keras classifier called on decoded
images, which is what the TFLite models are compared with. The SavedModel timings include
decoding and resizing (its input is bytes); the TFLite and Keras ones start from decoded
pixels, as an app using TFLite would. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Callable, Dict, List

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from pipeline import predict  # noqa: E402
from trainer import export, preprocessing, tflite  # noqa: E402


def percentiles(run: Callable[[], object], repeats: int) -> Dict[str, float]:
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return {"p50_ms": 1e3 * np.percentile(times, 50), "p99_ms": 1e3 * np.percentile(times, 99)}


def folder_size(path: str) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def tflite_runner(content: bytes, batch: np.ndarray) -> Callable[[], object]:
    """Invokes the interpreter on `batch` at once (the input resized to the batch)."""
    interpreter = tf.lite.Interpreter(model_content=content)
    detail = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(detail["index"], list(batch.shape))
    interpreter.allocate_tensors()
    if detail["dtype"] != np.float32:
        scale, zero_point = detail["quantization"]
        batch = np.clip(np.round(batch / scale + zero_point), 0, 255)
    batch = batch.astype(detail["dtype"])

    def run():
        interpreter.set_tensor(detail["index"], batch)
        interpreter.invoke()

    return run


def main(argv: List[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--saved-model", required=True)
    parser.add_argument("--tflite", required=True, help="a pushed TFLite version folder")
    parser.add_argument("--images", required=True)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)

    saved_model = predict.resolve_saved_model(args.saved_model)
    files = sorted(p for p in Path(args.images).rglob("*") if p.is_file())[:32]
    encoded = [p.read_bytes() for p in files]
    encoded = (encoded * 32)[:32]
    with open(os.path.join(args.tflite, tflite.METADATA_FILE)) as f:
        metadata = json.load(f)
    size = metadata["input"]["shape"][1]
    decoded = preprocessing.decode_and_resize(tf.constant(encoded), size).numpy()
    serve = tf.saved_model.load(saved_model).signatures[export.SERVING_DEFAULT]
    classifier = tflite.load_classifier(saved_model)
    keras_call = tf.function(lambda images: classifier({tflite.IMAGE: images}, training=False))
    rows = {
        "savedmodel serving_default (bytes)": (
            folder_size(saved_model),
            lambda n: lambda: serve(image_bytes=tf.constant(encoded[:n])),
        ),
        "keras classifier (decoded)": (
            None,
            lambda n: lambda: keras_call(tf.constant(decoded[:n])),
        ),
    }
    for kind, entry in metadata["models"].items():
        with open(os.path.join(args.tflite, entry["file"]), "rb") as f:
            content = f.read()
        rows[f"tflite {kind} (decoded)"] = (
            len(content),
            lambda n, content=content: tflite_runner(content, decoded[:n]),
        )
    float_size = rows["savedmodel serving_default (bytes)"][0]
    headers = ("size MB", "% of SM", "1: p50", "p99", "32: p50", "p99")
    print(f"{'model':38} " + " ".join(f"{h:>8}" for h in headers) + "   (latency in ms)")
    for name, (size_bytes, runner) in rows.items():
        one = percentiles(runner(1), args.repeats)
        batch = percentiles(runner(32), max(5, args.repeats // 5))
        size_text = (
            f"{size_bytes / 1e6:8.2f} {100 * size_bytes / float_size:7.0f}%"
            if size_bytes
            else " " * 17
        )
        print(
            f"{name:38} {size_text} {one['p50_ms']:8.1f} {one['p99_ms']:8.1f} "
            f"{batch['p50_ms']:8.1f} {batch['p99_ms']:8.1f}"
        )
    for kind, entry in metadata["models"].items():
        print(f"tflite {kind}: accuracy drop {entry['accuracy_drop']:.4f} against the SavedModel")


if __name__ == "__main__":
    main()
