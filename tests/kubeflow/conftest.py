"""The spec the Kubeflow tests read: the check's config (check.py), compiled once."""

import pytest

from tests.kubeflow import check


@pytest.fixture(scope="session")
def spec(tmp_path_factory):
    """The compiled spec of `check.config_for`, for image `image-pipeline:test`. Tests that
    change a value in it for one test do so with monkeypatch, which puts it back."""
    work = tmp_path_factory.mktemp("spec")
    config = check.config_for(work, "image-pipeline:test", work / "data")
    return check.compiled_spec(config, work / "pipeline.yaml")
