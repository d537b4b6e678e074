"""Spec content ids, parameter paths and module discovery."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from auraquant.cta.strategy.bars import bars_from_frame
from auraquant.cta.strategy.loader import UntrustedModule, list_modules, load_module
from auraquant.cta.strategy.protocols import Baseline, Execution, Filter, Risk, resolve_params
from auraquant.cta.strategy.spec import Spec, apply_params, flat_params
from tests.support.random_specs import random_bars

LEAKY_DIR = Path(__file__).resolve().parents[2] / "support" / "leaky_runtime"


def test_spec_id_is_content_derived_and_paths_apply() -> None:
    a = Spec(baseline={"name": "ema_cross", "params": {"fast": 10}}, execution={"name": "fixed_sltp"},
             search_space={"baseline.fast": {"kind": "int", "low": 5, "high": 20},
                           "execution.fixed_sltp.sl_pct": {"kind": "float", "low": 0.01, "high": 0.1, "log": True}})
    b = Spec.model_validate_json(a.model_dump_json())
    assert a.id == b.id and a.id.startswith("spec_")
    assert Spec(baseline={"name": "ema_cross"}, description="x").id == Spec(baseline={"name": "ema_cross"}).id
    c = apply_params(a, {"baseline.slow": 40, "execution.fixed_sltp.sl_pct": 0.05})
    assert c.id != a.id
    assert flat_params(c) == {"baseline.fast": 10, "baseline.slow": 40, "execution.fixed_sltp.sl_pct": 0.05}
    with pytest.raises(ValueError, match="no module"):
        apply_params(a, {"risk.cooldown.bars": 3})
    with pytest.raises(ValueError):
        Spec(baseline={"name": "ema_cross"}, search_space={"baseline": {"kind": "int", "low": 1, "high": 2}})
    with pytest.raises(ValueError, match="duplicate"):
        Spec(baseline={"name": "ema_cross"}, filters=[{"name": "adx_trend"}, {"name": "adx_trend"}])


def test_builtins_implement_their_protocols() -> None:
    protocols = {"baselines": Baseline, "filters": Filter, "executions": Execution, "risks": Risk}
    assert len(list_modules("baselines")) >= 4 and len(list_modules("filters")) >= 3
    assert len(list_modules("executions")) >= 5 and len(list_modules("risks")) >= 5
    for kind, proto in protocols.items():
        for name in list_modules(kind):
            mod = load_module(kind, name)
            assert isinstance(mod, proto) and mod.name == name
            resolve_params(name, mod.params, {})  # defaults are within their own bounds


def test_extra_directory_modules_load_and_cannot_shadow_builtins(tmp_path: Path) -> None:
    # Non-built-in code never runs in the research process unless a caller asks for it explicitly.
    with pytest.raises(UntrustedModule, match="sandbox"):
        load_module("baselines", "peek_ahead", LEAKY_DIR)
    assert load_module("baselines", "peek_ahead", LEAKY_DIR, in_process=True).name == "peek_ahead"
    assert "peek_ahead" in list_modules("baselines", LEAKY_DIR)
    with pytest.raises(LookupError):
        load_module("baselines", "peek_ahead")
    (tmp_path / "baselines").mkdir()
    builtin_file = Path(load_module("baselines", "ema_cross").__class__.__module__.replace(".", "/") + ".py")
    copy = tmp_path / "baselines" / "ema_cross.py"
    copy.write_bytes((Path(__file__).resolve().parents[3] / builtin_file).read_bytes())
    assert load_module("baselines", "ema_cross", tmp_path) is load_module("baselines", "ema_cross")
    copy.write_text("MODULE = None\n")
    with pytest.raises(ValueError, match="both"):
        load_module("baselines", "ema_cross", tmp_path)
    (tmp_path / "baselines" / "broken.py").write_text("class X:\n    name = 'broken'\nMODULE = X()\n")
    with pytest.raises(TypeError, match="Baseline"):
        load_module("baselines", "broken", tmp_path, in_process=True)


def test_params_are_validated() -> None:
    mod = load_module("baselines", "ema_cross")
    with pytest.raises(ValueError, match="no params"):
        resolve_params("ema_cross", mod.params, {"fastt": 3})
    with pytest.raises(ValueError, match="integer"):
        resolve_params("ema_cross", mod.params, {"fast": 3.5})
    with pytest.raises(ValueError, match="outside"):
        resolve_params("ema_cross", mod.params, {"fast": 0})


def test_htf_trend_uses_only_closed_higher_timeframe_bars() -> None:
    frame = random_bars(np.random.default_rng(5), 300)
    bars = bars_from_frame(frame)
    mod = load_module("filters", "htf_trend")
    al, ash = mod.allow(bars, {"hours": 4, "period": 1})  # EMA(1) = the HTF close itself -> never above
    assert not al.any() and not ash.any()
    al, ash = mod.allow(bars, {"hours": 4, "period": 3})
    h = 4 * 3_600_000_000_000
    # A bar whose close ends a 4h bucket may see that bucket; a bar inside a bucket sees only older ones.
    i = int(np.flatnonzero((bars.time_ns + bars.bar_ns) % h == 0)[10])
    full = mod.allow(bars, {"hours": 4, "period": 3})
    prefix = mod.allow(bars.head(i + 1), {"hours": 4, "period": 3})
    assert (full[0][: i + 1] == prefix[0]).all() and (full[1][: i + 1] == prefix[1]).all()
    assert (al | ash)[50:].any()


def test_bars_validation() -> None:
    frame = random_bars(np.random.default_rng(1), 50)
    bars_from_frame(frame)
    bad = frame.copy()
    bad.loc[3, "high"] = bad.loc[3, "low"] - 1
    with pytest.raises(ValueError, match="bracket"):
        bars_from_frame(bad)
    with pytest.raises(ValueError, match="UTC"):
        bars_from_frame(frame.assign(time=frame["time"].dt.tz_localize(None)))
    with pytest.raises(ValueError, match="increasing"):
        bars_from_frame(frame.iloc[::-1].reset_index(drop=True))
