"""Reading a folder of real image files into tf.Examples, without TFX.

The executor wires these functions into Beam; here they are plain functions so they can be
tested on real image bytes directly. A user's first folder is messy (phone photos, scans,
screenshots, file-manager litter, broken downloads), so every file is accounted for: it
becomes an example, or a quarantine record (path, reason, detail), or an ignored record
(hidden files, litter, files that are not images), or a dropped duplicate. Nothing is
dropped silently and nothing crashes the run.

The format is decided by the content (Pillow's sniffing), never by the extension. Bytes are
kept as they are when the decode contract (trainer/decode.py), which Transform and the
serving signatures apply, gives exactly Pillow's upright first frame; otherwise (CMYK JPEG,
16-bit PNG, palette BMP, animated GIF, WebP, TIFF, ...) Pillow's upright first frame is
re-encoded once, here, so Transform never meets them.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import struct
import unicodedata
from pathlib import Path, PurePosixPath
from typing import Iterable, List, Sequence, Tuple, Union

import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from trainer import decode, features

Image.MAX_IMAGE_PIXELS = None
"""Pillow's own decompression-bomb limit is off: ingestion applies `data.max_pixels` itself,
from the header, before any pixel is decoded (`_check_size`), above Pillow's default too."""

LITTER = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".dib", ".webp", ".tif", ".tiff"}
    | {".heic", ".heif", ".avif", ".ico", ".ppm", ".pgm", ".pbm", ".tga", ".jp2"}
)
"""Names that promise an image. Only used to tell a broken image (quarantined) from a file
that never claimed to be one, such as a README (ignored); the format comes from the bytes."""

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
class Limits:
    """Size limits from the config (`data.min_side`, `data.max_pixels`)."""

    min_side: int = 8
    max_pixels: int = 50_000_000


@dataclasses.dataclass(frozen=True)
class SourceFile:
    """One file to read: absolute path, path relative to the root, class, optional split."""

    path: str
    relative: str
    label: str
    split: str = ""


@dataclasses.dataclass(frozen=True)
class Record:
    """A file that did not become an example, and why: one line of the ingestion report."""

    path: str
    reason: str
    detail: str = ""

    @property
    def ignored(self) -> bool:
        return self.reason in IGNORED_REASONS

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Identified:
    """A file whose header names an image within the limits, and its content hash."""

    source: SourceFile
    sha256: str

    @property
    def relative(self) -> str:
        return self.source.relative

    @property
    def label(self) -> str:
        return self.source.label


@dataclasses.dataclass(frozen=True)
class Ingested:
    """A file that became an example; `split` is the manifest's split, if it named one.

    `example` is the serialized tf.train.Example: Beam moves bytes through its shuffles as
    they are, where a proto would be pickled and parsed again at every stage boundary.
    """

    relative: str
    label: str
    sha256: str
    split: str
    example: bytes
    shorter_side: int
    """The upright image's shorter side in pixels: the per-class size distribution's unit."""


