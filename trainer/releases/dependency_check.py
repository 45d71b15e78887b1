"""The dependency check: is a candidate pair of columns a functional dependency?

After DP-SGD, ``trainer.dependencies`` proposes a few candidate pairs (source
column, dependent column) from rows sampled from the trained model
(post-processing). For each candidate this release answers two queries:

1. a noisy joint histogram of (source token, dependent token); the
   dependent token of each source token is its row's argmax (the mapping),
   after adding the model's own joint counts (post-processing: for a
   source value that few rows hold, the two noisy guesses together are
   right more often than either);
2. a noisy count of the real rows that break that mapping.

A row added to or removed from the table changes each histogram in one cell
by 1 and each count by at most 1, so ``k`` candidates are ``2k`` queries of
sensitivity 1: one Gaussian mechanism of L2 sensitivity √(2k) (the second
query depends on the first's answer; Gaussian mechanisms compose adaptively
as one). It is planned with the main phase (``MainPhase.dependency_sigma``
for the planned ``k``), and the ledger records what was planned even when
the model offers fewer candidates: the release is then the same mechanism
for any two neighbouring tables, and which pairs were checked (a function
of DP-SGD's output) is not in the bundle.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from trainer.releases.noise import NoiseSource, noisy_histogram
from trainer.releases.record import MAIN_PHASE, Release

__all__ = ("RELEASE_NAME", "DependencyCheck", "check_dependencies", "joint_cells",
           "joint_counts")

RELEASE_NAME = "dependency-check"


def joint_cells(source: np.ndarray, dependent: np.ndarray, dependent_tokens: int) -> np.ndarray:
    """Cell of each row in a (source token, dependent token) histogram, row-major."""
    return np.asarray(source, dtype=np.int64) * dependent_tokens + dependent


def joint_counts(source: np.ndarray, dependent: np.ndarray, source_tokens: int,
                 dependent_tokens: int) -> np.ndarray:
    """Exact ``(source tokens, dependent tokens)`` counts of the rows' pairs."""
    cells = joint_cells(source, dependent, dependent_tokens)
    return np.bincount(cells, minlength=source_tokens * dependent_tokens).reshape(
        source_tokens, dependent_tokens).astype(np.float64)


@dataclasses.dataclass(frozen=True)
class DependencyCheck:
    """What the check released, per candidate, and its ledger entry.

    Attributes:
      joints: the noisy joint histograms, ``(source tokens, dependent tokens)``.
      mappings: the dependent token of each source token.
      broken: the noisy counts of the rows that break the mapping.
      release: the ledger entry, as planned (None when the plan has no check
        or the run is not private).
    """

    joints: tuple[np.ndarray, ...]
    mappings: tuple[np.ndarray, ...]
    broken: np.ndarray
    release: Release | None


def check_dependencies(tokens: np.ndarray, candidates: Sequence[tuple[int, int]],
                       priors: Sequence[np.ndarray], token_counts: Sequence[int],
                       names: Sequence[str], sigma: float, planned: int, source: NoiseSource
                       ) -> DependencyCheck:
    """Mapping and noisy count of breaking rows for each candidate pair.

    Args:
      tokens: ``(rows, columns)`` training tokens.
      candidates: (source column, dependent column), model column indices;
        at most ``planned``.
      priors: per candidate, ``(source tokens, dependent tokens)`` counts
        that are not the data's (the model's, scaled to the rows), added to
        the noisy histogram before its argmax.
      token_counts: tokens per model column.
      names: model column names (for the ledger).
      sigma: the planned Gaussian σ of every cell and count (0: exact, in a
        non-private run).
      planned: how many candidates the plan allows.
      source: noise.
    """
    if len(candidates) > planned:
        raise ValueError(f"internal: {len(candidates)} dependency candidates, "
                         f"{planned} planned")
    joints, mappings, counts = [], [], []
    for (s, d), prior in zip(candidates, priors, strict=True):
        ks, kd = int(token_counts[s]), int(token_counts[d])
        stream = source.stream(RELEASE_NAME, names[s], names[d])
        joint = noisy_histogram(joint_cells(tokens[:, s], tokens[:, d], kd), ks * kd,
                                sigma, stream).reshape(ks, kd)
        mapping = np.argmax(joint + prior, axis=1).astype(np.int64)
        broken = np.count_nonzero(tokens[:, d] != mapping[tokens[:, s]])
        joints.append(joint)
        mappings.append(mapping)
        counts.append(broken + float(stream.gaussian(sigma, 1)[0]))
    broken = np.asarray(counts, dtype=np.float64)
    if planned < 1 or sigma <= 0:
        return DependencyCheck(tuple(joints), tuple(mappings), broken, None)
    sensitivity = math.sqrt(2 * planned)
    release = Release(
        RELEASE_NAME, MAIN_PHASE, "gaussian",
        {"sigma": sigma, "l2_sensitivity": sensitivity,
         "noise_multiplier": sigma / sensitivity, "checks": planned},
        (), noise_multiplier=sigma / sensitivity)
    return DependencyCheck(tuple(joints), tuple(mappings), broken, release)
