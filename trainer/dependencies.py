"""Declared functional dependencies: the dependent column is generated from its source.

A schema file may say ``determined_by = "education"`` for ``education-num``:
the owner declares that each source value has one dependent value. That
fact is public; *which* value belongs to which is not, unless the owner
declares the ``mapping`` too (a published code table); otherwise it is
learned under DP: one more histogram in stage B counts rows by (source token, dependent
token), and each source token maps to the dependent token with the largest
noisy count (post-processing). The model then generates the dependent column
deterministically: its output head reads only the source's one-hot input
through MADE's direct layer, with one logit per source token far above all
others, so that the dependency holds in every synthetic row and the bundle
format is unchanged. DP-SGD trains the head as usual; it is replaced after
training (post-processing), and calibration leaves the column alone.

Undeclared dependencies are *found*: DP-SGD learns a one-to-one pair such as
adult's ``education`` and ``education-num`` only approximately (about three
rows in four keep the mapping), so after training :func:`find_dependencies`

1. samples rows from the trained model (post-processing) and proposes the
   pairs whose dependent the source predicts best beyond the dependent's
   most common token (a mapping learned on one half of the sampled rows,
   scored on the other, so that a many-valued source does not look
   predictive by overfitting);
2. asks the dependency check (``trainer.releases.dependency_check``) for
   each pair's mapping (argmax of a noisy joint histogram, as for a
   declared dependency: the model's own guess is wrong for source values
   that few rows hold) and a noisy count of the real rows that break it;
3. pins the pairs whose noisy count is within ``DEPENDENCY_TOLERANCE`` of
   the rows outside the dependent's most common token (post-processing). A
   pair broken by a few rows is then generated as if it held in all of
   them; a column that is merely skewed (one token in 99% of rows) is not
   taken for a dependent, since its rows outside that token would be lost.

The source must come before the dependent in the model's column order (the
direct layer is masked that way); a dependency the other way round is left
to DP-SGD.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence

import numpy as np

from provisioner.errors import ConfigError
from provisioner._blas import single_threaded_blas
from provisioner.models.made import MadeConfig, MadeSampler
from provisioner.schema import Column
from trainer.column_types import TypedTable
from trainer.encode import encode_categorical, encode_grid, grid_tokens
from trainer.releases.dependency_check import check_dependencies, joint_counts
from trainer.releases.noise import NoiseSource
from trainer.releases.record import Release

__all__ = ("DEPENDENCY_TOLERANCE", "FoundDependencies", "PIN_LOGIT", "declared_mapping",
           "dependency_candidates", "dependency_mapping", "find_dependencies",
           "pin_dependencies")

PIN_LOGIT = 1e3  # e^-1000 is 0: the mapped token is the only one drawn
# A found dependency may be broken by at most this share of the rows outside
# the dependent's most common token (noisy count): pinning such a pair moves
# those rows, at most 5% of what makes the column vary. Values folded into
# the rare token, and a source value held by few rows that the noise maps
# wrongly, break a true dependency in 1-2% of adult's rows.
DEPENDENCY_TOLERANCE = 0.05
# candidates predict their dependent at least this much better than its
# most common token does (1 - errors / errors of the mode), on held-out rows
MIN_LIFT = 0.25
CANDIDATE_ROWS = 20_000  # rows sampled from the trained model, half to learn, half to score


def _tokens(column: Column, table: TypedTable, fallback: int | None) -> np.ndarray:
    typed = table.column(column.name)
    if column.kind == "categorical":
        return encode_categorical(column, typed, fallback)
    return encode_grid(column, typed, fallback)


def declared_mapping(source: Column, dependent: Column,
                     mapping: Sequence[tuple[object, object]]) -> np.ndarray:
    """Dependent token of each source token, from a declared mapping (public).

    The source's categories are declared and closed (``check_columns``); its
    null token, when it has one, maps to the dependent's null token, or else
    to the token the mapping gives most often (a public fact, not the data).
    """
    values = {str(k): v for k, v in mapping}
    out = []
    for category in source.categories:
        value = values[str(category)]
        if dependent.kind == "categorical":
            labels = [str(c) for c in dependent.categories]
            if str(value) not in labels:
                raise ConfigError(f"column {dependent.name!r}: its declared mapping gives "
                                  f"{value!r}, which is not one of its values; declare its "
                                  "categories")
            out.append(labels.index(str(value)))
        else:
            out.append(int(grid_tokens(dependent.grid, np.array([float(value)]))[0]))
    tokens = np.zeros(source.num_tokens, dtype=np.int64)
    tokens[:len(out)] = out
    if source.null_token is not None:
        tokens[source.null_token] = (dependent.null_token if dependent.null_token is not None
                                     else np.bincount(out).argmax())
    return tokens


def dependency_mapping(source: Column, dependent: Column, table: TypedTable,
                       fallback: Mapping[str, int], sigma: float,
                       noise: NoiseSource) -> np.ndarray:
    """Dependent token of each source token: argmax of noisy joint token counts.

    Each row adds 1 to one cell (sensitivity 1), noised with σ = ``sigma``
    inside the stage-B release.
    """
    s = _tokens(source, table, fallback.get(source.name))
    d = _tokens(dependent, table, fallback.get(dependent.name))
    ks, kd = source.num_tokens, dependent.num_tokens
    joint = joint_counts(s, d, ks, kd) + noise.gaussian(sigma, (ks, kd))
    return np.argmax(joint, axis=1).astype(np.int64)


def pin_dependencies(config: MadeConfig, tensors: Mapping[str, np.ndarray],
                     columns: Mapping[str, int],
                     dependencies: Mapping[str, tuple[str, np.ndarray]]
                     ) -> dict[str, np.ndarray]:
    """Weights whose dependent heads follow their source deterministically.

    Args:
      config: the model.
      tensors: its weights (bundle names).
      columns: model column index by name.
      dependencies: dependent name -> (source name, dependent token per source token).
    """
    out = {name: np.array(value, copy=True) for name, value in tensors.items()}
    if not dependencies:
        return out
    if "direct.w" not in out:
        raise ConfigError("declared dependencies (determined_by) need the model's direct "
                          "layer: set direct = true")
    offsets = config.offsets
    for dependent, (source, mapping) in dependencies.items():
        c, s = columns[dependent], columns[source]
        head = slice(offsets[c], offsets[c + 1])
        out["out.w"][:, head] = 0.0
        out["out.b"][head] = 0.0
        out["direct.w"][:, head] = 0.0
        rows = offsets[s] + np.arange(len(mapping))
        out["direct.w"][rows, offsets[c] + np.asarray(mapping)] = PIN_LOGIT
    return out


def _joint(tokens: np.ndarray, s: int, d: int, token_counts: Sequence[int]) -> np.ndarray:
    return joint_counts(tokens[:, s], tokens[:, d], int(token_counts[s]), int(token_counts[d]))


def dependency_candidates(sampled: np.ndarray, token_counts: Sequence[int],
                          exclude: Collection[int], most: int) -> list[tuple[int, int]]:
    """Up to ``most`` (source, dependent) pairs, best first, one per dependent.

    Args:
      sampled: ``(rows, columns)`` tokens sampled from the trained model; the
        mapping is learned on the first half and scored on the second.
      token_counts: tokens per model column.
      exclude: model columns that may not be dependents (already pinned).
      most: how many to return.

    Privacy: post-processing (reads the model's samples only).
    """
    half = len(sampled) // 2
    learn, score = sampled[:half], sampled[half:]
    scored = []
    for d in range(1, sampled.shape[1]):
        kd = int(token_counts[d])
        if d in exclude or kd < 2:
            continue
        mode = int(np.argmax(np.bincount(learn[:, d], minlength=kd)))
        base_errors = np.count_nonzero(score[:, d] != mode)
        if base_errors < 0.01 * len(score):  # one token in 99% of rows: a skew, not a dependency
            continue
        for s in range(d):
            joint = _joint(learn, s, d, token_counts)
            mapping = np.where(joint.sum(axis=1) > 0, np.argmax(joint, axis=1), mode)
            errors = np.count_nonzero(score[:, d] != mapping[score[:, s]])
            lift = 1.0 - errors / base_errors
            if lift >= MIN_LIFT:
                scored.append((lift, s, d))
    scored.sort(key=lambda item: (-item[0], item[1], item[2]))
    chosen: list[tuple[int, int]] = []
    dependents: set[int] = set()
    for _, s, d in scored:
        if len(chosen) == most:
            break
        if d not in dependents:
            chosen.append((s, d))
            dependents.add(d)
    return chosen


@dataclasses.dataclass(frozen=True)
class FoundDependencies:
    """What :func:`find_dependencies` found.

    Attributes:
      dependencies: dependent name -> (source name, dependent token per
        source token), as for declared ones.
      release: the dependency check for the ledger, as planned (None when
        the plan has none or the run is not private).
      notices: one line per found dependency, for the owner (noisy shares).
    """

    dependencies: dict[str, tuple[str, np.ndarray]]
    release: Release | None
    notices: tuple[str, ...]


def find_dependencies(config: MadeConfig, tensors: Mapping[str, np.ndarray],
                      tokens: np.ndarray, names: Sequence[str], pinned: Collection[str], *,
                      checks: int, sigma: float, rows: float, noise: NoiseSource,
                      rng: np.random.Generator) -> FoundDependencies:
    """Propose candidates from the model, check them under DP, keep those that hold.

    Args:
      config, tensors: the trained model (declared dependencies pinned).
      tokens: the training tokens (the only read of the data, inside the check).
      names: model column names.
      pinned: dependents already declared.
      checks: candidates the plan allows; sigma: the check's planned σ.
      rows: the released row count.
      noise: the check's noise; rng: the model's sampling (post-processing).
    """
    if checks < 1:
        return FoundDependencies({}, None, ())
    with single_threaded_blas():
        sampled = MadeSampler(config, tensors).sample(CANDIDATE_ROWS, rng)
    exclude = {names.index(name) for name in pinned if name in names}
    candidates = ([] if "direct.w" not in tensors  # pinning needs the direct layer
                  else dependency_candidates(sampled, config.token_counts, exclude, checks))
    priors = [_joint(sampled, s, d, config.token_counts) * (rows / len(sampled))
              for s, d in candidates]
    check = check_dependencies(tokens, candidates, priors, config.token_counts, names, sigma,
                               checks, noise)
    found: dict[str, tuple[str, np.ndarray]] = {}
    notices = []
    for (s, d), mapping, count in zip(candidates, check.mappings, check.broken):
        kd = config.token_counts[d]
        varying = 1.0 - np.bincount(sampled[:, d], minlength=kd).max() / len(sampled)
        if count <= DEPENDENCY_TOLERANCE * varying * rows:
            found[names[d]] = (names[s], mapping)
            share = max(count, 0.0) / max(rows, 1.0)
            notices.append(
                f"column {names[d]!r} follows {names[s]!r} in all but about {share:.1%} "
                "of rows (noisy count): it is generated from it in every row; declare "
                f"determined_by = {names[s]!r} in a schema file if that is a rule")
    return FoundDependencies(found, check.release, tuple(notices))
