"""Choosing among backbones (`trainer.backbone` as a list): each candidate's figures, the
rule that picks one, and the table the run summary and the evaluation report show.

The Tuner trains every candidate for `trainer.tuner.epochs` (trainer/tuning.py); then each
is converted to the int8 TFLite model a device would run, calibrated on training images, and
the real interpreter measures its size and single-image latency. The most accurate candidate
within `trainer.selection`'s bounds is chosen. The table travels in the best hyperparameters
(`SELECTION_KEY`) to run_fn, which keeps it in the training record. No TensorFlow here:
the run summary reads this module.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

from trainer.settings import SelectionConfig

SELECTION_KEY = "backbone_selection"
"""The candidates' table: a JSON string in the best hyperparameters, a list in the training
record."""
OBJECTIVE = "selection_score"


class SelectionError(ValueError):
    """No choice among the candidates: none within the bounds, or none reached the Trainer."""


def score(accuracy: float, figures: Dict[str, float], bounds: SelectionConfig) -> float:
    """What the search maximises: the eval accuracy, less 2 outside the bounds, so that any
    candidate within them beats every one outside."""
    within = bounds.meets(figures["int8_latency_ms"], figures["int8_size_mb"])
    return accuracy if within else accuracy - 2.0


def table(trials: Sequence[Dict], bounds: SelectionConfig) -> List[Dict]:
    """One row per backbone, from its best trial (`trials`: dicts of a trial's
    hyperparameter values and metrics), best first; the first row is the one chosen.

    Raises SelectionError, naming every candidate's figures, when none is within the bounds.
    """
    best: Dict[str, Dict] = {}
    for trial in sorted(trials, key=lambda t: -t[OBJECTIVE]):
        best.setdefault(trial["backbone"], trial)
    figures = ("int8_size_mb", "int8_latency_ms", "seconds_per_epoch")
    rows = [
        {
            "backbone": name,
            "accuracy": float(trial["val_accuracy"]),
            **{figure: float(trial[figure]) for figure in figures},
            "within_bounds": bool(bounds.meets(trial["int8_latency_ms"], trial["int8_size_mb"])),
        }
        for name, trial in best.items()
    ]
    if not rows or not rows[0]["within_bounds"]:
        raise SelectionError(
            f"trainer.selection: no candidate meets {bounds.bounds}: "
            + "; ".join(_row_text(row) for row in rows)
            + ". Raise the bounds, or add a smaller backbone to trainer.backbone"
        )
    return [{**row, "chosen": index == 0} for index, row in enumerate(rows)]


def _row_text(row: Dict) -> str:
    return (
        f"{row['backbone']} accuracy {row['accuracy']:.4f}, int8 {row['int8_size_mb']:.2f} MB, "
        f"{row['int8_latency_ms']:.2f} ms"
    )


def text_lines(rows: Sequence[Dict]) -> List[str]:
    """The table as aligned text lines, for logs and the run summary."""
    return [
        f"{'*' if row['chosen'] else ' '} {row['backbone']:<17} acc {row['accuracy']:.4f}  "
        f"int8 {row['int8_size_mb']:6.2f} MB {row['int8_latency_ms']:7.2f} ms  "
        f"{row['seconds_per_epoch']:6.1f} s/epoch"
        + ("" if row["within_bounds"] else "  (outside the bounds)")
        for row in rows
    ]
