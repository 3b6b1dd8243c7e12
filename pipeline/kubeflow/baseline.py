"""The BaselineLookup task (caching.py): which pushed version is the baseline, as a parameter.

Every blessed model is pushed and nothing else is, so the versions in the serving folder
are the blessed models, newest highest. The baseline is the newest one that is not the
candidate itself: a run whose Trainer was taken from the cache has, as its candidate, the
model that run pushed, and comparing it with its own copy would re-run the Evaluator and
everything after it to learn nothing (the local runner's resolver also takes "the latest
blessed model other than the candidate": components/latest_blessed_model/strategy.py).

A version is the candidate when its SavedModel is the candidate's, byte for byte
(`saved_model.pb` and the variables' index, which holds every tensor's checksum): the
ServingPusher copies those files unchanged and adds its own beside them. The launcher
downloads the candidate before the task (it downloads every declared input,
backend/src/v2/component/launcher_v2.go:927-1004), as it does for the Evaluator.
"""

from __future__ import annotations

import hashlib
import os
from typing import Dict

from pipeline.kubeflow import caching
from pipeline.kubeflow.tasks import TaskIO

TASK = caching.LOOKUP_TASK
IDENTITY_FILES = ("saved_model.pb", os.path.join("variables", "variables.index"))


def run(io: TaskIO) -> Dict[str, str]:
    from tfx.utils import path_utils

    candidate = io.inputs.get(caching.CANDIDATE)
    excluded = saved_model_identity(path_utils.serving_model_path(candidate)) if candidate else ""
    version = baseline_version(io.parameters[caching.SERVING_DIR], excluded)
    print(f"{TASK}: baseline {version or 'none (no other pushed version)'}", flush=True)
    return {caching.BASELINE_VERSION: version}


def baseline_version(serving_dir: str, excluded: str = "") -> str:
    """The newest version folder under `serving_dir` whose SavedModel identity is not
    `excluded`, or '' when there is none."""
    from components import publish

    for version in sorted(publish.versions(serving_dir), reverse=True):
        path = os.path.join(serving_dir, str(version))
        if not excluded or saved_model_identity(path) != excluded:
            return path
    return ""


def saved_model_identity(saved_model_dir: str) -> str:
    """sha256 of the SavedModel's graph and variables index: the same for a pushed copy."""
    import tensorflow as tf

    digest = hashlib.sha256()
    for name in IDENTITY_FILES:
        with tf.io.gfile.GFile(os.path.join(saved_model_dir, name), "rb") as handle:
            digest.update(name.encode() + b"\0" + handle.read())
    return digest.hexdigest()
