"""The augmentation policy: random changes to training images, fresh every epoch.

It runs in the Trainer's input pipeline (trainer/data.py), on the training split only:
Transform runs once over the data and would freeze one draw of the randomness into the
examples, and a layer inside the model would travel into the exported SavedModel and the
TFLite file. Here it never reaches eval or serving, by construction.
"""

import tensorflow as tf

from trainer.settings import AugmentationConfig


def build_augmenter(policy: AugmentationConfig, image_size: int) -> tf.keras.Sequential | None:
    """Keras preprocessing layers for the policy, or None.

    Pixel values are in [0, 255] (see trainer/preprocessing.py), which brightness uses as
    its range. Crop cuts `crop` of the side off at a random place and resizes back.
    """
    layers = []
    if policy.flip != "none":
        layers.append(tf.keras.layers.RandomFlip(policy.flip))
    if policy.rotation:
        layers.append(tf.keras.layers.RandomRotation(policy.rotation, fill_mode="reflect"))
    if policy.zoom:
        layers.append(tf.keras.layers.RandomZoom(policy.zoom, fill_mode="reflect"))
    if policy.translation:
        layers.append(
            tf.keras.layers.RandomTranslation(
                policy.translation, policy.translation, fill_mode="reflect"
            )
        )
    if policy.crop:
        side = max(1, round(image_size * (1 - policy.crop)))
        layers.append(tf.keras.layers.RandomCrop(side, side))
        layers.append(tf.keras.layers.Resizing(image_size, image_size))
    if policy.brightness:
        layers.append(tf.keras.layers.RandomBrightness(policy.brightness, value_range=(0.0, 255.0)))
    if policy.contrast:
        layers.append(tf.keras.layers.RandomContrast(policy.contrast))
    if not layers:
        return None
    return tf.keras.Sequential(layers, name="augmentation")


def augment(images: tf.Tensor, augmenter: tf.keras.Sequential) -> tf.Tensor:
    """One random draw for a batch of images, kept in the [0, 255] pixel range."""
    return tf.clip_by_value(augmenter(images, training=True), 0.0, 255.0)
