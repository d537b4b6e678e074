"""Must-show 1: every route that reads bars reads no holdout bar before freeze.

One workspace holds a bar file whose holdout bars carry a sentinel: their prices and volumes are scaled by
1000, into a band ([1e7, 1e9)) that no honest output of this data reaches (the research bars trade near
3e4 with volumes near 1e3, the NAV starts at 1e4), and a few of them have zero volume so the quality report
has holdout example rows. The holdout is declared with `data slice --role holdout`, after a full slice and a
cached feature over it were made (the pre-seal artifacts a leak would reuse).

Each route is then exercised through the CLI or the tool registry. Two independent proofs per route:
- the sentinel: no number in the sentinel band appears in the route's output, in any file it wrote (JSON,
  HTML, Parquet values, bundle bars), or in any store row (the bars' own catalog row excepted);
- the audit: a spy on the store's bar reader (`Store.load_bars`, which every reader goes through) records any
  frame holding a sentinel bar that is returned outside `read_holdout`; it must stay empty.
Then a freeze scores the holdout once (one audited read, look 1), and a second run on the same content,
frozen too, is the 2nd look (record, archive show, approve prompt).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from aura.tools import ToolOutcome
from auraquant.cli import app
from auraquant.cta.cloud.bundle import make_job, open_bundle, write_bundle
from auraquant.cta.data import access
from auraquant.cta.data.synthetic import generate
from auraquant.cta.strategy.spec import Spec
from auraquant.cta.tools import build_registry, research_context
from auraquant.cta.workspace_init import init_workspace
from auraquant.store import Store
from auraquant.workspace import Workspace

N_BARS = 2400
HOLDOUT_BARS = 400
SCALE = 1000.0
BAND = (1e7, 1e9)
SPEC = {"name": "ema-trail", "baseline": {"name": "ema_cross", "params": {"fast": 8, "slow": 40}},
        "execution": [{"name": "trailing_pct"}], "risk": [{"name": "fixed_fraction"}],
        "search_space": {"baseline.fast": {"kind": "int", "low": 4, "high": 20},
                         "baseline.slow": {"kind": "int", "low": 30, "high": 90}}}
WALK_FORWARD = {"train_bars": 800, "target_bars": 300, "n_windows": 2}
SEARCH = {"n_trials": 6, "batch_size": 6, "n_startup_trials": 6, "top_k": 2}
GOAL = {"trades": {"min": 0}}
NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")
cli = CliRunner()


def sentinel_bars() -> pd.DataFrame:
    """Synthetic bars whose last HOLDOUT_BARS bars carry the sentinel (see the module docstring)."""
    bars = generate(N_BARS, seed=11, start="2022-01-01")
    rng = np.random.default_rng(3)
    bars["volume"] = rng.uniform(500.0, 1500.0, N_BARS)
    hold = slice(N_BARS - HOLDOUT_BARS, N_BARS)
    for c in ("open", "high", "low", "close", "volume"):
        bars.loc[bars.index[hold], c] = bars[c].iloc[hold] * SCALE
    bars.loc[bars.index[[N_BARS - 300, N_BARS - 200]], "volume"] = 0.0  # holdout rows in the quality report
    bars.loc[bars.index[100], "volume"] = 0.0  # and one research row, which may be shown
    return bars


def in_band(values: np.ndarray) -> np.ndarray:
    v = np.abs(np.asarray(values, dtype=float))
    return (v >= BAND[0]) & (v < BAND[1])


def text_hits(text: str) -> list[float]:
    return [float(m) for m in NUMBER.findall(text) if BAND[0] <= abs(float(m)) < BAND[1]]


def frame_hits(frame: pd.DataFrame) -> list[str]:
    out = []
    for c in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]):
            n = int(in_band(frame[c].to_numpy(dtype=float)).sum())
            if n:
                out.append(f"{c}: {n} values")
    return out


def file_hits(path: Path) -> list[str]:
    """Sentinel values in one written file (Parquet by value, tars member by member, other files as text)."""
    if path.suffix == ".parquet":
        return [f"{path.name} {h}" for h in frame_hits(pd.read_parquet(path))]
    if path.suffix == ".tar":
        hits = []
        with tarfile.open(path) as tar:
            for m in tar.getmembers():
                data = tar.extractfile(m)
                if data is None:
                    continue
                raw = data.read()
                if m.name.endswith(".parquet"):
                    import io

                    hits += [f"{path.name}:{m.name} {h}" for h in frame_hits(pd.read_parquet(io.BytesIO(raw)))]
                else:
                    hits += [f"{path.name}:{m.name} {v}" for v in text_hits(raw.decode(errors="replace"))]
        return hits
    if path.suffix in {".png", ".duckdb", ".lock", ".wal", ".journal"}:
        return []
    return [f"{path.name} {v}" for v in text_hits(path.read_text(errors="replace"))]


@dataclass
class Env:
    ws: Workspace
    root: Path
    bars: pd.DataFrame
    holdout_start: pd.Timestamp
    reg: Any
    ctx: Any
    ids: dict[str, str] = field(default_factory=dict)
    leaks: list[str] = field(default_factory=list)

    @property
    def w(self) -> list[str]:
        return ["-w", str(self.root)]

    def tool(self, name: str, args: dict[str, Any]) -> ToolOutcome:
        return asyncio.run(self.reg.call(name, json.dumps(args, default=str), self.ctx))

    def ok(self, name: str, args: dict[str, Any]) -> Any:
        out = self.tool(name, args)
        assert out.ok, out.content
        return out.value


def _spy(env: Env) -> Any:
    """Wrap `Store.load_bars`: a returned frame with a sentinel bar outside `read_holdout` is a leak."""
    original = Store.load_bars

    def load_bars(self: Store, dv_id: str, start: Any = None, end: Any = None) -> pd.DataFrame:
        out = original(self, dv_id, start, end)
        if len(out) and in_band(out["close"].to_numpy()).any():
            frame = sys._getframe(1)
            inside = False
            while frame is not None:
                if frame.f_code.co_name == "read_holdout" and frame.f_globals.get("__name__") == access.__name__:
                    inside = True
                    break
                frame = frame.f_back
            if not inside:
                env.leaks.append(f"load_bars({dv_id}, {start}, {end}) returned {int(in_band(out['close']).sum())} "
                                 "sentinel bars")
        return out

    return load_bars


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("holdout-routes") / "ws"
    init_workspace(root, demo_data=False)
    ws = Workspace.open(root)
    # significance gates off: these tests are about which bars are read, not about evidence strength
    (ws.config / "gates.json").write_text('{"min_dsr": null, "max_pbo": null, "max_spa_p": null, '
                                          '"min_oos_trades": null}')
    bars = sentinel_bars()
    bars.to_parquet(root / "bars.parquet", index=False)
    hs = pd.Timestamp(bars["time"].iloc[N_BARS - HOLDOUT_BARS])
    e = Env(ws=ws, root=root, bars=bars, holdout_start=hs, reg=build_registry(),
            ctx=research_context(ws, model_id="test-model"))
    mp = pytest.MonkeyPatch()
    mp.setattr(Store, "load_bars", _spy(e))
    imp = _json(["data", "import", str(root / "bars.parquet"), "--symbol", "SENT/USDT", "--timeframe", "1h", *e.w])
    e.ids["dv"] = imp["id"]
    # Pre-seal artifacts a leak would reuse: a full slice and a cached feature over it.
    e.ids["ds_early_full"] = _json(["data", "slice", imp["id"], *e.w])["id"]
    _json(["data", "features", e.ids["ds_early_full"], "--indicator", "ema", "--param", "length=10", *e.w])
    e.ids["ds_hold"] = _json(["data", "slice", imp["id"], "--role", "holdout", "--start", hs.isoformat(), *e.w])["id"]
    e.ids["ds_train"] = _json(["data", "slice", imp["id"], "--role", "train", "--end", "2022-02-15", *e.w])["id"]
    e.ids["spec"] = e.ok("spec_put", {"spec": SPEC, "data_version_id": imp["id"]}).spec_id
    (root / "spec.json").write_text(Spec.model_validate(SPEC).model_dump_json())
    e.leaks.clear()  # the pre-seal feature read the whole version legitimately (nothing was sealed yet)
    yield e
    e.ctx.deps.jobs.close()
    mp.undo()


@pytest.fixture(autouse=True)
def _fresh_audit(env: Env) -> None:
    """Each route answers for its own reads."""
    env.leaks.clear()


def _json(args: list[str]) -> Any:
    res = cli.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def _run_id(env: Env) -> str:
    """The walk-forward run of the default experiment_run route (made on first use)."""
    if "run" not in env.ids:
        out = env.tool("experiment_run", {"spec_id": env.ids["spec"], "walk_forward": WALK_FORWARD,
                                          "search": SEARCH, "wait_s": 300})
        assert out.ok and out.value.state == "finished", out.content
        env.ids["run"] = out.value.run_id
    return env.ids["run"]


def _other_dv(env: Env) -> str:
    """The same bars imported again under another symbol (made on first use)."""
    if "dv_other" not in env.ids:
        env.bars.to_parquet(env.root / "same.parquet", index=False)
        env.ids["dv_other"] = _json(["data", "import", str(env.root / "same.parquet"), "--symbol", "OTHER/USDT",
                                     "--timeframe", "1h", *env.w])["id"]
    return env.ids["dv_other"]


def _bundle(env: Env) -> str:
    """A sweep bundle made by `cloud bundle` (made on first use)."""
    if "bundle" not in env.ids:
        params = env.root / "params.json"
        params.write_text(json.dumps([{"baseline.fast": 6, "baseline.slow": 40}]))
        env.ids["bundle"] = _json(["cloud", "bundle", "--spec", env.ids["spec"], "--data", env.ids["dv"],
                                   "--params", str(params), *env.w])["path"]
    return env.ids["bundle"]


def _new_files(root: Path, before: set[Path]) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p not in before]


def _snapshot(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def _clean(env: Env, output: str, before: set[Path]) -> None:
    """The route's output and every file it wrote are free of sentinel values; no leak was audited."""
    assert text_hits(output) == [], f"sentinel values in the output: {text_hits(output)[:5]}"
    hits = [h for p in _new_files(env.root, before) for h in file_hits(p)]
    assert hits == [], f"sentinel values in written files: {hits[:5]}"
    assert env.leaks == [], env.leaks


