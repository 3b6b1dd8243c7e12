"""TFLite conversions of the session's trained model, run with the real interpreter.

The float conversions must classify real eval images like the SavedModel's serving_default
(which decodes the bytes itself); the int8 one's accuracy drop is measured and decides
shipping against the configured tolerance, and it must be much smaller. Converting costs
tens of seconds each, so the module converts once and asserts everything on that.
"""

import json

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_lite_support.metadata.python.metadata import MetadataDisplayer

from components.tflite_pusher import push
from pipeline import config as config_lib
from tests.trainer import task_library
from tests.trainer.conftest import IMAGE_SIZE
from trainer import export, features, preprocessing, tflite


@pytest.fixture(scope="module")
def converted(trained, transformed_digits):
    output = transformed_digits.tf_transform_output
    calibration, _ = tflite.read_transformed(transformed_digits.train_files[0], output)
    images, labels = tflite.read_transformed(transformed_digits.eval_files[0], output)
    classifier = tflite.load_classifier(trained.serving_model_dir)
    float_accuracy, conversions = tflite.convert_and_compare(
        classifier, tflite.CONVERSIONS, calibration, images, labels
    )
    return float_accuracy, {conversion.kind: conversion for conversion in conversions}


@pytest.fixture(scope="module")
def eval_image_bytes(digits_subset):
    """The PNG files of the eval split transformed_digits made (every sixth, sorted)."""
    return [path.read_bytes() for path in sorted(digits_subset.rglob("*.png"))[::6]]


@pytest.mark.parametrize(
    "kind, max_diff, beyond, mean_diff",
    # Dynamic range quantises the weights: scores move by a few hundredths (0.054 seen on
    # one of 90), and on this briefly trained model a near-tie image now and then by more
    # (0.31 on one image in CI on bd511bb); a conversion that changed the function moves most
    # of them, and the mean with them.
    [(tflite.FLOAT32, 1e-4, 0, 1e-4), (tflite.DYNAMIC_RANGE, 0.15, 3, 0.01)],
)
def test_float_conversions_classify_image_bytes_like_serving_default(
    trained, transformed_digits, converted, eval_image_bytes, kind, max_diff, beyond, mean_diff
):
    serve = tf.saved_model.load(trained.serving_model_dir).signatures[export.SERVING_DEFAULT]
    served = serve(image_bytes=tf.constant(eval_image_bytes))
    expected = served["classes"].numpy()[:, 0]
    class_names = np.array(
        transformed_digits.tf_transform_output.vocabulary_by_name(features.LABEL_VOCABULARY)
    )
    decoded = preprocessing.decode_and_resize(tf.constant(eval_image_bytes), IMAGE_SIZE)
    probabilities = tflite.TFLiteClassifier(converted[1][kind].content).predict(decoded.numpy())
    predicted = class_names[np.argmax(probabilities, axis=1)]
    assert len(predicted) == 30
    # At most 3 of 30 classes may differ (CI saw dynamic range flip one near-tie image
    # between '1' and '2').
    assert np.mean(predicted == expected) >= 0.9
    # Also compare the scores: a conversion that changed the function would show here even
    # where the classes agree. At most `beyond` of the 30 images may move by more than
    # `max_diff`, as many as the classes that may differ.
    difference = np.abs(probabilities - served["probabilities"].numpy())
    assert np.sum(difference.max(axis=1) > max_diff) <= beyond
    assert difference.mean() <= mean_diff


def test_int8_accuracy_drop_is_measured_and_gated_by_the_configured_tolerance(converted):
    """The drop is measured on the eval split and decides shipping against the configured
    tolerance. Whether int8 meets the 1-point tolerance is a property of the data size: on
    these 30 images one flipped image is 3.3 points, so it is measured at the demo's scale
    (README, TFLite; 361 eval images) rather than asserted here."""
    float_accuracy, conversions = converted
    int8 = conversions[tflite.INT8]
    assert int8.accuracy_drop == pytest.approx(float_accuracy - int8.accuracy)
    assert int8.agreement >= 0.9  # at most 3 of 30 images classified otherwise than float
    tolerance = config_lib.TfliteConfig().max_accuracy_drop
    passed, held_back = push.split_by_tolerance(list(conversions.values()), tolerance)
    assert (int8 in passed) == (int8.accuracy_drop <= tolerance)
    assert (tflite.INT8 in held_back) == (int8 not in passed)
    assert tflite.TFLiteClassifier(int8.content).input_dtype == "uint8"
    assert tflite.TFLiteClassifier(int8.content).input_quantization == (1.0, 0)
    assert len(int8.content) <= 0.4 * len(conversions[tflite.FLOAT32].content)


