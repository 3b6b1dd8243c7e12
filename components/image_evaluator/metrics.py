"""What the Evaluator computes, by name: the TFMA class pipeline/evaluation.py asks for, and
the name TFMA stores the result under, which the run summary and the evaluation report read.

No TensorFlow here, so every reader can import it.
"""

ACCURACY_CLASS = "SparseCategoricalAccuracy"
ACCURACY = "sparse_categorical_accuracy"
"""The gated metric: overall accuracy, absolutely and against the baseline."""

TOP_K_CLASS = "SparseTopKCategoricalAccuracy"

EXAMPLE_COUNT_CLASS = "ExampleCount"
EXAMPLE_COUNT = "example_count"

CONFUSION_PLOT_CLASS = "MultiClassConfusionMatrixPlot"
CONFUSION_PLOT = "multiClassConfusionMatrixAtThresholds"

CALIBRATION_CLASS = "Calibration"
CALIBRATION_PLOT_CLASS = "CalibrationPlot"
TOP_1 = "k:1"
"""TFMA's sub key of the calibration metrics, binarised on the first-ranked class."""

SIZE_BUCKET = "size_bucket"
"""The column of the size slices (the shorter side of the original image, bucketed)."""


def top_k_accuracy(k: int) -> str:
    """The name the top-k accuracy is stored under."""
    return f"top_{k}_accuracy"
