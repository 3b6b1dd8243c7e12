"""Every backbone of the catalogue (trainer/backbones.py) through the real Trainer code: built
at 32 px from a weights file the test makes, fine-tuned in its two phases by `run.train` on
transformed digits, exported with the serving signatures and converted to the three TFLite
variants. The catalogue's facts are checked against tf.keras.applications itself: the
normalisation against each family's `preprocess_input`, the weights file against the URL
Keras tries to download.
"""

from urllib.error import URLError

import numpy as np
import pytest
import tensorflow as tf

from tests.trainer.conftest import IMAGE_SIZE, trainer_settings
from trainer import export, model, run, tflite
from trainer.backbones import BACKBONES

FAMILIES = ["EfficientNetV2B0", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large"]
FAMILIES += ["ResNet50", "ResNet50V2", "VGG16", "compact"]
"""One backbone per way of being built, normalised, grouped into blocks or named for its
weights (EfficientNetB0, the default, goes through every other Trainer test)."""
TRAINED = ["MobileNetV2", "MobileNetV3Small", "ResNet50", "VGG16", "compact"]
"""The backbones trained, exported and converted here, 1 to 4 min each on 2 cores: one per
way of building, normalising and grouping blocks. EfficientNetB0 is trained, exported and
converted by the session's `trained` fixture; MobileNetV3Large is MobileNetV3Small's
constructor with more blocks; ResNet50V2 has ResNet50's blocks and MobileNetV2's
normalisation."""

PREPROCESS_INPUT = {
    "EfficientNetV2B0": tf.keras.applications.efficientnet_v2.preprocess_input,
    "MobileNetV2": tf.keras.applications.mobilenet_v2.preprocess_input,
    "MobileNetV3Small": tf.keras.applications.mobilenet_v3.preprocess_input,
    "MobileNetV3Large": tf.keras.applications.mobilenet_v3.preprocess_input,
    "ResNet50": tf.keras.applications.resnet50.preprocess_input,
    "ResNet50V2": tf.keras.applications.resnet_v2.preprocess_input,
    "VGG16": tf.keras.applications.vgg16.preprocess_input,
    "compact": lambda pixels: pixels / 255.0,
}
"""What each family's backbone is documented to take, from 0-255 RGB pixels."""


def weights_file(name, folder):
    """A weights file of backbone `name`'s own making: pretrained, as far as the Trainer can
    tell (nothing is downloaded)."""
    path = str(folder / f"{name}.h5")
    model.load_backbone(name, "none", IMAGE_SIZE).save_weights(path)
    return path


def pixels(count=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (count, IMAGE_SIZE, IMAGE_SIZE, 3))


@pytest.mark.parametrize("name", FAMILIES)
def test_the_classifier_takes_raw_pixels_and_normalises_as_the_family_expects(name, tmp_path):
    classifier = model.build_model(3, IMAGE_SIZE, name, weights_file(name, tmp_path), 0.2, 0.9)
    backbone = model.backbone_of(classifier)
    features = tf.keras.Model(classifier.input, classifier.get_layer("head_dropout").input)
    images = pixels().astype(np.float32)
    expected = backbone(PREPROCESS_INPUT[name](images.copy()), training=False)
    np.testing.assert_allclose(features(images, training=False), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", FAMILIES)
def test_blocks_group_every_layer_stem_first_top_last(name):
    classifier = model.build_model(3, IMAGE_SIZE, name, "none", 0.2, 0.9)
    backbone = model.backbone_of(classifier)
    groups = model.blocks(classifier)
    assert [layer for group in groups for layer in group] == backbone.layers
    assert isinstance(groups[0][0], tf.keras.layers.InputLayer)
    entry = BACKBONES[name]
    opening = [entry.block_of(group[0].name) for group in groups[1:-1]]
    assert all(opening) and len(set(opening)) == len(opening), opening
    assert not any(entry.block_of(layer.name) for layer in groups[-1])
    assert len(groups) >= 5


@pytest.mark.parametrize("name", TRAINED)
def test_each_backbone_fine_tunes_in_two_phases_exports_and_converts(
    name, transformed_digits, tmp_path
):
    """Phase 1 trains the head on a frozen backbone; phase 2 the top two blocks, with
    BatchNormalization frozen (where the backbone has any): nothing else in the backbone
    changes. Then the export's serving
    signature classifies image bytes, and the float32 and int8 TFLite conversions of it run
    in the interpreter, the float one giving the Keras model's probabilities. (Dynamic
    range, float32's graph with int8 weights, converts wherever float32 does; at 30 s a
    conversion here it is left to test_tflite.py.)"""
    tf.keras.utils.set_random_seed(0)
    path = weights_file(name, tmp_path)
    config = trainer_settings(
        backbone=name,
        weights=path,
        epochs=2,
        fine_tuning={"head_epochs": 1, "unfreeze_blocks": 2},
    )
    output = transformed_digits.tf_transform_output
    datasets = [
        run.data.input_fn(files, output, 16, training=training).take(2)
        for files, training in (
            (transformed_digits.train_files, True),
            (transformed_digits.eval_files, False),
        )
    ]
    classifier = run.build_classifier(config, IMAGE_SIZE, 3)
    backbone = model.backbone_of(classifier)
    before = [weight.numpy() for weight in backbone.weights]
    trained_in_phase = []

    class Watch(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            trained_in_phase.append({weight.name for weight in backbone.trainable_weights})

    run.train(classifier, *datasets, config, callbacks=[Watch()])

    top = [layer for group in model.blocks(classifier)[-2:] for layer in group]
    expected = {
        weight.name
        for layer in top
        if not isinstance(layer, tf.keras.layers.BatchNormalization)
        for weight in layer.trainable_weights
    }
    assert trained_in_phase[0] == set()
    assert trained_in_phase[1] == expected and expected
    changed = {
        weight.name
        for weight, old in zip(backbone.weights, before, strict=True)
        if not np.array_equal(weight.numpy(), old)
    }
    # Nothing frozen moved, BatchNormalization's statistics included; of the unfrozen
    # weights, those behind units a random network leaves dead (zero activations, so zero
    # gradients) may not have.
    assert changed <= expected and changed & expected, (changed, expected)

    export_dir = str(tmp_path / "export")
    export.export_serving_model(classifier, output, export_dir, max_pixels=10_000)
    serve = tf.saved_model.load(export_dir).signatures[export.SERVING_DEFAULT]
    png = tf.io.encode_png(pixels(1)[0].astype(np.uint8))
    served = serve(image_bytes=tf.stack([png, png]))
    assert served["scores"].shape == (2, 3)

    exported = tflite.load_classifier(export_dir)
    images, _ = tflite.read_transformed(transformed_digits.eval_files[0], output, limit=4)
    keras = exported.predict(images, verbose=0)
    for kind in (tflite.FLOAT32, tflite.INT8):
        content = tflite.convert(exported, kind, images)
        probabilities = tflite.TFLiteClassifier(content).predict(images)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=0.02)
        if kind == tflite.FLOAT32:
            np.testing.assert_allclose(probabilities, keras, atol=1e-4)


@pytest.mark.parametrize("name", [name for name in FAMILIES if BACKBONES[name].weights_file])
def test_imagenet_offline_names_the_file_keras_fetches(name, tmp_path, monkeypatch):
    """No network: Keras' download fails at the socket. The message names the URL Keras
    tried, which is the catalogue's, and where to copy its file."""
    from tf_keras.src.utils import data_utils

    def offline(*args, **kwargs):
        raise URLError("network unreachable")

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(data_utils, "urlopen", offline)
    with pytest.raises(model.WeightsError) as error:
        model.load_backbone(name, "imagenet", IMAGE_SIZE)
    filename, url = BACKBONES[name].imagenet_weights_file(IMAGE_SIZE)
    message = str(error.value)
    assert f"URL fetch failure on {url}" in message
    assert f"copy {url} to {tmp_path}/.keras/models/{filename}" in message


def test_mobilenet_v2_weights_file_follows_the_input_size():
    entry = BACKBONES["MobileNetV2"]
    assert entry.imagenet_weights_file(128)[0].endswith("_1.0_128_no_top.h5")
    assert entry.imagenet_weights_file(32)[0].endswith("_1.0_224_no_top.h5")


def test_compact_has_no_imagenet_weights():
    with pytest.raises(
        model.WeightsError,
        match="compact has no ImageNet weights; set trainer.weights to none, or to a "
        "weights file saved from a compact backbone",
    ):
        model.load_backbone("compact", "imagenet", IMAGE_SIZE)


def test_sobel_stem_sees_gray_and_edges_and_is_frozen_unless_trainable():
    image = np.zeros((1, 8, 8, 3), np.float32)
    image[:, :, 4:] = 255.0  # a vertical edge between columns 3 and 4
    (stem,) = model.stem_filters("sobel", trainable=False)
    out = stem(image).numpy()[0]
    np.testing.assert_allclose(out[2:6, 1, 0], 0.0, atol=1e-3)  # gray, dark side
    np.testing.assert_allclose(out[2:6, 6, 0], 255.0, rtol=1e-5)  # gray, bright side
    np.testing.assert_allclose(out[2:6, 3:5, 1], 127.5 + 255 / 2, rtol=1e-5)  # across it
    np.testing.assert_allclose(out[2:6, 1:7, 2], 127.5, rtol=1e-5)  # nothing along it
    assert not stem.trainable_weights
    assert model.stem_filters("sobel", trainable=True)[0].trainable_weights
    assert model.stem_filters("none", trainable=True) == []


def test_stem_filters_see_the_raw_pixels_before_the_normalisation():
    classifier = model.build_model(3, IMAGE_SIZE, "MobileNetV2", "none", 0.2, 0.9, "sobel")
    names = [layer.name for layer in classifier.layers]
    assert names[1:4] == ["stem_filters", "normalisation", model.backbone_of(classifier).name]
