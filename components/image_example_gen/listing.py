"""Listing the input: which files ingestion will read, and what it settles without reading.

The input is a folder of class folders (every sub-folder of the root is a class, nested
folders too) or a manifest (CSV with a header, or JSON lines) of `path`, `label` and an
optional `split`. The listing names every file to read with its class, and settles the
entries that need no reading: hidden files and file-manager litter, files outside any
class folder and linked folders are ignored; links that leave the root, unreadable folders
and unusable manifest rows are quarantined (report rows: `rows.py`). Reading each listed
file is `reading.py`'s.

No TensorFlow and no Pillow: the CLI lists the input before any pipeline work.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import unicodedata
from pathlib import Path, PurePosixPath
from typing import Iterable, List, Sequence, Tuple, Union

from components.image_example_gen.rows import (
    BAD_MANIFEST_ROW,
    HIDDEN,
    LINKED_FOLDER,
    OUTSIDE_CLASS,
    OUTSIDE_ROOT,
    UNREADABLE,
    IngestError,
    ReportRow,
)

LITTER = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


@dataclasses.dataclass(frozen=True)
class SourceFile:
    """One file to read: absolute path, path relative to the root, class, optional split."""

    path: str
    relative: str
    label: str
    split: str = ""


@dataclasses.dataclass(frozen=True)
class Listing:
    """What a walk of the input found: files to read, and entries settled without reading."""

    files: List[SourceFile]
    ignored: List[ReportRow]
    quarantined: List[ReportRow] = dataclasses.field(default_factory=list)
    class_folders: List[str] = dataclasses.field(default_factory=list)
    """Every class folder found, including those with no file to read."""

    @property
    def classes(self) -> List[str]:
        """The classes with at least one file to read."""
        return sorted({source.label for source in self.files})

    @property
    def all_classes(self) -> List[str]:
        """Every class the input names: class folders, and a manifest's labels."""
        return sorted(set(self.class_folders) | set(self.classes))

    @property
    def files_seen(self) -> int:
        return len(self.files) + len(self.ignored) + len(self.quarantined)


def list_input(
    folder: Union[str, os.PathLike], manifest: str = "", splits: Sequence[str] = ()
) -> Listing:
    """The listing of `folder`: its manifest file when one is named, else its class folders.

    `splits` are the split names a manifest row may ask for.
    """
    listing = (
        list_manifest(Path(folder) / manifest, splits) if manifest else list_class_folders(folder)
    )
    if len(listing.classes) < 2:
        raise IngestError(
            f"{Path(folder) / manifest}: found {len(listing.classes)} class(es) "
            f"({', '.join(listing.classes)}); a classifier needs at least two classes"
        )
    return listing


def list_class_folders(root: Union[str, os.PathLike]) -> Listing:
    """Walks a class-per-folder tree: each sub-folder of `root` is a class, nested folders too.

    Raises IngestError, naming the folder and the fix, when there is nothing to read.
    """
    root = Path(root)
    if not root.exists():
        raise IngestError(
            f"{root}: data folder not found; set data.root in the config to a folder with one "
            "sub-folder of images per class"
        )
    if not root.is_dir():
        raise IngestError(f"{root}: data.root must be a folder with one sub-folder per class")
    walk = _Walk(root)
    for entry in sorted(root.iterdir()):
        if walk.settled(entry):
            continue
        if entry.is_dir():
            walk.class_folder(entry)
        else:
            walk.ignore(entry, OUTSIDE_CLASS)
    if not walk.files:
        raise IngestError(
            f"{root}: no files found in class sub-folders; expected {root}/<class name>/<images>"
        )
    return Listing(walk.files, walk.ignored, walk.quarantined, walk.class_folders)


