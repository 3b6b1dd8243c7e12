"""Evaluated runs shared by the evaluation report's tests (tests/components/evaluated_run.py).

Session-scoped: the report's unit tests and its browser test read the same two runs.
"""

import pytest

from tests.components import evaluated_run


@pytest.fixture(scope="session")
def first_run(tmp_path_factory, digits_subset):
    """No baseline: blessed on the absolute bound alone (accuracy 0.8 >= 0.7)."""
    return evaluated_run.evaluated_run(tmp_path_factory.mktemp("first_run"), digits_subset, False)


@pytest.fixture(scope="session")
def compared_run(tmp_path_factory, digits_subset):
    """Compared with a baseline that is always right: not blessed (a change of -0.2)."""
    return evaluated_run.evaluated_run(tmp_path_factory.mktemp("compared_run"), digits_subset, True)
