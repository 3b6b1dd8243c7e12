"""The plain-Keras reference for the demo's job: what an engineer writes by hand without TFX.

The same job as `make demo` (configs/demo.yaml, whose values it reads): the image folder
split 8:2, resized to the demo's size, EfficientNetB0 from random initialisation with the
same head (dropout, softmax) and BatchNormalization momentum, the demo's augmentation per
epoch, Adam with one warm-up epoch then cosine decay, the same batch size and epochs;
evaluation, a SavedModel export, and the three TFLite conversions of that SavedModel
(float32, dynamic range, int8 calibrated on 100 training images), each evaluated with the
TFLite interpreter. (`from_saved_model`, not `from_keras_model`: the latter saves the model
again for every conversion, about 50 s each for EfficientNetB0 here.)

It writes what it measured as JSON: seconds per step, accuracies, image counts. The bench
runner (`bench/run.py`, `make bench`) times it beside the pipeline.

    .venv/bin/python bench/reference.py --data data/digits --config configs/demo.yaml \
        --out /tmp/reference --json /tmp/reference.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import yaml  # noqa: E402

CALIBRATION_IMAGES = 100


class EpochTimes(tf.keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        print(f"epoch {epoch + 1}: {logs}", flush=True)


def learning_rate(epoch: int, base: float, warmup: int, epochs: int) -> float:
    if epoch < warmup:
        return base * (epoch + 1) / (warmup + 1)
    progress = (epoch - warmup) / max(1, epochs - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * progress))


def build_model(classes: int, size: int, dropout: float, momentum: float) -> tf.keras.Model:
    base = tf.keras.applications.EfficientNetB0(
        include_top=False, weights=None, input_shape=(size, size, 3), pooling="avg"
    )
    for layer in base.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            layer.momentum = momentum
    inputs = tf.keras.Input((size, size, 3))
    x = tf.keras.layers.Dropout(dropout)(base(inputs))
    outputs = tf.keras.layers.Dense(classes, activation="softmax")(x)
    return tf.keras.Model(inputs, outputs)


def augmenter(policy: dict) -> tf.keras.Sequential:
    return tf.keras.Sequential(
        [
            tf.keras.layers.RandomRotation(policy["rotation"], fill_mode="reflect"),
            tf.keras.layers.RandomZoom(policy["zoom"], fill_mode="reflect"),
            tf.keras.layers.RandomTranslation(
                policy["translation"], policy["translation"], fill_mode="reflect"
            ),
        ]
    )


def tflite_accuracy(content: bytes, images: np.ndarray, labels: np.ndarray) -> float:
    interpreter = tf.lite.Interpreter(model_content=content)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]
    target = interpreter.get_output_details()[0]
    correct = 0
    for image, label in zip(images, labels, strict=True):
        value = image[np.newaxis]
        if source["dtype"] == np.uint8:
            scale, zero_point = source["quantization"]
            value = np.clip(np.round(value / scale + zero_point), 0, 255)
        interpreter.set_tensor(source["index"], value.astype(source["dtype"]))
        interpreter.invoke()
        correct += int(np.argmax(interpreter.get_tensor(target["index"])) == label)
    return correct / len(labels)


def main(args: argparse.Namespace) -> None:
    with open(args.config) as f:
        config = yaml.safe_load(f)
    trainer = config["trainer"]
    size = config["preprocessing"]["image_size"]
    split = config["data"]["split"]
    seconds = {}

    started = time.perf_counter()
    train, validation = tf.keras.utils.image_dataset_from_directory(
        args.data,
        image_size=(size, size),
        batch_size=None,
        color_mode="rgb",
        validation_split=split["eval"] / (split["train"] + split["eval"]),
        subset="both",
        seed=0,
    )
    classes = len(train.class_names)
    eval_images = np.stack([image.numpy() for image, _ in validation])
    eval_labels = np.array([int(label) for _, label in validation])
    train = train.cache()
    calibration = np.stack([image.numpy() for image, _ in train.take(CALIBRATION_IMAGES)])
    augment = augmenter(config["augmentation"])
    train_batches = (
        train.shuffle(4096, seed=0)
        .batch(trainer["batch_size"])
        .map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    eval_batches = validation.batch(trainer["batch_size"]).cache().prefetch(tf.data.AUTOTUNE)
    seconds["data"] = time.perf_counter() - started

    model = build_model(classes, size, trainer["dropout"], trainer["batchnorm_momentum"])
    model.compile(
        optimizer=tf.keras.optimizers.Adam(trainer["learning_rate"]),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    epochs = trainer["epochs"]
    times = EpochTimes()
    schedule = tf.keras.callbacks.LearningRateScheduler(
        lambda epoch, _: learning_rate(
            epoch, trainer["learning_rate"], trainer["warmup_epochs"], epochs
        )
    )
    started = time.perf_counter()
    model.fit(
        train_batches,
        validation_data=eval_batches,
        epochs=epochs,
        verbose=0,
        callbacks=[times, schedule],
    )
    training = time.perf_counter() - started
    seconds["first_epoch"] = times.seconds[0]
    seconds["other_epochs"] = training - times.seconds[0]

    started = time.perf_counter()
    _, accuracy = model.evaluate(eval_batches, verbose=0)
    seconds["evaluation"] = time.perf_counter() - started

    started = time.perf_counter()
    export_dir = os.path.join(args.out, "saved_model")
    model.save(export_dir, save_format="tf")
    seconds["export"] = time.perf_counter() - started

    started = time.perf_counter()
    tflite = {}
    for kind in ("float32", "dynamic_range", "int8"):
        converter = tf.lite.TFLiteConverter.from_saved_model(export_dir)
        if kind != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if kind == "int8":
            converter.representative_dataset = lambda: (
                [image[np.newaxis]] for image in calibration
            )
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.uint8
        content = converter.convert()
        with open(os.path.join(args.out, f"model_{kind}.tflite"), "wb") as f:
            f.write(content)
        tflite[kind] = tflite_accuracy(content, eval_images, eval_labels)
        print(
            f"TFLite {kind}: {len(content) / 1e6:.2f} MB, accuracy {tflite[kind]:.4f}", flush=True
        )
    seconds["tflite"] = time.perf_counter() - started

    result = {
        "seconds_per_step": seconds,
        "train_images": int(sum(1 for _ in train)),
        "eval_images": len(eval_labels),
        "eval_accuracy": float(accuracy),
        "tflite_accuracy": tflite,
    }
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="image folder, one subfolder per class")
    parser.add_argument("--config", default="configs/demo.yaml")
    parser.add_argument("--out", required=True, help="where the SavedModel and .tflite go")
    parser.add_argument("--json", required=True, help="where the measurements go")
    main(parser.parse_args())