@dataclasses.dataclass(frozen=True)
class Listing:
    """What a walk of the input found: files to read, and entries settled without reading."""

    files: List[SourceFile]
    ignored: List[Record]
    quarantined: List[Record] = dataclasses.field(default_factory=list)
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
        self.ignored: List[Record] = []
        self.quarantined: List[Record] = []
        self.class_folders: List[str] = []

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def ignore(self, path: Path, reason: str, suffix: str = "") -> None:
        self.ignored.append(Record(self.relative(path) + suffix, reason))

    def settled(self, path: Path) -> bool:
        """Records hidden entries and links that leave the root; True when nothing is left."""
        if _is_hidden_or_litter(path.name):
            self.ignore(path, HIDDEN, "/" if path.is_dir() else "")
            return True
        if path.is_symlink():
            target = os.path.realpath(path)
            if not _inside(target, self.real_root):
                self.quarantined.append(
                    Record(self.relative(path), OUTSIDE_ROOT, f"points to {target}")
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
                Record(self.relative(path) + "/", UNREADABLE, error.strerror or str(error))
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
            quarantined.append(Record(f"{manifest.name}:{line}", BAD_MANIFEST_ROW, row))
            continue
        path, label = str(row.get("path") or ""), str(row.get("label") or "")
        if not path or not label:
            quarantined.append(
                Record(f"{manifest.name}:{line}", BAD_MANIFEST_ROW, "empty path or label")
            )
            continue
        split = str(row.get("split") or "")
        if split and split not in splits:
            detail = f"split {split!r} is not one of {', '.join(splits)}"
            quarantined.append(Record(f"{manifest.name}:{line}", BAD_MANIFEST_ROW, detail))
            continue
        relative = PurePosixPath(path).as_posix()
        target = os.path.realpath(folder / path)
        if PurePosixPath(path).is_absolute() or not _inside(target, real_folder):
            quarantined.append(Record(relative, OUTSIDE_ROOT, f"points to {target}"))
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


def identify(source: SourceFile, limits: Limits = Limits()) -> Union[Identified, Record]:
    """First pass: reads and hashes a file and checks its header, without decoding pixels.

    What the dedup needs (the content hash) for every file whose header names an image
    within the limits, else the record of why the file is not one.
    """
    data = _read(source)
    if isinstance(data, Record):
        return data
    try:
        with Image.open(io.BytesIO(data)) as image:
            _check_size(image.size, limits)
    except _IMAGE_ERRORS as error:
        return _record_of(source, error)
    return Identified(source, hashlib.sha256(data).hexdigest())


def read_file(
    source: SourceFile, limits: Limits = Limits(), expected_sha256: str = ""
) -> Union[Ingested, Record]:
    """Reads one file into an example, or returns the record of why it is not one.

    `expected_sha256`: the hash of the file when it was identified; a file that no longer
    has it changed during ingestion and is quarantined rather than stored under the old hash.
    """
    data = _read(source)
    if isinstance(data, Record):
        return data
    sha256 = hashlib.sha256(data).hexdigest()
    if expected_sha256 and sha256 != expected_sha256:
        return Record(source.relative, CHANGED, f"sha256 was {expected_sha256}, now {sha256}")
    try:
        image_format, width, height, stored = _checked_image(data, limits)
    except _IMAGE_ERRORS as error:
        return _record_of(source, error)
    return Ingested(
        relative=source.relative,
        label=source.label,
        sha256=sha256,
        split=source.split,
        example=make_example(
            image=stored,
            label=source.label,
            height=height,
            width=width,
            image_format=image_format,
            source=source.relative,
            sha256=sha256,
        ).SerializeToString(),
        shorter_side=min(width, height),
    )


def _read(source: SourceFile) -> Union[bytes, Record]:
    try:
        with open(source.path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        return Record(source.relative, UNREADABLE, error.strerror or str(error))
    return data or Record(source.relative, ZERO_BYTE)


def _record_of(source: SourceFile, error: Exception) -> Record:
    """The report record of a file whose image could not be read or broke a limit."""
    if isinstance(error, _RejectedError):
        return Record(source.relative, error.reason, error.detail)
    if isinstance(error, UnidentifiedImageError):
        if PurePosixPath(source.relative).suffix.lower() in IMAGE_SUFFIXES:
            return Record(source.relative, NOT_AN_IMAGE, "no image format recognised")
        return Record(source.relative, NOT_IMAGE_FILE)
    reason = TRUNCATED if "truncated" in str(error).lower() else UNDECODABLE
    return Record(source.relative, reason, str(error) or type(error).__name__)


class _RejectedError(Exception):
    """An image that decodes but breaks a configured limit."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


_IMAGE_ERRORS = (
    _RejectedError,
    OSError,  # UnidentifiedImageError, truncated data, decoder errors
    ValueError,
    SyntaxError,
    struct.error,
    EOFError,
)
"""What Pillow and the limits raise for a file that is not a usable image: each becomes a
report record (`_record_of`); anything else is a bug and fails the run."""


def _checked_image(data: bytes, limits: Limits) -> Tuple[str, int, int, bytes]:
    """(format, width, height, bytes to store) for an image that passes every check.

    The size is read from the header and checked against `limits` before any pixel is
    decoded, so a decompression bomb costs a few bytes of memory, not gigabytes. Then the
    whole image is decoded (a truncated file fails here, not in Transform): JPEGs that are
    kept as they are decode at 1/8 scale, which reads every byte of the entropy-coded data
    for a fraction of the cost of a full decode.
    """
    with Image.open(io.BytesIO(data)) as image:
        image_format = image.format or "UNKNOWN"
        _check_size(image.size, limits)
        if decode.stored_as_is(image, data):
            width, height = decode.upright_size(image)
            if image_format in decode.JPEG_FAMILY:
                image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
            return image_format, width, height, data
        image.load()
        upright = decode.upright_rgb(image)
        return image_format, upright.width, upright.height, _re_encode(upright, image_format)


def _check_size(size: Tuple[int, int], limits: Limits) -> None:
    """Raises _RejectedError for a header size outside `limits`."""
    width, height = size
    if width * height > limits.max_pixels:
        raise _RejectedError(
            TOO_MANY_PIXELS, f"{width}x{height} is over data.max_pixels={limits.max_pixels}"
        )
    if min(width, height) < limits.min_side:
        raise _RejectedError(
            TOO_SMALL, f"{width}x{height} is under data.min_side={limits.min_side}"
        )


def _re_encode(image: Image.Image, image_format: str) -> bytes:
    """Encodes an 8-bit RGB or grayscale `image` as JPEG (quality 95, colour kept at full
    resolution: no chroma subsampling) when it came as one (`decode.JPEG_FAMILY`), else as
    a lossless PNG."""
    buffer = io.BytesIO()
    if image_format in decode.JPEG_FAMILY:
        image.save(buffer, "JPEG", quality=95, subsampling=0)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()


def deduplicate(copies: Sequence[Identified]) -> Tuple[Identified | None, List[Record]]:
    """Of files with the same content, keeps the first by path; a label clash keeps none.

    Identical content under two labels cannot be right for both, so every copy is
    quarantined as a conflict for a person to settle.
    """
    ordered = sorted(copies, key=lambda copy: copy.relative)
    labels = sorted({copy.label for copy in ordered})
    if len(labels) > 1:
        paths = ", ".join(copy.relative for copy in ordered)
        detail = f"same content labelled {', '.join(labels)}: {paths}"
        return None, [Record(copy.relative, LABEL_CONFLICT, detail) for copy in ordered]
    kept, *dropped = ordered
    return kept, [Record(copy.relative, DUPLICATE, f"same as {kept.relative}") for copy in dropped]


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
