"""ImageExampleGen's driver: TFX's file-based driver, with a fingerprint of the whole tree.

The driver's input fingerprint decides whether ingestion runs again or its cached output is
reused. TFX's fingerprint stats only what the input pattern matches (for `*`: the class
folders themselves), so an image added, replaced or relabelled inside a nested folder, or
edited in place, leaves it unchanged and the run silently trains on stale data. This one
adds every file under the matched folders (path, size, modification time) to it.
"""

from __future__ import annotations

import hashlib
import os
from typing import Iterable, Iterator, Optional

from tfx.components.example_gen import driver, input_processor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2, range_config_pb2


class TreeFingerprintInputProcessor(input_processor.FileBasedInputProcessor):
    """FileBasedInputProcessor whose fingerprint covers every file below the pattern."""

    def get_input_fingerprint(self, span: int, version: Optional[int]) -> Optional[str]:
        digest = hashlib.sha256()
        count = 0
        for split in self._splits:
            pattern = self.get_pattern_for_span_version(split.pattern, span, version)
            for matched in sorted(fileio.glob(os.path.join(self._input_base_uri, pattern))):
                for path in _files_under(matched):
                    stat = fileio.stat(path)
                    digest.update(f"{path}\0{stat.length}\0{stat.mtime_nsec}\n".encode())
                    count += 1
        tree = f"tree:files:{count},sha256:{digest.hexdigest()}"
        return f"{super().get_input_fingerprint(span, version)}\n{tree}"


def _files_under(path: str) -> Iterator[str]:
    if not fileio.isdir(path):
        yield path
        return
    for directory, _, files in fileio.walk(path):
        for name in sorted(files):
            yield os.path.join(directory, name)


class Driver(driver.FileBasedDriver):
    def get_input_processor(
        self,
        splits: Iterable[example_gen_pb2.Input.Split],
        range_config: Optional[range_config_pb2.RangeConfig] = None,
        input_base_uri: Optional[str] = None,
    ) -> input_processor.InputProcessor:
        return TreeFingerprintInputProcessor(input_base_uri, splits, range_config)
