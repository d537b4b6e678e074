"""Unique id prefixes are accepted wherever an id is taken (CLI commands and tools, one resolver); an
ambiguous prefix is refused in one line naming the candidates; downstream code only ever sees full ids."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from auraquant.cli import app
from auraquant.ids import AmbiguousId, resolve_id
from auraquant.workspace import Workspace


@pytest.fixture
def stocked(workspace: Workspace) -> tuple[Workspace, str]:
    from auraquant.cta.data.service import synth
    from auraquant.cta.strategy.spec import Spec

    dv, _ = synth(workspace.store, n=500, seed=9)
    # two stored objects whose ids share a 6-digit prefix (ids are content hashes: set explicitly here)
    for suffix in ("00000000000000", "11111111111111"):
        workspace.store.put_object("spec", Spec(baseline={"name": "ema_cross"}), f"spec_abcdef{suffix}")
    return workspace, dv.id


def test_the_resolver(stocked: tuple[Workspace, str]) -> None:
    ws, dv = stocked
    assert resolve_id(ws.store, dv[:7]) == dv  # dv_ + 4 digits
    assert resolve_id(ws.store, dv) == dv
    assert resolve_id(ws.store, "dv_ffff") == "dv_ffff"  # nothing matches: left for the lookup to refuse
    assert resolve_id(ws.store, "dv_2c") == "dv_2c"  # too short to be a prefix
    assert resolve_id(ws.store, "not an id") == "not an id"
    with pytest.raises(AmbiguousId, match="spec_abcdef00000000000000, spec_abcdef11111111111111"):
        resolve_id(ws.store, "spec_abcdef")
    assert resolve_id(ws.store, "spec_abcdef1") == "spec_abcdef11111111111111"


def test_commands_take_prefixes(stocked: tuple[Workspace, str]) -> None:
    ws, dv = stocked
    w = ["-w", str(ws.root), "--json"]
    shown = CliRunner().invoke(app, ["data", "show", dv[:8], *w])
    assert shown.exit_code == 0 and json.loads(shown.stdout)["id"] == dv
    ran = CliRunner().invoke(app, ["backtest", "--data-version", dv[:8], "--baseline", "ema_cross",
                                   "--no-artifacts", *w])
    assert ran.exit_code == 0, ran.output
    full = CliRunner().invoke(app, ["backtest", "--data-version", dv, "--baseline", "ema_cross", "--no-artifacts",
                                    *w])
    assert json.loads(ran.stdout) == json.loads(full.stdout)
    sliced = CliRunner().invoke(app, ["data", "slice", dv[:8], "--end", "2022-01-10", "--role", "train", *w])
    assert sliced.exit_code == 0 and json.loads(sliced.stdout)["data_version_id"] == dv


def test_an_ambiguous_prefix_is_one_line_with_the_candidates(stocked: tuple[Workspace, str]) -> None:
    ws, dv = stocked
    argv = ["experiment", "run", "--data-version", dv, "--spec", "spec_abcdef", "--train", "100", "--target", "50",
            "-w", str(ws.root)]
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 1 and res.stdout == ""
    assert res.stderr.strip().splitlines() == [
        "error: id prefix 'spec_abcdef' is ambiguous: spec_abcdef00000000000000, spec_abcdef11111111111111; "
        "give more characters"]
    as_json = CliRunner().invoke(app, [*argv, "--json"])
    assert json.loads(as_json.stdout)["kind"] == "AmbiguousId"


def test_tools_take_prefixes_through_the_same_resolver(stocked: tuple[Workspace, str]) -> None:
    from auraquant.cta.tools.deps import research_context
    from auraquant.cta.tools.registry import build_registry

    ws, dv = stocked
    reg = build_registry()
    ctx = research_context(ws)
    ok = asyncio.run(reg.call("data_version_show", {"data_version_id": dv[:8]}, ctx))
    assert ok.ok, ok.content
    assert json.loads(ok.content)["version"]["id"] == dv
    amb = asyncio.run(reg.call("spec_get", {"spec_id": "spec_abcdef"}, ctx))
    assert not amb.ok and "ambiguous" in amb.content and "spec_abcdef11111111111111" in amb.content


def test_backtest_spec_takes_a_stored_id_like_experiment_run(stocked: tuple[Workspace, str]) -> None:
    from auraquant.cta.strategy.spec import Spec

    ws, dv = stocked
    res = CliRunner().invoke(app, ["backtest", "--spec", "spec_abcdef1", "--data-version", dv[:8], "-w",
                                   str(ws.root), "--no-artifacts", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["spec_id"] == Spec(baseline={"name": "ema_cross"}).id
    amb = CliRunner().invoke(app, ["backtest", "--spec", "spec_abcdef", "--data-version", dv, "-w", str(ws.root)])
    assert amb.exit_code != 0 and "ambiguous" in amb.stderr and len(amb.stderr.strip().splitlines()) == 1
