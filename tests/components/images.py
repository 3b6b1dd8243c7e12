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

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def corrupted(data: bytes) -> bytes:
    """The same length of bytes with the middle overwritten: a bit-rotted file."""
    middle = len(data) // 2
    return data[:middle] + bytes(64) + data[middle + 64 :]
