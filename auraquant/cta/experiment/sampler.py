"""The `qmc_parzen` search sampler: a scrambled Sobol start, then batched univariate Parzen (TPE) refinement.

Every proposal is a pure function of (search space, seed, earlier trials): no state survives between
batches, so a search killed at any point and resumed proposes exactly what it would have.

Parameters live in the unit cube [0, 1]^d. An integer or stepped range with K values maps value k to
the centre of its cell, (k + 0.5) / K; a categorical with K choices likewise by choice index; a
continuous range maps linearly (log ranges: in log space). Decoding a point snaps it to the grid, so
an encoded proposal is exactly the point that was evaluated.

Batches (which are which: `search.sobol_slots`):
- *quasi-random*: while fewer than `n_startup_trials` trials exist (always the first batch), points
  continue one scrambled Sobol sequence per window (`scipy.stats.qmc.Sobol`), so the start covers the
  space evenly and is one engine sweep;
- *refinement* (`parzen_batch`), the tree-structured Parzen estimator of Bergstra et al. (2011) as
  Optuna's default `TPESampler` computes it, batched with the constant-liar rule: the earlier trials are
  ranked by (feasible, score) descending, ties by age; the best `n_good = clip(ceil(gamma * n), 1, 25)`
  form the good set, the rest the bad set. Per dimension, l and g are equal-weight mixtures of Gaussian
  kernels at the good (bad) points plus the prior N(0.5, 1); a kernel's width is the larger gap to its
  sorted neighbour (the prior's centre counts), clipped to [1 / min(100, n + 2), 1]. For each slot, per
  dimension, `n_candidates` values are drawn from l (reflected at 0 and 1, snapped to the grid) and the
  one maximizing log l - log g is kept; the slot's point then joins the bad set (a pending trial counts
  as a poor one), which pushes the next slots away from it. A point repeating an evaluated or already
  picked parameter set is replaced by the best new candidate when there is one.
All randomness comes from `numpy.random.Generator(PCG64(seed))` with the seed given by the caller.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from scipy.stats import qmc

GAMMA = 0.1
N_CANDIDATES = 24
_MAX_GOOD = 25


class UnitCube:
    """Encoding of a search space's parameters into [0, 1]^d and back (see the module docstring)."""

    def __init__(self, dists: Mapping[str, BaseDistribution]) -> None:
        self.names = list(dists)
        self.dists = dict(dists)
        # Grid size per dimension (0: continuous); the bandwidth floor is one grid cell.
        self.levels = np.array([self._levels(d) for d in self.dists.values()], dtype=np.int64)

    @staticmethod
    def _levels(d: BaseDistribution) -> int:
        if isinstance(d, CategoricalDistribution):
            return len(d.choices)
        if isinstance(d, IntDistribution):
            return 0 if d.log else (d.high - d.low) // d.step + 1
        if isinstance(d, FloatDistribution) and d.step is not None:
            return int(round((d.high - d.low) / d.step)) + 1
        return 0

    @property
    def dim(self) -> int:
        return len(self.names)

    def decode(self, u: np.ndarray) -> list[dict[str, Any]]:
        """Parameter sets of the rows of `u` (n x d, values in [0, 1])."""
        cols = [self._decode_col(np.clip(u[:, j], 0.0, 1.0), d, int(self.levels[j]))
                for j, d in enumerate(self.dists.values())]
        return [{p: cols[j][i] for j, p in enumerate(self.names)} for i in range(u.shape[0])]

    @staticmethod
    def _decode_col(u: np.ndarray, d: BaseDistribution, k: int) -> list[Any]:
        if isinstance(d, CategoricalDistribution):
            return [d.choices[i] for i in np.minimum((u * k).astype(np.int64), k - 1)]
        if isinstance(d, IntDistribution):
            if d.log:
                v = np.exp(math.log(d.low) + u * (math.log(d.high) - math.log(d.low)))
                return [int(x) for x in np.clip(np.round(v), d.low, d.high)]
            idx = np.minimum((u * k).astype(np.int64), k - 1)
            return [int(d.low + i * d.step) for i in idx]
        assert isinstance(d, FloatDistribution)
        if d.step is not None:
            idx = np.minimum((u * k).astype(np.int64), k - 1)
            return [float(min(d.low + i * d.step, d.high)) for i in idx]
        if d.log:
            v = np.exp(math.log(d.low) + u * (math.log(d.high) - math.log(d.low)))
        else:
            v = d.low + u * (d.high - d.low)
        return [float(x) for x in np.clip(v, d.low, d.high)]

    def encode(self, params: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The unit-cube points (n x d) of parameter sets (each value must lie in its distribution)."""
        out = np.empty((len(params), self.dim))
        for j, (p, d) in enumerate(self.dists.items()):
            k = int(self.levels[j])
            if isinstance(d, CategoricalDistribution):
                out[:, j] = [(d.choices.index(ps[p]) + 0.5) / k for ps in params]
                continue
            v = np.array([ps[p] for ps in params], dtype=float)
            if k:  # a grid of k values: the centre of the value's cell
                out[:, j] = (np.round((v - d.low) / d.step) + 0.5) / k  # type: ignore[attr-defined]
                continue
            lo, hi = float(d.low), float(d.high)  # type: ignore[attr-defined]
            if d.log:  # type: ignore[attr-defined]
                lo, hi, v = math.log(lo), math.log(hi), np.log(v)
            out[:, j] = 0.0 if hi == lo else (v - lo) / (hi - lo)
        return out


def sobol_points(dim: int, seed: int, start: int, n: int) -> np.ndarray:
    """Points start .. start+n-1 (n x dim) of the scrambled Sobol sequence of `seed`."""
    engine = qmc.Sobol(d=dim, scramble=True, seed=np.random.Generator(np.random.PCG64(seed)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # balance warning when n is not a power of two
        if start:
            engine.fast_forward(start)
        return engine.random(n)


def _key(params: Mapping[str, Any], names: Sequence[str]) -> tuple[Any, ...]:
    return tuple(params[p] for p in names)


def _reflect(u: np.ndarray) -> np.ndarray:
    u = np.abs(u) % 2.0
    return np.where(u > 1.0, 2.0 - u, u)


def ranking(scores: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    """Indices of trials from best to worst: feasible first, then score descending, ties by index."""
    idx = np.arange(len(scores))
    return np.lexsort((idx, -np.asarray(scores, dtype=float), ~np.asarray(feasible, dtype=bool)))


def _univariate_sigmas(mus: np.ndarray) -> np.ndarray:
    """Per-kernel bandwidths of a 1-d Parzen estimator on [0, 1] with centres `mus` (n x d, per column),
    Optuna TPE's rule: the larger gap to a sorted neighbour (the prior at 0.5 counts as a centre),
    clipped to [1 / min(100, n + 2), 1]."""
    n, d = mus.shape
    allm = np.vstack([mus, np.full((1, d), 0.5)])
    order = np.argsort(allm, axis=0, kind="stable")
    srt = np.take_along_axis(allm, order, axis=0)
    padded = np.vstack([srt[:1], srt, srt[-1:]])
    gap = np.maximum(srt - padded[:-2], padded[2:] - srt)
    sig = np.empty_like(gap)
    np.put_along_axis(sig, order, gap, axis=0)
    return np.clip(sig[:n], 1.0 / min(100, n + 2), 1.0)


def _log_parzen_1d(x: np.ndarray, mus: np.ndarray, sig: np.ndarray) -> np.ndarray:
    """log density per dimension (m x d) of the equal-weight mixture of the kernels (mus, sig: n x d) and the
    prior N(0.5, 1), at points x (m x d)."""
    allm = np.vstack([mus, np.full((1, mus.shape[1]), 0.5)])
    alls = np.vstack([sig, np.ones((1, mus.shape[1]))])
    z = (x[:, None, :] - allm[None]) / alls[None]
    lk = -0.5 * z * z - np.log(alls[None] * math.sqrt(2 * math.pi))
    top = lk.max(axis=1, keepdims=True)
    return top[:, 0] + np.log(np.exp(lk - top).sum(axis=1)) - math.log(allm.shape[0])


def parzen_batch(cube: UnitCube, history: Sequence[Mapping[str, Any]], scores: np.ndarray, feasible: np.ndarray,
              size: int, seed: int, *, gamma: float = GAMMA, n_candidates: int = N_CANDIDATES) -> list[dict[str, Any]]:
    """`size` refinement proposals given the evaluated `history` (see the module docstring)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    x = cube.encode(history)
    order = ranking(scores, feasible)
    n_good = int(min(max(math.ceil(gamma * len(order)), 1), _MAX_GOOD, len(order)))
    good = x[order[:n_good]]
    bad = x[order[n_good:]]
    sig_good = _univariate_sigmas(good)
    seen = {_key(p, cube.names) for p in history}
    picked: list[dict[str, Any]] = []
    # l's kernels (the good points and the prior) do not change from slot to slot; only the bad set grows
    allm = np.vstack([good, np.full((1, cube.dim), 0.5)])
    alls = np.vstack([sig_good, np.ones((1, cube.dim))])
    cols = np.arange(cube.dim)
    for _ in range(size):
        sig_bad = _univariate_sigmas(bad)
        comp = rng.integers(0, n_good + 1, (n_candidates, cube.dim))
        cand = _reflect(allm[comp, cols] + alls[comp, cols] * rng.standard_normal((n_candidates, cube.dim)))
        cand = cube.encode(cube.decode(cand))
        acq = _log_parzen_1d(cand, good, sig_good) - _log_parzen_1d(cand, bad, sig_bad)
        best = cand[np.argmax(acq, axis=0), cols][None, :]
        params = cube.decode(best)[0]
        k = _key(params, cube.names)
        if k in seen:  # a repeat: the best candidate by the summed acquisition that is new, if any
            tot = acq.sum(axis=1)
            for i in np.argsort(-tot, kind="stable"):
                p = cube.decode(cand[i:i + 1])[0]
                if _key(p, cube.names) not in seen:
                    params, best = p, cand[i:i + 1]
                    break
        seen.add(_key(params, cube.names))
        picked.append(params)
        bad = np.vstack([bad, best])
    return picked
