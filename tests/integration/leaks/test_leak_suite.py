"""Issue 14, must show 4: a leak suite of planted look-ahead leaks, each written as an agent module into a
workspace's `cta_runtime/` and refused by the mandatory look-ahead gate on the run's data (fresh module
instance per prefix, every slot, short and parameter-derived prefixes, search-space corners); hard-coded
hindsight, which is causal by construction, is flagged by the static check instead. Built-in modules raise
no false positive, on synthetic and on real data."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from auraquant.cli import app
from auraquant.cta.backtest import lookahead_gate
from auraquant.cta.backtest.lookahead import LookaheadError, check_module, module_factory
from auraquant.cta.backtest.lookahead_gate import require_causal
from auraquant.cta.data import synthetic
from auraquant.cta.data.service import synth
from auraquant.cta.experiment.config import SearchConfig, WalkForwardConfig
from auraquant.cta.experiment.models import RUN_KIND, Run
from auraquant.cta.experiment.runner import run_experiment, run_from_store
from auraquant.cta.sandbox import isolation
from auraquant.cta.strategy.bars import bars_from_frame
from auraquant.cta.strategy.loader import list_modules, load_module
from auraquant.cta.strategy.spec import Spec
from auraquant.cta.tools.codeguard import check_source, write_module
from auraquant.cta.tools.modules import sample_bars
from auraquant.store import NotFound
from tests.integration.leaks.leak_sources import HINDSIGHT, LEAKS, Leak

N_BARS = 3000  # "the run's data": longer than the 720-bar module_write sample
GUARD_REFUSED = {"leak_fft"}  # numpy.fft is outside the import allow-list; the dynamic check still catches it
BUILTIN_ROOT = Path(__file__).resolve().parents[3] / "cta_runtime"
SLOTS = {"baselines": {"candidates"}, "filters": {"allow_long", "allow_short"}}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic.generate(N_BARS, seed=31, timeframe="1h", start="2023-01-01")


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace's `cta_runtime/` holding every planted module, written through the agent write path
    (static guard, then the confined atomic write)."""
    root = tmp_path_factory.mktemp("ws") / "cta_runtime"
    for leak in LEAKS + HINDSIGHT:
        report = check_source(leak.source, leak.kind, leak.name)
        if leak in HINDSIGHT:
            assert not report.ok and {v.rule for v in report.violations} == {"hindsight"}, report.violations
        else:
            assert report.ok == (leak.name not in GUARD_REFUSED), (leak.name, report.violations)
        write_module(root, leak.kind, leak.name, leak.source)
    return root


def spec_for(leak: Leak, params: dict | None = None, search: bool = True) -> Spec:
    ref = {"name": leak.name, "params": params if params is not None else dict(leak.params)}
    body: dict = {"baseline": ref if leak.kind == "baselines" else {"name": "ema_cross"},
                  "search_space": dict(leak.search_space) if search else {}}
    field = {"filters": "filters", "executions": "execution", "risks": "risk"}.get(leak.kind)
    if field:
        body[field] = [ref]
    return Spec.model_validate(body)


def test_the_suite_is_large_and_varied() -> None:
    assert len(LEAKS) >= 15
    assert {leak.kind for leak in LEAKS} == {"baselines", "filters", "executions", "risks"}
    assert len({leak.name for leak in LEAKS + HINDSIGHT}) == len(LEAKS + HINDSIGHT)


@pytest.mark.parametrize("leak", LEAKS, ids=lambda leak: leak.name)
def test_every_planted_leak_is_refused(leak: Leak, runtime: Path, frame: pd.DataFrame) -> None:
    with pytest.raises(LookaheadError) as caught:
        require_causal(spec_for(leak), frame, runtime)
    f = caught.value.finding
    assert not f.ok and f.kind == leak.kind and f.module == leak.name
    if leak.kind in SLOTS:
        assert f.output in SLOTS[leak.kind]
    else:
        assert f.output is not None and f.output.split(":")[0] in ("series", "value")
    assert f.first_bad_bar is not None and 0 <= f.first_bad_bar < N_BARS
    assert f.first_bad_time == str(frame["time"].iloc[f.first_bad_bar])
    assert f.prefix_len is not None and f.first_bad_bar < f.prefix_len < N_BARS
    msg = str(caught.value)
    assert leak.name in msg and str(f.first_bad_bar) in msg and repr(f.output) in msg


def test_shift_minus_one_is_located_at_its_first_bar(runtime: Path, frame: pd.DataFrame) -> None:
    """Hand-computed: on a 2-bar prefix the last bar has no next close (no candidate); on all bars it
    has one (the synthetic closes differ), so bar 1 of the 2-bar prefix is the first differing value."""
    leak = next(x for x in LEAKS if x.name == "leak_shift_neg1")
    assert frame["close"].iloc[2] != frame["close"].iloc[1]
    with pytest.raises(LookaheadError) as caught:
        require_causal(spec_for(leak), frame, runtime)
    assert (caught.value.finding.first_bad_bar, caught.value.finding.prefix_len) == (1, 2)


