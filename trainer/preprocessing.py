"""Transform's preprocessing_fn: decode, resize, the label vocabulary and class counts.

This graph runs in Transform over the training data and again inside the exported model at
serving, so training and serving see the same pixels. Images come out as float32
`[size, size, 3]` with values in [0, 255]: every classifier normalises inside the model, as
its backbone expects (trainer/backbones.py), so scaling here would double-normalise.
Augmentation is not done here: Transform runs once and would freeze it (see
trainer/augmentation.py).
"""

from typing import Any, Dict

import tensorflow as tf
import tensorflow_transform as tft

from trainer import decode, features


def decode_and_resize(image_bytes: tf.Tensor, image_size: int) -> tf.Tensor:
    """Encoded images `[batch]` -> float32 `[batch, size, size, 3]` in [0, 255].

    Each image is decoded by the decode contract (trainer/decode.py: upright RGB, a GIF's
    first frame on its canvas), then resized.
    """

    def _one(laid_out) -> tf.Tensor:
        image = tf.cast(decode.decode_laid_out(*laid_out), tf.float32)
        return tf.image.resize(image, [image_size, image_size], antialias=True)

    return tf.map_fn(
        _one,
        (image_bytes, *decode.layouts(image_bytes)),
        fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.float32),
    )


def preprocessing_fn(inputs: Dict[str, tf.Tensor], custom_config: Dict[str, Any]) -> Dict:
    """Maps raw features (ingestion's data contract, trainer/features.py) to the model's features.

    `custom_config["image_size"]` is the side, in pixels, of the square model input. The
    class counts (a second vocabulary, with frequencies) feed the Trainer's class weights.
    """
    image_bytes = tf.reshape(inputs[features.IMAGE_KEY], [-1])
    labels = tf.reshape(inputs[features.LABEL_KEY], [-1])
    tft.vocabulary(labels, vocab_filename=features.LABEL_COUNTS, store_frequency=True)
    return {
        features.transformed_name(features.IMAGE_KEY): decode_and_resize(
            image_bytes, custom_config["image_size"]
        ),
        features.transformed_name(features.LABEL_KEY): tft.compute_and_apply_vocabulary(
            labels,
            vocab_filename=features.LABEL_VOCABULARY,
            num_oov_buckets=0,
            default_value=-1,
        ),
    }
