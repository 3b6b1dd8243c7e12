"""The pipeline: configuration, the TFX DAG, its runners and the command line.

The Keras switch is set before anything imports TensorFlow (see trainer/__init__.py).
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
