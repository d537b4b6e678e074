"""Headless Chromium driven through its command line, for report tests: one launch loads a page, lets its
scripts run (within a virtual time budget), prints the resulting DOM and optionally saves a screenshot."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

_NAMES = ("chromium", "chromium-browser", "google-chrome")
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-default-apps", "--mute-audio", "--hide-scrollbars", "--disable-crash-reporter",
          "--disable-breakpad")


def find_chromium() -> str | None:
    for name in ("/usr/bin/chromium", *_NAMES):
        path = shutil.which(name)
        if path:
            return path
    return None


def render(binary: str, url: str, profile: Path, screenshot: Path | None = None, timeout: float = 120,
           size: tuple[int, int] = (1400, 1000), budget_ms: int = 5000) -> str:
    """The serialized DOM after the page's scripts ran; with `screenshot`, also a PNG of the `size` view.
    `profile` must be a new directory (a fresh user profile per launch)."""
    extra = [f"--screenshot={screenshot}"] if screenshot is not None else []
    cmd = [binary, *_FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
           f"--virtual-time-budget={budget_ms}", "--dump-dom", *extra, url]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if res.returncode != 0 or "<html" not in res.stdout:
        raise RuntimeError(f"chromium failed ({res.returncode}): {res.stderr[-2000:]}")
    if screenshot is not None and not screenshot.is_file():
        raise RuntimeError(f"chromium wrote no screenshot: {res.stderr[-2000:]}")
    return res.stdout
