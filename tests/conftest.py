"""Test-wide setup: the Keras switch before TensorFlow loads, and shared small datasets.

`TF_USE_LEGACY_KERAS` must be set before anything imports TensorFlow (see
trainer/__init__.py); conftest.py is imported by pytest before any test module.
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from pipeline import demo_data  # noqa: E402


@pytest.fixture(scope="session")
def digits_subset(tmp_path_factory):
    """Three digit classes, 60 real scans each, as class-per-folder PNGs."""
    root = tmp_path_factory.mktemp("digits")
    demo_data.write_digits(root, classes=[0, 1, 2], per_class=60)
    return root
