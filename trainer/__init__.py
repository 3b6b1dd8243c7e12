"""Code TFX loads by dotted path: preprocessing_fn for Transform, run_fn for Trainer.

TFT and TFMA need Keras 2 (`tf_keras`); TF 2.16 otherwise means Keras 3. The switch is an
environment variable read when TensorFlow is first imported, so it is set here, once,
before any module of this package imports TensorFlow; the `components` and `pipeline`
packages import this one first for it, and the Makefile and the tests set it too, so that
import order never decides which Keras runs.
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
