"""Must-show 3 of issue 8: the tearsheet opens in headless Chromium without errors and shows the equity curve."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auraquant.cta.report import theme
from auraquant.cta.report.tearsheet import write_tearsheet
from tests.integration.report.chromium import find_chromium, render
from tests.unit.report.sample_data import sample_data

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/system-deps.sh "
                                                          "installs it as root with apt); browser test skipped")


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    html_path, _ = write_tearsheet(sample_data(), tmp_path_factory.mktemp("tearsheet"))
    return html_path


@pytest.fixture(scope="module")
def rendered(page: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """One browser launch: the DOM after rendering and a screenshot of the first 1400x1000 pixels."""
    tmp = tmp_path_factory.mktemp("chromium")
    dom = render(CHROMIUM, page.as_uri(), tmp / "profile", screenshot=tmp / "shot.png")
    return dom, tmp / "shot.png"


def _render_state(dom: str) -> tuple[str, str]:
    root = re.search(r"<html[^>]*>", dom)
    assert root, dom[:500]
    state = re.search(r'data-render="([^"]*)"', root.group(0))
    figures = re.search(r'data-figures="([^"]*)"', root.group(0))
    return (state.group(1) if state else ""), (figures.group(1) if figures else "")


def test_tearsheet_renders_every_figure_without_errors(rendered: tuple[str, Path]) -> None:
    dom, _ = rendered
    state, figures = _render_state(dom)
    errors = re.search(r'<pre id="render-errors">(.*?)</pre>', dom, re.S)
    assert state == "ready", f"render state {state!r}: {errors.group(1) if errors else ''}"
    assert figures == "4"  # equity, rolling, trade distribution, Monte Carlo (no bars: no price chart)
    assert dom.count('class="main-svg"') >= 4  # plotly drew SVG into each figure


def test_screenshot_shows_the_equity_curve(rendered: tuple[str, Path]) -> None:
    _, shot = rendered
    im = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert im.shape[:2] == (1000, 1400)
    # Not blank: a rendered page has many colours and plenty of pixels away from the background.
    packed = (im[..., 0] << 16) | (im[..., 1] << 8) | im[..., 2]
    assert np.unique(packed).size > 500
    assert (np.abs(im - _rgb(theme.BG)).sum(axis=2) > 30).mean() > 0.3
    # The equity curve: pixels of the NAV line colour spanning most of the chart width, in the chart region.
    chart = im[200:800]
    line = np.abs(chart - _rgb(theme.EQUITY)).sum(axis=2) < 60
    cols = np.flatnonzero(line.sum(axis=0) > 0)
    assert line.sum() > 1500, f"only {line.sum()} equity-coloured pixels"
    assert cols.max() - cols.min() > 900, "the equity line does not span the chart"
    # And the drawdown area below it.
    dd = np.abs(chart - _rgb(theme.DRAWDOWN)).sum(axis=2) < 60
    assert dd.sum() > 1000


def test_a_script_error_is_detected(page: Path, tmp_path: Path) -> None:
    """The render-state check is not vacuous: a page whose plotting throws reports `error`, not `ready`."""
    broken = tmp_path / "broken.html"
    broken.write_text(page.read_text(encoding="utf-8").replace("var CONFIG = ", "FIGURES['fig-mc'] = null; var CONFIG = ", 1),
                      encoding="utf-8")
    dom = render(CHROMIUM, broken.as_uri(), tmp_path / "profile")
    state, _ = _render_state(dom)
    assert state == "error"
    assert "Chart rendering failed" in dom
