"""Versioned, atomic publishing, shared by both pushers (SavedModel and TFLite).

A model server watches `<base_directory>/` and loads the highest numbered version it sees,
so a version must appear whole or not at all, must be numbered above every earlier one,
and old versions must not pile up forever. TFX's own Pusher copies file by file straight
into the version folder (a server polling at the wrong moment sees half a model) and never
removes anything.
"""

from __future__ import annotations

import os
import time

import tensorflow as tf
from absl import logging
from tfx.utils import io_utils


def next_version(base_directory: str) -> str:
    """The current UNIX time, or one above the newest existing version if that is later.

    Two pushes in one second, or a clock set back, would otherwise reuse a version or put
    the new model below the one a server is already serving.
    """
    return str(max(int(time.time()), (newest_version(base_directory) or 0) + 1))


def publish(source_dir: str, base_directory: str, version: str, keep_versions: int) -> str:
    """Copies `source_dir` (a tree) to `<base_directory>/<version>/` atomically; prunes.

    The copy goes to a hidden sibling first and is renamed into place: on a local or POSIX
    file system the version appears whole. (Object stores such as GCS have no atomic
    directory rename; there the rename copies object by object.) Only the newest
    `keep_versions` versions stay; 0 keeps them all.
    """
    destination = os.path.join(base_directory, version)
    if tf.io.gfile.exists(destination):
        raise FileExistsError(f"{destination}: version {version} was already pushed")
    staging = os.path.join(base_directory, f".{version}.partial")
    if tf.io.gfile.exists(staging):
        tf.io.gfile.rmtree(staging)  # left by a push that died half way
    io_utils.copy_dir(source_dir, staging)
    tf.io.gfile.rename(staging, destination)
    if keep_versions:
        for old in sorted(_versions(base_directory))[:-keep_versions]:
            logging.info("Removing old version %s/%d", base_directory, old)
            tf.io.gfile.rmtree(os.path.join(base_directory, str(old)))
    return destination


def newest_version(base_directory: str) -> int | None:
    """The highest published version under `base_directory`, or None: hidden staging
    folders (`.<version>.partial`) are not versions."""
    return max(_versions(base_directory), default=None)


def _versions(base_directory: str) -> list:
    if not tf.io.gfile.isdir(base_directory):
        return []
    names = (name.rstrip("/") for name in tf.io.gfile.listdir(base_directory))
    return [int(name) for name in names if name.isdigit()]
