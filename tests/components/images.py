"""Real encoded images for tests, made with Pillow in every format and variant ingestion meets."""

import io
import struct
import zlib

import numpy as np
from PIL import Image

_CHANNELS = {"L": 1, "RGB": 3, "RGBA": 4}


def pixels(size=(12, 10), mode="RGB", seed=0) -> Image.Image:
    """A random image of `size` (width, height) in `mode` (converted from RGB if need be)."""
    rng = np.random.default_rng(seed)
    channels = _CHANNELS.get(mode, 3)
    array = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(array[..., 0] if channels == 1 else array)
    return image if mode in _CHANNELS else image.convert(mode)


def save(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def encoded(image_format: str, size=(12, 10), mode="RGB", seed=0, **options) -> bytes:
    """A random image of `size` (width, height) encoded as `image_format`."""
    return save(pixels(size, mode, seed), image_format, **options)


def png_16_bit(size=(12, 10), seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 65536, size=(size[1], size[0]), dtype=np.uint16)
    return save(Image.fromarray(array), "PNG")


def rotated_jpeg(size=(12, 10), orientation=6) -> bytes:
    """A JPEG whose EXIF says 'rotate for display' (as phones write them)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded("JPEG", size=size, exif=exif.tobytes())


def animated_gif(size=(12, 10)) -> bytes:
    frames = [pixels(size, seed=seed).convert("P") for seed in range(2)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` but holds almost no data: a decompression bomb's
    header. Decoding it would allocate width * height bytes; reading the header does not."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return _png(header, zlib.compress(b"\0" * 64))


def png_bomb(width: int, height: int) -> bytes:
    """A valid grayscale PNG of `width` x `height` black pixels: a few hundred KB that a
    decoder turns into width * height * 3 bytes of RGB."""
    row, compressor = b"\0" * (width + 1), zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return _png(struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0), data)


def corrupted(data: bytes) -> bytes:
    """The same length of bytes with the middle overwritten: a bit-rotted file."""
    middle = len(data) // 2
    return data[:middle] + bytes(64) + data[middle + 64 :]


def pattern(size=(40, 30), mode="RGB") -> Image.Image:
    """A smooth picture with no symmetry (two gradients and a corner mark), so a rotated or
    mirrored decode differs everywhere while JPEG compresses it faithfully."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    array = np.stack(
        [255 * x / max(1, width - 1), 255 * y / max(1, height - 1), np.full(x.shape, 96)], axis=-1
    )
    array[: height // 4, : width // 4] = (250, 250, 40)
    return Image.fromarray(array.astype(np.uint8)).convert(mode)


def exif_jpeg(orientation: int, size=(40, 30)) -> bytes:
    """A JPEG whose EXIF orientation is `orientation` (1-8), as cameras write it."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return save(pattern(size), "JPEG", quality=95, exif=exif.tobytes())


def exif_png(orientation: int, size=(40, 30)) -> bytes:
    """A PNG with an `eXIf` chunk whose orientation is `orientation` (1-8)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return save(pattern(size), "PNG", exif=exif.tobytes())


def _gif_image_block(gif: bytes) -> bytes:
    """The image descriptor and data of a one-frame GIF, its global colour table made the
    frame's local one: a frame to splice into another GIF."""
    packed = gif[10]
    table = 3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0
    position = 13 + table
    while gif[position] == 0x21:  # extensions: introducer, label, sub-blocks, terminator
        position += 2
        while gif[position]:
            position += gif[position] + 1
        position += 1
    descriptor = bytearray(gif[position : position + 10])
    descriptor[9] = 0x80 | (packed & 7)
    return bytes(descriptor) + gif[13 : 13 + table] + gif[position + 10 : -1]


def gif_with_oversized_frame(size=(20, 16), later=(40, 30)) -> bytes:
    """An animated GIF whose second frame is larger than its canvas (seen in the wild):
    TensorFlow alone decodes it at the larger size, the first frame in a corner."""
    first = save(pattern(size).convert("P"), "GIF")
    second = save(pattern(later, mode="RGB").transpose(Image.ROTATE_180).convert("P"), "GIF")
    return first[:-1] + _gif_image_block(second) + b";"


def gif_with_partial_first_frame(size=(20, 16), frame=(10, 8), offset=(5, 4)) -> bytes:
    """A GIF whose first frame covers only part of its canvas, at `offset`."""
    canvas = save(pattern(size).convert("P"), "GIF")
    packed = canvas[10]
    table = 3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0
    block = bytearray(_gif_image_block(save(pattern(frame).convert("P"), "GIF")))
    struct.pack_into("<HH", block, 1, *offset)
    return canvas[: 13 + table] + bytes(block) + b";"


def transparent_gif(size=(20, 16)) -> bytes:
    """A one-frame GIF whose left half is the transparent colour."""
    image = pattern(size).convert("P", palette=Image.ADAPTIVE, colors=255)
    array = np.asarray(image).copy()
    array[:, : size[0] // 2] = 255
    palette = image.getpalette()[: 3 * 255] + [1, 2, 3]
    frame = Image.fromarray(array, mode="P")
    frame.putpalette(palette)
    return save(frame, "GIF", transparency=255)


def png_16_bit_rgb(size=(20, 16)) -> bytes:
    """A 16-bit-per-channel RGB PNG (scanners, HDR exports), written by hand: Pillow cannot."""
    width, height = size
    rgb = np.asarray(pattern(size), dtype=np.uint16) * 257
    raw = b"".join(b"\0" + row.astype(">u2").tobytes() for row in rgb)
    return _png(struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0), zlib.compress(raw))


def _png(header: bytes, data: bytes) -> bytes:
    def chunk(kind: bytes, content: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + content))
        return struct.pack(">I", len(content)) + kind + content + crc

    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def jpeg_header_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF) claims `width` x `height`."""
    data = bytearray(save(pattern((16, 16)), "JPEG"))
    at = 2
    while data[at + 1] not in (0xC0, 0xC1, 0xC2):
        at += 2 + struct.unpack(">H", data[at + 2 : at + 4])[0]
    struct.pack_into(">HH", data, at + 5, height, width)
    return bytes(data)


def gif_header_claiming(width: int, height: int) -> bytes:
    """A small GIF whose canvas (logical screen) claims `width` x `height`."""
    data = bytearray(save(pattern((16, 16)).convert("P"), "GIF"))
    struct.pack_into("<HH", data, 6, width, height)
    return bytes(data)
