"""The exported SavedModel's signatures, all applying the same Transform graph.

- `serving_default`: a batch of raw encoded images (what a client has) -> class names and
  scores, best first, and the probabilities in label-vocabulary order.
- `serving_examples`: serialized tf.Examples (what batch jobs and TFMA have) -> the same.
- `transform_features`: serialized tf.Examples -> Transform's outputs, label included; TFMA
  uses it to get the integer label the probabilities are scored against.

Because every signature goes through `tft_layer`, there is no train/serve skew: the pixels
the model sees at serving are computed by the very graph that computed them for training.
`serving_default` checks the bytes first, so a client that sends something else gets an
InvalidArgumentError naming the bad element rather than a decoder failure deep in the graph.
"""

from typing import Dict

import tensorflow as tf
import tensorflow_transform as tft

from trainer import features

SERVING_DEFAULT = "serving_default"
SERVING_EXAMPLES = "serving_examples"
TRANSFORM_FEATURES = "transform_features"
PROBABILITIES = "probabilities"
CLASSES = "classes"
SCORES = "scores"

_IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM")
"""Leading bytes of JPEG, PNG, GIF and BMP: the formats `tf.io.decode_image` reads."""


def check_image_bytes(image_bytes: tf.Tensor) -> tf.Tensor:
    """`image_bytes` `[batch]`, after asserting every element is an encoded image.

    Raises InvalidArgumentError "image_bytes[i] is not a JPEG, PNG, GIF or BMP image" for
    the first bad element.
    """
    is_image = tf.reduce_any(
        [tf.strings.substr(image_bytes, 0, len(sig)) == sig for sig in _IMAGE_SIGNATURES], axis=0
    )
    first_bad = tf.argmin(tf.cast(is_image, tf.int32))
    message = tf.strings.format("image_bytes[{}] is not a JPEG, PNG, GIF or BMP image", [first_bad])
    check = tf.debugging.Assert(tf.reduce_all(is_image), [message])
    with tf.control_dependencies([check]):
        return tf.identity(image_bytes)


def export_serving_model(
    model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput, export_dir: str
) -> None:
    """Saves `model` with its Transform graph and the three signatures to `export_dir`."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    class_names = tf.constant(tf_transform_output.vocabulary_by_name(features.LABEL_VOCABULARY))
    raw_spec = tf_transform_output.raw_feature_spec()
    unlabelled_spec = {k: v for k, v in raw_spec.items() if k != features.LABEL_KEY}

    def classify(raw_features: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        transformed = model.tft_layer(raw_features)
        image_key = features.transformed_name(features.IMAGE_KEY)
        probabilities = model({image_key: transformed[image_key]}, training=False)
        best = tf.math.top_k(probabilities, k=int(class_names.shape[0]))
        return {
            CLASSES: tf.gather(class_names, best.indices),
            SCORES: best.values,
            PROBABILITIES: probabilities,
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_image_bytes(image_bytes):
        checked = check_image_bytes(image_bytes)
        return classify({features.IMAGE_KEY: tf.reshape(checked, [-1, 1])})

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(serialized):
        return classify(tf.io.parse_example(serialized, unlabelled_spec))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(serialized):
        return model.tft_layer(tf.io.parse_example(serialized, raw_spec))

    model.save(
        export_dir,
        save_format="tf",
        signatures={
            SERVING_DEFAULT: serve_image_bytes,
            SERVING_EXAMPLES: serve_examples,
            TRANSFORM_FEATURES: transform_features,
        },
    )
