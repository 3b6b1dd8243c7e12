"""Image sizes per class, as ingestion found them, and the shortcut they can offer a model.

On photos, the classes of a first folder often come from different sources: one class
scraped as thumbnails, another shot with a phone. Every image is resized to the model's
input, but a class that is all small is all blurry after upscaling, and a model can learn
that instead of the content. Ingestion keeps, per class, the distribution of the shorter
side of the upright images (the unit of the size slices and of `preprocessing.image_size`);
the run summary, the evaluation report and `image-pipeline init` show it, and name every
class whose images are all smaller than every image of another class.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Tuple

Distribution = Dict[str, int]
"""`{"min": ..., "median": ..., "max": ...}`: shorter sides in pixels."""


def per_class(counts: Iterable[Tuple[Tuple[str, int], int]]) -> Dict[str, Distribution]:
    """Per class, the distribution of `((class, shorter side), images)` counts."""
    histograms: Dict[str, Dict[int, int]] = {}
    for (label, side), count in counts:
        histograms.setdefault(label, {})[side] = count
    return {label: _distribution(histograms[label]) for label in sorted(histograms)}


def overall(counts: Iterable[Tuple[Tuple[str, int], int]]) -> Distribution:
    """The distribution of every image's shorter side, whatever its class."""
    histogram: Dict[int, int] = {}
    for (_, side), count in counts:
        histogram[side] = histogram.get(side, 0) + count
    return _distribution(histogram)


def _distribution(histogram: Mapping[int, int]) -> Distribution:
    """min, (lower) median and max of a `{side: images}` histogram."""
    sides = sorted(histogram)
    middle = (sum(histogram.values()) - 1) // 2
    seen = 0
    for side in sides:
        seen += histogram[side]
        if seen > middle:
            return {"min": sides[0], "median": side, "max": sides[-1]}
    raise ValueError("an empty size histogram")


def as_text(distribution: Distribution) -> str:
    """`64-128 px (median 96)`, or `8 px` when every image has the same shorter side."""
    low, median, high = distribution["min"], distribution["median"], distribution["max"]
    return f"{low} px" if low == high else f"{low}-{high} px (median {median})"


def shortcuts(sizes: Mapping[str, Distribution]) -> List[str]:
    """One line per class whose images are all smaller than all of another class's."""
    lines = []
    for label, small in sizes.items():
        larger = [
            other
            for other, large in sizes.items()
            if other != label and small["max"] < large["min"]
        ]
        if larger:
            others = ", ".join(f"{other} ({as_text(sizes[other])})" for other in larger)
            lines.append(
                f"every {label} image ({as_text(small)}) is smaller than every image of "
                f"{others}: a model can tell them apart by size (upscaling blur) instead of "
                "content; add images of varied sizes to each class"
            )
    return lines
