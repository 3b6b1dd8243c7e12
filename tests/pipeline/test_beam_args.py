"""Which Beam args a run gets: no per-component TFX sdist for runners that do not read it."""

import os

from pipeline import nodes
from pipeline.pipeline import SETUP_FILE, beam_args

DIRECT = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def test_a_local_run_names_this_repository_as_the_dependency():
    assert os.path.isfile(SETUP_FILE)
    assert beam_args(DIRECT, nodes.LOCAL) == [*DIRECT, f"--setup_file={SETUP_FILE}"]


def test_a_named_dependency_is_left_as_configured():
    for flag in ("--sdk_container_image=registry/image:1", "--setup_file=/src/setup.py"):
        assert beam_args([*DIRECT, flag], nodes.LOCAL) == [*DIRECT, flag]


def test_kubeflow_tasks_get_the_configured_args_alone():
    assert beam_args(DIRECT, nodes.KUBEFLOW) == DIRECT
