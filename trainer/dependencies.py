"""Declared functional dependencies: the dependent column is generated from its source.

A schema file may say ``determined_by = "education"`` for ``education-num``:
the owner declares that each source value has one dependent value. That
fact is public; *which* value belongs to which is not, so it is learned under
DP: one more histogram in stage B counts rows by (source token, dependent
token), and each source token maps to the dependent token with the largest
noisy count (post-processing). The model then generates the dependent column
deterministically: its output head reads only the source's one-hot input
through MADE's direct layer, with one logit per source token far above all
others, so that the dependency holds in every synthetic row and the bundle
format is unchanged. DP-SGD trains the head as usual; it is replaced after
training (post-processing), and calibration leaves the column alone.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from provisioner.errors import ConfigError
from provisioner.models.made import MadeConfig
from provisioner.schema import Column
from trainer.column_types import TypedTable
from trainer.encode import encode_categorical, encode_grid
from trainer.releases.noise import NoiseSource

__all__ = ("PIN_LOGIT", "dependency_mapping", "pin_dependencies")

PIN_LOGIT = 1e3  # e^-1000 is 0: the mapped token is the only one drawn


def _tokens(column: Column, table: TypedTable, fallback: int | None) -> np.ndarray:
    typed = table.column(column.name)
    if column.kind == "categorical":
        return encode_categorical(column, typed, fallback)
    return encode_grid(column, typed, fallback)


def dependency_mapping(source: Column, dependent: Column, table: TypedTable,
                       fallback: Mapping[str, int], sigma: float,
                       noise: NoiseSource) -> np.ndarray:
    """Dependent token of each source token: argmax of noisy joint token counts.

    Each row adds 1 to one cell (sensitivity 1), noised with σ = ``sigma``
    inside the stage-B release.
    """
    s = _tokens(source, table, fallback.get(source.name)).astype(np.int64)
    d = _tokens(dependent, table, fallback.get(dependent.name)).astype(np.int64)
    ks, kd = source.num_tokens, dependent.num_tokens
    joint = np.bincount(s * kd + d, minlength=ks * kd).astype(np.float64).reshape(ks, kd)
    joint = joint + noise.gaussian(sigma, (ks, kd))
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
