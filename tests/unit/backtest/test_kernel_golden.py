"""The kernel's outputs on a fixed corpus equal the digests recorded from the kernel before its split.

Bit-identical, not within a tolerance: the split into step functions must not move a single bit of a
metric, an equity mark, a trade, a filter/risk code or a sweep row (see `tests.support.kernel_golden`).
"""

from __future__ import annotations

import json

import numpy as np

from tests.support.kernel_golden import GOLDEN, N_SINGLE, N_SWEEP, corpus_digests, sweep_param_sets


def test_corpus_is_bit_identical_to_the_recorded_digests() -> None:
    golden = json.loads(GOLDEN.read_text())
    assert len(golden) == N_SINGLE + N_SWEEP
    now = corpus_digests()
    drift = sorted(k for k in golden if now[k] != golden[k])
    assert not drift, f"kernel behaviour drifted on {len(drift)} corpus entries, e.g. {drift[:5]}"


def test_sweep_corpus_varies_its_parameter_sets() -> None:
    """The sweep half of the corpus really prices different sets (a digest of identical rows would miss
    a bug that mixes up sets)."""
    varied = 0
    for seed in range(N_SWEEP):
        _, _, sets = sweep_param_sets(seed)
        varied += any(sets[i] != sets[0] for i in range(1, len(sets)))
    assert varied >= N_SWEEP * 0.9


def test_digest_sees_a_one_ulp_change() -> None:
    from tests.support.kernel_golden import _digest

    a = np.array([1.0, np.nan, 3.0])
    b = a.copy()
    b[0] = np.nextafter(1.0, 2.0)
    assert _digest(a) != _digest(b)
    assert _digest(a) == _digest(np.array([1.0, -np.nan, 3.0]))
