"""The pipeline: configuration, the TFX DAG, its runners and the command line.

The Keras switch is set before anything imports TensorFlow: importing `trainer` sets it
(trainer/__init__.py says why).
"""

import trainer  # noqa: F401 - sets the Keras switch
