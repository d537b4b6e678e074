"""Window planning: rolling/anchored layout, embargo, step, and refusal of overlapping targets."""

from __future__ import annotations

import pytest

from auraquant.cta.experiment.config import WalkForwardConfig, plan_windows


def test_rolling_windows_with_embargo() -> None:
    cfg = WalkForwardConfig(train_bars=100, validation_bars=20, target_bars=30, embargo_bars=5)
    ws = plan_windows(400, cfg)
    w0, w1 = ws[0], ws[1]
    assert (w0.train.start, w0.train.stop) == (0, 100)
    assert (w0.validation.start, w0.validation.stop) == (105, 125)
    assert (w0.target.start, w0.target.stop) == (130, 160)
    assert w1.train.start == 30 and w1.target.start == w0.target.stop  # targets tile
    assert all(w.target.stop <= 400 for w in ws)
    assert len(ws) == (400 - 160) // 30 + 1


def test_anchored_train_grows_from_zero() -> None:
    cfg = WalkForwardConfig(train_bars=100, target_bars=50, mode="anchored", n_windows=3)
    ws = plan_windows(1000, cfg)
    assert [(w.train.start, w.train.stop) for w in ws] == [(0, 100), (0, 150), (0, 200)]
    assert [w.validation for w in ws] == [None] * 3
    assert [w.target.start for w in ws] == [100, 150, 200]


def test_n_windows_and_errors() -> None:
    with pytest.raises(ValueError, match="only"):
        plan_windows(300, WalkForwardConfig(train_bars=100, target_bars=50, n_windows=5))
    with pytest.raises(ValueError, match="no walk-forward window"):
        plan_windows(120, WalkForwardConfig(train_bars=100, target_bars=50))
    with pytest.raises(ValueError, match="overlap"):
        WalkForwardConfig(train_bars=100, target_bars=50, step_bars=20)


def test_run_id_ignores_notes_and_spec_description(synth_bars, spec) -> None:
    from auraquant.cta.experiment.config import SearchConfig
    from auraquant.cta.experiment.runner import run_from_frame

    wf = WalkForwardConfig(train_bars=1000, target_bars=500)
    a, _ = run_from_frame(synth_bars, spec, wf, SearchConfig(), seed=1, note="first")
    b, _ = run_from_frame(synth_bars, spec.model_copy(update={"description": "edited"}), wf, SearchConfig(),
                          seed=1, note="second")
    c, _ = run_from_frame(synth_bars, spec, wf, SearchConfig(), seed=2)
    assert a.id == b.id != c.id
