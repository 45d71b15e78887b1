"""Match the model's one-way marginals to released DP marginals.

DP-SGD learns each column's frequencies through a few hundred noisy steps,
and leaves them off by a percent or two. The metadata releases already hold
noisy counts of every token of categorical and small-integer columns, far
more precise (σ ≈ 50 rows). This step shifts each column's output bias by
``log(target / model)`` until the sampled marginals match those counts
(iterative proportional fitting on the logits, with common random numbers
so the iteration converges instead of chasing sampling noise).

Privacy: post-processing. It reads only the trained weights and released
DP counts, never the table, so it spends nothing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from provisioner.models.made import MadeConfig, MadeSampler

MAX_STEP = 2.0  # logit change per iteration, against wild targets


def calibrate_marginals(
    config: MadeConfig,
    tensors: Mapping[str, np.ndarray],
    targets: Mapping[int, np.ndarray],
    *,
    samples: int = 50_000,
    iterations: int = 5,
    seed: int | None = None,
) -> dict[str, np.ndarray]:
    """Tensors whose ``out.b`` makes column marginals match ``targets``.

    Args:
      config: the model.
      tensors: its weights (bundle names).
      targets: model column index -> target counts per token (any scale).
      samples: rows sampled per iteration.
      iterations: fitting rounds.
      seed: sampling seed (default: OS randomness).
    """
    if not targets:
        return dict(tensors)
    seed = int.from_bytes(os.urandom(8), "little") if seed is None else seed
    bias = np.array(tensors["out.b"], dtype=np.float64)
    offsets = config.offsets
    floors = {c: np.maximum(np.asarray(t, dtype=np.float64), 0.0) for c, t in targets.items()}
    goal = {}
    for c, t in floors.items():
        total = t.sum()
        if total <= 0 or len(t) != config.token_counts[c]:
            continue
        # never ask for exactly zero: a token the data has may be hidden by noise
        goal[c] = np.maximum(t / total, 0.1 / samples)
        goal[c] /= goal[c].sum()
    current = dict(tensors)
    for _ in range(iterations):
        current["out.b"] = bias.astype(np.float32)
        sampler = MadeSampler(config, current)
        tokens = sampler.sample(samples, np.random.default_rng(seed))
        for c, want in goal.items():
            counts = np.bincount(tokens[:, c], minlength=len(want)).astype(np.float64)
            have = (counts + 0.5) / (counts.sum() + 0.5 * len(want))
            step = np.clip(np.log(want / have), -MAX_STEP, MAX_STEP)
            bias[offsets[c]:offsets[c + 1]] += step
    current["out.b"] = bias.astype(np.float32)
    return current