def _refused(res: Any) -> str:
    """A refused CLI call: non-zero exit, one line naming the seal, no traceback."""
    assert res.exit_code != 0, res.output
    text = (res.stdout + (res.stderr or "")).strip()
    assert "holdout sealed" in text and "Traceback" not in text, text
    assert len(text.splitlines()) == 1, text
    return text


# -- the fixture itself --------------------------------------------------------------------------------------
def test_sentinel_is_where_the_holdout_is(env: Env) -> None:
    times = env.bars["time"]
    assert in_band(env.bars["close"][times >= env.holdout_start]).all()
    assert not in_band(env.bars["close"][times < env.holdout_start]).any()
    seal = access.holdout_of(env.ws.store, env.ids["dv"])
    assert seal is not None and seal.start == env.holdout_start and seal.holdout_ids


# -- CLI: backtest -------------------------------------------------------------------------------------------
def test_backtest_by_data_version_stops_at_the_seal(env: Env) -> None:
    before = _snapshot(env.root)
    res = cli.invoke(app, ["backtest", str(env.root / "spec.json"), "--data-version", env.ids["dv"], *env.w, "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["bars"] == N_BARS - HOLDOUT_BARS and pd.Timestamp(rep["data_to"]) < env.holdout_start
    _clean(env, res.stdout, before)


def test_backtest_by_data_version_into_the_holdout_is_refused(env: Env) -> None:
    before = _snapshot(env.root)
    end = (env.holdout_start + pd.Timedelta(hours=5)).isoformat()
    res = cli.invoke(app, ["backtest", str(env.root / "spec.json"), "--data-version", env.ids["dv"], "--end", end,
                           *env.w, "--json"])
    _refused(res)
    _clean(env, res.output, before)


def test_backtest_by_file_cuts_the_sealed_rows(env: Env) -> None:
    before = _snapshot(env.root)
    res = cli.invoke(app, ["backtest", str(env.root / "spec.json"), "--data", str(env.root / "bars.parquet"),
                           "--workspace", str(env.root), "--out", str(env.root / "bt-file"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["bars"] == N_BARS - HOLDOUT_BARS
    assert f"the {HOLDOUT_BARS} rows of bars.parquet" in res.stderr
    _clean(env, res.stdout + res.stderr, before)


def test_backtest_by_holdout_slice_is_refused(env: Env) -> None:
    before = _snapshot(env.root)
    _refused(cli.invoke(app, ["backtest", str(env.root / "spec.json"), "--slice", env.ids["ds_hold"], *env.w]))
    _clean(env, "", before)


def test_backtest_by_pre_seal_full_slice_is_refused(env: Env) -> None:
    before = _snapshot(env.root)
    _refused(cli.invoke(app, ["backtest", str(env.root / "spec.json"), "--slice", env.ids["ds_early_full"], *env.w]))
    _clean(env, "", before)


# -- CLI: data -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["full", "target", "validation"])
def test_data_slice_without_end_is_refused(env: Env, role: str) -> None:
    _refused(cli.invoke(app, ["data", "slice", env.ids["dv"], "--role", role, "--start", "2022-02-01", *env.w]))
    ok = _json(["data", "slice", env.ids["dv"], "--role", role, "--start", "2022-02-01", "--end",
                env.holdout_start.isoformat(), *env.w])
    assert pd.Timestamp(ok["end"]) == env.holdout_start


def test_data_slice_starting_inside_the_holdout_is_refused(env: Env) -> None:
    start = (env.holdout_start + pd.Timedelta(hours=10)).isoformat()
    _refused(cli.invoke(app, ["data", "slice", env.ids["dv"], "--role", "target", "--start", start, *env.w]))


@pytest.mark.parametrize("slice_key", ["ds_hold", "ds_early_full"])
def test_data_features_on_sealed_bars_is_refused_even_when_cached(env: Env, slice_key: str) -> None:
    before = _snapshot(env.root)
    res = cli.invoke(app, ["data", "features", env.ids[slice_key], "--indicator", "ema", "--param", "length=10",
                           *env.w, "--json"])
    assert res.exit_code != 0 and json.loads(res.stdout)["kind"] == "HoldoutSealed"
    _clean(env, res.stdout, before)


def test_data_features_on_research_slice(env: Env) -> None:
    before = _snapshot(env.root)
    res = cli.invoke(app, ["data", "features", env.ids["ds_train"], "--indicator", "ema", "--param", "length=10",
                           "--timeframe", "4h", *env.w])
    assert res.exit_code == 0, res.output
    _clean(env, res.stdout, before)


@pytest.mark.parametrize("args", [["show", "{dv}"], ["show", "{dv}", "--json"], ["list", "--json"], ["list"]])
def test_data_show_and_list_hide_holdout_quality_examples(env: Env, args: list[str]) -> None:
    res = cli.invoke(app, ["data", *[a.format(dv=env.ids["dv"]) for a in args], *env.w])
    assert res.exit_code == 0, res.output
    assert text_hits(res.stdout) == []
    if "--json" in args:
        body = json.loads(res.stdout)
        body = body if isinstance(body, dict) else body[0]
        zero = next(w for w in body["quality"]["warnings"] if w["kind"] == "zero_volume")
        assert zero["count"] == 3 and [e["row"] for e in zero["examples"]] == [100]  # the research row only
        assert body["holdout_from"] == env.holdout_start.isoformat()


def test_data_reimport_of_the_same_file_hides_holdout_examples(env: Env) -> None:
    res = cli.invoke(app, ["data", "import", str(env.root / "bars.parquet"), "--symbol", "SENT/USDT",
                           "--timeframe", "1h", *env.w])
    assert res.exit_code == 0 and "already stored" in res.stdout, res.output
    assert text_hits(res.stdout) == []


# -- re-imports: the seal is on the content ----------------------------------------------------------------
def _reimport(env: Env, frame: pd.DataFrame, name: str, symbol: str) -> str:
    frame.to_parquet(env.root / name, index=False)
    return _json(["data", "import", str(env.root / name), "--symbol", symbol, "--timeframe", "1h", *env.w])["id"]


def _assert_sealed_from(env: Env, dv_id: str, start: pd.Timestamp) -> None:
    assert access.holdout_start(env.ws.store, dv_id) == start
    before = _snapshot(env.root)
    res = cli.invoke(app, ["backtest", str(env.root / "spec.json"), "--data-version", dv_id, *env.w, "--json"])
    assert res.exit_code == 0, res.output
    assert pd.Timestamp(json.loads(res.stdout)["data_to"]) < start
    _clean(env, res.stdout, before)
    _refused(cli.invoke(app, ["data", "slice", dv_id, "--role", "full", *env.w]))


def test_reimport_under_another_symbol_is_sealed(env: Env) -> None:
    dv = _other_dv(env)
    assert dv != env.ids["dv"]
    _assert_sealed_from(env, dv, env.holdout_start)


def test_reimport_of_a_superset_file_is_sealed(env: Env) -> None:
    later = generate(200, seed=99, start=str(env.bars["time"].iloc[-1] + pd.Timedelta(hours=1)))
    earlier = generate(100, seed=98, start=str(env.bars["time"].iloc[0] - pd.Timedelta(hours=100)))
    dv = _reimport(env, pd.concat([earlier, env.bars, later], ignore_index=True), "superset.csv.parquet", "SUPER/USDT")
    _assert_sealed_from(env, dv, env.holdout_start)


def test_reimport_of_a_subset_reaching_into_the_holdout_is_sealed(env: Env) -> None:
    part = env.bars.iloc[N_BARS - HOLDOUT_BARS - 500: N_BARS - 100].reset_index(drop=True)
    dv = _reimport(env, part, "subset.parquet", "SUB/USDT")
    _assert_sealed_from(env, dv, env.holdout_start)


def test_reimport_with_shifted_times_is_sealed(env: Env) -> None:
    shifted = env.bars.assign(time=env.bars["time"] + pd.Timedelta(days=365))
    dv = _reimport(env, shifted, "shifted.parquet", "SHIFT/USDT")
    _assert_sealed_from(env, dv, env.holdout_start + pd.Timedelta(days=365))


def test_data_only_before_the_holdout_is_not_sealed(env: Env) -> None:
    dv = _reimport(env, env.bars.iloc[: N_BARS - HOLDOUT_BARS].reset_index(drop=True), "pre.parquet", "PRE/USDT")
    assert access.holdout_of(env.ws.store, dv) is None


# -- tools -----------------------------------------------------------------------------------------------------
def _tool_clean(env: Env, out: ToolOutcome, before: set[Path]) -> None:
    _clean(env, out.content, before)


def test_tool_backtest_run(env: Env) -> None:
    before = _snapshot(env.root)
    out = env.tool("backtest_run", {"spec_id": env.ids["spec"]})
    assert out.ok, out.content
    assert out.value.bars == N_BARS - HOLDOUT_BARS
    _tool_clean(env, out, before)
    into = env.tool("backtest_run", {"spec_id": env.ids["spec"], "end": env.bars["time"].iloc[-1].isoformat()})
    assert not into.ok and "holdout" in into.content


def test_tool_backtest_run_on_a_reimport_is_sealed(env: Env) -> None:
    _other_dv(env)  # made before the snapshot: not part of this route
    before = _snapshot(env.root)
    out = env.tool("backtest_run", {"spec_id": env.ids["spec"], "data_version_id": _other_dv(env)})
    assert out.ok and out.value.bars == N_BARS - HOLDOUT_BARS, out.content
    _tool_clean(env, out, before)


def test_tool_sweep_run(env: Env) -> None:
    before = _snapshot(env.root)
    out = env.tool("sweep_run", {"spec_id": env.ids["spec"],
                                 "param_sets": [{"baseline.fast": f, "baseline.slow": 50} for f in (5, 9, 13)]})
    assert out.ok, out.content
    _tool_clean(env, out, before)


@pytest.mark.parametrize("name,extra", [("feature_slice_create", {}), ("timeframe_align", {"higher_timeframe": "4h"})])
def test_tool_features(env: Env, name: str, extra: dict[str, Any]) -> None:
    before = _snapshot(env.root)
    for key in ("ds_hold", "ds_early_full"):
        out = env.tool(name, {"data_slice_id": env.ids[key], "indicator": "ema", "params": {"length": 10}, **extra})
        assert not out.ok and "holdout sealed" in out.content, out.content
    ok = env.tool(name, {"data_slice_id": env.ids["ds_train"], "indicator": "ema", "params": {"length": 12}, **extra})
    assert ok.ok, ok.content
    _tool_clean(env, ok, before)


def test_tool_data_version_show(env: Env) -> None:
    out = env.tool("data_version_show", {"data_version_id": _other_dv(env)})
    assert out.ok and out.value.holdout_bars == HOLDOUT_BARS, out.content
    assert text_hits(out.content) == []


def test_tool_data_slice_create_into_the_holdout_is_refused(env: Env) -> None:
    out = env.tool("data_slice_create", {"data_version_id": env.ids["dv"], "role": "full"})
    assert not out.ok and "holdout sealed" in out.content


def test_tool_experiment_run_honours_the_declared_holdout(env: Env) -> None:
    before = _snapshot(env.root)
    run_id = _run_id(env)
    ev = env.ok("evaluation_show", {"evaluation_id": run_id})
    assert pd.Timestamp(ev.details["holdout_start"]) == env.holdout_start
    assert ev.details["data_version_id"] == env.ids["dv"]
    _clean(env, json.dumps(ev.details, default=str), before)


def test_tool_montecarlo_run(env: Env) -> None:
    _run_id(env)  # made before the snapshot: not part of this route
    before = _snapshot(env.root)
    out = env.tool("montecarlo_run", {"source_id": _run_id(env), "n_sims": 100})
    assert out.ok, out.content
    _tool_clean(env, out, before)


# -- CLI: experiment ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra", [[], ["--holdout-bars", "100"]])
def test_cli_experiment_run_defaults_to_the_declared_holdout(env: Env, extra: list[str]) -> None:
    _other_dv(env)  # made before the snapshot: not part of this route
    before = _snapshot(env.root)
    res = cli.invoke(app, ["experiment", "run", "--data", _other_dv(env), "--spec", str(env.root / "spec.json"),
                           "--train", "800", "--target", "300", "--windows", "2", "--trials", "6", "--batch", "6",
                           "--seed", "4", "--no-robustness", *extra, *env.w, "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert pd.Timestamp(body["data"]["holdout_start"]) == env.holdout_start  # a later --holdout-bars cannot unseal
    assert body["data"]["bars"] == N_BARS - HOLDOUT_BARS
    _clean(env, res.stdout, before)


# -- bundles and job runs ---------------------------------------------------------------------------------------
def test_cli_cloud_bundle_holds_no_holdout_bar(env: Env) -> None:
    before = _snapshot(env.root)
    b = open_bundle(_bundle(env))
    assert b.bars["time"].max() < env.holdout_start and len(b.bars) == N_BARS - HOLDOUT_BARS
    _clean(env, "", before)


def test_tool_cloud_bundle_and_run(env: Env) -> None:
    _other_dv(env)  # made before the snapshot: not part of this route
    before = _snapshot(env.root)
    info = env.ok("cloud_bundle", {"spec_id": env.ids["spec"], "data_version_id": _other_dv(env),
                                   "param_sets": [{"baseline.fast": 7, "baseline.slow": 45}], "top_k": 1})
    assert info.bars == N_BARS - HOLDOUT_BARS
    out = env.tool("cloud_run", {"job_id": info.job_id})
    assert out.ok, out.content
    _tool_clean(env, out, before)


def _smuggled_bundle(env: Env, dest: Path) -> Path:
    """A bundle made outside the data layer from the raw file, holdout included."""
    spec = Spec.model_validate(SPEC)
    job = make_job(env.bars, spec, param_sets=[{"baseline.fast": 6, "baseline.slow": 40}], top_k=1)
    return write_bundle(job, env.bars, dest)


def test_job_run_refuses_a_bundle_with_sealed_bars(env: Env, tmp_path: Path) -> None:
    path = _smuggled_bundle(env, tmp_path / "b")
    before = _snapshot(env.root)
    _refused(cli.invoke(app, ["job", "run", str(path), "--out", str(env.root / "jobout"), "--workspace", str(env.root)]))
    assert not (env.root / "jobout").exists()
    _refused(cli.invoke(app, ["cloud", "run", str(path), "--backend", "local", *env.w]))
    _refused(cli.invoke(app, ["cloud", "estimate", str(path), *env.w]))
    _refused(cli.invoke(app, ["cloud", "verify", str(path), str(tmp_path / "results"), *env.w]))
    _clean(env, "", before)


def test_job_run_of_a_clean_bundle(env: Env, tmp_path: Path) -> None:
    _bundle(env)  # made before the snapshot: not part of this route
    before = _snapshot(env.root)
    res = cli.invoke(app, ["job", "run", _bundle(env), "--out", str(env.root / "jobs" / "clean"), *env.w,
                           "--json"])
    assert res.exit_code == 0, res.output
    _clean(env, res.stdout, before)


def test_cloud_tools_refuse_a_smuggled_bundle(env: Env) -> None:
    from auraquant.cta.cloud.jobs import bundles_dir

    path = _smuggled_bundle(env, bundles_dir(env.ws))
    job_id = open_bundle(path).job.id
    try:
        for name in ("cloud_estimate", "cloud_run"):
            out = env.tool(name, {"job_id": job_id})
            assert not out.ok and "holdout sealed" in out.content, out.content
    finally:
        path.unlink()


# -- report --------------------------------------------------------------------------------------------------------
def test_report_of_a_run(env: Env) -> None:
    from auraquant.cta.report.cli import _run_data  # the tearsheet's data, without the browser-made PNG

    data = _run_data(env.ws, _run_id(env))
    assert data is not None and text_hits(data.model_dump_json()) == []
    assert env.leaks == []


# -- store rows -----------------------------------------------------------------------------------------------------
def test_no_store_row_holds_a_sentinel(env: Env) -> None:
    with env.ws.store.connect() as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        hits = []
        for t in tables:
            if t == "data_versions":  # the bars' own catalog row: its import-time quality report
                continue
            for row in con.execute(f"SELECT * FROM {t}").fetchall():
                hits += [f"{t}: {v}" for v in text_hits(" ".join(map(str, row)))]
    assert hits == []


# -- freeze: the one audited read and the k-th look ------------------------------------------------------------
def test_freeze_reads_the_holdout_once_and_counts_looks_per_content(env: Env) -> None:
    assert access.holdout_reads(env.ws.store) == []
    run1 = _run_id(env)
    rec1 = env.ok("archive_candidate", {"run_id": run1, "family": "ema-cross", "goal": GOAL}).record_id
    frozen = env.ok("archive_freeze", {"record_id": rec1})
    reads = access.holdout_reads(env.ws.store)
    assert len(reads) == 1 and reads[0].look == 1 and reads[0].reader == "score_holdout"
    assert reads[0].run_id == run1 and reads[0].bars == HOLDOUT_BARS
    assert frozen.holdout["holdout_look"] == 1 and env.leaks == []
    assert not env.tool("archive_freeze", {"record_id": rec1}).ok  # the same record/run: never again
    assert len(access.holdout_reads(env.ws.store)) == 1

    run2 = env.ok("experiment_run", {"spec_id": env.ids["spec"], "walk_forward": WALK_FORWARD, "search": SEARCH,
                                     "data_version_id": _other_dv(env), "seed": 7, "wait_s": 300}).run_id
    rec2 = env.ok("archive_candidate", {"run_id": run2, "family": "ema-cross", "goal": GOAL}).record_id
    second = env.ok("archive_freeze", {"record_id": rec2})
    reads = access.holdout_reads(env.ws.store)
    assert [r.look for r in reads] == [1, 2] and reads[1].run_id == run2
    assert second.holdout["holdout_look"] == 2 and second.holdout["holdout_read_seq"] == reads[1].seq
    from auraquant.cta.governance.archive import Archive

    chained = [e.payload["holdout"] for e in Archive(env.ws.store, env.ws.aura).events() if e.to_state == "frozen"]
    assert [(h["holdout_look"], h["holdout_read_seq"]) for h in chained] == [(1, 1), (2, 2)]

    shown = cli.invoke(app, ["archive", "show", rec2, *env.w])
    assert "holdout look 2" in shown.stdout, shown.output
    from tests.unit.governance.factories import approver_key_path, make_approver

    had_key = approver_key_path().exists()
    make_approver("reviewer")  # approving needs a human approver key; the prompt is declined below
    try:
        prompt = cli.invoke(app, ["approve", rec2, *env.w], input="n\n")
    finally:  # the user config dir is shared by the session: leave it as it was
        if not had_key:
            approver_key_path().unlink()
    assert "holdout look 2" in prompt.output and prompt.exit_code != 0
    from auraquant.cta.report.cli import _record_data

    sheet = _record_data(env.ws, rec2)
    assert sheet is not None and "holdout look 2" in sheet.model_dump_json()
