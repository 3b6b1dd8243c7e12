"""The embedded demo data: scikit-learn's bundled digits written out as class-per-folder PNGs.

1,797 real 8x8 scans of handwritten digits ship inside scikit-learn (a TFX dependency), so
the demo runs on real image files with no download. Pixels (0-16) are scaled to 0-255 and
written as 8-bit grayscale PNGs, one folder per digit.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def write_digits(
    out_dir: str | os.PathLike,
    classes: Sequence[int] | None = None,
    per_class: int | None = None,
) -> int:
    """Writes `out_dir/<digit>/digit_<index>.png`; returns how many images it holds.

    `classes` and `per_class` take a subset (for tests). Files already there with the same
    name are left untouched, so re-running keeps their timestamps and ExampleGen's input
    fingerprint, and the pipeline's cache stays valid.
    """
    digits = load_digits()
    wanted = set(range(10) if classes is None else classes)
    written = {digit: 0 for digit in wanted}
    out_dir = Path(out_dir)
    for index, (pixels, target) in enumerate(zip(digits.images, digits.target, strict=True)):
        digit = int(target)
        if digit not in wanted or (per_class is not None and written[digit] >= per_class):
            continue
        path = out_dir / str(digit) / f"digit_{index:04d}.png"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            image = np.round(pixels * (255.0 / 16.0)).astype(np.uint8)
            Image.fromarray(image).save(path)
        written[digit] += 1
    return sum(written.values())
