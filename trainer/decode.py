"""The decode contract: what the bytes of an image file mean as pixels, written once.

Training and serving read images through this module, so the model sees at serving the
pixels it saw in training, for the files real users send:

- Served formats are JPEG, PNG, GIF and BMP (`SERVED_FORMATS`), decoded to 3-channel RGB
  (grayscale expanded, alpha dropped; a GIF's transparent pixels are black).
- The EXIF orientation (tag 0x0112 in a JPEG's APP1 segment or a PNG's `eXIf` chunk, all
  eight values, mirrored ones included) is applied, so a phone photo is upright.
- A GIF gives its first frame, cropped to the GIF's canvas (TensorFlow alone decodes it at
  the size of the largest frame, the first frame in a corner and black elsewhere).
- A 16-bit PNG gives its high bytes.
- A JPEG is decoded with libjpeg's accurate IDCT: Pillow's pixels, to the value (and within
  1 of the TFLite Task Library's decoder). TensorFlow's default, the fast IDCT, is off by
  2 on average and up to 14 on a sharp edge.
- The headers of a batch are read together (`layouts`), then each image is decoded
  (`decode_laid_out`): with the resize, 0.42 ms per image for the digits' 8x8 PNGs against
  0.12 ms for `tf.io.decode_image` alone (batches of 1,000, 2 cores).
- At serving, `check_image_bytes` reads the size from the header and refuses an image of
  more than `serving.max_pixels` pixels before any pixel is decoded, and refuses, with one
  line each, what it cannot decode as ingestion does: formats that are not served (WebP,
  TIFF, HEIF/AVIF), BMPs with a colour palette (under 24 bits per pixel) and GIFs whose
  first frame does not cover the canvas. The client converts those.

The graph half (`decode`, `check_image_bytes`) runs in Transform and in the exported
signatures. The Python half (`stored_as_is`, `upright_rgb`, `upright_size`) is
ingestion's side of the same contract: ingestion keeps a file's bytes only when `decode`
gives Pillow's upright first frame, and otherwise stores `upright_rgb`, re-encoded. The
parity corpus in tests/trainer/test_decode_contract.py holds the two halves together.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps

SERVED_FORMATS = ("JPEG", "PNG", "GIF", "BMP")
JPEG_FAMILY = frozenset({"JPEG", "MPO"})
"""Pillow's names for JPEG files (MPO: phones' multi-picture JPEG, whose first picture
TensorFlow reads)."""

_UNKNOWN, _JPEG, _PNG, _GIF, _BMP, _WEBP, _TIFF, _HEIF = range(8)
_NOT_SERVED = {_WEBP: "WebP", _TIFF: "TIFF", _HEIF: "HEIF/AVIF"}
_SERVED_TEXT = f"{', '.join(SERVED_FORMATS[:-1])} or {SERVED_FORMATS[-1]}"

EXIF_ORIENTATION = 0x0112
_EXIF_HEADER = list(b"Exif\0\0")
_EXIF_CHUNK, _IDAT = list(b"eXIf"), list(b"IDAT")
_MAX_IFD_ENTRIES = 256
_TRANSPOSED = [False] * 4 + [True] * 4
_ROWS_FLIPPED = [False, False, True, True, False, False, True, True]
_COLUMNS_FLIPPED = [False, True, True, False, False, True, True, False]
"""EXIF orientations 1-8 as Pillow's exif_transpose shows them: transpose, then flip."""
_PADDING = 12 * _MAX_IFD_ENTRIES + 16
"""Zero bytes appended before reading headers, so a read past the end of a file gives
zeros; no read is longer."""


# Python half: ingestion.