def test_scalar_slots_are_compared(runtime: Path, frame: pd.DataFrame) -> None:
    by_name = {x.name: x for x in LEAKS}
    for name, slot in (("leak_full_vol_size", "value:fraction"), ("leak_full_spread_stop", "value:sl_pct")):
        with pytest.raises(LookaheadError) as caught:
            require_causal(spec_for(by_name[name]), frame, runtime)
        # a scalar applies from the first bar on
        assert caught.value.finding.output == slot and caught.value.finding.first_bad_bar == 0


def test_first_call_cache_needs_a_fresh_instance_per_prefix(runtime: Path, frame: pd.DataFrame) -> None:
    """One instance shared by every evaluation hides the leak (the full run fills the cache first, the
    prefixes reuse it); a fresh instance per evaluation reveals it."""
    leak = next(x for x in LEAKS if x.name == "leak_first_call_cache")
    bars = bars_from_frame(frame)
    fresh = module_factory(leak.kind, leak.name, leak.source)
    assert check_module(leak.kind, fresh(), bars).ok
    assert not check_module(leak.kind, fresh(), bars, fresh=fresh).ok


def test_long_centered_window_needs_the_real_length(runtime: Path, frame: pd.DataFrame) -> None:
    """All NaN on the 720-bar validation sample (looks causal there); on the run's 3000 bars it is not."""
    for name in ("leak_centered_long", "leak_long_data_only"):
        leak = next(x for x in LEAKS if x.name == name)
        fresh = module_factory(leak.kind, leak.name, leak.source)
        assert check_module(leak.kind, fresh(), sample_bars(), fresh=fresh).ok, name
        assert not check_module(leak.kind, fresh(), bars_from_frame(frame), fresh=fresh).ok, name


def test_non_default_leak_is_found_through_the_search_space(runtime: Path, frame: pd.DataFrame) -> None:
    leak = next(x for x in LEAKS if x.name == "leak_nondefault")
    assert require_causal(spec_for(leak, search=False), frame, runtime)[0].ok  # defaults only: causal
    with pytest.raises(LookaheadError) as caught:
        require_causal(spec_for(leak), frame, runtime)  # the search space's corner mode=1 leaks
    assert caught.value.finding.params == {"mode": 1}
    with pytest.raises(LookaheadError):  # a sweep's own parameter sets are checked too
        require_causal(spec_for(leak, search=False), frame, runtime, extra_sets=[{"baseline.mode": 1}])


@pytest.mark.parametrize("leak", HINDSIGHT, ids=lambda leak: leak.name)
def test_hard_coded_hindsight_is_flagged_statically(leak: Leak, runtime: Path, frame: pd.DataFrame) -> None:
    report = check_source(leak.source, leak.kind, leak.name)
    assert not report.ok
    assert all(v.rule == "hindsight" and v.line > 0 for v in report.violations)
    # Causal by construction: no prefix comparison can see it, which is why the static check exists.
    assert all(f.ok for f in require_causal(spec_for(leak), frame, runtime))


def test_static_check_leaves_ordinary_numbers_alone() -> None:
    src = '''"""Dated 2024-01-01 in the docstring only; sizes 0.5, 20, 10_000 and 1e-6 are round thresholds."""
import numpy as np

from auraquant.cta.strategy.protocols import Param


class Ok:
    name = "ok_numbers"
    params = {"period": Param(20, "int", 2, 1_000_000_000, "window"),
              "k": Param(2.5, "float", 0.01, 12.345, "band width")}

    def candidates(self, bars, params):
        c = bars.close
        z = (c - np.mean(c[-20:])) / 1e-6
        return np.where(z > 0.5, 1, 0).astype(np.int8) * int(10_000 > 3.14159)


MODULE = Ok()
'''
    assert check_source(src, "baselines", "ok_numbers").ok


def _all_builtins() -> list[tuple[str, str]]:
    return [(k, n) for k in ("baselines", "filters", "executions", "risks") for n in list_modules(k)]


SMALL = {"ema_cross": {"fast": 3, "slow": 8}, "donchian_breakout": {"period": 5}, "ts_momentum": {"lookback": 6},
         "bollinger_breakout": {"period": 6, "k": 0.5}, "atr_regime": {"period": 5, "min_pct": 0.005,
                                                                      "max_pct": 0.02},
         "adx_trend": {"period": 5}, "htf_trend": {"hours": 6, "period": 3}, "atr_stop": {"period": 5},
         "chandelier": {"period": 5}, "vol_target": {"lookback": 10}}


