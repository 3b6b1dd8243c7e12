"""The evaluation report as one self-contained HTML page.

Everything is inline: CSS in a style element, the confusion matrix as a coloured table,
the training curves as SVG, the thumbnails as data URIs. The page opens from disk, from an
artifact store download or an e-mail attachment, with no network and no script. Every
value from the run is escaped: class names and file paths come from the user's data.
"""

from __future__ import annotations

import html
from typing import Dict, List, Sequence, Tuple

from components.evaluation_report import model_card
from components.evaluation_report.gather import Ingestion, ReportData
from components.evaluation_report.results import DIFF_SUFFIX, OVERALL, ThresholdCheck
from components.image_evaluator import metrics
from components.image_example_gen import sizes
from trainer import selection
from trainer.settings import SelectionConfig

_COLOURS = {"train": "#1f6fb4", "validation": "#e07b00"}
_CHART = {"width": 460, "height": 260, "left": 56, "right": 16, "top": 28, "bottom": 44}

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #1d1d1f; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
nav a { margin-right: .8rem; }
table { border-collapse: collapse; margin: .6rem 0; }
th, td { border: 1px solid #d0d0d0; padding: .3rem .6rem; text-align: left; }
.num { text-align: right; }
th { background: #f3f3f3; }
.verdict { padding: 1rem 1.4rem; border-radius: 6px; margin-top: 1rem; }
.verdict h2 { border: none; margin: 0 0 .4rem 0; font-size: 1.6rem; }
.verdict.pass { background: #e3f4e5; border: 2px solid #2e8540; }
.verdict.fail { background: #fbe4e4; border: 2px solid #c0392b; }
td.pass { color: #2e8540; font-weight: 600; }
td.fail { color: #c0392b; font-weight: 600; }
td.na { color: #777; }
.note { color: #555; }
table.heatmap td { min-width: 2.6rem; text-align: center; }
table.heatmap td.hit { outline: 2px solid #2e8540; outline-offset: -2px; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; width: 180px; border: 1px solid #ddd; padding: 6px; font-size: .8rem; }
figure img { display: block; margin: 0 auto 4px auto; image-rendering: pixelated; }
figcaption { word-break: break-all; }
svg text { font-size: 11px; fill: #333; }
"""


def render(data: ReportData) -> str:
    sections = [
        ("verdict", "Verdict", _verdict(data)),
        ("thresholds", "Thresholds", _thresholds(data)),
        ("comparison", "Candidate and baseline", _comparison(data)),
        ("confusion", "Confusion matrix", _confusion(data)),
        ("classes", "Per class", _per_class(data)),
        ("slices", "Slices", _slices(data)),
        ("wrong", "Most confidently wrong", _wrong(data)),
        ("curves", "Training curves", _curves(data)),
        ("selection", "Backbone selection", _selection(data)),
        ("data", "Data", _data(data)),
    ]
    sections = [section for section in sections if section[2] is not None]
    nav = " ".join(f'<a href="#{anchor}">{title}</a>' for anchor, title, _ in sections[1:])
    nav += f' <a href="{model_card.CARD_PAGE}">Model card</a>'
    body = "\n".join(
        body
        if anchor == "verdict"
        else f'<section id="{anchor}">\n<h2>{title}</h2>\n{body}\n</section>'
        for anchor, title, body in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(data.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{_e(data.title)}</h1>\n<nav>{nav}</nav>\n{body}\n</body>\n</html>\n"
    )


def verdict(data: ReportData) -> Tuple[str, str, List[ThresholdCheck]]:
    """The verdict, its explanation and the failed checks: the page's first section and the
    Markdown summary (summary.py) say the same."""
    failed = [check for check in data.checks if not check.passed]
    if data.blessed:
        explanation = f"The candidate passed every threshold ({len(data.checks)}): it is pushed."
    elif failed:
        explanation = (
            f"{len(failed)} of {len(data.checks)} thresholds failed: the model is not pushed."
        )
    else:
        explanation = (
            "TFMA did not bless the candidate although no threshold failed (a slice that "
            "has thresholds had no examples): the model is not pushed."
        )
    return ("Blessed" if data.blessed else "Not blessed"), explanation, failed


def _verdict(data: ReportData) -> str:
    heading, explanation, failed = verdict(data)
    baseline = (
        '<p id="first-run"><strong>First run:</strong> there was no baseline model to compare '
        "with, so the candidate was judged on the absolute bounds alone; the thresholds on "
        "the change against a baseline were not applied.</p>"
        if not data.had_baseline
        else "<p>Compared with the baseline: the latest blessed model.</p>"
    )
    items = "".join(f"<li>{_e(check.as_text())}</li>" for check in failed)
    return (
        f'<section id="verdict" class="verdict {"pass" if data.blessed else "fail"}">\n'
        f"<h2>{heading}</h2>\n<p>{explanation}</p>\n"
        + (f"<ul>{items}</ul>\n" if items else "")
        + f"{baseline}\n</section>"
    )


def _thresholds(data: ReportData) -> str:
    if not data.checks:
        return '<p class="note">The evaluation had no thresholds.</p>'
    rows = [
        [
            _e(check.metric),
            _e(check.slice),
            "change against the baseline" if check.change else "absolute",
            _e(check.required),
            _number(check.measured, signed=check.change)
            if check.measured is not None
            else _e(check.message or "not measured"),
            ("pass", "pass") if check.passed else ("fail", "fail"),
        ]
        for check in data.checks
    ]
    return _table(["metric", "slice", "kind", "required", "measured", "result"], rows, text=4)


def _comparison(data: ReportData) -> str:
    overall = data.candidate.get(OVERALL, {})
    names = _metric_names(overall)
    if not data.had_baseline:
        rows = [[_e(name), _value(name, overall[name])] for name in names]
        note = '<p class="note">No baseline on the first run: the candidate alone.</p>'
        return note + "\n" + _table(["metric (overall)", "candidate"], rows)
    base = data.baseline.get(OVERALL, {})
    rows = [
        [
            _e(name),
            _value(name, overall[name]),
            _value(name, base[name]) if name in base else ("na", "–"),
            _number(overall[name + DIFF_SUFFIX], signed=True)
            if name + DIFF_SUFFIX in overall
            else ("na", "–"),
        ]
        for name in names
    ]
    return _table(["metric (overall)", "candidate", "baseline", "difference"], rows)


def _confusion(data: ReportData) -> str:
    if not data.confusion:
        return '<p class="note">TFMA stored no confusion matrix for this evaluation.</p>'
    ids = _class_ids(data)
    header = "".join(f"<th>{_e(_class_name(data, p))}</th>" for p in ids)
    rows = []
    for actual in ids:
        total = sum(data.confusion.get((actual, p), 0.0) for p in ids)
        cells = []
        for predicted in ids:
            count = data.confusion.get((actual, predicted), 0.0)
            share = count / total if total else 0.0
            colour = "#fff" if share > 0.55 else "#1d1d1f"
            title = (
                f"actual {_class_name(data, actual)}, predicted {_class_name(data, predicted)}: "
                f"{count:g} ({share:.0%} of the class)"
            )
            hit = ' class="hit"' if actual == predicted else ""
            cells.append(
                f'<td{hit} title="{_e(title)}" '
                f'style="background: rgba(31, 111, 180, {share:.3f}); color: {colour}">'
                f"{count:g}</td>"
            )
        rows.append(f"<tr><th>{_e(_class_name(data, actual))}</th>{''.join(cells)}</tr>")
    return (
        '<p class="note">Rows are the true class, columns the predicted class; the shade is '
        "the share of the row (overall slice).</p>\n"
        f'<table id="confusion-matrix" class="heatmap">\n<tr><th>actual \\ predicted</th>'
        f"{header}</tr>\n" + "\n".join(rows) + "\n</table>"
    )


def _per_class(data: ReportData) -> str:
    if not data.per_class:
        return '<p class="note">No per-class scores: TFMA stored no confusion matrix.</p>'
    rows = [
        [
            _e(_class_name(data, class_id)),
            f"{scores.support:g}",
            _number(scores.precision),
            _number(scores.recall),
            _number(scores.f1),
        ]
        for class_id, scores in sorted(data.per_class.items())
    ]
    macro = f"<p>Macro F1 <strong>{data.macro_f1:.4f}</strong> (every class weighs the same).</p>"
    return _table(["class", "examples", "precision", "recall", "F1"], rows) + "\n" + macro


def _slices(data: ReportData) -> str:
    names = _metric_names(data.candidate.get(OVERALL, {}))
    change = metrics.ACCURACY + DIFF_SUFFIX
    header = ["slice", *names] + ([f"{metrics.ACCURACY} change"] if data.had_baseline else [])
    rows = []
    for slice_name in sorted(data.candidate, key=lambda name: (name != OVERALL, name)):
        values = data.candidate[slice_name]
        row = [_e(slice_name)]
        row += [_value(name, values[name]) if name in values else ("na", "–") for name in names]
        if data.had_baseline:
            row.append(_number(values[change], signed=True) if change in values else ("na", "–"))
        rows.append(row)
    return _table(header, rows)


def _wrong(data: ReportData) -> str:
    caption = (
        f'<p class="note">{data.scanned} eval examples run through the candidate, '
        f"{data.wrong_found} predicted wrong"
    )
    if not data.wrong:
        return caption + ".</p>"
    caption += f"; the {len(data.wrong)} with the highest score for the wrong class:</p>"
    figures = "\n".join(
        "<figure>"
        f'<img src="{wrong.thumbnail}" alt="{_e(wrong.source)}">'
        f"<figcaption>true <strong>{_e(wrong.true_class)}</strong>, predicted "
        f"<strong>{_e(wrong.predicted_class)}</strong> ({wrong.score:.3f})<br>"
        f"{_e(wrong.source)}</figcaption></figure>"
        for wrong in data.wrong
    )
    return f'{caption}\n<div class="grid" id="wrong-images">\n{figures}\n</div>'


def _curves(data: ReportData) -> str:
    if not data.curves:
        return '<p class="note">The Trainer logged no per-epoch metrics.</p>'
    ordered = sorted(data.curves, key=lambda name: (name not in ("loss", "accuracy"), name))
    charts = "\n".join(_line_chart(name, data.curves[name]) for name in ordered)
    return f'<div class="grid">\n{charts}\n</div>'


def _selection(data: ReportData) -> str | None:
    """The Tuner's table of the backbones it chose among; None (no section) without one."""
    rows = (data.training or {}).get(selection.SELECTION_KEY)
    if not rows:
        return None
    bounds = SelectionConfig(**data.training["selection"]).bounds
    caption = (
        f"<p>Each candidate trained {data.training['tuner']['epochs']} epochs and was scored "
        "on the eval split; its int8 TFLite model was measured with the interpreter (size, "
        "median single-image latency on the training machine's CPU); s / epoch is its "
        "training time over its epochs, the first epoch's graph building included. Bounds: "
        f"{_e(bounds)}. The most accurate candidate within them was chosen and trained.</p>"
    )
    body = [
        [
            ("pass", f"{_e(row['backbone'])} (chosen)") if row["chosen"] else _e(row["backbone"]),
            _number(row["accuracy"]),
            f"{row['int8_size_mb']:.2f}",
            f"{row['int8_latency_ms']:.2f}",
            f"{row['seconds_per_epoch']:.1f}",
            ("", "yes") if row["within_bounds"] else ("fail", "no"),
        ]
        for row in rows
    ]
    header = ["Backbone", "Eval accuracy", "int8 MB", "int8 ms", "s / epoch", "Within bounds"]
    return caption + _table(header, body)


def _line_chart(title: str, series: Dict[str, List[Tuple[int, float]]]) -> str:
    """An SVG line chart of per-epoch values (epochs shown from 1), one line per series."""
    width, height = _CHART["width"], _CHART["height"]
    left, right, top, bottom = (_CHART[k] for k in ("left", "right", "top", "bottom"))
    points = [point for values in series.values() for point in values]
    first, last = min(x for x, _ in points), max(x for x, _ in points)
    low = min(0.0, min(y for _, y in points))
    high = max(y for _, y in points)
    high = high if high > low else low + 1.0

    def x_of(epoch: float) -> float:
        span = last - first or 1
        return left + (epoch - first) / span * (width - left - right)

    def y_of(value: float) -> float:
        return top + (high - value) / (high - low) * (height - top - bottom)

    parts = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{_e(title)} per epoch">',
        f'<text x="{left}" y="16" font-weight="bold">{_e(title)}</text>',
    ]
    for tick in range(5):
        value = low + (high - low) * tick / 4
        y = y_of(value)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e4e4e4"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:.3g}</text>'
        )
    step = max(1, (last - first + 1) // 8)
    for epoch in range(first, last + 1, step):
        parts.append(
            f'<text x="{x_of(epoch):.1f}" y="{height - bottom + 16}" '
            f'text-anchor="middle">{epoch + 1}</text>'
        )
    parts.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 8}" text-anchor="middle">epoch</text>'
    )
    for index, (name, values) in enumerate(sorted(series.items())):
        colour = _COLOURS.get(name, "#555")
        line = " ".join(f"{x_of(x):.1f},{y_of(y):.1f}" for x, y in values)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [
            f'<circle cx="{x_of(x):.1f}" cy="{y_of(y):.1f}" r="2.5" fill="{colour}">'
            f"<title>{_e(name)} epoch {x + 1}: {y:.4g}</title></circle>"
            for x, y in values
        ]
        legend_x = width - right - 150 + index * 80
        parts.append(
            f'<rect x="{legend_x}" y="8" width="12" height="3" fill="{colour}"/>'
            f'<text x="{legend_x + 16}" y="14">{_e(name)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _data(data: ReportData) -> str:
    splits = _table(
        ["split", "examples"],
        [[_e(split), str(count)] for split, count in data.examples_per_split.items()],
    )
    ingestion_rows = [
        [
            _e(item.uri),
            str(item.files_seen),
            str(item.examples),
            str(item.quarantined)
            + (
                " (" + ", ".join(f"{n} {_e(reason)}" for reason, n in item.reasons.items()) + ")"
                if item.reasons
                else ""
            ),
            str(item.ignored),
            str(item.duplicates),
        ]
        for item in data.ingestion
    ]
    ingestion = _table(
        ["examples artifact", "files seen", "examples", "quarantined", "ignored", "duplicates"],
        ingestion_rows,
    )
    quarantined = [record for item in data.ingestion for record in item.quarantine]
    listing = '<p class="note">No file was quarantined.</p>'
    if quarantined:
        rows = [[_e(r["path"]), _e(r["reason"]), _e(r["detail"])] for r in quarantined]
        listing = "<h3>Quarantined files</h3>\n" + _table(["path", "reason", "detail"], rows, 3)
    empty = sorted({label for item in data.ingestion for label in item.empty_classes})
    if empty:
        folders = ", ".join(_e(f"{label}/") for label in empty)
        listing += f'\n<p class="note">Class folders that gave no example: {folders}</p>'
    return (
        "<h3>Examples per split (this run's ingestion)</h3>\n"
        f"{splits}\n<h3>Ingestion</h3>\n{ingestion}\n{listing}\n{_sizes(data.ingestion)}"
    )


def _sizes(ingestion: Sequence[Ingestion]) -> str:
    """Per examples artifact, the shorter side of the images per class, and any shortcut."""
    parts = []
    for item in ingestion:
        if item.sizes_per_class is None:
            continue
        heading = "Image sizes per class (shorter side, pixels)"
        if len(ingestion) > 1:
            heading += f": {_e(item.uri)}"
        rows = [
            [_e(label), str(item.examples_per_class[label])]
            + [str(distribution[key]) for key in ("min", "median", "max")]
            for label, distribution in item.sizes_per_class.items()
        ]
        parts.append(
            f"<h3>{heading}</h3>\n"
            + _table(["class", "examples", "min", "median", "max"], rows)
            + "".join(
                f'\n<p class="note">{_e(line)}</p>'
                for line in sizes.shortcuts(item.sizes_per_class)
            )
        )
    return "\n".join(parts)


Cell = str | Tuple[str, str]
"""Cell text, or (CSS class, text)."""


def _table(header: Sequence[str], rows: Sequence[Sequence[Cell]], text: int = 1) -> str:
    """A table whose first `text` columns are text and the rest numbers (right-aligned)."""

    def cell(tag: str, index: int, content: Cell) -> str:
        classes, content = content if isinstance(content, tuple) else ("", content)
        classes = " ".join(filter(None, [classes, "num" if index >= text else ""]))
        return (
            f'<{tag} class="{classes}">{content}</{tag}>'
            if classes
            else f"<{tag}>{content}</{tag}>"
        )

    head = "".join(cell("th", index, _e(name)) for index, name in enumerate(header))
    body = "\n".join(
        "<tr>" + "".join(cell("td", index, content) for index, content in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table>\n<tr>{head}</tr>\n{body}\n</table>"


def _metric_names(values: Dict[str, float]) -> List[str]:
    """The metrics of a slice without the changes, the example count and accuracy first."""
    names = [name for name in values if not name.endswith(DIFF_SUFFIX)]
    return sorted(
        names, key=lambda name: (name != metrics.EXAMPLE_COUNT, name != metrics.ACCURACY, name)
    )


def _value(name: str, value: float) -> str:
    return f"{value:g}" if name == metrics.EXAMPLE_COUNT else f"{value:.4f}"


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def _class_ids(data: ReportData) -> List[int]:
    seen = {c for pair in data.confusion for c in pair}
    return sorted(seen | set(range(len(data.class_names))))


def _class_name(data: ReportData, class_id: int) -> str:
    return data.class_names[class_id] if class_id < len(data.class_names) else f"class {class_id}"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
