"""Must-show 5: benchmarks/train_speed.py measures every model kind on CPU (tiny sizes here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("lightgbm")


@pytest.mark.slow
def test_train_speed_reports_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).resolve().parents[3] / "benchmarks" / "train_speed.py"
    spec = importlib.util.spec_from_file_location("train_speed", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = mod.main(["--samples", "300", "--repeats", "1"])
    assert [r["kind"] for r in rows] == ["lightgbm", "lstm", "transformer", "nbeats"]
    assert all(r["samples_per_s"] > 0 and r["device"] == "cpu" for r in rows)
    out = capsys.readouterr().out
    assert "samples/s" in out and "nbeats" in out
    import torch

    if torch.cuda.is_available():
        assert all(r["gpu_cpu_ratio"] > 0 for r in rows if r["kind"] != "lightgbm")
    else:
        assert all(r["gpu_cpu_ratio"] is None for r in rows) and "no CUDA device" in out
