"""Versioned, atomic publishing, shared by both pushers (SavedModel and TFLite).

A model server watches `<base_directory>/` and loads the highest numbered version it sees,
so a version must appear whole or not at all, must be numbered above every earlier one,
and old versions must not pile up forever. TFX's own Pusher copies file by file straight
into the version folder (a server polling at the wrong moment sees half a model) and never
removes anything.

A model identical to the newest version is not published again: re-pushing it would only
add a copy, and with `keep_versions` push a real older version out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import time

import tensorflow as tf
from absl import logging
from tfx.utils import io_utils

STAGING_SUFFIX = ".partial"
"""Hidden staging folders are `.<version>.<host>.<pid>.partial`: never a version."""
STALE_ELSEWHERE_S = 24 * 3600
"""A staging folder of another machine's push is litter after this long (its process
cannot be asked whether it still runs)."""


@dataclasses.dataclass(frozen=True)
class Published:
    destination: str
    version: str
    new: bool
    """False when the model was identical to the newest version, which stays the current."""


def publish(source_dir: str, base_directory: str, keep_versions: int) -> Published:
    """Copies `source_dir` (a tree) to `<base_directory>/<version>/` atomically; prunes.

    The copy goes to a hidden sibling first and is renamed into place: on a local or POSIX
    file system the version appears whole. (Object stores such as GCS have no atomic
    directory rename; there the rename copies object by object.) Staging folders left by
    killed pushes are removed first. Only the newest `keep_versions` versions stay; 0 keeps
    them all. A source identical to the newest version publishes nothing.
    """
    remove_leftover_staging(base_directory)
    newest = newest_version(base_directory)
    if newest is not None:
        current = os.path.join(base_directory, str(newest))
        if _fingerprint(source_dir) == _fingerprint(current):
            logging.info("Identical to version %s, the current one: nothing published", newest)
            return Published(current, str(newest), new=False)
    version = next_version(base_directory)
    destination = os.path.join(base_directory, version)
    if tf.io.gfile.exists(destination):
        raise FileExistsError(f"{destination}: version {version} was already pushed")
    staging = os.path.join(
        base_directory, f".{version}.{socket.gethostname()}.{os.getpid()}{STAGING_SUFFIX}"
    )
    io_utils.copy_dir(source_dir, staging)
    tf.io.gfile.rename(staging, destination)
    if keep_versions:
        for old in sorted(versions(base_directory))[:-keep_versions]:
            logging.info("Removing old version %s/%d", base_directory, old)
            tf.io.gfile.rmtree(os.path.join(base_directory, str(old)))
    return Published(destination, version, new=True)


def next_version(base_directory: str) -> str:
    """The current UNIX time, or one above the newest existing version if that is later.

    Two pushes in one second, or a clock set back, would otherwise reuse a version or put
    the new model below the one a server is already serving.
    """
    return str(max(int(time.time()), (newest_version(base_directory) or 0) + 1))


def newest_version(base_directory: str) -> int | None:
    """The highest published version under `base_directory`, or None: hidden staging
    folders are not versions."""
    return max(versions(base_directory), default=None)


def remove_leftover_staging(base_directory: str) -> list:
    """Removes the staging folders of pushes that died half way: those of this machine whose
    process is gone, and other machines' older than STALE_ELSEWHERE_S. Returns their paths."""
    if not tf.io.gfile.isdir(base_directory):
        return []
    removed = []
    for name in tf.io.gfile.listdir(base_directory):
        name = name.rstrip("/")
        if not (name.startswith(".") and name.endswith(STAGING_SUFFIX)):
            continue
        path = os.path.join(base_directory, name)
        if _still_pushing(name, path):
            continue
        logging.info("Removing %s, left by a push that did not finish", path)
        tf.io.gfile.rmtree(path)
        removed.append(path)
    return removed


def _still_pushing(name: str, path: str) -> bool:
    parts = name[1 : -len(STAGING_SUFFIX)].split(".")
    host, pid = ".".join(parts[1:-1]), parts[-1]
    if host == socket.gethostname() and pid.isdigit():
        return int(pid) != os.getpid() and _alive(int(pid))
    age = time.time() - tf.io.gfile.stat(path).mtime_nsec / 1e9
    return bool(host) and age < STALE_ELSEWHERE_S


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fingerprint(tree: str) -> str:
    """A digest of every file's relative path and bytes under `tree`."""
    digest = hashlib.sha256()
    for directory, _, files in sorted(tf.io.gfile.walk(tree)):
        for name in sorted(files):
            path = os.path.join(directory, name)
            digest.update(os.path.relpath(path, tree).encode() + b"\0")
            with tf.io.gfile.GFile(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


def versions(base_directory: str) -> list:
    """The published versions under `base_directory` (numbers), in no order; staging
    folders are not versions."""
    if not tf.io.gfile.isdir(base_directory):
        return []
    names = (name.rstrip("/") for name in tf.io.gfile.listdir(base_directory))
    return [int(name) for name in names if name.isdigit()]
