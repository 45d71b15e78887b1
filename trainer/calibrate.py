"""Pull the model's one-way marginals toward the released DP marginals.

DP-SGD learns each column's frequencies through a few hundred noisy steps
and leaves them off by several percent. The metadata releases already hold
noisy counts of every token, some far more precise than that (a category's
count has noise σ ≈ 50 rows; a numeric bin spanning m fine cells √m·σ).
Each token's target is the inverse-variance blend of the two estimates:

    target = (dp / var_dp + model / var_model) / (1 / var_dp + 1 / var_model)

with var_dp known exactly from the release and var_model = (ρ · model)², ρ
the relative error of the trained model on that column: at least 0.1
(chosen on public data), more where the released counts show the model
further off than their noise explains (an empirical-Bayes estimate from the
tokens of the column: the squared gaps beyond each count's noise variance,
relative to the model's squared counts). On adult ρ stays at 0.1; on a
table of zero-heavy counts (baseball) DP-SGD left the zeros 50% too common
and ρ reaches 0.3 to 0.6, so the precise released counts win.
The output bias of each column is then shifted by log(target / model) until
sampled marginals match the targets (iterative proportional fitting on the
logits, with common random numbers so it converges instead of chasing
sampling noise).

Privacy: post-processing. It reads only the trained weights and released
DP counts, never the table, so it spends nothing.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

import numpy as np

from provisioner._blas import single_threaded_blas
from provisioner.models.made import MadeConfig, MadeSampler

MAX_STEP = 2.0  # logit change per iteration, against wild targets
MODEL_RELATIVE_ERROR = 0.1  # the least relative error the blend assumes of the model
ABSENT_LOGIT = -1e4  # exp(-1e4) is 0 in float32: an absent token is never drawn


@dataclasses.dataclass(frozen=True)
class MarginalTarget:
    """Released noisy counts of a column's tokens and their noise variances.

    ``absent`` marks tokens that the releases show to be (near) empty, such
    as a rare token into which no value was clearly folded: calibration
    removes them from the output instead of keeping a floor probability.
    """

    counts: np.ndarray
    variances: np.ndarray
    absent: np.ndarray | None = None


def model_relative_error(model_counts: np.ndarray, target: MarginalTarget) -> float:
    """ρ of one column: how far the model's counts are from the released ones
    beyond the releases' noise, relative to the model's counts (at least
    ``MODEL_RELATIVE_ERROR``, at most 1)."""
    dp = np.maximum(target.counts, 0.0)
    excess = np.maximum((model_counts - dp) ** 2 - target.variances, 0.0).sum()
    scale = max(float(np.sum(model_counts**2)), 1e-9)
    return float(np.clip(np.sqrt(excess / scale), MODEL_RELATIVE_ERROR, 1.0))


def _blend(model: np.ndarray, target: MarginalTarget, total: float) -> np.ndarray:
    dp = np.maximum(target.counts, 0.0)
    model_counts = model * total
    rho = model_relative_error(model_counts, target)
    var_model = np.maximum((rho * model_counts) ** 2, 1.0)
    var_dp = np.maximum(target.variances, 1e-9)
    blended = (dp / var_dp + model_counts / var_model) / (1 / var_dp + 1 / var_model)
    return np.maximum(blended, 0.0)


def calibrate_marginals(
    config: MadeConfig,
    tensors: Mapping[str, np.ndarray],
    targets: Mapping[int, MarginalTarget],
    *,
    samples: int = 100_000,
    iterations: int = 4,
    seed: int | None = None,
) -> dict[str, np.ndarray]:
    """Tensors whose ``out.b`` moves column marginals to the blended targets.

    Args:
      config: the model.
      tensors: its weights (bundle names).
      targets: model column index -> released counts and variances per token.
      samples: rows sampled per iteration.
      iterations: fitting rounds after the first measurement.
      seed: sampling seed (default: OS randomness).
    """
    targets = {c: t for c, t in targets.items()
               if len(t.counts) == config.token_counts[c] and np.sum(t.counts) > 0}
    if not targets:
        return dict(tensors)
    seed = int.from_bytes(os.urandom(8), "little") if seed is None else seed
    bias = np.array(tensors["out.b"], dtype=np.float64)
    offsets = config.offsets
    current = dict(tensors)

    def marginals() -> dict[int, np.ndarray]:
        current["out.b"] = bias.astype(np.float32)
        with single_threaded_blas():  # many small products: OpenBLAS threads only spin
            tokens = MadeSampler(config, current).sample(samples, np.random.default_rng(seed))
        out = {}
        for c, target in targets.items():
            counts = np.bincount(tokens[:, c], minlength=len(target.counts)).astype(float)
            out[c] = (counts + 0.5) / (counts.sum() + 0.5 * len(counts))
        return out

    have = marginals()
    goal = {}
    for c, target in targets.items():
        total = float(np.maximum(target.counts, 0.0).sum())
        blended = _blend(have[c], target, total)
        # never ask for exactly zero: a token the data has may be hidden by noise
        goal[c] = np.maximum(blended / blended.sum(), 0.1 / samples)
        if target.absent is not None:
            goal[c] = np.where(target.absent, 0.1 / samples, goal[c])
        goal[c] /= goal[c].sum()
    for iteration in range(iterations):
        for c, want in goal.items():
            step = np.clip(np.log(want / have[c]), -MAX_STEP, MAX_STEP)
            bias[offsets[c]:offsets[c + 1]] += step
        if iteration + 1 < iterations:
            have = marginals()
    for c, target in targets.items():
        if target.absent is not None:
            bias[offsets[c]:offsets[c + 1]][np.asarray(target.absent, bool)] = ABSENT_LOGIT
    current["out.b"] = bias.astype(np.float32)
    return current
