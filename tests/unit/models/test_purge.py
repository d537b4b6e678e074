"""Must-show 3: purging. A training label whose window reaches the evaluation window by one bar is
dropped (and `assert_purged` refuses a set that still holds it); the embargo widens the gap by exactly
the label horizon. Both boundaries are checked, so an off-by-one either way fails."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auraquant.cta.experiment.config import Segment, Window
from auraquant.cta.models.features import DEFAULT_FEATURE_SET
from auraquant.cta.models.labels import PurgeError, assert_purged, purge_mask
from auraquant.cta.models.window import training_set


def test_one_bar_overlap_is_dropped_and_the_last_clean_label_kept() -> None:
    h, s = 4, 100
    i = np.arange(80, 100)
    keep = purge_mask(i, h, s, embargo=0)
    # sample 95: label bars 96..99, ends the bar before the evaluation window -> kept
    assert keep[i == 95].item() is True
    # sample 96: label bars 97..100, bar 100 is the first evaluation bar (one bar of overlap) -> dropped
    assert keep[i == 96].item() is False
    assert np.array_equal(i[keep], np.arange(80, 96))


def test_embargo_is_exactly_the_given_number_of_bars() -> None:
    h, s, e = 4, 100, 4
    i = np.arange(80, 100)
    kept = i[purge_mask(i, h, s, embargo=e)]
    assert kept.max() == s - e - h - 1 == 91  # label ends at bar 95, the bar before the embargo starts (96)


def test_assert_purged_refuses_a_label_reaching_one_bar_into_the_window() -> None:
    assert_purged(np.arange(0, 96), 4, 100, 0)  # clean: no error
    with pytest.raises(PurgeError, match="bar 96 has a label window up to bar 100"):
        assert_purged(np.arange(0, 97), 4, 100, 0)
    with pytest.raises(PurgeError):
        assert_purged(np.array([91, 92]), 4, 100, 4)  # inside the embargo


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        purge_mask(np.arange(3), 0, 10, 0)
    with pytest.raises(ValueError):
        purge_mask(np.arange(3), 2, 10, -1)


def _frame(n: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    o = np.r_[c[0], c[:-1]]
    return pd.DataFrame({"time": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"), "open": o,
                         "high": np.maximum(o, c) * 1.002, "low": np.minimum(o, c) * 0.998, "close": c,
                         "volume": 1.0})


class _Task:
    def __init__(self, frame: pd.DataFrame, window: Window) -> None:
        self.window = window
        self.train = frame.iloc[window.train.start:window.train.stop].reset_index(drop=True)
        v = window.validation
        self.validation = None if v is None else frame.iloc[v.start:v.stop].reset_index(drop=True)


@pytest.mark.parametrize(("with_validation", "label"), [(True, "sign"), (False, "sign"), (True, "triple_barrier")])
def test_window_training_rows_never_reach_the_evaluation_window(with_validation: bool, label: str) -> None:
    frame = _frame(1400)
    h = 6
    val = Segment(start=1000, stop=1300) if with_validation else None
    w = Window(index=0, train=Segment(start=200, stop=1000), validation=val, target=Segment(start=1300, stop=1400))
    data = training_set(_Task(frame, w), DEFAULT_FEATURE_SET, 8, label, h)
    # every kept sample's label window ends before the embargo that precedes the evaluation window
    assert np.all(data.train_rows_abs + h < data.test_start_abs - h)
    # and purging is tight: the last kept sample is the last one allowed
    assert data.train_rows_abs.max() == data.test_start_abs - 2 * h - 1
    assert len(data.X_train) == len(data.y_train) and len(data.X_val) == len(data.y_val) > 0


def test_window_payload_trains_remotely_to_trial_zero_weights() -> None:
    """The remote-training contract: a window's payload through `train_from_payload` gives the weights of
    trial 0 of the in-process search on the same window."""
    pytest.importorskip("torch")
    from auraquant.cta.models.training import train_from_payload
    from auraquant.cta.models.window import fit_window, window_payload
    from auraquant.cta.strategy.spec import Spec

    frame = _frame(1400)
    w = Window(index=1, train=Segment(start=200, stop=1000), validation=Segment(start=1000, stop=1300),
               target=Segment(start=1300, stop=1400))
    task = _Task(frame, w)
    task.spec = Spec(baseline={"name": "model_nbeats", "params": {"lookback": 8, "hidden": 8, "epochs": 1,
                                                                  "hp_trials": 2, "horizon": 3}})
    task.seed, task.extra_dir = 5, None
    payload, arrays = window_payload(task)
    remote = train_from_payload(payload, arrays)
    fit = fit_window(task)
    assert remote["weights_sha256"] == fit.trials[0].model.weights_sha256
    assert len(fit.trials) == 2 and len(set(fit.keys)) == 2