def stored_as_is(image: Image.Image, data: bytes) -> bool:
    """Whether `decode(data)` gives `upright_rgb(image)` exactly, so ingestion may keep the
    file's bytes. `image` is `data` opened by
    Pillow, not yet loaded.

    Measured with TensorFlow 2.16: 1-/4-/8-bit palette BMPs decode wrongly or not at all,
    16-bit grayscale PNGs wrongly through `tf.io.decode_image` (`decode` reads them right,
    but they are stored at 8 bits), and an animated GIF or one whose first frame does not
    cover its canvas differs from Pillow's first frame. CMYK and YCCK JPEGs are re-encoded
    too: decoders disagree on Adobe's inverted CMYK. EXIF orientation is applied by
    `decode`, so a rotated JPEG is kept as it is; a rotated PNG is stored upright, because
    `decode` reads an `eXIf` chunk only before the image data, where Pillow may not.
    """
    if image.format in JPEG_FAMILY:
        return image.mode in ("L", "RGB")
    if image.format == "PNG":
        return _png_bit_depth(data) <= 8 and _orientation(image) == 1
    if image.format == "BMP":
        return image.mode in ("RGB", "RGBA")
    if image.format == "GIF":
        return getattr(image, "n_frames", 1) == 1 and _first_frame_covers_canvas(image)
    return False


def upright_rgb(image: Image.Image) -> Image.Image:
    """Pillow's reading of the contract: the first frame, EXIF orientation applied, in RGB
    (or L) with a GIF's transparent pixels black; 16-bit images reduced to 8 bits."""
    image.seek(0)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return Image.fromarray((np.asarray(image, dtype=np.uint32) >> 8).astype(np.uint8))
    upright = ImageOps.exif_transpose(image)
    if image.format == "GIF" and "transparency" in image.info:
        rgba = np.asarray(upright.convert("RGBA"))
        return Image.fromarray(np.where(rgba[..., 3:] == 0, 0, rgba[..., :3]).astype(np.uint8))
    if upright.mode in ("RGB", "L"):
        return upright
    return upright.convert("RGB")


def upright_size(image: Image.Image) -> Tuple[int, int]:
    """(width, height) once the EXIF orientation is applied."""
    width, height = image.size
    return (height, width) if _orientation(image) in (5, 6, 7, 8) else (width, height)


def _orientation(image: Image.Image) -> int:
    value = image.getexif().get(EXIF_ORIENTATION, 1)
    return value if value in range(1, 9) else 1


def _png_bit_depth(data: bytes) -> int:
    """Bit depth from the PNG IHDR chunk (Pillow hides it: it reduces 16-bit RGB to 8)."""
    return data[24] if len(data) > 24 else 8


def _first_frame_covers_canvas(image: Image.Image) -> bool:
    return bool(image.tile) and tuple(image.tile[0][1]) == (0, 0, *image.size)


# Graph half: Transform and the exported signatures.


def decode(encoded: tf.Tensor) -> tf.Tensor:
    """One encoded image (a scalar string) -> uint8 `[height, width, 3]`, upright RGB."""
    return decode_laid_out(encoded, *(value[0] for value in layouts(tf.reshape(encoded, [1]))))


def layouts(image_bytes: tf.Tensor) -> Tuple[tf.Tensor, ...]:
    """For encoded images `[batch]`, each `[batch]`: whether it is a 16-bit PNG, its EXIF
    orientation (1-8), and a GIF's canvas height and width (-1 for other formats). Read
    from the headers of the whole batch at once, so that the per-image work in
    `decode_laid_out` is a decode and a few reshapes, not a walk through each file."""
    kinds = _format_of(image_bytes)
    header = _reader(image_bytes)(tf.zeros_like(kinds), 26)
    is_gif = tf.equal(kinds, _GIF)
    height = tf.where(is_gif, _le16(header, 8), _int(-1))
    width = tf.where(is_gif, _le16(header, 6), _int(-1))
    sixteen_bit = tf.equal(kinds, _PNG) & tf.equal(header[:, 24], 16)
    return sixteen_bit, _orientations(image_bytes, kinds), height, width


