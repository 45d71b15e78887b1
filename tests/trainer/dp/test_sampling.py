"""Poisson sampling: rate, independence of the batch size, chunks, overflow."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from provisioner.errors import ConfigError
from trainer.dp.sampling import (
    batch_capacity,
    gather,
    inclusion_threshold,
    poisson_indices,
    realised_sampling_prob,
    sample_chunks,
    split_into_chunks,
)

N, Q, T = 2000, 0.1, 300
# Each check below is two-sided at this false-failure rate; four checks per
# sampler, so a correct sampler fails this file with probability < 1e-5.
ALPHA = 1e-6


def looks_poisson(draws: list[np.ndarray], n: int, q: float) -> tuple[bool, str]:
    """Statistical checks that T draws are Poisson samples at rate q.

    1. overall inclusion rate ≈ q (normal approximation, ±z·sd);
    2. per-row inclusion counts fit Binomial(T, q) (chi-square over rows);
    3. batch-size variance ≈ n q (1 − q) (chi-square on the sample variance);
    4. batch-size mean ≈ n q.
    A fixed-size sampler fails (3) however it picks rows.
    """
    t = len(draws)
    z = stats.norm.isf(ALPHA / 2)
    sizes = np.array([len(d) for d in draws], dtype=float)
    counts = np.bincount(np.concatenate(draws), minlength=n).astype(float)
    rate = counts.sum() / (n * t)
    if abs(rate - q) > z * np.sqrt(q * (1 - q) / (n * t)):
        return False, f"rate {rate}"
    chi = np.sum((counts - t * q) ** 2 / (t * q * (1 - q)))
    lo, hi = stats.chi2.ppf(ALPHA / 2, n), stats.chi2.isf(ALPHA / 2, n)
    if not lo < chi < hi:
        return False, f"row counts chi2 {chi} not in ({lo}, {hi})"
    var = sizes.var(ddof=1) / (n * q * (1 - q))
    lo, hi = (
        stats.chi2.ppf(ALPHA / 2, t - 1) / (t - 1),
        stats.chi2.isf(ALPHA / 2, t - 1) / (t - 1),
    )
    if not lo < var < hi:
        return False, f"size variance ratio {var} not in ({lo}, {hi})"
    if abs(sizes.mean() - n * q) > z * np.sqrt(n * q * (1 - q) / t):
        return False, f"mean size {sizes.mean()}"
    return True, "ok"


def test_seeded_path_is_poisson():
    rng = np.random.default_rng(12345)
    draws = [poisson_indices(N, Q, rng=rng) for _ in range(T)]
    ok, why = looks_poisson(draws, N, Q)
    assert ok, why


def test_os_randomness_path_is_poisson():
    # Not seedable (that is the point); the checks fail with prob. < 1e-5.
    draws = [poisson_indices(N, Q) for _ in range(T)]
    ok, why = looks_poisson(draws, N, Q)
    assert ok, why


def test_os_randomness_path_differs_between_calls():
    # Two Binomial(2000, 0.1) draws agree on every row with prob. ~ 0.82**2000.
    assert not np.array_equal(poisson_indices(N, Q), poisson_indices(N, Q))


def test_fixed_size_batches_fail_the_poisson_checks():
    # Negative control: shuffled fixed-size batches of the expected size.
    rng = np.random.default_rng(1)
    draws = [rng.permutation(N)[: int(N * Q)] for _ in range(T)]
    ok, why = looks_poisson(draws, N, Q)
    assert not ok and "variance" in why


def test_realised_probability_never_exceeds_q():
    for q in (1e-9, 1 / 3, 256 / 32561, 0.5, 0.999999999):
        assert realised_sampling_prob(q) <= q
        assert q - realised_sampling_prob(q) < 2**-32
    assert inclusion_threshold(1.0) == 2**32
    assert len(poisson_indices(17, 1.0)) == 17
    with pytest.raises(ConfigError):
        inclusion_threshold(1e-12)  # below the sampler's resolution
    with pytest.raises(ConfigError):
        inclusion_threshold(0.0)


def test_capacity():
    n, q = 32561, 256 / 32561
    cap = batch_capacity(n, q)
    assert cap == int(np.ceil(256 + 5 * np.sqrt(256 * (1 - q))))
    assert batch_capacity(n, q, num_devices=4) % 4 == 0
    assert batch_capacity(n, q, num_devices=4) >= cap
    assert batch_capacity(10, 0.9) == 10  # never more than the table
    assert batch_capacity(10, 0.9, num_devices=4) == 12


def test_split_keeps_every_index_exactly_once():
    indices = np.arange(3, 40, 3)
    chunks = split_into_chunks(indices, capacity=4)
    assert len(chunks) == 4
    assert all(c.indices.shape == (4,) and c.mask.shape == (4,) for c in chunks)
    got = np.concatenate([c.indices[c.mask] for c in chunks])
    np.testing.assert_array_equal(got, indices)
    assert sum(int(c.mask.sum()) for c in chunks) == len(indices)


def test_empty_draw_gives_one_all_padding_chunk():
    (chunk,) = split_into_chunks(np.array([], dtype=np.int64), capacity=8)
    assert chunk.indices.shape == (8,) and not chunk.mask.any()


def test_sample_chunks_and_gather():
    data = {"x": np.arange(50.0)[:, None] * np.ones((1, 3)), "y": np.arange(50)}
    chunks = sample_chunks(50, 0.5, capacity=8, rng=np.random.default_rng(3))
    assert len(chunks) > 1  # ~25 rows into chunks of 8: overflow is split
    rows = []
    for c in chunks:
        batch = gather(data, c)
        assert batch["x"].shape == (8, 3)
        rows.extend(batch["y"][c.mask].tolist())
    assert len(rows) == len(set(rows))
