from __future__ import annotations

import pytest

from auraquant.cta.experiment.gates import GateConfig
from auraquant.cta.report import verdicts as v


def test_thresholds_are_the_default_gates() -> None:
    g = GateConfig()
    t = v.THRESHOLDS
    assert (t.dsr_evidence, t.pbo_max, t.spa_marginal, t.min_trades) == (g.min_dsr, g.max_pbo, g.max_spa_p,
                                                                         g.min_oos_trades)


def test_dsr_sentence_from_value_and_trial_count() -> None:
    assert v.dsr_verdict(0.003, 1024) == ("DSR 0.003: no evidence of skill at 1,024 trials", "bad")
    text, level = v.dsr_verdict(1.9e-40, 1024)
    assert text == "DSR < 0.001: no evidence of skill at 1,024 trials" and level == "bad" and "e-" not in text
    assert v.dsr_verdict(0.97, 12) == ("DSR 0.970: evidence of skill after deflating for 12 trials", "good")
    assert v.dsr_verdict(0.95, 1)[1] == "good"  # the gate itself passes
    assert v.dsr_verdict(0.6, 300)[1] == "weak" and "below the 0.95" in v.dsr_verdict(0.6, 300)[0]
    assert v.dsr_verdict(0.9999, 5)[0].startswith("DSR > 0.999: evidence")
    assert v.dsr_verdict(None, 40) == ("DSR n/a: not computable at 40 trials (too few daily returns or no "
                                       "variance)", "none")
    assert v.dsr_verdict(float("nan"), None)[1] == "none"


@pytest.mark.parametrize(("pbo", "level"), [(0.1, "good"), (0.25, "good"), (0.4, "weak"), (0.5, "weak"),
                                            (0.51, "bad"), (None, "none")])
def test_pbo_levels(pbo: float | None, level: str) -> None:
    text, got = v.pbo_verdict(pbo)
    assert got == level and text.startswith("PBO")


@pytest.mark.parametrize(("p", "level"), [(0.01, "good"), (0.05, "good"), (0.08, "weak"), (0.10, "weak"),
                                          (0.3, "bad"), (None, "none")])
def test_spa_levels(p: float | None, level: str) -> None:
    text, got = v.spa_verdict(p, 2048)
    assert got == level and text.startswith("SPA p")
    if p is not None:
        assert "2,048 trials" in text


def test_trades_intervals_excess_holdout_and_stability() -> None:
    assert v.trades_verdict(29)[1] == "bad" and v.trades_verdict(30)[1] == "good"
    assert v.interval_verdict("r", 0.01, 0.2) == ("r 95% interval [1.0%, 20.0%]: positive in 95% of resamples", "good")
    assert v.interval_verdict("r", -0.1, 0.2)[1] == "weak" and v.interval_verdict("r", -0.3, -0.1)[1] == "bad"
    assert v.interval_verdict("r", None, 0.1)[1] == "none"
    assert v.excess_verdict(0.05, 0.3) == ("beats buy and hold by 5.00% of return, Sharpe +0.30", "good")
    assert v.excess_verdict(-0.05, -0.3)[0] == "trails buy and hold by 5.00% of return, Sharpe -0.30"
    assert v.excess_verdict(0.05, -0.3)[1] == "weak"
    text, level = v.holdout_verdict(0.031, 1.49, 1, 2.5)
    assert text.startswith("holdout +3.10%, Sharpe 1.49 (out-of-sample Sharpe 2.50), look 1: positive") and level == "good"
    assert v.holdout_verdict(0.031, 1.49, 2, 2.5)[1] == "weak"  # a second look is never a clean confirmation
    assert v.holdout_verdict(-0.02, -0.5, 1, 2.5)[1] == "bad"
    assert v.param_stability_verdict("fast", 0.25, 4)[1] == "good"
    assert v.param_stability_verdict("fast", 0.26, 4) == (
        "fast: unstable: the windows' choices span 26% of the search range", "bad")
    assert v.param_stability_verdict("fast", 0.0, 1)[1] == "none"


def test_consistency_verdict_grades_how_many_instruments_carry_the_edge() -> None:
    from auraquant.cta.report.verdicts import consistency_verdict

    assert consistency_verdict(3, 3) == ("3 of 3 instruments carry the edge (OOS sharpe > 0): it holds on every "
                                         "instrument", "good")
    assert consistency_verdict(2, 3)[1] == "weak"
    assert consistency_verdict(1, 2)[1] == "bad"  # half is not most
    assert consistency_verdict(0, 4)[1] == "bad"
    assert consistency_verdict(0, 0)[1] == "none"