def decode_laid_out(
    encoded: tf.Tensor,
    sixteen_bit: tf.Tensor,
    orientation: tf.Tensor,
    canvas_height: tf.Tensor,
    canvas_width: tf.Tensor,
) -> tf.Tensor:
    """One encoded image and its `layouts` -> uint8 `[height, width, 3]`, upright RGB.

    A 16-bit PNG is decoded at 16 bits and reduced to its high byte, as Pillow reads it
    (`tf.io.decode_image` to 8 bits misreads 16-bit grayscale); a GIF is cropped (or
    padded) to its canvas; then the orientation applies.
    """

    def high_bytes() -> tf.Tensor:
        wide = tf.io.decode_png(encoded, channels=3, dtype=tf.uint16)
        return tf.cast(tf.bitwise.right_shift(wide, 8), tf.uint8)

    def eight_bits() -> tf.Tensor:
        # The accurate IDCT (module docstring); `decode_image` would take the fast one.
        return tf.cond(
            tf.equal(_format_of(encoded), _JPEG),
            lambda: tf.io.decode_jpeg(encoded, channels=3, dct_method="INTEGER_ACCURATE"),
            lambda: tf.io.decode_image(encoded, channels=3, expand_animations=False),
        )

    image = tf.cond(sixteen_bit, high_bytes, eight_bits)
    image.set_shape([None, None, 3])
    shape = tf.shape(image, out_type=tf.int64)
    height = tf.where(canvas_height < 0, shape[0], canvas_height)
    width = tf.where(canvas_width < 0, shape[1], canvas_width)
    return _orient(_to_canvas(image, height, width), orientation)


def check_image_bytes(image_bytes: tf.Tensor, max_pixels: int) -> tf.Tensor:
    """`image_bytes` `[batch]`, after asserting every element is a served image of at most
    `max_pixels` pixels, from its header, before any pixel is decoded.

    Raises InvalidArgumentError "image_bytes[i] <what is wrong>" for the first bad element,
    e.g. "image_bytes[0] is 30000x30000 pixels, over serving.max_pixels=50000000".
    """
    problems = tf.map_fn(
        lambda encoded: _problem(encoded, max_pixels),
        image_bytes,
        fn_output_signature=tf.TensorSpec([], tf.string),
    )
    fine = tf.equal(problems, "")
    first_bad = tf.argmin(tf.cast(fine, tf.int32))
    message = tf.strings.join(
        ["image_bytes[", tf.strings.as_string(first_bad), "] ", tf.gather(problems, first_bad)]
    )
    check = tf.debugging.Assert(tf.reduce_all(fine), [message])
    with tf.control_dependencies([check]):
        return tf.identity(image_bytes)


def _problem(encoded: tf.Tensor, max_pixels: int) -> tf.Tensor:
    """'' for a served image within `max_pixels`, else what is wrong with it."""
    read = _reader(encoded)
    branches = {
        _UNKNOWN: lambda: tf.constant(f"is not a {_SERVED_TEXT} image"),
        _JPEG: lambda: _over(tf.cast(tf.image.extract_jpeg_shape(encoded), tf.int64), max_pixels),
        _PNG: lambda: _over(_png_size(read), max_pixels),
        _GIF: lambda: _gif_problem(encoded, max_pixels),
        _BMP: lambda: _bmp_problem(read, max_pixels),
    }
    for kind, name in _NOT_SERVED.items():
        branches[kind] = lambda name=name: tf.constant(
            f"is a {name} image; served formats are {', '.join(SERVED_FORMATS)}: "
            "convert it on the client"
        )
    kind = tf.cast(_format_of(encoded), tf.int32)
    return tf.switch_case(kind, [branches[k] for k in sorted(branches)])


def _over(height_width: tf.Tensor, max_pixels: int) -> tf.Tensor:
    height, width = height_width[0], height_width[1]
    return tf.cond(
        height * width > max_pixels,
        lambda: tf.strings.join(
            [
                "is ",
                tf.strings.as_string(width),
                "x",
                tf.strings.as_string(height),
                f" pixels, over serving.max_pixels={max_pixels}",
            ]
        ),
        lambda: tf.constant(""),
    )


