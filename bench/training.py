"""Training throughput: the pipeline's Trainer input path and model against plain Keras.

Both sides train the same model (trainer.model.build_model: EfficientNet, same head,
same BatchNormalization momentum), at the same image size and batch size, with the same
optimizer, for the same number of epochs:

- pipeline: Transform's output of the latest demo run, read by trainer.data.input_fn
  (TFRecords, in-memory cache, shuffle, batch parse, prefetch), as run_fn does;
- plain Keras: `tf.keras.utils.image_dataset_from_directory` over the PNG folder, then
  `.cache().prefetch()` as in the Keras tutorials, then `model.fit`.

Steady state is the median epoch time after the first (which includes graph building).
Run `make demo` first, then:

    .venv/bin/python bench/training.py --config configs/demo.yaml --epochs 6
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402

from pipeline import config as config_lib  # noqa: E402
from pipeline import config_loader, metadata, nodes  # noqa: E402
from trainer import augmentation, data, features, model, run  # noqa: E402


class EpochTimes(tf.keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def steady_images_per_second(
    dataset: tf.data.Dataset,
    images: int,
    config: config_lib.PipelineConfig,
    classes: int,
    jit_compile: bool = False,
) -> float:
    tf.keras.backend.clear_session()
    classifier = model.build_model(
        num_classes=classes,
        image_size=config.image_size,
        backbone=config.trainer.backbone,
        weights="none",
        dropout=config.trainer.dropout,
        batchnorm_momentum=config.trainer.batchnorm_momentum,
    )
    run.compile_model(classifier, config.trainer.learning_rate, jit_compile)
    times = EpochTimes()
    classifier.fit(dataset, epochs=args.epochs, verbose=0, callbacks=[times])
    return images / statistics.median(times.times[1:])


def pipeline_dataset(config, augmenter=None):
    node_runs = metadata.latest_run(config.metadata_path, config.pipeline_name)
    transform_graph = node_runs[nodes.TRANSFORM].output("transform_graph").uri
    examples = node_runs[nodes.TRANSFORM].output("transformed_examples").uri
    output = tft.TFTransformOutput(transform_graph)
    files = [os.path.join(examples, "Split-train", "*")]
    dataset = data.input_fn(
        files,
        output,
        config.trainer.batch_size,
        training=True,
        augmenter=augmenter,
        cache_max_mb=config.trainer.cache_max_mb,
    )
    images = int(data.split_size(tf.io.gfile.glob(files[0]), 1 << 20)[0])
    classes = len(output.vocabulary_by_name(features.LABEL_VOCABULARY))
    return dataset, images, classes


def plain_keras_dataset(config):
    dataset = tf.keras.utils.image_dataset_from_directory(
        config.data.root,
        image_size=(config.image_size, config.image_size),
        batch_size=config.trainer.batch_size,
        color_mode="rgb",
        label_mode="int",
        shuffle=True,
        seed=0,
    )
    classes = len(dataset.class_names)
    images = sum(int(labels.shape[0]) for _, labels in dataset)
    return dataset.cache().prefetch(tf.data.AUTOTUNE), images, classes


def main() -> None:
    config = config_loader.load_config(args.config)
    print(
        f"{config.trainer.backbone} at {config.image_size} px, batch {config.trainer.batch_size}, "
        f"{args.epochs} epochs each (median epoch after the first)"
    )
    results = {}
    dataset, images, classes = plain_keras_dataset(config)
    results["plain Keras (image_dataset_from_directory + fit)"] = steady_images_per_second(
        dataset, images, config, classes
    )
    dataset, images, classes = pipeline_dataset(config)
    results["pipeline Trainer input (no augmentation)"] = steady_images_per_second(
        dataset, images, config, classes
    )
    results["pipeline Trainer input, jit_compile (no augmentation)"] = steady_images_per_second(
        dataset, images, config, classes, jit_compile=True
    )
    augmenter = augmentation.build_augmenter(config.augmentation, config.image_size)
    if augmenter is not None:
        dataset, images, classes = pipeline_dataset(config, augmenter)
        results["pipeline Trainer input (demo augmentation)"] = steady_images_per_second(
            dataset, images, config, classes
        )
    plain = next(iter(results.values()))
    for name, rate in results.items():
        print(f"{name:52s} {rate:8.1f} images/s  ratio {rate / plain:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    main()
