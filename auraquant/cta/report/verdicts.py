"""Plain verdict sentences for the tearsheet's robustness figures, computed from the value and the trial count.

Every threshold the page judges by is here (`THRESHOLDS`). The pass levels are the significance gates'
defaults (`auraquant.cta.experiment.gates.GateConfig`: DSR >= 0.95, PBO <= 0.5, SPA p <= 0.10, >= 30 OOS
trades), so a figure called "evidence" on the page is one that would pass the default gate; the extra
"weak" levels only grade what falls short. A verdict is `(sentence, level)` with level `good`, `weak`,
`bad` or `none` (not computable); the sentence starts with the figure and its displayed value, e.g.
"DSR 0.003: no evidence of skill at 1,024 trials".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from auraquant.cta.experiment.gates import GateConfig
from auraquant.cta.report.formatting import fmt_pct, fmt_prob, fmt_ratio
from auraquant.cta.report.model import VerdictLevel

Verdict = tuple[str, VerdictLevel]


@dataclass(frozen=True)
class Thresholds:
    dsr_evidence: float  # DSR at or above: evidence of skill (the freeze gate)
    dsr_weak: float  # DSR at or above (and below the gate): weak evidence
    psr_evidence: float  # PSR vs 0 at or above: Sharpe reliably above 0 (one trial, not deflated)
    pbo_low: float  # PBO at or below: overfitting unlikely
    pbo_max: float  # PBO above: likely overfit (the freeze gate)
    spa_significant: float  # SPA p at or below: beats data snooping
    spa_marginal: float  # SPA p at or below (and above `spa_significant`): marginal (the freeze gate)
    min_trades: int  # fewer trades: too few to judge (the freeze gate)
    param_stable: float  # chosen values spread over at most this fraction of the search range: stable


_GATES = GateConfig()
THRESHOLDS = Thresholds(dsr_evidence=float(_GATES.min_dsr or 0.95), dsr_weak=0.5, psr_evidence=0.95,
                        pbo_low=0.25, pbo_max=float(_GATES.max_pbo or 0.5), spa_significant=0.05,
                        spa_marginal=float(_GATES.max_spa_p or 0.10), min_trades=int(_GATES.min_oos_trades or 30),
                        param_stable=0.25)


def _ok(x: float | int | None) -> bool:
    return x is not None and not isinstance(x, bool) and math.isfinite(float(x))


def _trials(n: int | None) -> str:
    return f"{n:,} trial{'s' if n != 1 else ''}" if n is not None else "an unknown number of trials"


def dsr_verdict(dsr: float | None, n_trials: int | None, t: Thresholds = THRESHOLDS) -> Verdict:
    """The Deflated Sharpe Ratio (probability the true Sharpe is above 0 after deflating for `n_trials`)."""
    if not _ok(dsr):
        return f"DSR n/a: not computable at {_trials(n_trials)} (too few daily returns or no variance)", "none"
    v = fmt_prob(dsr)
    assert dsr is not None
    if dsr >= t.dsr_evidence:
        return f"DSR {v}: evidence of skill after deflating for {_trials(n_trials)}", "good"
    if dsr >= t.dsr_weak:
        return (f"DSR {v}: weak evidence of skill at {_trials(n_trials)} (below the {t.dsr_evidence:g} "
                "needed to freeze)"), "weak"
    return f"DSR {v}: no evidence of skill at {_trials(n_trials)}", "bad"


def psr_verdict(psr: float | None, t: Thresholds = THRESHOLDS) -> Verdict:
    """The Probabilistic Sharpe Ratio against 0 of one backtest (nothing deflated)."""
    if not _ok(psr):
        return "PSR n/a: not computable (too few daily returns or no variance)", "none"
    assert psr is not None
    v = fmt_prob(psr)
    if psr >= t.psr_evidence:
        return f"PSR {v}: Sharpe reliably above 0 for this one backtest (in-sample, not deflated for trials)", "weak"
    return f"PSR {v}: the Sharpe is not reliably above 0 even before deflating for trials", "bad"


def pbo_verdict(pbo: float | None, t: Thresholds = THRESHOLDS) -> Verdict:
    """The Probability of Backtest Overfitting (CSCV, mean over windows)."""
    if not _ok(pbo):
        return "PBO n/a: not computable (too few trials or days per window)", "none"
    assert pbo is not None
    v = fmt_prob(pbo)
    if pbo <= t.pbo_low:
        return f"PBO {v}: overfitting unlikely: the in-sample best usually stays above the median trial", "good"
    if pbo <= t.pbo_max:
        return (f"PBO {v}: some overfitting: the in-sample best falls below the median trial in "
                f"{pbo * 100:.0f}% of splits"), "weak"
    return (f"PBO {v}: likely overfit: the in-sample best falls below the median trial in {pbo * 100:.0f}% of "
            "splits"), "bad"


def spa_verdict(p: float | None, n_trials: int | None, t: Thresholds = THRESHOLDS) -> Verdict:
    """Hansen's SPA consistent p-value (median over windows) of the best trial against staying flat."""
    if not _ok(p):
        return "SPA p n/a: not computable (too few days per window)", "none"
    assert p is not None
    v = fmt_prob(p)
    if p <= t.spa_significant:
        return f"SPA p {v}: the best trial beats staying flat beyond data snooping across {_trials(n_trials)}", "good"
    if p <= t.spa_marginal:
        return f"SPA p {v}: marginal: barely distinguishable from luck across {_trials(n_trials)}", "weak"
    return f"SPA p {v}: not distinguishable from luck across {_trials(n_trials)}", "bad"


