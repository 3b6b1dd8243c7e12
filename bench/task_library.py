"""The shipped TFLite models through the real TFLite Task Library, against our interpreter path.

    .venv/bin/python bench/task_library.py --config configs/demo.yaml [--out <file.json>]

Takes the latest run of the config's pipeline: its eval split (the image bytes ingestion
stored, written back as files, one folder per class) and the TFLite models it shipped. Each
model classifies the files twice: with `tflite_support.task.vision.ImageClassifier`, which
reads everything from the model's metadata (in a process without TensorFlow,
tests/trainer/task_library.py), and with `image-pipeline predict` (our decode contract,
resize and `tf.lite.Interpreter`). Three sets of files: the eval files as they are (each side
decodes and resizes its own way), and the same images resized as the model's preprocessing
resizes them, written at the model's input size as PNG (the same pixels reach both) and as
JPEG (quality 95: the two JPEG decoders differ). Each comparison also gives `predict` the
pixels the Task Library decoded (the model alone, where no resize follows) and the largest
difference between those pixels and the decode contract's. Printed as a table, and written
as JSON.
Not a test: it needs a finished run.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

from pipeline import config_loader, metadata, nodes, summary  # noqa: E402
from tests.trainer import task_library  # noqa: E402
from trainer import features  # noqa: E402


def write_eval_files(examples_uri: str, folder: Path) -> list[Path]:
    """The eval split's stored image bytes as files `<folder>/<label>/<n>.<format>`."""
    files = tf.io.gfile.glob(f"{examples_uri}/Split-eval/*")
    written = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        label = feature[features.LABEL_KEY].bytes_list.value[0].decode()
        image_format = feature[features.FORMAT_KEY].bytes_list.value[0].decode().lower()
        path = folder / label / f"{len(written):05d}.{image_format}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(feature[features.IMAGE_KEY].bytes_list.value[0])
        written.append(path)
    return written


def measure(config_path: str) -> dict:
    config = config_loader.load_config(config_path)
    latest = summary.summarize(config)
    if not latest.tflite or not latest.tflite["destination"]:
        raise SystemExit(f"{config_path}: the latest run {latest.run_id} shipped no TFLite model")
    store = metadata.open_store(config.metadata_path)
    node_runs = metadata.node_runs(store, config.pipeline_name, latest.run_id)
    examples = metadata.output_of(node_runs, nodes.EXAMPLE_GEN, "examples")
    shipped = Path(latest.tflite["destination"])
    results = {"run": latest.run_id, "tflite": str(shipped), "models": {}}
    with tempfile.TemporaryDirectory() as scratch:
        eval_files = write_eval_files(examples.uri, Path(scratch) / "as-stored")
        at_size = task_library.write_at_size(eval_files, config.image_size, Path(scratch) / "sized")
        image_sets = {"as stored": eval_files, "resized, png": at_size["png"]}
        image_sets["resized, jpeg"] = at_size["jpg"]
        for model in sorted(shipped.glob("*.tflite")):
            print(f"{model.name}: classifying {len(eval_files)} eval images x 3", flush=True)
            results["models"][model.name] = {
                name: task_library.compare_with_predict(model, paths)
                for name, paths in image_sets.items()
            }
    results["images"] = len(eval_files)
    return results


def table(results: dict) -> str:
    lines = [
        f"Run {results['run']}, {results['images']} eval images, models in {results['tflite']}",
        "",
        "| model | files | Task Library accuracy | predict accuracy | top-1 differs | "
        "largest score difference | on the Task Library's pixels | largest pixel difference |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model, sets in results["models"].items():
        for name, compared in sets.items():
            accuracy, same_file = compared["accuracy"], compared["same_file"]
            lines.append(
                f"| {model} | {name} | {accuracy['task_library']:.4f} | "
                f"{accuracy['predict']:.4f} | {len(same_file['flipped'])} | "
                f"{same_file['largest_score_difference']:.2g} | "
                f"{compared['same_pixels']['largest_score_difference']:.2g} | "
                f"{compared['largest_pixel_difference']} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", default="bench/task_library.json")
    args = parser.parse_args()
    results = measure(args.config)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(table(results))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
