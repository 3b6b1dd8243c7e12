"""Reading a class-per-folder image tree into tf.Examples, without TFX.

The executor wires these functions into Beam; here they are plain functions so they can be
tested on real image bytes directly. Every file under the root is accounted for: it becomes
an example, or a quarantine record (path, reason, detail), or an ignored record (hidden
files, litter, files outside any class folder). Nothing is dropped silently.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from pathlib import Path
from typing import List, Tuple, Union

import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from trainer import features

KEPT_FORMATS = ("JPEG", "PNG", "GIF", "BMP")
"""Formats TensorFlow's decode_image reads: stored as the original bytes."""

LITTER = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


class IngestError(ValueError):
    """The input as a whole cannot be ingested (missing, empty, a single class)."""


@dataclasses.dataclass(frozen=True)
class SourceFile:
    """One file to read: its absolute path, its path relative to the root, and its class."""

    path: str
    relative: str
    label: str


@dataclasses.dataclass(frozen=True)
class Record:
    """A file that did not become an example, and why: for the ingestion report."""

    path: str
    reason: str
    detail: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Listing:
    """What a walk of the input root found."""

    files: List[SourceFile]
    ignored: List[Record]
    classes: List[str]

    @property
    def files_seen(self) -> int:
        return len(self.files) + len(self.ignored)


def list_class_folders(root: Union[str, os.PathLike]) -> Listing:
    """Walks a class-per-folder tree: each sub-folder of `root` is a class.

    Raises IngestError, naming the folder and the fix, when there is nothing to train on.
    """
    root = Path(root)
    if not root.exists():
        raise IngestError(
            f"{root}: data folder not found; set data.root in the config to a folder with one "
            "sub-folder of images per class"
        )
    if not root.is_dir():
        raise IngestError(f"{root}: data.root must be a folder with one sub-folder per class")
    files: List[SourceFile] = []
    ignored: List[Record] = []
    classes: List[str] = []
    for entry in sorted(root.iterdir()):
        relative = entry.relative_to(root).as_posix()
        if _is_hidden_or_litter(entry.name):
            ignored.append(Record(relative, "hidden or litter file"))
        elif entry.is_dir():
            class_files, class_ignored = _walk_class(root, entry)
            if class_files:
                classes.append(entry.name)
            files.extend(class_files)
            ignored.extend(class_ignored)
        else:
            ignored.append(Record(relative, "outside any class folder"))
    if not files:
        raise IngestError(
            f"{root}: no files found in class sub-folders; expected {root}/<class name>/<images>"
        )
    if len(classes) < 2:
        raise IngestError(
            f"{root}: found {len(classes)} class folder(s) with files ({', '.join(classes)}); "
            "a classifier needs at least two classes, one sub-folder each"
        )
    return Listing(files=files, ignored=ignored, classes=classes)


def _walk_class(root: Path, class_dir: Path) -> Tuple[List[SourceFile], List[Record]]:
    files, ignored = [], []
    for dirpath, dirnames, filenames in os.walk(class_dir):
        dirnames.sort()
        for dirname in [d for d in dirnames if _is_hidden_or_litter(d)]:
            dirnames.remove(dirname)
            relative = Path(dirpath, dirname).relative_to(root).as_posix()
            ignored.append(Record(relative + "/", "hidden folder"))
        for filename in sorted(filenames):
            path = Path(dirpath, filename)
            relative = path.relative_to(root).as_posix()
            if _is_hidden_or_litter(filename):
                ignored.append(Record(relative, "hidden or litter file"))
            else:
                files.append(SourceFile(str(path), relative, class_dir.name))
    return files, ignored


def _is_hidden_or_litter(name: str) -> bool:
    return name.startswith(".") or name in LITTER


def read_example(source: SourceFile) -> Union[tf.train.Example, Record]:
    """Reads one file into a tf.Example, or returns why it was quarantined."""
    try:
        with open(source.path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        return Record(source.relative, "unreadable", error.strerror or str(error))
    if not data:
        return Record(source.relative, "zero-byte file")
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        image_format, width, height, data = _decode(data)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        reason = "not an image" if isinstance(error, UnidentifiedImageError) else "undecodable"
        return Record(source.relative, reason, str(error))
    return make_example(
        image=data,
        label=source.label,
        height=height,
        width=width,
        image_format=image_format,
        source=source.relative,
        sha256=sha256,
    )


def _decode(data: bytes) -> Tuple[str, int, int, bytes]:
    """Fully decodes the image (a truncated file fails here, not in training).

    Formats TensorFlow cannot decode are re-encoded as PNG so that every stored image is
    readable by `tf.io.decode_image`.
    """
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        image_format = image.format or "UNKNOWN"
        width, height = image.size
        if image_format not in KEPT_FORMATS:
            buffer = io.BytesIO()
            converted = image if image.mode in ("RGB", "RGBA", "L") else image.convert("RGB")
            converted.save(buffer, format="PNG")
            data = buffer.getvalue()
    return image_format, width, height, data


def make_example(
    image: bytes,
    label: str,
    height: int,
    width: int,
    image_format: str,
    source: str,
    sha256: str,
) -> tf.train.Example:
    """Builds the tf.Example of the data contract (DESIGN.md) for one image.

    `sha256` is the hash of the file as read, before any re-encoding: the split and dedup key.
    """

    def _bytes(value: bytes) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    def _int(value: int) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    return tf.train.Example(
        features=tf.train.Features(
            feature={
                features.IMAGE_KEY: _bytes(image),
                features.LABEL_KEY: _bytes(label.encode("utf-8")),
                features.HEIGHT_KEY: _int(height),
                features.WIDTH_KEY: _int(width),
                features.FORMAT_KEY: _bytes(image_format.encode("ascii")),
                features.SOURCE_KEY: _bytes(source.encode("utf-8")),
                features.SHA256_KEY: _bytes(sha256.encode("ascii")),
            }
        )
    )
