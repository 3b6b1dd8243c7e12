"""Learning rates: per epoch (linear warm-up, then cosine decay or constant), and per layer.

Per epoch rather than per step because the number of steps in an epoch is not known
before the first pass over TFRecords; with tens of steps per epoch the difference is
negligible and the schedule stays a pure function that is easy to test.
"""

import math
from typing import Dict

import tensorflow as tf


def learning_rate(epoch: int, base: float, warmup_epochs: int, epochs: int, kind: str) -> float:
    """The rate for `epoch` (0-based) of a phase of `epochs` epochs starting at `base`."""
    if epoch < warmup_epochs:
        return base * (epoch + 1) / (warmup_epochs + 1)
    if kind == "constant":
        return base
    progress = (epoch - warmup_epochs) / max(1, epochs - warmup_epochs)
    return base * 0.5 * (1 + math.cos(math.pi * progress))


class LayerwiseAdam(tf.keras.optimizers.Adam):
    """Adam with a learning-rate factor per variable: differential learning rates.

    An Adam step is proportional to the learning rate, so a variable with factor f moves f
    times as far as plain Adam would move it (scaling its gradient instead would do nothing:
    Adam divides the scale out). `factors` maps variable names to factors; the others keep
    the full rate. The per-epoch schedule still sets `learning_rate` for all.
    """

    def __init__(self, learning_rate: float, factors: Dict[str, float], **kwargs):
        super().__init__(learning_rate, **kwargs)
        self._factors = dict(factors)

    def update_step(self, gradient, variable):
        factor = self._factors.get(variable.name, 1.0)
        if factor == 1.0:
            return super().update_step(gradient, variable)
        before = tf.identity(variable)
        super().update_step(gradient, variable)
        return variable.assign(before + factor * (variable - before))