def test_builtins_pass_with_fresh_instances(frame: pd.DataFrame) -> None:
    """No false positive: every built-in, re-executed from its source for every evaluation, with its
    defaults and with short windows, on the suite's bars."""
    bars = bars_from_frame(frame)
    for kind, name in _all_builtins():
        src = (BUILTIN_ROOT / kind / f"{name}.py").read_text(encoding="utf-8")
        assert check_source(src, kind, name).ok, name
        fresh = module_factory(kind, name, src)
        for params in ({}, SMALL.get(name, {})):
            f = check_module(kind, fresh(), bars, params, fresh=fresh)
            assert f.ok, f.describe()


@pytest.mark.slow
def test_builtins_and_a_causal_agent_module_pass_on_real_data(shared_data: Path, tmp_path: Path) -> None:
    frame = pd.read_parquet(shared_data / "binance_BTCUSDT_4h_2017-2026.parquet")
    frame = frame.iloc[: int(len(frame) * 0.8)].reset_index(drop=True)  # as if the rest were the holdout
    bars = bars_from_frame(frame)
    for kind, name in _all_builtins():
        f = check_module(kind, load_module(kind, name), bars, n_checks=12)
        assert f.ok, f.describe()
    # a causal copy of ema_cross written as an agent module passes the gate on the real bars
    src = (BUILTIN_ROOT / "baselines" / "ema_cross.py").read_text(encoding="utf-8").replace(
        'name = "ema_cross"', 'name = "my_ema"')
    write_module(tmp_path, "baselines", "my_ema", src)
    spec = Spec.model_validate({"baseline": {"name": "my_ema"}, "search_space": {
        "baseline.fast": {"kind": "int", "low": 3, "high": 30}}})
    assert all(f.ok for f in require_causal(spec, frame, tmp_path))
    leak = next(x for x in LEAKS if x.name == "leak_centered_long")
    write_module(tmp_path, leak.kind, leak.name, leak.source)
    with pytest.raises(LookaheadError):
        require_causal(spec_for(leak), frame, tmp_path)