def trades_verdict(n: int | None, t: Thresholds = THRESHOLDS) -> Verdict:
    if not _ok(n):
        return "trades n/a", "none"
    assert n is not None
    if n >= t.min_trades:
        return f"{n:,} trades: enough to judge the statistics", "good"
    return f"{n:,} trades: too few (< {t.min_trades}) for the statistics to mean much", "bad"


def interval_verdict(name: str, low: float | None, high: float | None) -> Verdict:
    """A 95% Monte Carlo interval of a return: positive, negative or straddling 0."""
    if not (_ok(low) and _ok(high)):
        return f"{name}: n/a (not simulated)", "none"
    assert low is not None and high is not None
    span = f"[{fmt_pct(low, 1)}, {fmt_pct(high, 1)}]"
    if low > 0:
        return f"{name} 95% interval {span}: positive in 95% of resamples", "good"
    if high < 0:
        return f"{name} 95% interval {span}: a loss in 95% of resamples", "bad"
    return f"{name} 95% interval {span}: includes a loss", "weak"


def excess_verdict(excess_return: float | None, excess_sharpe: float | None) -> Verdict:
    """The strategy against buy and hold of the same instrument over the same span."""
    if not _ok(excess_return):
        return "vs buy and hold: n/a", "none"
    assert excess_return is not None
    sharpe = f", Sharpe {'+' if (excess_sharpe or 0) >= 0 else ''}{fmt_ratio(excess_sharpe)}" if _ok(
        excess_sharpe) else ""
    if excess_return > 0 and (excess_sharpe is None or excess_sharpe >= 0):
        return f"beats buy and hold by {fmt_pct(excess_return, 2)} of return{sharpe}", "good"
    if excess_return > 0:
        return f"more return than buy and hold ({fmt_pct(excess_return, 2, signed=True)}) but a lower Sharpe{sharpe}", "weak"
    return f"trails buy and hold by {fmt_pct(-excess_return, 2)} of return{sharpe}", "bad"


def holdout_verdict(total_return: float | None, sharpe: float | None, look: int | None,
                    oos_sharpe: float | None) -> Verdict:
    """The sealed holdout, scored once at freeze, against the out-of-sample Sharpe."""
    look_txt = f"look {look}" if look else "look ?"
    if not _ok(total_return):
        return f"holdout ({look_txt}): n/a", "none"
    assert total_return is not None
    vs = f" (out-of-sample Sharpe {fmt_ratio(oos_sharpe)})" if _ok(oos_sharpe) else ""
    warn = "; not the first look: this holdout was scored before" if look and look > 1 else ""
    head = f"holdout {fmt_pct(total_return, 2, signed=True)}, Sharpe {fmt_ratio(sharpe)}{vs}, {look_txt}"
    if total_return > 0 and _ok(sharpe) and sharpe is not None and sharpe > 0:
        return f"{head}: positive on bars the search never saw{warn}", "weak" if warn else "good"
    return f"{head}: did not hold up on bars the search never saw{warn}", "bad"


def param_stability_verdict(name: str, spread: float | None, n_windows: int, t: Thresholds = THRESHOLDS) -> Verdict:
    """How far the values a parameter took across walk-forward windows spread, as a fraction of its search
    range (max - min of the chosen values over high - low of the space)."""
    if spread is None or n_windows < 2:
        return f"{name}: one window, stability not measurable", "none"
    pct = f"{spread * 100:.0f}%"
    if spread <= t.param_stable:
        return f"{name}: stable: the windows chose values within {pct} of the search range", "good"
    return f"{name}: unstable: the windows' choices span {pct} of the search range", "bad"


def consistency_verdict(carriers: int, members: int, metric: str = "sharpe", threshold: float = 0.0) -> Verdict:
    """How many instruments of a universe carry the edge (their out-of-sample `metric` above `threshold`):
    all of them is good, more than half weak, half or fewer bad (the portfolio then rests on a few)."""
    if members <= 0:
        return "consistency: n/a (no members)", "none"
    what = f"{carriers} of {members} instruments carry the edge (OOS {metric} > {threshold:g})"
    if carriers == members:
        return f"{what}: it holds on every instrument", "good"
    if 2 * carriers > members:
        return f"{what}: it holds on most, not all", "weak"
    return f"{what}: the portfolio rests on a few instruments", "bad"