def test_int8_input_is_the_pixel_value_whatever_range_calibration_spans():
    """An app and the Task Library feed the uint8 input raw pixels (the metadata says 0-255,
    mean 0, std 1): its quantization must be scale 1, zero point 0 even when no calibration
    image is darker than 50 or brighter than 200."""
    image = tf.keras.Input((8, 8, 3), name=tflite.IMAGE)
    features_out = tf.keras.layers.GlobalAveragePooling2D()(
        tf.keras.layers.Conv2D(4, 3)(tf.keras.layers.Rescaling(1 / 255)(image))
    )
    classifier = tf.keras.Model(image, tf.keras.layers.Dense(3, activation="softmax")(features_out))
    calibration = np.random.default_rng(0).uniform(50, 200, (20, 8, 8, 3)).astype(np.float32)

    int8 = tflite.TFLiteClassifier(tflite.convert(classifier, tflite.INT8, calibration))

    assert int8.input_quantization == (1.0, 0)
    pixels = np.round(calibration[:4])
    expected = classifier({tflite.IMAGE: pixels}).numpy()
    assert np.abs(int8.predict(pixels) - expected).max() <= 0.02


@pytest.fixture(scope="module")
def bundle(converted, transformed_digits, trained, tmp_path_factory):
    """write_bundle's folder, every conversion in it, versioned by the trained model."""
    _, conversions = converted
    folder = tmp_path_factory.mktemp("bundle")
    class_names = transformed_digits.tf_transform_output.vocabulary_by_name(
        features.LABEL_VOCABULARY
    )
    tflite.write_bundle(
        str(folder),
        list(conversions.values()),
        class_names,
        IMAGE_SIZE,
        0.5,
        model_version=trained.serving_model_dir,
    )
    return folder


def test_bundle_holds_every_model_the_labels_and_what_an_app_needs(
    converted, transformed_digits, bundle
):
    _, conversions = converted
    class_names = transformed_digits.tf_transform_output.vocabulary_by_name(
        features.LABEL_VOCABULARY
    )
    assert (bundle / "labels.txt").read_text().split() == [name.decode() for name in class_names]
    metadata = json.loads((bundle / "metadata.json").read_text())
    assert metadata["input"]["shape"] == [1, IMAGE_SIZE, IMAGE_SIZE, 3]
    assert metadata["models"]["int8"]["input_dtype"] == "uint8"
    for kind, conversion in conversions.items():
        size = (bundle / conversion.filename).stat().st_size
        assert len(conversion.content) < size < len(conversion.content) + 5000
        assert metadata["models"][kind]["size_bytes"] == size
        assert metadata["models"][kind]["embedded_metadata"] is True


def test_every_model_carries_its_metadata_and_labels(converted, trained, bundle):
    _, conversions = converted
    class_names = (bundle / "labels.txt").read_text().split()
    for kind, conversion in conversions.items():
        displayer = MetadataDisplayer.with_model_file(str(bundle / conversion.filename))
        model = json.loads(displayer.get_metadata_json())
        assert model["name"] == "image_classifier"
        assert model["version"] == trained.serving_model_dir
        assert model["description"] == (
            f"Classifies an image into one of 3 classes ({', '.join(class_names)}). TFLite "
            f"{kind} conversion; accuracy {conversion.accuracy:.4f} on the eval split."
        )
        assert displayer.get_packed_associated_file_list() == ["labels.txt"]
        labels = displayer.get_associated_file_buffer("labels.txt")
        assert labels == (bundle / "labels.txt").read_bytes()
        (subgraph,) = model["subgraph_metadata"]
        (image,) = subgraph["input_tensor_metadata"]
        assert image["content"]["content_properties"]["color_space"] == "RGB"
        (normalization,) = image["process_units"]
        assert normalization["options"] == {"mean": [0.0], "std": [1.0]}
        (probabilities,) = subgraph["output_tensor_metadata"]
        (label_file,) = probabilities["associated_files"]
        assert label_file == {**label_file, "name": "labels.txt", "type": "TENSOR_AXIS_LABELS"}


@pytest.mark.parametrize("kind", tflite.CONVERSIONS)
def test_task_library_classifies_png_and_jpeg_files_like_predict(
    converted, bundle, digits_subset, tmp_path, kind
):
    """The real Task Library, fed by the embedded metadata alone, on the eval images written
    at the model's input size as PNG and JPEG (so neither resizes): on the pixels it
    decoded it scores like `pipeline.predict`, and it decodes them as the decode contract
    does (a JPEG within 1)."""
    model = bundle / converted[1][kind].filename
    files = task_library.write_at_size(
        sorted(digits_subset.rglob("*.png"))[::6], IMAGE_SIZE, tmp_path
    )
    for suffix, paths in files.items():
        compared = task_library.compare_with_predict(model, paths)
        print(f"{kind} {suffix}: {compared}")  # the measured agreement (pytest -rP)
        task_library.assert_agrees(compared, kind, suffix)
