"""The TFLite conversions trainer/tflite.py makes, by name.

No TensorFlow here: pipeline/config.py offers these names without loading it.
"""

FLOAT32 = "float32"
DYNAMIC_RANGE = "dynamic_range"
"""int8 weights, float activations."""
INT8 = "int8"
"""Full integer, calibrated on training images; uint8 input."""

CONVERSIONS = (FLOAT32, DYNAMIC_RANGE, INT8)
