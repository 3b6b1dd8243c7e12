"""The evaluation report's first screen in Markdown (`summary.md`, beside `report.html`).

The KFP UI and the Vertex AI console show a Markdown artifact in place, where an HTML page
takes a click or a new tab (pipeline/kubeflow/report_view.py), so what a reviewer needs
before opening the page comes first here: blessed or not and which threshold failed, every
threshold with the measured value, the candidate against the baseline on the overall slice,
the examples per split and the per-class scores. It is rendered from the same `ReportData`
as the page, with the page's verdict and number formats (render.py), so the two never
disagree. Every value from the run is escaped: class names come from the user's folders.
"""

from __future__ import annotations

import re
from typing import List, Sequence

from components.evaluation_report import render as page
from components.evaluation_report.gather import ReportData
from components.evaluation_report.results import DIFF_SUFFIX, OVERALL

SUMMARY_FILE = "summary.md"
CLASSES_SHOWN = 10
"""Classes in the per-class table; with more, those with the lowest recall (the page has all)."""

_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#~&!])")
"""What Markdown (GFM tables included) could read as markup; escaped with a backslash."""


def render(data: ReportData) -> str:
    heading, explanation, failed = page.verdict(data)
    baseline = (
        "Compared with the baseline: the latest blessed model."
        if data.had_baseline
        else "**First run**: no baseline model to compare with, so the candidate was judged "
        "on the absolute bounds alone."
    )
    lines = [f"## {heading}", "", f"**{_md(data.title)}**. {explanation} {baseline}", ""]
    if failed:
        lines += [*(f"- **Failed**: {_md(check.as_text())}" for check in failed), ""]
    lines += [*_thresholds(data), "", *_comparison(data), ""]
    splits = ", ".join(f"{_md(split)} {count}" for split, count in data.examples_per_split.items())
    lines += [f"Examples per split: {splits}.", "", *_per_class(data)]
    return "\n".join(lines) + "\n"


def _thresholds(data: ReportData) -> List[str]:
    if not data.checks:
        return ["The evaluation had no thresholds."]
    return _table(
        ["threshold", "slice", "required", "measured", "result"],
        [
            [
                _md(check.metric) + (" change" if check.change else ""),
                _md(check.slice),
                _md(check.required),
                page._number(check.measured, signed=check.change)
                if check.measured is not None
                else _md(check.message or "not measured"),
                "pass" if check.passed else "**fail**",
            ]
            for check in data.checks
        ],
        text=3,
    )


def _comparison(data: ReportData) -> List[str]:
    overall = data.candidate.get(OVERALL, {})
    names = page._metric_names(overall)
    if not data.had_baseline:
        return _table(
            ["overall", "candidate"],
            [[_md(name), page._value(name, overall[name])] for name in names],
        )
    base = data.baseline.get(OVERALL, {})
    return _table(
        ["overall", "candidate", "baseline", "difference"],
        [
            [
                _md(name),
                page._value(name, overall[name]),
                page._value(name, base[name]) if name in base else "–",
                page._number(overall.get(name + DIFF_SUFFIX), signed=True),
            ]
            for name in names
        ],
    )


def _per_class(data: ReportData) -> List[str]:
    if not data.per_class:
        return ["No per-class scores: TFMA stored no confusion matrix."]
    shown = sorted(data.per_class.items())
    note = []
    if len(shown) > CLASSES_SHOWN:
        shown = sorted(shown, key=lambda item: (item[1].recall is None, item[1].recall or 0.0))
        shown = shown[:CLASSES_SHOWN]
        note = ["", f"The {CLASSES_SHOWN} of {len(data.per_class)} classes with the lowest recall."]
    rows = [
        [
            _md(page._class_name(data, class_id)),
            f"{scores.support:g}",
            page._number(scores.precision),
            page._number(scores.recall),
            page._number(scores.f1),
        ]
        for class_id, scores in shown
    ]
    table = _table(["class", "examples", "precision", "recall", "F1"], rows)
    return [*table, *note, "", f"Macro F1 **{data.macro_f1:.4f}**."]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], text: int = 1) -> List[str]:
    """A GFM table whose first `text` columns are text and the rest numbers (right-aligned)."""
    align = ["---"] * text + ["---:"] * (len(header) - text)
    return [f"| {' | '.join(cells)} |" for cells in [header, align, *rows]]


def _md(text: object) -> str:
    return _SPECIAL.sub(r"\\\1", str(text))
