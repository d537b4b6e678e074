"""Training throughput of each learned-baseline model: training samples per second on CPU (one thread,
deterministic algorithms: the settings walk-forward windows train with), and the GPU/CPU ratio when torch
sees a CUDA device.

Samples per second = training rows x epochs / wall seconds of `train_model` (LightGBM, which has no
epochs: training rows / wall seconds of all its boosting rounds, 60 by default). The inputs are
seeded random arrays shaped like the default feature set (9 features) over a 16-bar lookback, labels
from a planted linear signal; the best of `--repeats` runs is reported.

Run: .venv/bin/python benchmarks/train_speed.py [--samples 4000] [--repeats 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from auraquant.cta.models.config import MODEL_KINDS, ModelConfig
from auraquant.cta.models.training import train_model

N_FEATURES = 9


def _data(n: int, lookback: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, lookback, N_FEATURES)).astype(np.float32)
    y = (X[:, -1, 0] + 0.5 * X[:, -2, 1] + rng.normal(size=n) > 0).astype(np.int8)
    return X, y


def _units(cfg: ModelConfig, n: int) -> float:
    return n * (1 if cfg.kind == "lightgbm" else cfg.epochs)


def measure(kind: str, n: int, repeats: int, device: str = "cpu") -> dict[str, Any]:
    """Best-of-`repeats` training time of one default-size model of `kind` on `n` rows."""
    cfg = ModelConfig(kind=kind, device=device)  # type: ignore[arg-type]
    X, y = _data(n, cfg.lookback)
    empty_X, empty_y = X[:0], y[:0]
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        m = train_model(cfg, X, y, empty_X, empty_y, seed=0)
        best = min(best, time.perf_counter() - t0)
    return {"kind": kind, "device": device, "samples": n, "epochs": cfg.epochs if kind != "lightgbm" else None,
            "rounds": cfg.n_estimators if kind == "lightgbm" else None, "seconds": best,
            "samples_per_s": _units(cfg, n) / best, "train_accuracy": m.metrics["train_accuracy"]}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=4000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--kinds", nargs="*", default=list(MODEL_KINDS))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    import torch

    gpu = torch.cuda.is_available()
    rows = []
    for kind in a.kinds:
        cpu = measure(kind, a.samples, a.repeats)
        row = {**cpu, "gpu_samples_per_s": None, "gpu_cpu_ratio": None}
        if gpu and kind != "lightgbm":
            g = measure(kind, a.samples, a.repeats, "cuda")
            row |= {"gpu_samples_per_s": g["samples_per_s"], "gpu_cpu_ratio": g["samples_per_s"] / cpu["samples_per_s"]}
        rows.append(row)
    if a.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"training throughput, {a.samples} samples x lookback 16 x {N_FEATURES} features, CPU 1 thread"
              + ("" if gpu else " (no CUDA device: GPU/CPU ratio not measured)"))
        for r in rows:
            unit = "samples/s" if r["kind"] != "lightgbm" else f"samples/s ({r['rounds']} rounds)"
            extra = "" if r["gpu_cpu_ratio"] is None else f"  GPU {r['gpu_samples_per_s']:,.0f}  GPU/CPU {r['gpu_cpu_ratio']:.2f}x"
            print(f"  {r['kind']:<12} CPU {r['samples_per_s']:>12,.0f} {unit}  ({r['seconds']:.2f} s){extra}")
    return rows


if __name__ == "__main__":
    main()