def _format_of(encoded: tf.Tensor) -> tf.Tensor:
    """The format's id from the leading bytes (the file's signature), `_UNKNOWN` if none."""

    head = tf.strings.join([tf.strings.substr(encoded, 0, 12), b"\0" * 12])

    def starts(at: int, signature: bytes) -> tf.Tensor:
        return tf.equal(tf.strings.substr(head, at, len(signature)), signature)

    signatures = [
        (_JPEG, starts(0, b"\xff\xd8\xff")),
        (_PNG, starts(0, b"\x89PNG")),
        (_GIF, starts(0, b"GIF8")),
        (_BMP, starts(0, b"BM")),
        (_WEBP, starts(0, b"RIFF") & starts(8, b"WEBP")),
        (_TIFF, starts(0, b"II*\0") | starts(0, b"MM\0*")),
        (_HEIF, starts(4, b"ftyp")),
    ]
    kind = tf.constant(_UNKNOWN, tf.int64)
    for kind_id, matches in reversed(signatures):
        kind = tf.where(matches, tf.constant(kind_id, tf.int64), kind)
    return kind


def _reader(encoded: tf.Tensor):
    """`read(position, length)`: `length` bytes of `encoded` from `position` as int64
    `[length]`, zeros past the end (a position past the end reads the padding). For a
    batch `[batch]` of encoded images, `position` is `[batch]` and the bytes `[batch, n]`."""
    padded = tf.strings.join([encoded, tf.constant(b"\0" * _PADDING)])
    last = tf.cast(tf.strings.length(encoded), tf.int64)

    def read(position, length: int) -> tf.Tensor:
        start = tf.cast(tf.clip_by_value(tf.cast(position, tf.int64), 0, last), tf.int32)
        chunk = tf.strings.substr(padded, start, tf.fill(tf.shape(start), length))
        return tf.cast(tf.io.decode_raw(chunk, tf.uint8, fixed_length=length), tf.int64)

    return read


def _le16(b: tf.Tensor, at) -> tf.Tensor:
    """The little-endian 16-bit number at `at` of bytes `b` (`[n]`, or `[batch, n]`)."""
    return b[..., at] + 256 * b[..., at + 1]


def _be16(b: tf.Tensor, at) -> tf.Tensor:
    return 256 * b[..., at] + b[..., at + 1]


def _le32(b: tf.Tensor, at) -> tf.Tensor:
    return _le16(b, at) + 65536 * _le16(b, at + 2)


def _be32(b: tf.Tensor, at) -> tf.Tensor:
    return 65536 * _be16(b, at) + _be16(b, at + 2)


def _int(value: int) -> tf.Tensor:
    return tf.constant(value, tf.int64)


def _png_size(read) -> tf.Tensor:
    """[height, width] from the IHDR chunk."""
    b = read(16, 8)
    return tf.stack([_be32(b, 4), _be32(b, 0)])


def _bmp_problem(read, max_pixels: int) -> tf.Tensor:
    """A BMP is served when it has 24 or 32 bits per pixel (TensorFlow misreads palettes)
    and at most `max_pixels` pixels. The sides are 16-bit in the old 12-byte core header;
    a negative height, a top-down bitmap, counts by its size."""
    b = read(14, 16)
    core = tf.equal(_le32(b, 0), 12)
    width = tf.where(core, _le16(b, 4), _le32(b, 4))
    height = tf.where(core, _le16(b, 6), _le32(b, 8))
    height = tf.where(height >= 2**31, 2**32 - height, height)
    bits = tf.where(core, _le16(b, 10), _le16(b, 14))
    return tf.cond(
        bits >= 24,
        lambda: _over(tf.stack([height, width]), max_pixels),
        lambda: tf.strings.join(
            [
                "is a BMP of ",
                tf.strings.as_string(bits),
                " bits per pixel; served BMPs have 24 or 32: convert it on the client",
            ]
        ),
    )


