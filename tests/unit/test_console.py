"""`auraquant.console.say`: plain text, one line however long (paths stay copyable), brackets literal."""

from __future__ import annotations

import io

from rich.console import Console

from auraquant import console as console_mod


def test_say_prints_long_paths_whole_and_brackets_literally(monkeypatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(console_mod, "console", Console(file=out, width=40, force_terminal=False, color_system=None))
    path = "/tmp/" + "x" * 80 + "/[bold]run/artifacts"
    console_mod.say(f"artifacts: {path}")
    assert out.getvalue() == f"artifacts: {path}\n"