class _Walk:
    """Accumulates a class-folder walk; settles hidden entries and links before reading."""

    def __init__(self, root: Path):
        self.root = root
        self.real_root = os.path.realpath(root)
        self.files: List[SourceFile] = []
        self.ignored: List[ReportRow] = []
        self.quarantined: List[ReportRow] = []
        self.class_folders: List[str] = []

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def ignore(self, path: Path, reason: str, suffix: str = "") -> None:
        self.ignored.append(ReportRow(self.relative(path) + suffix, reason))

    def settled(self, path: Path) -> bool:
        """Settles hidden entries and links that leave the root; True when nothing is left."""
        if _is_hidden_or_litter(path.name):
            self.ignore(path, HIDDEN, "/" if path.is_dir() else "")
            return True
        if path.is_symlink():
            target = os.path.realpath(path)
            if not _inside(target, self.real_root):
                self.quarantined.append(
                    ReportRow(self.relative(path), OUTSIDE_ROOT, f"points to {target}")
                )
                return True
            if path.is_dir():
                self.ignore(path, LINKED_FOLDER, "/")
                return True
        return False

    def class_folder(self, class_dir: Path) -> None:
        label = unicodedata.normalize("NFC", class_dir.name)
        self.class_folders.append(label)

        def unreadable(error: OSError) -> None:
            path = Path(error.filename)
            self.quarantined.append(
                ReportRow(self.relative(path) + "/", UNREADABLE, error.strerror or str(error))
            )

        for dirpath, dirnames, filenames in os.walk(class_dir, onerror=unreadable):
            dirnames.sort()
            for dirname in list(dirnames):
                if self.settled(Path(dirpath, dirname)):
                    dirnames.remove(dirname)
            for filename in sorted(filenames):
                path = Path(dirpath, filename)
                if not self.settled(path):
                    self.files.append(SourceFile(str(path), self.relative(path), label))


def _is_hidden_or_litter(name: str) -> bool:
    return name.startswith(".") or name in LITTER


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


MANIFEST_COLUMNS = ("path", "label")


def list_manifest(manifest: Union[str, os.PathLike], splits: Sequence[str] = ()) -> Listing:
    """Reads a manifest (CSV with a header, or JSON lines) of `path`, `label`, optional `split`.

    Paths are relative to the manifest's folder. A row that cannot be used is quarantined
    with its line number; a manifest that cannot be read at all is an IngestError.
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        raise IngestError(f"{manifest}: manifest not found; set data.manifest to a CSV or JSONL")
    suffix = manifest.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise IngestError(
            f"{manifest}: unknown manifest type; name it .csv (with a header row) or .jsonl"
        )
    rows = _csv_rows(manifest) if suffix == ".csv" else _jsonl_rows(manifest)
    folder = manifest.parent
    real_folder = os.path.realpath(folder)
    files, quarantined = [], []
    for line, row in rows:
        if isinstance(row, str):
            quarantined.append(ReportRow(f"{manifest.name}:{line}", BAD_MANIFEST_ROW, row))
            continue
        path, label = str(row.get("path") or ""), str(row.get("label") or "")
        if not path or not label:
            quarantined.append(
                ReportRow(f"{manifest.name}:{line}", BAD_MANIFEST_ROW, "empty path or label")
            )
            continue
        split = str(row.get("split") or "")
        if split and split not in splits:
            detail = f"split {split!r} is not one of {', '.join(splits)}"
            quarantined.append(ReportRow(f"{manifest.name}:{line}", BAD_MANIFEST_ROW, detail))
            continue
        relative = PurePosixPath(path).as_posix()
        target = os.path.realpath(folder / path)
        if PurePosixPath(path).is_absolute() or not _inside(target, real_folder):
            quarantined.append(ReportRow(relative, OUTSIDE_ROOT, f"points to {target}"))
            continue
        files.append(
            SourceFile(str(folder / path), relative, unicodedata.normalize("NFC", label), split)
        )
    return Listing(files, [], quarantined)


def _csv_rows(manifest: Path) -> Iterable[Tuple[int, Union[dict, str]]]:
    with open(manifest, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise IngestError(
                f"{manifest}: header row lacks {', '.join(missing)}; the first line must name "
                "the columns path,label[,split]"
            )
        return [(index + 2, row) for index, row in enumerate(reader)]


def _jsonl_rows(manifest: Path) -> Iterable[Tuple[int, Union[dict, str]]]:
    rows = []
    with open(manifest, encoding="utf-8") as handle:
        for index, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as error:
                rows.append((index, f"not JSON: {error.msg}"))
                continue
            rows.append((index, row if isinstance(row, dict) else "expected a JSON object"))
    return rows