def _gif_problem(encoded: tf.Tensor, max_pixels: int) -> tf.Tensor:
    """A GIF is refused when its frames hold more than `max_pixels` pixels together (the
    decoder reads every frame), or when its first frame does not cover its canvas."""
    canvas, first_frame, frame_pixels = _gif_frames(encoded)
    covers = tf.reduce_all(tf.equal(first_frame, tf.concat([[0, 0], canvas], axis=0)))
    too_many = tf.strings.join(
        [
            "is a GIF whose frames hold ",
            tf.strings.as_string(frame_pixels),
            f" pixels, over serving.max_pixels={max_pixels}",
        ]
    )
    partial = tf.constant(
        "is a GIF whose first frame does not cover its canvas; convert it on the client"
    )
    over_canvas = _over(canvas, max_pixels)
    return tf.cond(
        tf.not_equal(over_canvas, ""),
        lambda: over_canvas,
        lambda: tf.cond(
            frame_pixels > max_pixels,
            lambda: too_many,
            lambda: tf.cond(covers, lambda: tf.constant(""), lambda: partial),
        ),
    )


def _gif_frames(encoded: tf.Tensor):
    """The canvas [height, width], the first frame's [top, left, height, width], and the
    pixels of all frames together, by walking the GIF's blocks (extensions and image
    descriptors, skipping each one's data sub-blocks) without decoding."""
    read = _reader(encoded)
    end = tf.cast(tf.strings.length(encoded), tf.int64)
    header = read(0, 13)

    def table_size(packed: tf.Tensor) -> tf.Tensor:
        return tf.where(packed >= 128, 3 * tf.bitwise.left_shift(_int(2), packed % 8), _int(0))

    def more(position, in_sub_blocks, first_frame, pixels, frames):
        block = read(position, 1)[0]
        block_follows = in_sub_blocks | tf.equal(block, 0x21) | tf.equal(block, 0x2C)
        return (position < end) & block_follows

    def step(position, in_sub_blocks, first_frame, pixels, frames):
        b = read(position, 10)
        is_image = tf.logical_not(in_sub_blocks) & tf.equal(b[0], 0x2C)
        frame = tf.stack([_le16(b, 3), _le16(b, 1), _le16(b, 7), _le16(b, 5)])
        in_block = tf.where(is_image, position + 11 + table_size(b[9]), position + 2)
        in_sub_block = tf.where(tf.equal(b[0], 0), position + 1, position + 1 + b[0])
        return (
            tf.where(in_sub_blocks, in_sub_block, in_block),
            tf.logical_not(in_sub_blocks) | tf.not_equal(b[0], 0),
            tf.where(is_image & tf.equal(frames, 0), frame, first_frame),
            pixels + tf.where(is_image, frame[2] * frame[3], _int(0)),
            frames + tf.cast(is_image, tf.int64),
        )

    start = 13 + table_size(header[10])
    initial = (start, tf.constant(False), tf.zeros([4], tf.int64), _int(0), _int(0))
    _, _, first_frame, pixels, _ = tf.while_loop(more, step, initial)
    return tf.stack([_le16(header, 8), _le16(header, 6)]), first_frame, pixels


