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


def test_table_keeps_ids_and_paths_whole_at_80_columns() -> None:
    """Ids and paths are copied into the next command: a table never cuts (`…`) or wraps them, at 80
    columns too; other text folds instead of being cut."""
    out = io.StringIO()
    c = Console(file=out, width=80, force_terminal=False, color_system=None)
    ids = ["dv_2c9cdde72fa4f6908dad", "run_defeafc7b5ea4aae5f4f"]
    path = "/tmp/a/rather/long/path/to/artifacts"
    rows = [(i, path, "SYNTH/USDT", "x" * 90) for i in ids]
    c.print(console_mod.table("t", ["id", "where", "symbol", "notes"], rows))
    text = out.getvalue()
    assert "…" not in text
    for value in (*ids, path):
        assert value in text, (value, text)
    assert all(len(line) <= 80 for line in text.splitlines())
    assert text.count("x") == 180  # the long free text is folded, not cut


def test_piped_output_is_wide_unless_columns_is_set(monkeypatch) -> None:
    class Pipe(io.StringIO):
        def isatty(self) -> bool:
            return False

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("COLUMNS", raising=False)
    assert console_mod._width(Pipe()) == console_mod.PIPE_WIDTH
    assert console_mod._width(Tty()) is None  # the terminal's own width
    monkeypatch.setenv("COLUMNS", "80")
    assert console_mod._width(Pipe()) is None  # COLUMNS decides (rich reads it)
