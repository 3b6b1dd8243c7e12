"""What becomes of a file that is not an example: the rows of the ingestion report.

A user's first folder is messy (phone photos, scans, screenshots, file-manager litter,
broken downloads), so every file is accounted for: it becomes an example, or a quarantine
row (path, reason, detail), or an ignored row (hidden files, litter, files that are not
images), or a dropped duplicate. Nothing is dropped silently and nothing crashes the run.
The reasons are the values of the report's `reason` column; the executor writes the rows
to the report files (`quarantine.jsonl`, `ignored.jsonl`, `duplicates.jsonl`,
`empty_classes.jsonl`) and counts them. An input that cannot be ingested at all (missing,
empty, a single class) is an `IngestError` instead.
"""

from __future__ import annotations

import dataclasses

# Reasons a file is quarantined: it looked like an image but cannot be used.
ZERO_BYTE = "zero-byte file"
TRUNCATED = "truncated"
NOT_AN_IMAGE = "not an image"
UNDECODABLE = "undecodable"
TOO_SMALL = "too small"
TOO_MANY_PIXELS = "too many pixels"
OUTSIDE_ROOT = "link outside the input root"
UNREADABLE = "unreadable"
CHANGED = "changed during ingestion"
LABEL_CONFLICT = "label conflict"
BAD_MANIFEST_ROW = "bad manifest row"
# Reasons a file is ignored: it never was a training image.
HIDDEN = "hidden or litter file"
OUTSIDE_CLASS = "outside any class folder"
NOT_IMAGE_FILE = "not an image file"
LINKED_FOLDER = "linked folder inside the root"
# A second copy of content already kept.
DUPLICATE = "duplicate"
# A class folder (or manifest label) none of whose files became an example.
EMPTY_CLASS = "empty class folder"

IGNORED_REASONS = frozenset({HIDDEN, OUTSIDE_CLASS, NOT_IMAGE_FILE, LINKED_FOLDER})


class IngestError(ValueError):
    """The input as a whole cannot be ingested (missing, empty, a single class)."""


@dataclasses.dataclass(frozen=True)
class ReportRow:
    """A file that did not become an example, and why: one line of the ingestion report."""

    path: str
    reason: str
    detail: str = ""

    @property
    def ignored(self) -> bool:
        return self.reason in IGNORED_REASONS

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)