def _to_canvas(image: tf.Tensor, height: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
    """`image` cropped (or padded with black) to `height` x `width`."""
    height, width = tf.cast(height, tf.int32), tf.cast(width, tf.int32)
    cropped = image[:height, :width]
    shape = tf.shape(cropped)
    return tf.pad(cropped, [[0, height - shape[0]], [0, width - shape[1]], [0, 0]])


def _orient(image: tf.Tensor, orientation: tf.Tensor) -> tf.Tensor:
    """`image` shown the way EXIF `orientation` (1-8) says, as Pillow's exif_transpose: a
    transpose (5-8), then flips of the rows and/or columns, with no branches."""
    index = tf.cast(orientation - 1, tf.int32)
    transposed = tf.transpose(image, tf.where(tf.gather(_TRANSPOSED, index), [1, 0, 2], [0, 1, 2]))
    flips = [tf.gather(_ROWS_FLIPPED, index), tf.gather(_COLUMNS_FLIPPED, index)]
    return tf.reverse(transposed, tf.boolean_mask([0, 1], flips))


def _orientations(image_bytes: tf.Tensor, kinds: tf.Tensor) -> tf.Tensor:
    """The EXIF orientation (1-8; 1 when absent or invalid) of each encoded image `[batch]`:
    a JPEG's first `Exif` APP1 segment, a PNG's `eXIf` chunk. One loop walks every image's
    segments (JPEG) or chunks (PNG) at once, up to the EXIF data or the image data."""
    read = _reader(image_bytes)
    end = tf.cast(tf.strings.length(image_bytes), tf.int64)
    is_jpeg, is_png = tf.equal(kinds, _JPEG), tf.equal(kinds, _PNG)

    def step(position, exif_at, done):
        b = read(position, 14)
        marker = b[:, 1]
        standalone = tf.equal(marker, 0xD8) | tf.equal(marker, 0x01)
        standalone |= (marker >= 0xD0) & (marker <= 0xD7)
        jpeg_exif = tf.equal(marker, 0xE1) & tf.reduce_all(tf.equal(b[:, 4:10], _EXIF_HEADER), 1)
        jpeg_size = tf.where(standalone, _int(2), 2 + _be16(b, 2))
        jpeg_size = tf.where(tf.equal(marker, 0xFF), _int(1), jpeg_size)
        jpeg_end = tf.not_equal(b[:, 0], 0xFF) | tf.equal(marker, 0xDA) | tf.equal(marker, 0xD9)
        png_exif = tf.reduce_all(tf.equal(b[:, 4:8], _EXIF_CHUNK), 1)
        png_end = tf.reduce_all(tf.equal(b[:, 4:8], _IDAT), 1) | (position + 8 > end)
        prefixed = tf.reduce_all(tf.equal(b[:, 8:14], _EXIF_HEADER), 1)
        png_exif_at = position + tf.where(prefixed, _int(14), _int(8))
        found = tf.where(is_jpeg, jpeg_exif, png_exif)
        stop = found | (position >= end) | tf.where(is_jpeg, jpeg_end, png_end)
        size = tf.where(is_jpeg, jpeg_size, 12 + _be32(b, 0))
        return (
            tf.where(done | stop, position, position + size),
            tf.where(done | ~found, exif_at, tf.where(is_jpeg, position + 10, png_exif_at)),
            done | stop,
        )

    start = tf.where(is_png, _int(8), _int(0))
    _, exif_at, _ = tf.while_loop(
        lambda position, exif_at, done: tf.reduce_any(~done),
        step,
        (start, tf.fill(tf.shape(start), _int(-1)), ~(is_jpeg | is_png)),
    )
    return _tiff_orientations(read, exif_at, end)


def _tiff_orientations(read, tiff_at: tf.Tensor, end: tf.Tensor) -> tf.Tensor:
    """Tag 0x0112 of the first IFD of each TIFF structure at `tiff_at` `[batch]` (either
    byte order); 1 where `tiff_at` is -1, or the tag is absent, invalid or outside the file."""
    header = read(tiff_at, 8)
    little = tf.equal(header[:, 0], ord("I"))

    def u16(b, at):
        order = tf.reshape(little, [-1] + [1] * (b.shape.rank - 2))
        return tf.where(order, _le16(b, at), _be16(b, at))

    ifd_at = tiff_at + tf.where(little, _le32(header, 4), _be32(header, 4))
    count = tf.minimum(u16(read(ifd_at, 2), 0), _MAX_IFD_ENTRIES)
    entries = tf.reshape(read(ifd_at + 2, 12 * _MAX_IFD_ENTRIES), [-1, _MAX_IFD_ENTRIES, 12])
    tags, values = u16(entries, 0), u16(entries, 8)
    listed = tf.range(_MAX_IFD_ENTRIES, dtype=tf.int64)[None, :] < count[:, None]
    wanted = tf.equal(tags, EXIF_ORIENTATION) & listed
    value = tf.reduce_max(tf.where(wanted, values, _int(0)), axis=1)
    valid = (tiff_at >= 0) & (ifd_at + 2 + 12 * count <= end) & (value >= 1) & (value <= 8)
    return tf.where(valid, value, _int(1))
