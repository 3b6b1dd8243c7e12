"""The `predict` command on stand-in models that follow the pushed models' contracts.

A tiny SavedModel with a `serving_default` like the exported one (bytes in, classes and
scores out, the same image check) and a tiny TFLite bundle written by trainer/tflite.py
(labels.txt, metadata.json) classify images as "dark" or "light" by mean brightness, so the
expected answer is known without training anything. The real exported model is classified
through the same code in tests/e2e.
"""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from pipeline import cli
from trainer import decode, export, preprocessing, tflite

SIZE = 8
CLASSES = ["dark", "light"]


def png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((12, 10, 3), value, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def brightness_model() -> tf.keras.Model:
    """Decoded images in [0, 255] -> probabilities of dark and light."""
    image = tf.keras.Input([SIZE, SIZE, 3], batch_size=1)
    mean = tf.keras.layers.GlobalAveragePooling2D()(image)
    dense = tf.keras.layers.Dense(2, activation="softmax")
    outputs = dense(mean)
    dense.set_weights([np.array([[-0.002, 0.002]] * 3), np.array([0.384, -0.384])])
    return tf.keras.Model(image, outputs)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    model = brightness_model()
    names = tf.constant(CLASSES)

    class Served(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
        def serve(self, image_bytes):
            checked = decode.check_image_bytes(image_bytes, max_pixels=1_000_000)
            images = preprocessing.decode_and_resize(checked, SIZE)
            best = tf.math.top_k(self.model(images), k=2)
            return {"classes": tf.gather(names, best.indices), "scores": best.values}

    served = Served()
    saved_model_base = out / "serving" / "brightness"
    tf.saved_model.save(
        served, str(saved_model_base / "7"), signatures={export.SERVING_DEFAULT: served.serve}
    )
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    conversion = tflite.Conversion(
        kind=tflite.FLOAT32, content=converter.convert(), accuracy=1, agreement=1, accuracy_drop=0
    )
    bundle = out / "tflite"
    tflite.write_bundle(str(bundle), [conversion], CLASSES, SIZE, float_accuracy=1)
    images = out / "images"
    images.mkdir()
    (images / "dark.png").write_bytes(png(20))
    (images / "light.png").write_bytes(png(230))
    (images / "notes.png").write_bytes(b"these are notes, not an image")
    return {
        "saved_model": str(saved_model_base),
        "tflite": str(bundle / conversion.filename),
        "images": images,
    }


@pytest.mark.parametrize("kind", ["saved_model", "tflite"])
def test_predict_prints_top_classes_and_reports_bad_files(models, kind, capsys):
    images = models["images"]
    files = [images / "dark.png", images / "light.png", images / "notes.png", images / "gone.png"]
    code = cli.main(["predict", "--model", models[kind], "--top-k", "1", *map(str, files)])
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert code == 1
    assert len(lines) == 4
    assert lines[0].startswith(f"{files[0]}: dark 0.")
    assert lines[1].startswith(f"{files[1]}: light 0.")
    assert lines[2] == f"{files[2]}: error: not a JPEG, PNG, GIF or BMP image"
    assert lines[3] == f"{files[3]}: error: No such file or directory"
    assert err.strip() == "error: 2 of 4 files not classified"


def test_predict_with_good_files_exits_zero_and_shows_top_k(models, capsys):
    light = str(models["images"] / "light.png")
    code = cli.main(["predict", "--model", models["tflite"], "--top-k", "2", light])
    out, _ = capsys.readouterr()
    assert code == 0
    assert out == f"{light}: light 0.8800, dark 0.1200\n"  # softmax(+-0.996): the logit gap


def test_predict_names_a_missing_model(tmp_path, capsys):
    code = cli.main(["predict", "--model", str(tmp_path / "nothing"), "x.png"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith(f"error: {tmp_path / 'nothing'}: not found") and "\n" not in err
