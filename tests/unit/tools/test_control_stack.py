"""The control-stack texts stay consistent with the tool surface: every tool they name exists, every skill
is loadable and carries front matter, and the prompt states the invariants."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from auraquant.cta.tools import build_registry
from auraquant.cta.tools.lifecycle import SKILLS

TEMPLATES = resources.files("auraquant.templates")
TOOLISH = re.compile(r"`([a-z]+_[a-z_]+)(?:\(|`)")
NOT_TOOLS = {"reject_reason", "qmc_parzen", "optuna_tpe", "first_valid_time", "holdout_from", "data_version_id", "spec_id", "run_id",
             "record_id", "search_space", "commission_bps", "slippage_bps", "walk_forward", "train_bars",
             "validation_bars", "target_bars", "step_bars", "embargo_bars", "n_windows", "n_trials",
             "batch_size", "top_k", "min_trades", "ema_cross", "donchian_breakout", "ts_momentum",
             "bollinger_breakout", "atr_regime", "adx_trend", "htf_trend", "fixed_sltp", "atr_stop",
             "trailing_pct", "time_stop", "fixed_fraction", "vol_target", "leverage_cap", "drawdown_breaker",
             "missing_bars", "timeout_s", "param_sets", "to_csv"}


def _texts() -> dict[str, str]:
    out = {"system_prompt": TEMPLATES.joinpath("agent", "system_prompt.md").read_text(),
           "AGENTS": TEMPLATES.joinpath("AGENTS.md").read_text()}
    for s in SKILLS:
        out[s] = TEMPLATES.joinpath("skills", s, "SKILL.md").read_text()
    return out


@pytest.mark.parametrize("name", sorted(_texts()))
def test_named_tools_exist(name: str) -> None:
    tools = set(build_registry().names())
    named = set(TOOLISH.findall(_texts()[name])) - NOT_TOOLS
    assert named, f"{name} names no tools"
    assert named <= tools, f"{name} names unknown tools: {sorted(named - tools)}"


def test_skills_have_front_matter() -> None:
    for s in SKILLS:
        text = _texts()[s]
        assert text.startswith(f"---\nname: {s}\ndescription: "), s
        assert len(text) > 1500, f"{s} is too thin to guide an operator"


def test_invariants_stated() -> None:
    prompt = _texts()["system_prompt"]
    for phrase in ("Numbers come from tools", "No look-ahead", "holdout is sealed", "never grant",
                   "Count trials honestly", "missing step"):
        assert phrase in prompt
    agents = _texts()["AGENTS"]
    assert "human only" in agents and "cta_runtime/" in agents
