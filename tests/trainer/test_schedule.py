"""The per-epoch learning-rate schedule."""

import pytest

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
