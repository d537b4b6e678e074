"""The `qmc_parzen` search sampler: a scrambled Sobol start, then batched Parzen (TPE-style) refinement.

Every proposal is a pure function of (search space, seed stream, earlier trials): no state survives
between batches, so a search killed at any point and resumed proposes exactly what it would have.

Parameters live in the unit cube [0, 1]^d. An integer or stepped range with K values maps value k to
the centre of its cell, (k + 0.5) / K; a categorical with K choices likewise by choice index; a
continuous range maps linearly (log ranges: in log space). Decoding a point snaps it to the grid, so
an encoded proposal is exactly the point that was evaluated.

Batches (sizes from `search.batch_plan`):
- *quasi-random*: while fewer than `n_startup_trials` trials exist (always the first batch), points
  continue one scrambled Sobol sequence per window (`scipy.stats.qmc.Sobol`, seeded by the window's
  stream), so the start covers the space evenly and the whole start is one engine sweep;
- *refinement*: the earlier trials are ranked by (feasible, score) descending, ties by age; the best
  `n_good = clip(ceil(gamma * n), 2, 25)` are the good set, the rest the bad set. l(x) and g(x) are
  Gaussian product kernel densities over the good and bad sets, each mixed with the uniform prior at
  weight 1 / (size + 1); bandwidths follow Scott's rule on the good set, floored at one grid cell.
  `n_candidates` points per slot are drawn from l (reflected at the cube's faces, snapped to the grid)
  and the batch is picked greedily by the TPE acquisition log l(x) - log g(x). After each pick the
  chosen point joins the bad set, the constant-liar rule of batched TPE: a pending trial counts as a
  poor one, which pushes the next picks away from it. A candidate that repeats an evaluated or
  already picked parameter set is skipped while unseen candidates remain.
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

GAMMA = 0.2
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


def _log_kde(x: np.ndarray, centers: np.ndarray, bw: np.ndarray) -> np.ndarray:
    """Log of the mean Gaussian product kernel of `centers` (m x d) at points x (n x d); -inf if m = 0."""
    if centers.shape[0] == 0:
        return np.full(x.shape[0], -np.inf)
    z = (x[:, None, :] - centers[None, :, :]) / bw
    log_k = -0.5 * np.sum(z * z, axis=2) - np.sum(np.log(bw * math.sqrt(2 * math.pi)))
    top = log_k.max(axis=1, keepdims=True)
    return (top[:, 0] + np.log(np.exp(log_k - top).sum(axis=1))) - math.log(centers.shape[0])


def _mix_prior(log_kde: np.ndarray, n: int) -> np.ndarray:
    """log((1 - w) kde + w * 1) with the uniform prior's weight w = 1 / (n + 1)."""
    if n == 0:  # no points: the prior alone, log 1
        return np.zeros_like(log_kde)
    w = 1.0 / (n + 1)
    with np.errstate(divide="ignore"):
        return np.logaddexp(math.log1p(-w) + log_kde, math.log(w))


def _reflect(u: np.ndarray) -> np.ndarray:
    u = np.abs(u) % 2.0
    return np.where(u > 1.0, 2.0 - u, u)


def ranking(scores: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    """Indices of trials from best to worst: feasible first, then score descending, ties by index."""
    idx = np.arange(len(scores))
    return np.lexsort((idx, -np.asarray(scores, dtype=float), ~np.asarray(feasible, dtype=bool)))


def parzen_batch(cube: UnitCube, history: Sequence[Mapping[str, Any]], scores: np.ndarray, feasible: np.ndarray,
                 size: int, seed: int, *, gamma: float = GAMMA, n_candidates: int = N_CANDIDATES,
                 bandwidth: float = 1.0) -> list[dict[str, Any]]:
    """`size` refinement proposals given the evaluated `history` (see the module docstring)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    x = cube.encode(history)
    order = ranking(scores, feasible)
    n_good = int(min(max(math.ceil(gamma * len(order)), 2), _MAX_GOOD, len(order)))
    good, bad = x[order[:n_good]], x[order[n_good:]]
    cell = np.where(cube.levels > 0, 1.0 / np.maximum(cube.levels, 1), 0.0)
    spread = good.std(axis=0) if n_good > 1 else np.full(cube.dim, 0.25)
    bw = np.clip(bandwidth * spread * n_good ** (-1.0 / (cube.dim + 4)), np.maximum(cell, 0.01), 0.5)
    bw_bad = np.clip(x.std(axis=0) * max(len(x), 1) ** (-1.0 / (cube.dim + 4)), np.maximum(cell, 0.01), 0.5)

    m = n_candidates * size
    w_prior = 1.0 / (n_good + 1)
    from_prior = rng.random(m) < w_prior
    centers = good[rng.integers(0, n_good, m)]
    cand = np.where(from_prior[:, None], rng.random((m, cube.dim)),
                    _reflect(centers + bw * rng.standard_normal((m, cube.dim))))
    cand_params = cube.decode(cand)
    cand = cube.encode(cand_params)  # snapped to the grid: the point that would be evaluated

    log_l = _mix_prior(_log_kde(cand, good, bw), n_good)
    # g as a running sum of kernels, so that each picked point (a "lie") joins the bad set cheaply.
    log_norm = -float(np.sum(np.log(bw_bad * math.sqrt(2 * math.pi))))
    g_sum = np.exp(_log_kde(cand, bad, bw_bad)) * bad.shape[0] if bad.shape[0] else np.zeros(m)
    n_bad = bad.shape[0]
    keys = [_key(p, cube.names) for p in cand_params]
    same: dict[tuple[Any, ...], list[int]] = {}
    for i, k in enumerate(keys):
        same.setdefault(k, []).append(i)
    evaluated = {_key(p, cube.names) for p in history}
    fresh = np.array([k not in evaluated for k in keys])
    taken = np.zeros(m, dtype=bool)
    picked: list[dict[str, Any]] = []
    for _ in range(size):
        with np.errstate(divide="ignore"):
            log_g = _mix_prior(np.log(g_sum / n_bad) if n_bad else np.full(m, -np.inf), n_bad)
        acq = log_l - log_g
        pool = fresh & ~taken
        if not pool.any():  # a small discrete space is exhausted: repeats are allowed, best first
            pool = ~taken if (~taken).any() else np.ones(m, dtype=bool)
        i = int(np.flatnonzero(pool)[np.argmax(acq[pool])])
        picked.append(cand_params[i])
        taken[i] = True
        fresh[same[keys[i]]] = False
        z = (cand - cand[i]) / bw_bad
        g_sum = g_sum + np.exp(log_norm - 0.5 * np.sum(z * z, axis=1))
        n_bad += 1
    return picked
