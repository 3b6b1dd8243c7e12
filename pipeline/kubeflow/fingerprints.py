"""The CacheFingerprints task (caching.py): what the data root holds and what code the image
runs, as two parameters for the cache keys of the tasks that start the DAG.

- data: ImageExampleGen's own driver fingerprint (TFX's, plus every file under the input
  pattern: path, size, modification time; components/image_example_gen/driver.py), so an
  image added, removed or replaced changes it, as it changes a local run's cache key; with
  the code's digest, so that ingestion also follows a new image.
- code: a digest of this pipeline's installed packages (every file of `pipeline`,
  `components` and `trainer`), of every installed distribution's name and version, and of
  the schema file's bytes.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import os
from typing import Dict

from pipeline.kubeflow import caching
from pipeline.kubeflow.tasks import TaskIO

TASK = caching.FINGERPRINT_TASK
PACKAGES = ("pipeline", "components", "trainer")


def run(io: TaskIO) -> Dict[str, str]:
    code = code_fingerprint(io.parameters["schema_file"])
    data = data_fingerprint(io.parameters["input_base"], io.parameters["input_config"])
    return {
        caching.DATA_FINGERPRINT: f"{data}\ncode:{code}",
        caching.CODE_FINGERPRINT: f"code:{code}",
    }


def data_fingerprint(input_base: str, input_config: str) -> str:
    """ImageExampleGen's driver fingerprint of `input_base` for the `input_config` JSON."""
    from tfx.proto import example_gen_pb2
    from tfx.utils import proto_utils

    from components.image_example_gen.driver import TreeFingerprintInputProcessor

    splits = proto_utils.json_to_proto(input_config, example_gen_pb2.Input()).splits
    processor = TreeFingerprintInputProcessor(input_base, splits)
    span, version = processor.resolve_span_and_version()
    return processor.get_input_fingerprint(span, version)


def code_fingerprint(schema_file: str) -> str:
    """sha256 of our packages' files, the installed distributions and the schema file."""
    from tfx.dsl.io import fileio

    digest = hashlib.sha256()
    for package in PACKAGES:
        root = os.path.dirname(importlib.import_module(package).__file__)
        for directory, folders, files in os.walk(root):
            folders[:] = sorted(f for f in folders if f != "__pycache__")
            for name in sorted(files):
                path = os.path.join(directory, name)
                digest.update(f"{package}/{os.path.relpath(path, root)}\0".encode())
                with open(path, "rb") as handle:
                    digest.update(handle.read())
    installed = sorted(
        f"{dist.metadata['Name']}=={dist.version}" for dist in importlib.metadata.distributions()
    )
    digest.update("\n".join(installed).encode())
    with fileio.open(schema_file, "rb") as handle:
        digest.update(b"schema\0" + handle.read())
    return digest.hexdigest()
