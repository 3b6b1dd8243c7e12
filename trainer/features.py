"""Feature keys shared by ingestion, Transform, Trainer, Evaluator and serving.

The raw keys are the data contract written by ImageExampleGen (docs/architecture.md); the
transformed keys are what Transform hands to the Trainer. Keeping them in one place means a
rename cannot leave one stage reading a feature another stage no longer writes.
"""

IMAGE_KEY = "image"
LABEL_KEY = "label"
HEIGHT_KEY = "height"
WIDTH_KEY = "width"
FORMAT_KEY = "format"
SOURCE_KEY = "source"
SHA256_KEY = "sha256"

LABEL_VOCABULARY = "label"
"""Name of the vocabulary file Transform writes for the class names."""

LABEL_COUNTS = "label_counts"
"""Name of the vocabulary file with the examples per class (`<count> <name>` lines)."""


def transformed_name(key: str) -> str:
    """Name of a feature after Transform; the suffix keeps raw and transformed apart."""
    return f"{key}_xf"
