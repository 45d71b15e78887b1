"""One synthetic population from the generators of several owners.

    men = provisioner.load("men.hzg", trust="keys/")
    women = provisioner.load("women.hzg", trust="keys/")
    mix = provisioner.aggregate([men, women], weights="rows", source_column="source")
    table = mix.sample(100_000, seed=7)           # as from one generator
    mix.iter_batches(...), mix.sample(..., partition=i, partitions=k)

A :class:`Mixture` is a :class:`~provisioner.scheme.RowSource`: each
candidate row comes from source ``k`` with probability ``w_k`` (the source
of every candidate drawn from ``(seed, block, round)``, see
:mod:`provisioner.scheme`), so the output is reproducible and partitions
like a single generator's. Columns are united by
:mod:`provisioner.reconcile`.

Conditions filter the mixture: a row meeting them comes from source ``k``
with probability proportional to ``w_k`` times the chance that source
``k``'s rows meet them, exactly as if one filtered unconditioned output. A
value only some owners know is simply never produced by the others. A
condition on the source column keeps the named sources only.

Sampling reads nothing but the verified generators: a mixture spends no
privacy budget of its own, and weights ``rows`` use the row counts the
owners already released under DP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from provisioner import scheme
from provisioner.errors import AggregationError, ImpossibleCondition, SamplingError
from provisioner.reconcile import reconcile
from provisioner.sampling import Sampling
from provisioner.scheme import DrawKey, Drawn, RowSource
from provisioner.schema import Column
from provisioner.table import Table

WEIGHTINGS = ("rows", "equal")
_IMPOSSIBLE = None  # a source's conditions when none of its rows can meet them


class Mixture(Sampling):
    """Rows from several sources, each with a fixed probability.

    Attributes:
      sources: the RowSources mixed (usually :class:`Generator` s).
      labels: one name per source (the values of the source column).
      weights: normalised probabilities, one per source.
      weighting: how they were chosen ("rows", "equal" or "explicit").
      columns: the united output columns (plus the source column).
      mode: "union" or "intersect".
      source_column: name of the column holding each row's source, or None.
    """

    def __init__(self, sources: Sequence[RowSource], weights: Sequence[float], *,
                 labels: Sequence[str], columns: str = "union",
                 source_column: str | None = None, weighting: str = "explicit") -> None:
        self.sources = tuple(sources)
        self.labels = tuple(labels)
        self.weights = _normalise(weights, len(self.sources))
        self.weighting = weighting
        self.mode = columns
        self.source_column = source_column
        united = reconcile(list(zip(self.labels, (s.columns for s in self.sources))), columns)
        self._mappings = united.mappings
        output = list(united.columns)
        if source_column is not None:
            if any(c.name == source_column for c in output):
                raise AggregationError(
                    f"--source-column {source_column!r} is already a column of the "
                    "generators; choose another name")
            if not source_column.strip():
                raise AggregationError("--source-column needs a name")
            output.append(Column(source_column, "categorical", "string", False, "public",
                                 categories=self.labels))
        self._columns = tuple(output)
        self._united = united.columns
        self._block_rows = min(s.block_rows for s in self.sources)
        self._cumulative = np.cumsum(self.weights)
        self._cumulative[-1] = 1.0 + 1e-12  # u < 1 always finds a source
        self._seeds: dict[int, list[int]] = {}

    @property
    def columns(self) -> tuple[Column, ...]:
        return self._columns

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self._columns)

    @property
    def block_rows(self) -> int:
        return self._block_rows

    @property
    def rows(self) -> int | None:
        counts = [getattr(s, "rows", None) for s in self.sources]
        return None if any(c is None for c in counts) else sum(counts)

    def __repr__(self) -> str:
        mix = ", ".join(f"{label} {w:.3f}" for label, w in zip(self.labels, self.weights))
        return f"Mixture({mix}; {len(self._columns)} columns)"

    # -- conditions ------------------------------------------------------------

    def conditions(self, pairs: Sequence[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        """Per source: its own conditions, or None when it can never meet them."""
        names = {c.name for c in self._columns}
        for name, _ in pairs:
            if name not in names:
                raise SamplingError(
                    f"condition on unknown column {name!r}; columns are "
                    f"{', '.join(self.names)}")
        allowed_sources = set(range(len(self.sources)))
        rest = []
        for name, values in pairs:
            if name == self.source_column:
                unknown = [v for v in values if v not in self.labels]
                if unknown:
                    raise ImpossibleCondition(
                        f"impossible condition {name}={unknown[0]!r}: the sources are "
                        f"{', '.join(self.labels)}")
                allowed_sources &= {self.labels.index(v) for v in values}
            else:
                rest.append((name, values))
        parsed: list[Any] = []
        for k, source in enumerate(self.sources):
            parsed.append(self._source_conditions(source, rest) if k in allowed_sources
                          else _IMPOSSIBLE)
        if all(p is _IMPOSSIBLE for p in parsed):
            described = " and ".join(
                f"{name}={'|'.join('' if v is None else str(v) for v in values)}"
                for name, values in pairs)
            raise ImpossibleCondition(
                f"impossible condition {described}: no source generator can make such rows")
        return parsed

    @staticmethod
    def _source_conditions(source: RowSource,
                           pairs: Sequence[tuple[str, tuple[Any, ...]]]) -> Any:
        have = {c.name for c in source.columns}
        own = []
        for name, values in pairs:
            if name not in have:  # the source's rows are null there
                if None in values:
                    continue
                return _IMPOSSIBLE
            possible = []
            for value in values:
                try:
                    source.conditions([(name, (value,))])
                except ImpossibleCondition:
                    continue
                possible.append(value)
            if not possible:
                return _IMPOSSIBLE
            own.append((name, tuple(possible)))
        try:
            return source.conditions(own)
        except ImpossibleCondition:
            return _IMPOSSIBLE

    # -- one round of the sampling scheme ------------------------------------

    def draw(self, key: DrawKey, n: int, conditions: Sequence[Any]) -> Drawn:
        """``n`` candidates: each from a source drawn by the weights, then the
        source's own candidate; those meeting the conditions, in order."""
        u = scheme.rng(key, scheme.STREAM_MIX).random(n)
        choice = np.searchsorted(self._cumulative, u, side="right")
        seeds = self._child_seeds(key.seed)
        pieces: list[tuple[np.ndarray, Table]] = []
        for k, source in enumerate(self.sources):
            positions = np.flatnonzero(choice == k)
            if not len(positions) or conditions[k] is _IMPOSSIBLE:
                continue
            drawn = source.draw(DrawKey(seeds[k], key.block, key.round), len(positions),
                                conditions[k])
            values, codes = self._mappings[k].apply(drawn.table)
            if self.source_column is not None:
                values[self.source_column] = np.full(drawn.table.num_rows, self.labels[k],
                                                     dtype=object)
                codes[self.source_column] = np.full(drawn.table.num_rows, k, dtype=np.int32)
            pieces.append((positions[drawn.kept], Table(self._columns, values, codes=codes)))
        if not pieces:
            return Drawn(Table.empty(self._columns), np.empty(0, dtype=np.int64))
        kept = np.concatenate([p for p, _ in pieces])
        table = Table.concat([t for _, t in pieces]) if len(pieces) > 1 else pieces[0][1]
        order = np.argsort(kept, kind="stable")
        return Drawn(table.take(order), kept[order])

    def _child_seeds(self, seed: int) -> list[int]:
        seeds = self._seeds.get(seed)
        if seeds is None:
            seeds = [scheme.child_seed(seed, k) for k in range(len(self.sources))]
            if len(self._seeds) > 64:
                self._seeds.clear()
            self._seeds[seed] = seeds
        return seeds