def test_verdicts_are_cached_by_code_data_and_params(runtime: Path, frame: pd.DataFrame, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    leak = next(x for x in LEAKS if x.name == "leak_nondefault")
    spec = spec_for(leak, search=False)
    cache = tmp_path / "cache"
    assert require_causal(spec, frame, runtime, cache_dir=cache)[0].ok
    assert len(list(cache.glob("*.json"))) == 1
    lookahead_gate._memory.clear()  # the disk cache alone answers now

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("recomputed a cached verdict")

    monkeypatch.setattr(isolation, "causal", boom)  # the gate's default checker runs the worker through it
    assert require_causal(spec, frame, runtime, cache_dir=cache)[0].ok
    other = frame.copy()
    other.loc[len(other) - 1, "volume"] += 1.0  # other data (content hash): a new verdict is needed
    with pytest.raises(AssertionError, match="recomputed"):
        require_causal(spec, other, runtime, cache_dir=cache)


def _leaky_workspace(workspace, leak_name: str = "leak_full_normaliser"):
    dv, _ = synth(workspace.store, n=2400, seed=3)
    leak = next(x for x in LEAKS if x.name == leak_name)
    write_module(workspace.runtime_dir, leak.kind, leak.name, leak.source)
    return dv.id, spec_for(leak)


def test_experiment_is_refused_before_anything_is_stored(workspace) -> None:
    dv, spec = _leaky_workspace(workspace)
    wf = WalkForwardConfig(train_bars=800, target_bars=300, n_windows=2)
    run, bars = run_from_store(workspace, spec, dv, wf, SearchConfig(n_trials=4, batch_size=4), holdout_bars=400)
    with pytest.raises(LookaheadError) as caught:
        run_experiment(workspace, run, bars)
    assert "leak_full_normaliser" in str(caught.value)
    with pytest.raises(NotFound):
        workspace.store.get_object(RUN_KIND, run.id, Run)
    # only bars before the holdout were read by the check
    assert bars.served and max(r.stop for r in bars.served) <= 2400 - 400


def test_cli_experiment_and_backtest_refuse_in_one_line(workspace, tmp_path: Path) -> None:
    dv, spec = _leaky_workspace(workspace)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(spec.model_dump_json())
    res = CliRunner().invoke(app, ["experiment", "run", "--data", dv, "--spec", str(spec_file), "--train", "800",
                                   "--target", "300", "--trials", "4", "--batch", "4", "--holdout-bars", "400",
                                   "--workspace", str(workspace.root), "--json"])
    assert res.exit_code != 0
    body = json.loads(res.output)
    assert body["kind"] == "LookaheadError" and "leak_full_normaliser" in body["error"]
    assert "Traceback" not in res.output
    res = CliRunner().invoke(app, ["backtest", str(spec_file), "--data-version", dv, "--workspace",
                                   str(workspace.root), "--no-artifacts", "--json"])
    assert res.exit_code != 0 and "look-ahead check failed" in res.output and "Traceback" not in res.output


def test_agent_tools_refuse_a_module_that_passed_module_write(tmp_path: Path) -> None:
    """The full agent path: `module_write` accepts the module (causal on its 720-bar sample), `spec_put`
    stores a Spec using it; then experiment_run, backtest_run and sweep_run refuse it on the real run's bars,
    naming the module, the output and the first differing bar."""
    import asyncio

    from auraquant.cta.tools import build_registry, research_context
    from auraquant.cta.tools.deps import ResearchLimits
    from auraquant.cta.workspace_init import init_workspace
    from auraquant.workspace import Workspace

    init_workspace(tmp_path / "ws", demo_data=False)
    ws = Workspace.open(tmp_path / "ws")
    reg = build_registry()
    ctx = research_context(ws, session_id="leaks", model_id="test-model",
                           limits=ResearchLimits(max_usd=1.0, max_iters=20))

    def call(name: str, args: dict):
        return asyncio.run(reg.call(name, args, ctx))

    try:
        dv = call("data_synth", {"n": 3000, "seed": 5}).value.version.id
        assert call("data_slice_create", {"data_version_id": dv, "role": "holdout", "start": "2022-04-01"}).ok
        leak = next(x for x in LEAKS if x.name == "leak_long_data_only")
        wrote = call("module_write", {"kind": leak.kind, "name": leak.name, "source": leak.source})
        assert wrote.ok, wrote.content
        spec = {"name": "leaky", "baseline": {"name": leak.name},
                "search_space": {"execution.trailing_pct.pct": {"kind": "float", "low": 0.02, "high": 0.1}},
                "execution": [{"name": "trailing_pct"}]}
        spec_id = call("spec_put", {"spec": spec, "data_version_id": dv}).value.spec_id
        refusals = [
            call("experiment_run", {"spec_id": spec_id, "walk_forward": {"train_bars": 900, "target_bars": 300,
                                                                          "n_windows": 2},
                                    "search": {"n_trials": 4, "batch_size": 4, "n_startup_trials": 2}}),
            call("backtest_run", {"spec_id": spec_id}),
            call("sweep_run", {"spec_id": spec_id, "param_sets": [{"execution.trailing_pct.pct": 0.05}]}),
        ]
        for out in refusals:
            assert not out.ok
            text = str(out.content)
            assert "look-ahead check failed" in text and leak.name in text and "'candidates'" in text, text
        assert ws.store.list_objects(RUN_KIND, Run) == []  # the refused experiment stored no run
    finally:
        ctx.deps.jobs.close()


def test_a_pluggable_checker_gets_only_uncached_sets(runtime: Path, frame: pd.DataFrame, tmp_path: Path) -> None:
    """The gate hands each module's source and its uncached parameter sets to `checker` in one call (what
    a sandbox worker runs); verdicts it returns are cached and enforced like the in-process ones."""
    from auraquant.cta.backtest.lookahead import check_module_source

    calls: list[tuple[str, int]] = []

    def checker(kind, name, source, bars, sets):
        calls.append((name, len(sets)))
        return check_module_source(kind, name, source, bars, sets)

    leak = next(x for x in LEAKS if x.name == "leak_nondefault")
    cache = tmp_path / "c"
    with pytest.raises(LookaheadError):
        require_causal(spec_for(leak), frame, runtime, cache_dir=cache, checker=checker)
    assert calls == [("leak_nondefault", 3)]  # the Spec's params ({}), then the corners mode=0 and mode=1
    lookahead_gate._memory.clear()
    with pytest.raises(LookaheadError):  # both verdicts come from the disk cache now
        require_causal(spec_for(leak), frame, runtime, cache_dir=cache, checker=checker)
    assert len(calls) == 1


def test_the_gate_runs_agent_code_only_in_the_sandbox_worker(runtime: Path, frame: pd.DataFrame,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """By default the gate never executes the module's source in this process: the worker does."""
    from auraquant.cta.backtest import lookahead

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("agent code executed in the research process")

    monkeypatch.setattr(lookahead, "module_factory", boom)
    monkeypatch.setattr(lookahead_gate, "check_module_source", boom)
    lookahead_gate._memory.clear()
    leak = next(x for x in LEAKS if x.name == "leak_nondefault")
    assert require_causal(spec_for(leak, search=False), frame, runtime)[0].ok
    with pytest.raises(LookaheadError):
        require_causal(spec_for(leak), frame, runtime)
