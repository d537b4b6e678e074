"""`modules list|show`, `spec example|schema|validate` and `tools list` answer from the same owners the agent's
tools use (module catalog, Spec model, tool registry), and the example Spec validates and runs."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from auraquant.cli import app
from auraquant.workspace import Workspace


def _json(args: list[str]) -> object:
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_modules_list_is_the_catalog_with_params(tmp_path: Path, monkeypatch) -> None:
    from auraquant.cta.strategy.loader import list_modules, load_module
    from auraquant.cta.tools.codeguard import KINDS

    monkeypatch.chdir(tmp_path)  # not a workspace: built-ins only
    rows = _json(["modules", "list"])
    assert {(r["kind"], r["name"]) for r in rows} == {(k, n) for k in KINDS for n in list_modules(k)}
    assert all(r["origin"] == "builtin" for r in rows)
    ema = next(r for r in rows if r["name"] == "ema_cross")
    declared = load_module("baselines", "ema_cross").params
    assert {k: (v["default"], v["low"], v["high"]) for k, v in ema["params"].items()} == {
        k: (p.default, p.low, p.high) for k, p in declared.items()}
    only = _json(["modules", "list", "--kind", "risk"])  # the Spec's field name is accepted for the kind
    assert only and {r["kind"] for r in only} == {"risks"}


def test_modules_show_by_name_or_kind_and_name(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    one = _json(["modules", "show", "atr_stop", "--source"])
    assert one["kind"] == "executions" and set(one["params"]) == {"period", "sl_mult", "tp_mult"}
    assert "class" in one["source"]
    assert _json(["modules", "show", "executions/atr_stop"])["params"] == one["params"]
    text = CliRunner().invoke(app, ["modules", "show", "atr_stop"], env={"COLUMNS": "100"})
    assert text.exit_code == 0 and "sl_mult" in text.stdout and "stop distance in ATRs" in text.stdout
    missing = CliRunner().invoke(app, ["modules", "show", "filters/atr_stop"])
    assert missing.exit_code == 1 and missing.stderr.startswith("error: no module 'filters/atr_stop'")


def test_the_example_spec_validates_and_runs(workspace: Workspace, tmp_path: Path) -> None:
    from auraquant.cta.data.service import synth
    from auraquant.cta.strategy.spec import Spec

    dv, _ = synth(workspace.store, n=600, seed=4)
    res = CliRunner().invoke(app, ["spec", "example"])
    assert res.exit_code == 0
    spec = Spec.model_validate_json(res.stdout)
    assert spec.search_space and spec.engine.commission_bps > 0 and spec.engine.slippage_bps > 0
    path = tmp_path / "spec.json"
    path.write_text(res.stdout, encoding="utf-8")
    ok = _json(["spec", "validate", str(path), "-w", str(workspace.root)])
    assert ok == {"ok": True, "file": str(path), "spec_id": spec.id}
    ran = _json(["backtest", "--spec", str(path), "--data-version", dv.id, "-w", str(workspace.root),
                 "--no-artifacts"])
    assert ran["spec_id"] == spec.id and ran["bars"] == 600 and ran["commission_bps"] == 5.0
    written = CliRunner().invoke(app, ["spec", "example", "--out", str(tmp_path / "copy.json")])
    assert written.exit_code == 0 and (tmp_path / "copy.json").read_text() == res.stdout


def test_spec_schema_is_the_models_schema() -> None:
    from auraquant.cta.strategy.spec import Spec

    res = CliRunner().invoke(app, ["spec", "schema"])
    assert res.exit_code == 0 and json.loads(res.stdout) == Spec.model_json_schema()


def test_spec_validate_names_the_field_path_in_one_line(tmp_path: Path, monkeypatch) -> None:
    from auraquant.cta.tools.cli import example_spec

    monkeypatch.chdir(tmp_path)
    good = example_spec().model_dump(mode="json")
    cases = {
        "engine.fill": good | {"engine": good["engine"] | {"fill": "tomorrow"}},
        "baseline.name": good | {"baseline": {"name": "Not-A-Name"}},
        "baseline.params: param 'fast'=0 outside": good | {"baseline": {"name": "ema_cross",
                                                                        "params": {"fast": 0}}},
        "search_space: search path baseline.nope": good | {"search_space": {"baseline.nope": {
            "kind": "int", "low": 1, "high": 3}}},
        "risk[1].name: no risks module 'no_such_risk'": good | {"risk": [*good["risk"], {"name": "no_such_risk"}]},
    }
    for expected, body in cases.items():
        path = tmp_path / "spec.json"
        path.write_text(json.dumps(body), encoding="utf-8")
        res = CliRunner().invoke(app, ["spec", "validate", str(path)])
        lines = res.stderr.strip().splitlines()
        assert res.exit_code == 1 and len(lines) == 1 and expected in lines[0], (expected, res.stderr)


def test_tools_list_is_the_real_registry() -> None:
    from auraquant.cta.tools.registry import build_registry

    rows = _json(["tools", "list"])
    reg = build_registry()
    assert [r["name"] for r in rows] == [t.name for t in reg.tools()] and len(rows) >= 40
    assert all(r["description"] and r["category"] for r in rows)
    data = _json(["tools", "list", "--category", "data"])
    assert data and {r["category"] for r in data} == {"data"}
    text = CliRunner().invoke(app, ["tools", "list"], env={"COLUMNS": "80"})
    assert text.exit_code == 0 and "experiment_run" in text.stdout
