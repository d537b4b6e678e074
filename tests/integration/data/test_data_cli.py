"""`auraquant data …` and `init`/`demo` through the real CLI app: rich output for people, JSON for scripts."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from auraquant.cli import app

runner = CliRunner()


def _json(args: list[str]) -> dict | list:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_synth_list_show_slice_features_round_trip(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    assert _json(["init", ws, "--no-demo-data"])["demo_data_version"] is None
    dv = _json(["data", "synth", "--bars", "800", "--seed", "5", "-w", ws])
    assert dv["created"] is True and dv["bars"] == 800 and dv["source"].startswith("synthetic:")
    assert _json(["data", "synth", "--bars", "800", "--seed", "5", "-w", ws])["created"] is False
    listed = _json(["data", "list", "-w", ws])
    assert [v["id"] for v in listed] == [dv["id"]]
    assert _json(["data", "show", dv["id"], "-w", ws])["quality"]["errors"] == []

    ds = _json(["data", "slice", dv["id"], "--start", "2022-01-05", "--end", "2022-01-10", "--role", "train", "-w", ws])
    assert ds["bars"] == 5 * 24 and ds["role"] == "train" and ds["id"].startswith("ds_")
    fs = _json(["data", "features", ds["id"], "--indicator", "atr", "--param", "length=14", "-w", ws])
    assert fs["columns"] == ["ATRr_14"] and fs["rows"] == 120 and fs["params"] == {"length": 14}


def test_errors_are_one_line_or_json(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    runner.invoke(app, ["init", ws, "--no-demo-data"])
    missing = runner.invoke(app, ["data", "show", "dv_nope", "-w", ws])
    assert missing.exit_code == 1 and "no data version 'dv_nope'" in missing.output and "Traceback" not in missing.output
    doc = json.loads(runner.invoke(app, ["data", "slice", "dv_nope", "-w", ws, "--json"]).stdout)
    assert doc["kind"] == "NotFound"
    outside = runner.invoke(app, ["data", "list", "-w", str(tmp_path)])
    assert outside.exit_code == 1 and "auraquant init" in outside.output
    # A long path with rich markup in it: still one line (the path copyable), printed literally.
    nope = tmp_path / ("d" * 150) / "[bold]nope.csv"
    bad = runner.invoke(app, ["data", "import", str(nope), "--symbol", "X", "--timeframe", "1h", "-w", ws])
    assert bad.exit_code == 1 and "no such file" in bad.output
    assert bad.output.count("\n") == 1 and str(nope) in bad.output
