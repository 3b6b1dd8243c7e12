"""Reading one listed file into a tf.Example, or into the report row of why it is not one.

The executor wires these functions into Beam (a first pass that reads, hashes and checks
the header of each file, `deduplicate` on the hashes, a second pass that reads the kept
files into examples); here they are plain functions so they can be tested on real image
bytes directly. A file that cannot become an example (broken, too small, too large, a
second copy, or no image at all) becomes a report row with its reason (`rows.py`), never
an exception that crashes the run.

The format is decided by the content (Pillow's sniffing), never by the extension. Bytes are
kept as they are when the decode contract (trainer/decode.py), which Transform and the
serving signatures apply, gives exactly Pillow's upright first frame; otherwise (CMYK JPEG,
16-bit PNG, palette BMP, animated GIF, WebP, TIFF, ...) Pillow's upright first frame is
re-encoded once, here, so Transform never meets them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import struct
from pathlib import PurePosixPath
from typing import List, Sequence, Tuple, Union

import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from components.image_example_gen.listing import SourceFile
from components.image_example_gen.rows import (
    CHANGED,
    DUPLICATE,
    LABEL_CONFLICT,
    NOT_AN_IMAGE,
    NOT_IMAGE_FILE,
    TOO_MANY_PIXELS,
    TOO_SMALL,
    TRUNCATED,
    UNDECODABLE,
    UNREADABLE,
    ZERO_BYTE,
    ReportRow,
)
from trainer import decode, features

Image.MAX_IMAGE_PIXELS = None
"""Pillow's own decompression-bomb limit is off: ingestion applies `data.max_pixels` itself,
from the header, before any pixel is decoded (`_check_size`), above Pillow's default too."""

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".dib", ".webp", ".tif", ".tiff"}
    | {".heic", ".heif", ".avif", ".ico", ".ppm", ".pgm", ".pbm", ".tga", ".jp2"}
)
"""Names that promise an image. Only used to tell a broken image (quarantined) from a file
that never claimed to be one, such as a README (ignored); the format comes from the bytes."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """Size limits from the config (`data.min_side`, `data.max_pixels`)."""

    min_side: int = 8
    max_pixels: int = 50_000_000


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


def identify(source: SourceFile, limits: Limits = Limits()) -> Union[Identified, ReportRow]:
    """First pass: reads and hashes a file and checks its header, without decoding pixels.

    What the dedup needs (the content hash) for every file whose header names an image
    within the limits, else the report row of why the file is not one.
    """
    data = _read(source)
    if isinstance(data, ReportRow):
        return data
    try:
        with Image.open(io.BytesIO(data)) as image:
            _check_size(image.size, limits)
    except _IMAGE_ERRORS as error:
        return _row_of(source, error)
    return Identified(source, hashlib.sha256(data).hexdigest())


def read_file(
    source: SourceFile, limits: Limits = Limits(), expected_sha256: str = ""
) -> Union[Ingested, ReportRow]:
    """Reads one file into an example, or returns the report row of why it is not one.

    `expected_sha256`: the hash of the file when it was identified; a file that no longer
    has it changed during ingestion and is quarantined rather than stored under the old hash.
    """
    data = _read(source)
    if isinstance(data, ReportRow):
        return data
    sha256 = hashlib.sha256(data).hexdigest()
    if expected_sha256 and sha256 != expected_sha256:
        return ReportRow(source.relative, CHANGED, f"sha256 was {expected_sha256}, now {sha256}")
    try:
        image_format, width, height, stored = _checked_image(data, limits)
    except _IMAGE_ERRORS as error:
        return _row_of(source, error)
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


def _read(source: SourceFile) -> Union[bytes, ReportRow]:
    try:
        with open(source.path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        return ReportRow(source.relative, UNREADABLE, error.strerror or str(error))
    return data or ReportRow(source.relative, ZERO_BYTE)


def _row_of(source: SourceFile, error: Exception) -> ReportRow:
    """The report row of a file whose image could not be read or broke a limit."""
    if isinstance(error, _RejectedError):
        return ReportRow(source.relative, error.reason, error.detail)
    if isinstance(error, UnidentifiedImageError):
        if PurePosixPath(source.relative).suffix.lower() in IMAGE_SUFFIXES:
            return ReportRow(source.relative, NOT_AN_IMAGE, "no image format recognised")
        return ReportRow(source.relative, NOT_IMAGE_FILE)
    reason = TRUNCATED if "truncated" in str(error).lower() else UNDECODABLE
    return ReportRow(source.relative, reason, str(error) or type(error).__name__)


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
report row (`_row_of`); anything else is a bug and fails the run."""


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


def deduplicate(copies: Sequence[Identified]) -> Tuple[Identified | None, List[ReportRow]]:
    """Of files with the same content, keeps the first by path; a label clash keeps none.

    Identical content under two labels cannot be right for both, so every copy is
    quarantined as a conflict for a person to settle.
    """
    ordered = sorted(copies, key=lambda copy: copy.relative)
    labels = sorted({copy.label for copy in ordered})
    if len(labels) > 1:
        paths = ", ".join(copy.relative for copy in ordered)
        detail = f"same content labelled {', '.join(labels)}: {paths}"
        return None, [ReportRow(copy.relative, LABEL_CONFLICT, detail) for copy in ordered]
    kept, *dropped = ordered
    return kept, [
        ReportRow(copy.relative, DUPLICATE, f"same as {kept.relative}") for copy in dropped
    ]


def make_example(
    image: bytes,
    label: str,
    height: int,
    width: int,
    image_format: str,
    source: str,
    sha256: str,
) -> tf.train.Example:
    """Builds the tf.Example of the data contract (docs/architecture.md) for one image.

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
