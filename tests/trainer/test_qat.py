"""Quantization-aware training on a small classifier shaped like ours, with the real tfmot,
converter and TFLite interpreter on the transformed digits.

The classifier nests its backbone as `trainer.model.build_model` does, and has the layers
tfmot's 8-bit scheme cannot quantize that EfficientNet has (Rescaling, BatchNormalization,
a squeeze-and-excitation Multiply), at a size that trains and converts in seconds.
"""

import json
import logging
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_optimization as tfmot

from components.tflite_pusher import push
from tests.trainer.conftest import IMAGE_SIZE
from trainer import qat, tflite
from trainer.conversions import INT8


def small_classifier(num_classes: int) -> tf.keras.Model:
    image = tf.keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
    x = tf.keras.layers.Rescaling(1 / 255)(image)
    x = tf.keras.layers.Conv2D(16, 3, strides=2, use_bias=False)(x)
    x = tf.keras.layers.BatchNormalization()(x)
    x = tf.keras.layers.Activation("swish")(x)
    gate = tf.keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    gate = tf.keras.layers.Conv2D(16, 1, activation="sigmoid")(gate)
    x = tf.keras.layers.Multiply()([x, gate])
    x = tf.keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = tf.keras.layers.Flatten()(x)
    backbone = tf.keras.Model(image, x, name="backbone")
    inputs = tf.keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name=tflite.IMAGE)
    x = tf.keras.layers.Dropout(0.1)(backbone(inputs))
    outputs = tf.keras.layers.Dense(num_classes, activation="softmax")(x)
    return tf.keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def digits(transformed_digits):
    output = transformed_digits.tf_transform_output
    train = tflite.read_transformed(transformed_digits.train_files[0], output)
    evaluation = tflite.read_transformed(transformed_digits.eval_files[0], output)
    return train, evaluation


@pytest.fixture(scope="module")
def classifier(digits):
    (train_images, train_labels), (eval_images, eval_labels) = digits
    tf.keras.utils.set_random_seed(0)
    model = small_classifier(num_classes=3)
    model.compile(tf.keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(train_images, train_labels, batch_size=16, epochs=10, verbose=0)
    _, accuracy = model.evaluate(eval_images, eval_labels, verbose=0)
    assert accuracy >= 0.8, "the float classifier must be worth quantizing"
    return model


def test_flattening_keeps_the_function_and_quantize_wraps_supported_layers(classifier, digits):
    (_, _), (eval_images, _) = digits
    flat = qat.flatten(classifier)
    assert not [layer for layer in flat.layers if isinstance(layer, tf.keras.Model)]
    np.testing.assert_allclose(
        flat.predict(eval_images, verbose=0), classifier.predict(eval_images, verbose=0), atol=1e-6
    )
    branched = tf.keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name=tflite.IMAGE)
    x = tf.keras.layers.Conv2D(3, 1)(branched)
    with pytest.raises(ValueError, match="layer join takes 2 inputs"):
        qat.flatten(tf.keras.Model(branched, tf.keras.layers.Add(name="join")([branched, x])))
    quantized = qat.quantize(classifier)
    wrapped = {
        type(layer.layer).__name__
        for layer in quantized.layers
        if isinstance(layer, tfmot.quantization.keras.QuantizeWrapperV2)
    }
    assert {"Conv2D", "Dense", "Activation", "BatchNormalization"} <= wrapped
    assert not {"Rescaling", "Multiply"} & wrapped
    batch_norms = [
        layer.layer
        for layer in quantized.layers
        if isinstance(getattr(layer, "layer", None), tf.keras.layers.BatchNormalization)
    ]
    assert batch_norms and not any(layer.trainable for layer in batch_norms)


def test_qat_makes_an_int8_model_with_uint8_input_that_classifies(classifier, digits, caplog):
    caplog.set_level(logging.INFO, logger="absl")
    (train_images, train_labels), (eval_images, eval_labels) = digits
    content = qat.int8_after_qat(
        classifier, train_images, train_labels, eval_images, eval_labels, epochs=2
    )
    model = tflite.TFLiteClassifier(content)
    assert model.input_dtype == "uint8"
    interpreter = tf.lite.Interpreter(model_content=content)
    weights = [
        detail["dtype"]
        for detail in interpreter.get_tensor_details()
        if "conv2d" in detail["name"].lower() and detail["name"].endswith("Conv2D")
    ]
    assert weights and all(dtype == np.int8 for dtype in weights)
    probabilities = model.predict(eval_images)
    assert probabilities.shape == (len(eval_labels), 3)
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == eval_labels))
    assert accuracy >= 0.7
    assert "QAT epoch 1/2" in caplog.text and "QAT epoch 2/2" in caplog.text


def push_with_qat(classifier, transformed_digits, folder, max_accuracy_drop):
    saved_model_dir = str(folder / "saved_model")
    # Tracked on the model, outside its graph, as trainer/export.py saves it.
    classifier.tft_layer = transformed_digits.tf_transform_output.transform_features_layer()
    classifier.save(saved_model_dir)
    return push.convert_and_push(
        saved_model_dir=saved_model_dir,
        transform_graph_dir=transformed_digits.transform_output,
        train_pattern=transformed_digits.train_files[0],
        eval_pattern=transformed_digits.eval_files[0],
        conversions=[INT8],
        max_accuracy_drop=max_accuracy_drop,
        artifact_dir=str(folder / "artifact"),
        base_directory=str(folder / "pushed"),
        keep_versions=1,
        qat=True,
        qat_epochs=1,
    )


def test_push_runs_qat_when_int8_misses_the_tolerance_and_records_both(
    classifier, transformed_digits, tmp_path
):
    # A negative tolerance no conversion can meet: post-training int8 always misses it.
    result = push_with_qat(classifier, transformed_digits, tmp_path, max_accuracy_drop=-1.0)
    post, aware = (
        result.int8_accuracies[push.POST_TRAINING],
        result.int8_accuracies[push.QUANTIZATION_AWARE],
    )
    assert set(result.int8_accuracies) == {push.POST_TRAINING, push.QUANTIZATION_AWARE}
    assert 0 <= post <= 1 and 0 <= aware <= 1
    expected = push.QUANTIZATION_AWARE if aware > post else push.POST_TRAINING
    assert result.int8_method == expected
    assert result.accuracies[INT8] == max(post, aware)
    assert result.held_back.keys() == {INT8} and result.destination is None
    with open(os.path.join(tmp_path, "artifact", push.BUNDLE_DIR, tflite.METADATA_FILE)) as f:
        assert json.load(f)["models"][INT8]["accuracy"] == max(post, aware)
    recorded = json.loads(json.dumps(result.__dict__))
    assert recorded["int8_method"] == expected
    assert recorded["int8_accuracies"] == result.int8_accuracies


def test_push_skips_qat_when_int8_meets_the_tolerance(classifier, transformed_digits, tmp_path):
    result = push_with_qat(classifier, transformed_digits, tmp_path, max_accuracy_drop=1.0)
    assert result.int8_method == push.POST_TRAINING
    assert result.int8_accuracies == {push.POST_TRAINING: result.accuracies[INT8]}
    assert result.shipped == [INT8] and result.destination
