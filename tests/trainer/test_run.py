"""run_fn for real on transformed digits: training, export, serving, warm start, phases.

Each EfficientNet compile costs about half a minute here, so the session trains once with
random initialisation (run_fn end to end, the `trained` fixture in conftest.py, shared with
the TFLite tests) and this module once more with a local weights file (both fine-tuning
phases), and asserts everything it can on those two runs.
"""

import numpy as np
import pytest
import tensorflow as tf

from tests.trainer.conftest import IMAGE_SIZE, local_weights, trainer_settings
from trainer import export, model, run, schedule
from trainer.features import IMAGE_KEY, transformed_name

IMAGE = transformed_name(IMAGE_KEY)


def test_run_fn_exports_a_model_with_every_signature(trained):
    loaded = tf.saved_model.load(trained.serving_model_dir)
    assert set(loaded.signatures) == {
        export.SERVING_DEFAULT,
        export.SERVING_EXAMPLES,
        export.TRANSFORM_FEATURES,
    }
    assert tf.io.gfile.glob(f"{trained.model_run_dir}/train/events.out.tfevents.*")


def test_exported_model_contains_no_random_layer(trained):
    classifier = tf.keras.models.load_model(trained.serving_model_dir, compile=False)

    def layers(layer):
        yield layer
        for child in getattr(layer, "layers", []):
            yield from layers(child)

    names = [type(layer).__name__ for layer in layers(classifier)]
    assert classifier.name == "EfficientNetB0_classifier"
    assert not [name for name in names if name.startswith("Random")], names


def test_serving_is_deterministic(trained, digits_subset):
    loaded = tf.saved_model.load(trained.serving_model_dir)
    images = tf.constant([p.read_bytes() for p in sorted(digits_subset.rglob("*.png"))[:20]])
    serve = loaded.signatures[export.SERVING_DEFAULT]
    first, second = serve(image_bytes=images), serve(image_bytes=images)
    np.testing.assert_array_equal(first["probabilities"].numpy(), second["probabilities"].numpy())
    assert set(first["classes"].numpy().ravel()) == {b"0", b"1", b"2"}


def test_class_weights_follow_the_counts_transform_stored(transformed_digits):
    weights = run.class_weights(transformed_digits.tf_transform_output)
    assert weights == pytest.approx({0: 1.0, 1: 1.0, 2: 1.0})  # 50 of each class


def test_warm_start_copies_the_backbone_and_matches_the_head_by_class(trained):
    previous = tf.keras.models.load_model(trained.serving_model_dir, compile=False)
    with open(f"{trained.serving_model_dir}/assets/label", "rb") as handle:
        previous_names = handle.read().split()
    names = [previous_names[2], b"new-class", previous_names[0]]
    classifier = model.build_model(3, IMAGE_SIZE, "EfficientNetB0", "none", 0.2, 0.9)
    fresh_kernel = classifier.get_layer("probabilities").get_weights()[0].copy()

    run.warm_start(classifier, trained.serving_model_dir, names)

    for expected, actual in zip(
        model.backbone_of(previous).weights, model.backbone_of(classifier).weights, strict=True
    ):
        np.testing.assert_array_equal(expected.numpy(), actual.numpy())
    kernel = classifier.get_layer("probabilities").get_weights()[0]
    previous_kernel = previous.get_layer("probabilities").get_weights()[0]
    np.testing.assert_array_equal(kernel[:, 0], previous_kernel[:, 2])
    np.testing.assert_array_equal(kernel[:, 2], previous_kernel[:, 0])
    np.testing.assert_array_equal(kernel[:, 1], fresh_kernel[:, 1])  # unknown class: fresh


def test_pretrained_weights_train_in_two_phases(transformed_digits, tmp_path):
    weights_file = local_weights(tmp_path)
    config = trainer_settings(
        weights=weights_file,
        epochs=2,
        fine_tuning={"head_epochs": 1, "unfreeze_blocks": 3, "layer_decay": 0.5},
    )
    output = transformed_digits.tf_transform_output
    datasets = [
        run.data.input_fn(files, output, 16, training=training).take(2)
        for files, training in (
            (transformed_digits.train_files, True),
            (transformed_digits.eval_files, False),
        )
    ]
    classifier = model.build_model(3, IMAGE_SIZE, "EfficientNetB0", weights_file, 0.2, 0.9)
    seen = []

    class Watch(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            backbone = model.backbone_of(classifier)
            seen.append(
                (
                    len(backbone.trainable_weights),
                    float(tf.keras.backend.get_value(self.model.optimizer.learning_rate)),
                    type(self.model.optimizer),
                )
            )

    run.train(classifier, *datasets, config, callbacks=[Watch()])

    backbone = model.backbone_of(classifier)
    blocks = model.blocks(classifier)
    assert seen[0][0] == 0  # phase 1: backbone frozen
    assert seen[1][0] > 0  # phase 2: top blocks train
    assert seen[1][1] == pytest.approx(config.fine_tuning.learning_rate)
    assert seen[1][2] is schedule.LayerwiseAdam  # layer_decay < 1: differential rates
    top = {id(layer) for group in blocks[-3:] for layer in group}
    for layer in backbone.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            assert not layer.trainable, layer.name
        elif layer.weights:
            assert layer.trainable == (id(layer) in top), layer.name


def test_serving_default_names_the_element_that_is_not_an_image(trained, digits_subset):
    serve = tf.saved_model.load(trained.serving_model_dir).signatures[export.SERVING_DEFAULT]
    png = sorted(digits_subset.rglob("*.png"))[0].read_bytes()
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"image_bytes\[1\] is not a JPEG"):
        serve(image_bytes=tf.constant([png, b"%PDF-1.4 not an image", png]))
