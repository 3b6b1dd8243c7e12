"""Real encoded images for tests, made with Pillow in every format ingestion handles."""

import io

import numpy as np
from PIL import Image


def encoded(image_format: str, size=(12, 10), mode="RGB", seed=0) -> bytes:
    """A random image of `size` (width, height) encoded as `image_format`."""
    rng = np.random.default_rng(seed)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()
