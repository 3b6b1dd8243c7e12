"""The rule that chooses among backbone candidates (trainer/selection.py), on given figures."""

import pytest

from trainer import selection
from trainer.settings import SelectionConfig


def trial(backbone, accuracy, latency_ms, size_mb, bounds):
    figures = {"int8_latency_ms": latency_ms, "int8_size_mb": size_mb}
    return {
        "backbone": backbone,
        "val_accuracy": accuracy,
        "seconds_per_epoch": 1.0,
        **figures,
        selection.OBJECTIVE: selection.score(accuracy, figures, bounds),
    }


CANDIDATES = [("EfficientNetB0", 0.95, 4.0, 5.0), ("compact", 0.93, 0.3, 0.2)]
CANDIDATES += [("ResNet50V2", 0.97, 9.0, 24.0)]


def chosen(bounds, candidates=CANDIDATES):
    rows = selection.table([trial(*c, bounds) for c in candidates], bounds)
    assert [row["chosen"] for row in rows] == [True] + [False] * (len(rows) - 1)
    return [(row["backbone"], row["within_bounds"]) for row in rows]


def test_without_bounds_the_most_accurate_is_chosen():
    assert chosen(SelectionConfig()) == [
        ("ResNet50V2", True),
        ("EfficientNetB0", True),
        ("compact", True),
    ]


def test_bounds_choose_the_most_accurate_within_them():
    assert chosen(SelectionConfig(max_latency_ms=5))[0] == ("EfficientNetB0", True)
    assert chosen(SelectionConfig(max_size_mb=1))[0] == ("compact", True)
    assert chosen(SelectionConfig(max_latency_ms=5, max_size_mb=1)) == [
        ("compact", True),
        ("ResNet50V2", False),
        ("EfficientNetB0", False),
    ]


def test_each_backbone_is_shown_by_its_best_trial():
    bounds = SelectionConfig()
    trials = [trial(*c, bounds) for c in CANDIDATES]
    trials.append(trial("compact", 0.99, 0.3, 0.2, bounds))
    rows = selection.table(trials, bounds)
    assert [(row["backbone"], row["accuracy"]) for row in rows][0] == ("compact", 0.99)
    assert len(rows) == 3


def test_no_candidate_within_the_bounds_stops_with_every_candidates_figures():
    bounds = SelectionConfig(max_latency_ms=0.1)
    with pytest.raises(selection.SelectionError) as error:
        selection.table([trial(*c, bounds) for c in CANDIDATES], bounds)
    message = str(error.value)
    assert message.startswith("trainer.selection: no candidate meets int8 latency <= 0.1 ms: ")
    assert "compact accuracy 0.9300, int8 0.20 MB, 0.30 ms" in message
    assert message.count(" ms") == 4
    assert message.endswith("Raise the bounds, or add a smaller backbone to trainer.backbone")


def test_text_lines_mark_the_chosen_and_those_outside():
    rows = selection.table(
        [trial(*c, SelectionConfig(max_size_mb=1)) for c in CANDIDATES],
        SelectionConfig(max_size_mb=1),
    )
    lines = selection.text_lines(rows)
    assert lines[0].startswith("* compact ")
    assert lines[1].endswith("(outside the bounds)") and lines[1].startswith("  ResNet50V2")
