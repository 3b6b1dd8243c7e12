"""The input pipeline: augmentation fresh every epoch on train only, eval deterministic."""

import numpy as np
import pytest
import tensorflow as tf

from trainer import augmentation, data
from trainer.features import IMAGE_KEY, transformed_name
from trainer.settings import AugmentationConfig

IMAGE = transformed_name(IMAGE_KEY)
POLICY = AugmentationConfig(
    flip="none", rotation=0.1, zoom=0.1, translation=0.1, brightness=0.2, contrast=0.2, crop=0.1
)


def epoch_images(dataset):
    """Images and labels of one pass over the dataset."""
    images, labels = [], []
    for inputs, label in dataset:
        images.append(inputs[IMAGE].numpy())
        labels.append(label.numpy())
    return np.concatenate(images), np.concatenate(labels)


@pytest.fixture(scope="module")
def augmenter():
    return augmentation.build_augmenter(POLICY, 32)


def test_every_transformation_of_the_policy_is_built(augmenter):
    names = [type(layer).__name__ for layer in augmenter.layers]
    assert names == [
        "RandomRotation",
        "RandomZoom",
        "RandomTranslation",
        "RandomCrop",
        "Resizing",
        "RandomBrightness",
        "RandomContrast",
    ]
    assert augmentation.build_augmenter(AugmentationConfig(), 32) is None


def test_two_epochs_see_different_training_pixels(transformed_digits, augmenter):
    dataset = data.input_fn(
        transformed_digits.train_files,
        transformed_digits.tf_transform_output,
        batch_size=1000,  # one batch, so both epochs hold the same examples
        training=True,
        augmenter=augmenter,
        cache_max_mb=64,
    )
    first, first_labels = epoch_images(dataset)
    second, second_labels = epoch_images(dataset)
    assert first.shape == (150, 32, 32, 3)
    assert sorted(first_labels) == sorted(second_labels)
    assert first.min() >= 0 and first.max() <= 255
    assert not np.allclose(np.sort(first.sum(axis=(1, 2, 3))), np.sort(second.sum(axis=(1, 2, 3))))


def test_eval_split_is_deterministic_and_unaugmented(transformed_digits):
    dataset = data.input_fn(
        transformed_digits.eval_files,
        transformed_digits.tf_transform_output,
        batch_size=8,
        training=False,
        cache_max_mb=64,
    )
    first, first_labels = epoch_images(dataset)
    second, second_labels = epoch_images(dataset)
    assert first.shape == (30, 32, 32, 3)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first_labels, second_labels)


def test_split_size_is_counted_only_when_it_may_fit(transformed_digits):
    files = tf.io.gfile.glob(transformed_digits.train_files[0])
    count, size = data.split_size(files, cache_max_mb=64)
    assert count == 150
    assert size > 150 * 32 * 32 * 3 * 4  # float32 pixels plus the label
    assert data.split_size(files, cache_max_mb=0) is None
