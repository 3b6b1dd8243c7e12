"""Custom TFX components: one folder each, with spec, executor and plain logic.

Components run Beam and TensorFlow code, so the Keras switch is set before either is
imported (see trainer/__init__.py for why).
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
