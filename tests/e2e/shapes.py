"""A folder of images of our own making, not the digits: what a new user brings to `init`.

Three classes of drawn shapes (circle, square, triangle; any other class name draws a line)
on plain backgrounds, each image its own size and aspect within `sides`, colours at random,
alternately JPEG and PNG. Seeded, so the same call writes the same files. Also a command,
for the README's walk-through: `python -m tests.e2e.shapes data/shapes`.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Sequence, Tuple

from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")


def write_shapes(
    root: Path,
    per_class: int = 60,
    sides: Tuple[int, int] = (48, 160),
    classes: Sequence[str] = CLASSES,
    seed: int = 0,
) -> int:
    """Writes `root/<class>/<n>.(jpg|png)`; returns how many images it wrote."""
    draw_rng = random.Random(seed)
    for label in classes:
        folder = Path(root) / label
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            width, height = (draw_rng.randint(*sides) for _ in range(2))
            image = _drawn(label, width, height, draw_rng)
            if index % 2:
                image.save(folder / f"{index:03d}.png")
            else:
                image.save(folder / f"{index:03d}.jpg", quality=90)
    return per_class * len(classes)


def _drawn(label: str, width: int, height: int, rng: random.Random) -> Image.Image:
    background = tuple(rng.randint(0, 110) for _ in range(3))
    colour = tuple(rng.randint(150, 255) for _ in range(3))
    image = Image.new("RGB", (width, height), background)
    side = rng.uniform(0.45, 0.8) * min(width, height)
    left = rng.uniform(0, width - side)
    top = rng.uniform(0, height - side)
    box = (left, top, left + side, top + side)
    draw = ImageDraw.Draw(image)
    if label == "circle":
        draw.ellipse(box, fill=colour)
    elif label == "square":
        draw.rectangle(box, fill=colour)
    elif label == "triangle":
        draw.polygon(
            [(left, top + side), (left + side, top + side), (left + side / 2, top)], colour
        )
    else:
        draw.line(box, fill=colour, width=max(1, round(side / 8)))
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-class", type=int, default=60)
    args = parser.parse_args()
    count = write_shapes(args.out, args.per_class)
    print(f"{count} images in {args.out}: {', '.join(CLASSES)}")


if __name__ == "__main__":
    main()
