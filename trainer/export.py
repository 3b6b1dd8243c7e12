"""The exported SavedModel's signatures, all applying the same Transform graph.

- `serving_default`: a batch of raw encoded images (what a client has) -> class names and
  scores, best first, and the probabilities in label-vocabulary order.
- `serving_examples`: serialized tf.Examples (what batch jobs and TFMA have) -> the same.
- `transform_features`: serialized tf.Examples -> Transform's outputs, label included; TFMA
  uses it to get the integer label the probabilities are scored against.

Because every signature goes through `tft_layer`, there is no train/serve skew: the pixels
the model sees at serving are computed by the very graph that computed them for training.
`serving_default` and `serving_examples` check the images first (trainer/decode.py): a
client that sends something else, a format that is not served or an image over
`serving.max_pixels` gets an InvalidArgumentError naming the bad element and the reason,
read from the header before any pixel is decoded, rather than a decoder failure deep in the
graph or a request that takes the server's memory.
"""

from typing import Dict

import tensorflow as tf
import tensorflow_transform as tft

from trainer import decode, features

SERVING_DEFAULT = "serving_default"
SERVING_EXAMPLES = "serving_examples"
TRANSFORM_FEATURES = "transform_features"
PROBABILITIES = "probabilities"
CLASSES = "classes"
SCORES = "scores"


def export_serving_model(
    model: tf.keras.Model,
    tf_transform_output: tft.TFTransformOutput,
    export_dir: str,
    max_pixels: int,
) -> None:
    """Saves `model` with its Transform graph and the three signatures to `export_dir`;
    the serving signatures refuse images of more than `max_pixels` pixels."""
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
        checked = decode.check_image_bytes(image_bytes, max_pixels)
        return classify({features.IMAGE_KEY: tf.reshape(checked, [-1, 1])})

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(serialized):
        raw = tf.io.parse_example(serialized, unlabelled_spec)
        checked = decode.check_image_bytes(tf.reshape(raw[features.IMAGE_KEY], [-1]), max_pixels)
        return classify({**raw, features.IMAGE_KEY: tf.reshape(checked, [-1, 1])})

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(serialized):
        return model.tft_layer(tf.io.parse_example(serialized, raw_spec))

    # save_traces=False: Keras revives the classifier from its config (built-in layers only)
    # instead of saving a traced function per layer, which took most of the export's time
    # and ~15 s more at every load_model. No optimizer state: serving needs none, and
    # resuming reads the Trainer's own checkpoints.
    model.save(
        export_dir,
        save_format="tf",
        include_optimizer=False,
        save_traces=False,
        signatures={
            SERVING_DEFAULT: serve_image_bytes,
            SERVING_EXAMPLES: serve_examples,
            TRANSFORM_FEATURES: transform_features,
        },
    )
