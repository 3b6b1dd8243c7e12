"""The learning-rate schedule, per epoch: linear warm-up, then cosine decay or constant.

Per epoch rather than per step because the number of steps in an epoch is not known
before the first pass over TFRecords; with tens of steps per epoch the difference is
negligible and the schedule stays a pure function that is easy to test.
"""

import math


def learning_rate(epoch: int, base: float, warmup_epochs: int, epochs: int, kind: str) -> float:
    """The rate for `epoch` (0-based) of a phase of `epochs` epochs starting at `base`."""
    if epoch < warmup_epochs:
        return base * (epoch + 1) / (warmup_epochs + 1)
    if kind == "constant":
        return base
    progress = (epoch - warmup_epochs) / max(1, epochs - warmup_epochs)
    return base * 0.5 * (1 + math.cos(math.pi * progress))
