"""Learning rates: the per-epoch schedule, and differential rates per variable."""

import numpy as np
import pytest
import tensorflow as tf

from trainer import schedule
from trainer.schedule import learning_rate


def test_warmup_rises_linearly_to_the_base_rate():
    rates = [learning_rate(e, 1.0, warmup_epochs=3, epochs=10, kind="cosine") for e in range(3)]
    assert rates == pytest.approx([0.25, 0.5, 0.75])
    assert learning_rate(3, 1.0, 3, 10, "cosine") == pytest.approx(1.0)


def test_cosine_decays_towards_zero():
    rates = [learning_rate(e, 0.1, warmup_epochs=0, epochs=10, kind="cosine") for e in range(10)]
    assert rates[0] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))
    assert 0 < rates[-1] < 0.01


def test_constant_stays_after_warmup():
    assert learning_rate(7, 0.1, warmup_epochs=1, epochs=10, kind="constant") == 0.1


def test_layerwise_adam_moves_each_variable_by_its_factor():
    tf.keras.utils.set_random_seed(0)
    start = [np.ones((3, 2), np.float32), np.ones((2,), np.float32)]
    gradients = [tf.constant(np.arange(6, dtype=np.float32).reshape(3, 2)), tf.ones((2,))]
    plain = [tf.Variable(value, name=f"plain{i}") for i, value in enumerate(start)]
    scaled = [tf.Variable(value, name=f"scaled{i}") for i, value in enumerate(start)]

    tf.keras.optimizers.Adam(0.1).apply_gradients(zip(gradients, plain, strict=True))
    schedule.LayerwiseAdam(0.1, {scaled[0].name: 0.25}).apply_gradients(
        zip(gradients, scaled, strict=True)
    )

    plain_step = [p.numpy() - s for p, s in zip(plain, start, strict=True)]
    scaled_step = [v.numpy() - s for v, s in zip(scaled, start, strict=True)]
    assert np.abs(plain_step[0]).max() > 0.01
    np.testing.assert_allclose(scaled_step[0], 0.25 * plain_step[0], rtol=1e-5)
    np.testing.assert_allclose(scaled_step[1], plain_step[1], rtol=1e-6)  # no factor: full rate
