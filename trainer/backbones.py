"""The backbones the Trainer builds, by their tf.keras.applications name, with their native
input size.

No TensorFlow here: pipeline/config.py offers these names and sizes without loading it.
How a backbone is built and fine-tuned is trainer/model.py's.
"""

BACKBONES = {
    "EfficientNetB0": 224,
    "EfficientNetB1": 240,
    "EfficientNetB2": 260,
    "EfficientNetB3": 300,
    "EfficientNetB4": 380,
    "EfficientNetB5": 456,
    "EfficientNetB6": 528,
    "EfficientNetB7": 600,
    "EfficientNetV2B0": 224,
    "EfficientNetV2B1": 240,
    "EfficientNetV2B2": 260,
    "EfficientNetV2B3": 300,
    "EfficientNetV2S": 384,
}