def aggregate(sources: Sequence[RowSource], *, weights: str | Sequence[float] = "rows",
              columns: str = "union", source_column: str | None = None,
              labels: Sequence[str] | None = None) -> Mixture:
    """Mix several generators into one RowSource.

    Args:
      sources: verified generators (or other RowSources).
      weights: "rows" (default): each generator's released DP row count, so
        every owner contributes in proportion to its table (no new privacy
        cost); "equal"; or one non-negative number per source.
      columns: "union" (absent columns are null) or "intersect".
      source_column: add a column with each row's source label.
      labels: a label per source (default: the owners, see
        :func:`default_labels`).

    Raises:
      AggregationError: weights that cannot be used (a generator without a
        DP row count under "rows", wrong count, negative), or columns that
        cannot be reconciled.
    """
    sources = list(sources)
    if not sources:
        raise AggregationError("nothing to aggregate: give at least one generator")
    labels = list(labels) if labels is not None else default_labels(sources)
    if len(labels) != len(sources) or len(set(labels)) != len(labels):
        raise AggregationError("give one distinct label per generator")
    if isinstance(weights, str):
        if weights == "equal":
            values, weighting = [1.0] * len(sources), "equal"
        elif weights == "rows":
            values, weighting = [], "rows"
            for label, source in zip(labels, sources):
                rows = getattr(source, "rows", None)
                if rows is None:
                    raise AggregationError(
                        f"{label} releases no DP row count (a non-DP generator, or one "
                        "trained without it); give --weights equal or W1,W2,...")
                values.append(float(rows))
        else:
            raise AggregationError(
                f"weights must be 'rows', 'equal' or numbers, not {weights!r}")
    else:
        values, weighting = [float(w) for w in weights], "explicit"
    return Mixture(sources, values, labels=labels, columns=columns,
                   source_column=source_column, weighting=weighting)


def default_labels(sources: Sequence[RowSource]) -> list[str]:
    """Each generator's owner; ``owner/name`` where owners repeat; numbered
    where even those would be equal."""
    infos = [getattr(source, "info", None) for source in sources]
    owners = [f"source-{i + 1}" if info is None else info.owner
              for i, info in enumerate(infos)]
    if len(set(owners)) == len(owners):
        return owners
    labels = [owner if info is None else f"{info.owner}/{info.name}"
              for owner, info in zip(owners, infos)]
    if len(set(labels)) < len(labels):
        labels = [f"{label}#{i + 1}" for i, label in enumerate(labels)]
    return labels


def _normalise(weights: Sequence[float], count: int) -> np.ndarray:
    values = np.asarray(list(weights), dtype=np.float64)
    if len(values) != count:
        raise AggregationError(f"got {len(values)} weights for {count} generators; "
                               "give one per generator")
    if not np.all(np.isfinite(values)) or np.any(values < 0) or values.sum() <= 0:
        raise AggregationError("weights must be finite, non-negative and not all zero")
    return values / values.sum()


__all__ = ("Mixture", "WEIGHTINGS", "aggregate", "default_labels")
