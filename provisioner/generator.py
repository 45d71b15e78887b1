"""Sampling synthetic rows from a verified bundle.

    gen = provisioner.load("adult.hzg", trust="owner.pub")
    table = gen.sample(1000, seed=7)          # numpy columns
    df = table.to_pandas()                    # when pandas is installed
    for batch in gen.iter_batches(10_000_000, batch_size=100_000, seed=7):
        ...

Rows are made in fixed blocks of ``BLOCK_ROWS`` candidates; block ``b`` uses
randomness derived only from ``(seed, b)``. The output for a seed is
therefore the same whatever the batch size, and any range of blocks can be
made anywhere (another process, another machine) and concatenated.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from provisioner import decode
from provisioner._blas import single_threaded_blas
from provisioner.bundle import Bundle, OpenedBundle, open_bundle
from provisioner.bundle.limits import DEFAULT_LIMITS, Limits
from provisioner.errors import ConfigError, MalformedHeader, SamplingError
from provisioner.keys import TrustStore
from provisioner.models import family_sampler
from provisioner.privacy import PrivacyStatement
from provisioner.schema import Column, Schema
from provisioner.table import Table

# Big enough that sampling threads rarely wait on each other for the GIL
# between numpy calls: measured here, a second thread sped up blocks of 2,048
# rows by 1.05-1.4x, blocks of 8,192 by 1.45-1.6x.
BLOCK_ROWS = 8192
# A condition that no candidate meets in this many blocks (262,144 rows) is
# reported as impossible rather than searched for forever.
MAX_EMPTY_BLOCKS = 32
_NULL = object()


@dataclasses.dataclass(frozen=True)
class Condition:
    """Rows must have one of ``tokens`` in model column ``index``."""

    column: Column
    index: int
    tokens: tuple[int, ...]
    forced_value: Any = None  # numeric/datetime: the exact value asked for


class Generator:
    """A generator ready to sample: schema, privacy statement and model."""

    def __init__(self, bundle: Bundle, *, verified_by: str | None = None,
                 strict: bool = True) -> None:
        self.bundle = bundle
        self.verified_by = verified_by
        self.info = bundle.generator
        self.schema = Schema.from_plain(bundle.schema, strict=strict)
        self.privacy = PrivacyStatement.from_plain(bundle.privacy, strict=strict)
        self.sampler = family_sampler(bundle.model, bundle.tensors, strict=strict)
        modelled = self.schema.modelled
        counts = tuple(c.num_tokens for c in modelled)
        if counts != tuple(self.sampler.config.token_counts):
            raise MalformedHeader(
                f"schema token counts {counts} do not match the model's "
                f"{tuple(self.sampler.config.token_counts)}"
            )
        if self.privacy.dp:
            uncovered = [c.name for c in self.schema.columns
                         if c.metadata == "dp" and c.name not in self.privacy.covered_columns()]
            if uncovered:
                raise MalformedHeader(
                    f"column {uncovered[0]!r} has DP metadata that no mechanism in the "
                    "privacy ledger accounts for"
                )
        elif any(c.metadata == "dp" for c in self.schema.columns):
            raise MalformedHeader("a non-DP bundle cannot mark metadata as 'dp'")
        if self.privacy.dp and any(c.metadata == "exact" for c in self.schema.columns):
            raise MalformedHeader("a DP bundle cannot hold metadata read exactly from data")
        self._model_index = {c.name: i for i, c in enumerate(modelled)}

    @classmethod
    def from_opened(cls, opened: OpenedBundle) -> Generator:
        key = opened.trusted_key
        return cls(opened.bundle, verified_by=None if key is None else key.name,
                   strict=opened.strict)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.schema.names

    def __repr__(self) -> str:
        return (f"Generator({self.info.name!r} v{self.info.version}, "
                f"{len(self.schema.columns)} columns)")

    # -- conditions ------------------------------------------------------------

    def parse_conditions(self, where: Mapping[str, Any] | Iterable[str] | None
                         ) -> list[Condition]:
        """Conditions from ``{"col": value}`` or CLI strings ``"col=value"``.

        Several values for one categorical column mean "any of them"; an empty
        CLI value or ``None`` means null.
        """
        if where is None:
            return []
        pairs: list[tuple[str, Any]] = []
        if isinstance(where, Mapping):
            for name, value in where.items():
                values = value if isinstance(value, (list, tuple, set)) else [value]
                pairs.extend((name, v) for v in values)
        else:
            for text in where:
                name, sep, value = str(text).partition("=")
                if not sep:
                    raise SamplingError(f"condition {text!r} must look like COLUMN=VALUE")
                pairs.append((name.strip(), value if value != "" else None))
        grouped: dict[str, list[Any]] = {}
        for name, value in pairs:
            grouped.setdefault(name, []).append(value)
        return [self._condition(name, values) for name, values in grouped.items()]

    def _condition(self, name: str, values: list[Any]) -> Condition:
        try:
            column = self.schema.column(name)
        except KeyError:
            raise SamplingError(
                f"condition on unknown column {name!r}; columns are {', '.join(self.columns)}"
            ) from None
        if not column.modelled:
            raise SamplingError(f"column {name!r} holds fresh identifiers; it cannot be a condition")
        index = self._model_index[name]
        if column.kind == "categorical":
            tokens = tuple(sorted({self._categorical_token(column, v) for v in values}))
            return Condition(column, index, tokens)
        if len(values) != 1:
            raise SamplingError(f"give one value for numeric column {name!r}")
        return self._numeric_condition(column, index, values[0])

    def _categorical_token(self, column: Column, value: Any) -> int:
        if value is None:
            if not column.nullable:
                raise SamplingError(f"column {column.name!r} never holds nulls in this generator")
            return column.null_token
        labels = list(column.categories)
        if column.value_type == "boolean" and isinstance(value, str):
            lowered = value.strip().lower()
            value = {"true": True, "1": True, "false": False, "0": False}.get(lowered, value)
        elif column.value_type == "integer" and isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                pass
        # bool is an int in Python: match True only in boolean columns, 1 only
        # in integer ones
        if isinstance(value, bool) == (column.value_type == "boolean") and value in labels:
            return labels.index(value)
        if column.rare_label is not None and value == column.rare_label:
            return column.rare_token
        shown = ", ".join(map(str, labels[:12])) + (" ..." if len(labels) > 12 else "")
        rare = (" (values too rare to be released under DP are not in the generator)"
                if column.rare_label is not None else "")
        raise SamplingError(
            f"impossible condition {column.name}={value!r}: the generator knows only "
            f"{shown}{rare}"
        )

    def _numeric_condition(self, column: Column, index: int, value: Any) -> Condition:
        if value is None:
            if not column.nullable:
                raise SamplingError(f"column {column.name!r} never holds nulls in this generator")
            return Condition(column, index, (column.null_token,), _NULL)
        if column.kind == "datetime":
            try:
                stamp = np.datetime64(value).astype(f"datetime64[{column.unit}]")
            except ValueError:
                raise SamplingError(f"{column.name}={value!r} is not a date/time") from None
            position = float(stamp.astype(np.int64))
            forced: Any = stamp
        else:
            try:
                position = float(value)
            except (TypeError, ValueError):
                raise SamplingError(f"{column.name}={value!r} is not a number") from None
            if column.value_type == "integer" and position != int(position):
                raise SamplingError(f"{column.name} holds integers; {value!r} is not one")
            forced = int(position) if column.value_type == "integer" else position
        edges = column.grid.cell_edges
        if not edges[0] <= position < edges[-1] and not (
                column.value_type == "float" and position == edges[-1]):
            raise SamplingError(
                f"impossible condition {column.name}={value}: this generator's values lie "
                f"in [{edges[0]:g}, {edges[-1]:g})"
            )
        cell = int(np.searchsorted(edges, position, side="right")) - 1
        cell = min(cell, column.grid.num_cells - 1)
        token = int(np.searchsorted(column.grid.bin_starts, cell, side="right")) - 1
        if column.grid.cell_weights[cell] == 0:
            raise SamplingError(
                f"impossible condition {column.name}={value}: the generator gives it no mass"
            )
        return Condition(column, index, (token,), forced)

    # -- sampling --------------------------------------------------------------

    def _block(self, seed: int, block: int, conditions: list[Condition]) -> Table:
        """Candidate rows of one block (fewer than BLOCK_ROWS under conditions)."""
        token_rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, block, 0])))
        value_rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, block, 1])))
        tokens = self.sampler.sample(
            BLOCK_ROWS, token_rng, {c.index: c.tokens for c in conditions})
        forced = {c.column.name: c.forced_value for c in conditions if c.forced_value is not None}
        values: dict[str, np.ndarray] = {}
        codes: dict[str, np.ndarray] = {}
        for column in self.schema.modelled:
            column_tokens = tokens[:, self._model_index[column.name]]
            if column.kind == "categorical" and column.value_type == "string":
                codes[column.name] = np.ascontiguousarray(column_tokens)
            decoded = decode.decode_column(column, column_tokens, value_rng)
            if column.name in forced:
                value = forced[column.name]
                if value is _NULL:
                    pass  # the null token already decodes to null
                else:
                    decoded = np.full(len(decoded), value, dtype=decoded.dtype)
            values[column.name] = decoded
        id_rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, block, 2])))
        for column in self.schema.columns:
            if not column.modelled:
                # sequences are renumbered by output position in iter_batches
                values[column.name] = decode.make_ids(column, 0, len(tokens), id_rng)
        return Table(self.schema.columns, values, codes=codes)

    def iter_batches(
        self,
        n: int,
        *,
        batch_size: int = 65536,
        seed: int | None = None,
        where: Mapping[str, Any] | Iterable[str] | None = None,
        workers: int | None = None,
    ) -> Iterator[Table]:
        """Yield ``n`` rows in tables of ``batch_size`` rows (the last may be shorter).

        Memory stays flat in ``n``: at most a few blocks are held at a time.
        Arguments and conditions are checked here, before the first batch.
        """
        _check_count(n=n, batch_size=batch_size)
        seed = secrets.randbits(63) if seed is None else _check_seed(seed)
        conditions = self.parse_conditions(where)
        workers = max(1, os.cpu_count() or 1) if workers is None else max(1, int(workers))
        return self._batches(n, batch_size, seed, conditions, workers)

    def _batches(self, n: int, batch_size: int, seed: int, conditions: list[Condition],
                 workers: int) -> Iterator[Table]:
        with single_threaded_blas():
            yield from self._batches_inner(n, batch_size, seed, conditions, workers)

    def _batches_inner(self, n: int, batch_size: int, seed: int,
                       conditions: list[Condition], workers: int) -> Iterator[Table]:
        produced, pending = 0, []
        pending_rows = 0
        for block_table in self._blocks(seed, conditions, workers):
            block_table = self._number_ids(block_table, produced + pending_rows)
            pending.append(block_table)
            pending_rows += block_table.num_rows
            while pending_rows >= batch_size or (pending_rows and produced + pending_rows >= n):
                merged = Table.concat(pending) if len(pending) > 1 else pending[0]
                take = min(batch_size, n - produced)
                yield merged.slice(0, take)
                produced += take
                rest = merged.slice(take, merged.num_rows)
                pending, pending_rows = ([rest], rest.num_rows) if rest.num_rows else ([], 0)
                if produced >= n:
                    return

    def sample(
        self,
        n: int,
        *,
        seed: int | None = None,
        where: Mapping[str, Any] | Iterable[str] | None = None,
    ) -> Table:
        """``n`` synthetic rows as one :class:`Table`."""
        _check_count(n=n)
        # one batch of n rows: iter_batches already joined the blocks
        (table,) = self.iter_batches(n, batch_size=n, seed=seed, where=where)
        return table

    def _blocks(self, seed: int, conditions: list[Condition], workers: int
                ) -> Iterator[Table]:
        empty_run = 0
        if workers == 1:
            for block in itertools.count():
                table = self._block(seed, block, conditions)
                empty_run = _track_empty(table, empty_run, conditions)
                yield table
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            # numpy releases the GIL in its kernels, so blocks run on all cores;
            # a bounded window of futures keeps memory flat and order fixed.
            window = [pool.submit(self._block, seed, b, conditions) for b in range(workers * 2)]
            block = len(window)
            try:
                while True:
                    table = window.pop(0).result()
                    window.append(pool.submit(self._block, seed, block, conditions))
                    block += 1
                    empty_run = _track_empty(table, empty_run, conditions)
                    yield table
            finally:
                for future in window:
                    future.cancel()

    def _number_ids(self, table: Table, first_row: int) -> Table:
        sequences = [c for c in self.schema.columns if c.kind == "id" and c.style == "sequence"]
        if not sequences:
            return table
        values = dict(table.items())
        for column in sequences:
            values[column.name] = np.arange(first_row + 1, first_row + table.num_rows + 1,
                                            dtype=np.int64)
        return Table(table.columns, values, codes=table.codes)


def _track_empty(table: Table, empty_run: int, conditions: list[Condition]) -> int:
    if table.num_rows:
        return 0
    empty_run += 1
    if empty_run >= MAX_EMPTY_BLOCKS:
        described = " and ".join(f"{c.column.name}" for c in conditions)
        raise SamplingError(
            f"the condition on {described} is practically impossible for this generator: "
            f"no match among {MAX_EMPTY_BLOCKS * BLOCK_ROWS:,} candidate rows"
        )
    return empty_run


def _check_count(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"Expected {name}={value!r} to be an integer >= 1.")


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise ConfigError(f"Expected seed={seed!r} to be an integer in [0, 2**63).")
    return int(seed)


def load(
    path: str | os.PathLike[str],
    *,
    trust: TrustStore | str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
    insecure_skip_verify: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> Generator:
    """Verify the bundle at ``path`` against ``trust`` and return its generator.

    Args:
      path: a ``.hzg`` file.
      trust: a TrustStore, a ``.pub`` file or folder, or several of them;
        default: ``$HZG_TRUST``.
      insecure_skip_verify: read without checking the signature (unsafe).
      limits: reader limits.
    """
    if trust is not None and not isinstance(trust, TrustStore):
        paths = [trust] if isinstance(trust, (str, os.PathLike)) else list(trust)
        trust = TrustStore.from_paths(paths)
    elif trust is None and not insecure_skip_verify:
        trust = TrustStore.from_env()
    opened = open_bundle(path, trust=trust, insecure_skip_verify=insecure_skip_verify,
                         limits=limits)
    return Generator.from_opened(opened)

