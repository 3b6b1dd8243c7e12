"""The evaluation report in a real headless browser: Debian's chromium, opened from disk.

The page must render offline: the verdict and the confusion matrix are in the DOM the
browser built, and the screenshot shows the verdict's colours and the heatmap's shades.
Screenshots are kept under the test's tmp dir and copied to `test-output/` in the
repository (ignored by git), to look at after the run.

Chromium is installed with apt-get when it is missing; if that is impossible the test fails
and says how to install it, rather than skipping: an unrendered report is not a tested one.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from components.evaluation_report import writer

REPO = Path(__file__).resolve().parents[2]
WINDOW = (1280, 2000)
FAIL_BACKGROUND = (0xFB, 0xE4, 0xE4)
PASS_BACKGROUND = (0xE3, 0xF4, 0xE5)
HEATMAP_CELL = tuple(round(255 + (c - 255) * 0.8) for c in (31, 111, 180))
"""The heatmap's rgba(31, 111, 180, 0.8) on white: a cell holding 8 of its row's 10 examples."""


@pytest.fixture(scope="session")
def chromium():
    found = shutil.which("chromium")
    if found:
        return found
    install = subprocess.run(
        ["bash", "-c", "apt-get update && apt-get install -y --no-install-recommends chromium"],
        capture_output=True,
        text=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        check=False,
    )
    found = shutil.which("chromium")
    if not found:
        pytest.fail(
            f"chromium is not installed and apt-get could not install it (exit code "
            f"{install.returncode}: {install.stderr.strip()[-300:]}); install Debian's chromium "
            "package (apt-get install chromium) as root and run the test again"
        )
    return found


def headless(chromium, *arguments) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def pixels_of(image: Image.Image, colour, tolerance=6) -> int:
    """How many pixels are `colour` (give or take the tolerance per channel)."""
    return sum(
        count
        for count, pixel in image.getcolors(maxcolors=1 << 20)
        if all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))
    )


@pytest.mark.parametrize(
    "run, verdict, background",
    [("first_run", "Blessed", PASS_BACKGROUND), ("compared_run", "Not blessed", FAIL_BACKGROUND)],
)
def test_report_renders_offline_in_chromium(chromium, request, tmp_path, run, verdict, background):
    page = Path(writer.write_report(request.getfixturevalue(run).inputs, str(tmp_path / "report")))
    url = page.as_uri()
    screenshot = tmp_path / f"evaluation-report-{run}.png"

    dom = headless(chromium, "--dump-dom", url).stdout
    headless(chromium, f"--screenshot={screenshot}", f"--window-size={WINDOW[0]},{WINDOW[1]}", url)

    output = REPO / "test-output"
    output.mkdir(exist_ok=True)
    shutil.copy(screenshot, output / screenshot.name)

    verdict_section = dom[dom.index('<section id="verdict"') :]
    assert f"<h2>{verdict}</h2>" in verdict_section[: verdict_section.index("</section>")]
    matrix = dom[dom.index('<table id="confusion-matrix"') :]
    assert matrix[: matrix.index("</table>")].count("<td") == 9
    image = Image.open(screenshot).convert("RGB")
    assert image.size == WINDOW
    assert screenshot.stat().st_size > 20_000  # text, tables and thumbnails, not a blank page
    # Areas, not stray anti-aliased pixels: the verdict box, and the three 8-of-10 cells.
    assert pixels_of(image, background) > 20_000, "the verdict box is not drawn in its colour"
    assert pixels_of(image, HEATMAP_CELL) > 1_500, "the confusion matrix heatmap is not drawn"
