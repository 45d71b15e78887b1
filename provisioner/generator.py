"""A verified bundle ready to sample: the single-generator RowSource.

    gen = provisioner.load("adult.hzg", trust="owner.pub")
    table = gen.sample(1000, seed=7)          # numpy columns
    df = table.to_pandas()                    # when pandas is installed
    for batch in gen.iter_batches(10_000_000, batch_size=100_000, seed=7):
        ...

Which rows a seed gives is fixed by :mod:`provisioner.scheme`; batching,
partitions and threads live in :mod:`provisioner.sampling`, shared with
mixtures of several generators (:mod:`provisioner.aggregate`).

A Generator pickles as its signed bundle bytes and the key that verified
them; unpickling (on a Dask worker, say) verifies the bytes again, once per
process and bundle.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from provisioner import decode, scheme
from provisioner.bundle import Bundle, Header, OpenedBundle, decode_bundle, open_bundle
from provisioner.bundle.limits import DEFAULT_LIMITS, Limits
from provisioner.content import Content, check_content
from provisioner.errors import ConfigError, ImpossibleCondition, SamplingError
from provisioner.keys import TrustedKey, TrustStore
from provisioner.sampling import Sampling, where_pairs
from provisioner.scheme import DrawKey, Drawn
from provisioner.schema import Column
from provisioner.table import Table

_NULL = object()


@dataclasses.dataclass(frozen=True)
class Condition:
    """Rows must have one of ``tokens`` in model column ``index``."""

    column: Column
    index: int
    tokens: tuple[int, ...]
    forced_value: Any = None  # numeric/datetime: the exact value asked for


class Generator(Sampling):
    """A generator ready to sample: schema, privacy statement and model.

    It is a :class:`~provisioner.scheme.RowSource`, so ``sample``,
    ``iter_batches``, partitions, sinks and :mod:`provisioner.dask` work on
    it as on a mixture.

    Attributes:
      info: the generator's identity (id, name, version, owner, dates).
      schema, privacy: the output columns and the privacy statement.
      trusted_key: the trusted key that verified the bundle, or None when
        verification was skipped (or the bundle was built in memory).
      header: the bundle's full header (payload digest, signer) when read
        from bytes.
    """

    def __init__(self, bundle: Bundle, *, verified_by: str | None = None,
                 strict: bool = True, content: Content | None = None,
                 sampler: Any = None) -> None:
        self.bundle = bundle
        self.verified_by = verified_by
        self.trusted_key: TrustedKey | None = None
        self.header: Header | None = None
        self._data = b""
        self.info = bundle.generator
        if content is None:  # a Bundle built in memory: check it as a reader would
            content = check_content(bundle, strict=strict)
        self.schema = content.schema
        self.privacy = content.privacy
        self.sampler = content.sampler(bundle.tensors) if sampler is None else sampler
        self._model_index = {c.name: i for i, c in enumerate(self.schema.modelled)}
        # What one candidate row costs while its block is made and waits to
        # be written: the model's working memory, decoding, and the decoded
        # row (fresh identifiers are strings of their own) in up to three
        # blocks at once. The scheme keeps a block within its byte budget.
        columns = self.schema.columns
        self._block_rows = scheme.block_rows(
            self.sampler.config.sampling_bytes_per_row()
            + decode.decoding_bytes_per_row(columns)
            + 3 * decode.table_bytes_per_row(columns),
            self.sampler.config.sampling_flops_per_row())

    @classmethod
    def from_opened(cls, opened: OpenedBundle) -> Generator:
        key = opened.trusted_key
        generator = cls(opened.bundle, verified_by=None if key is None else key.name,
                        strict=opened.strict, content=opened.content,
                        sampler=opened.sampler)
        generator.trusted_key = key
        generator.header = opened.header
        generator._data = opened.data
        return generator

    @property
    def columns(self) -> tuple[Column, ...]:
        """The output columns, in order."""
        return self.schema.columns

    @property
    def names(self) -> tuple[str, ...]:
        return self.schema.names

    @property
    def block_rows(self) -> int:
        """Rows per block under the sampling scheme (8,192 unless the model is huge)."""
        return self._block_rows

    @property
    def rows(self) -> int | None:
        """The DP count of training rows the bundle released, or None."""
        return self.schema.rows

    def __repr__(self) -> str:
        return (f"Generator({self.info.name!r} v{self.info.version}, "
                f"{len(self.schema.columns)} columns)")

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        data = self._data or self.bundle.to_unsigned_bytes()
        key = self.trusted_key if self._data else None
        raw = None if key is None else key.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return _restore, (data, raw, None if key is None else key.name)

    # -- conditions ------------------------------------------------------------

    def parse_conditions(self, where: Mapping[str, Any] | Iterable[str] | None
                         ) -> list[Condition]:
        """Conditions from ``{"col": value}`` or CLI strings ``"col=value"``.

        Several values for one categorical column mean "any of them"; an empty
        CLI value or ``None`` means null.
        """
        return self.conditions(where_pairs(where))

    def conditions(self, pairs: Sequence[tuple[str, tuple[Any, ...]]]) -> list[Condition]:
        """Conditions from ``(column, values)`` pairs (RowSource)."""
        return [self._condition(name, list(values)) for name, values in pairs]

    def _condition(self, name: str, values: list[Any]) -> Condition:
        try:
            column = self.schema.column(name)
        except KeyError:
            raise SamplingError(
                f"condition on unknown column {name!r}; columns are {', '.join(self.names)}"
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
                raise ImpossibleCondition(
                    f"column {column.name!r} never holds nulls in this generator")
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
            if column.filler is not None:  # a text column never shows its rare label
                raise ImpossibleCondition(
                    f"impossible condition {column.name}={value!r}: {column.name!r} is a "
                    "text column, whose rows outside its frequent values get made-up "
                    "fillers, never that label; condition on a frequent value")
            return column.rare_token
        shown = ", ".join(map(str, labels[:12])) + (" ..." if len(labels) > 12 else "")
        rare = (" (values too rare to be released under DP are not in the generator)"
                if column.rare_label is not None else "")
        raise ImpossibleCondition(
            f"impossible condition {column.name}={value!r}: the generator knows only "
            f"{shown}{rare}"
        )

    def _numeric_condition(self, column: Column, index: int, value: Any) -> Condition:
        if value is None:
            if not column.nullable:
                raise ImpossibleCondition(
                    f"column {column.name!r} never holds nulls in this generator")
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
                raise ImpossibleCondition(f"{column.name} holds integers; {value!r} is not one")
            forced = int(position) if column.value_type == "integer" else position
        edges = column.grid.cell_edges
        if not edges[0] <= position < edges[-1] and not (
                column.value_type == "float" and position == edges[-1]):
            raise ImpossibleCondition(
                f"impossible condition {column.name}={value}: this generator's values lie "
                f"in [{edges[0]:g}, {edges[-1]:g})"
            )
        cell = int(np.searchsorted(edges, position, side="right")) - 1
        cell = min(cell, column.grid.num_cells - 1)
        token = int(np.searchsorted(column.grid.bin_starts, cell, side="right")) - 1
        if column.grid.cell_weights[cell] == 0:
            raise ImpossibleCondition(
                f"impossible condition {column.name}={value}: the generator gives it no mass"
            )
        return Condition(column, index, (token,), forced)

    # -- one round of the sampling scheme ------------------------------------

    def draw(self, key: DrawKey, n: int, conditions: Sequence[Condition]) -> Drawn:
        """``n`` candidates from the randomness of ``key``; those meeting
        ``conditions``, in order (RowSource; see :mod:`provisioner.scheme`)."""
        tokens, kept = self.sampler.sample_kept(
            n, scheme.rng(key, scheme.STREAM_TOKENS), {c.index: c.tokens for c in conditions})
        value_rng = scheme.rng(key, scheme.STREAM_VALUES)
        forced = {c.column.name: c.forced_value for c in conditions
                  if c.forced_value is not None}
        values: dict[str, np.ndarray] = {}
        codes: dict[str, np.ndarray] = {}
        for column in self.schema.modelled:
            column_tokens = tokens[:, self._model_index[column.name]]
            if column.kind == "categorical" and column.value_type == "string" \
                    and column.filler is None:  # a text column's fillers have no code
                codes[column.name] = np.ascontiguousarray(column_tokens)
            decoded = decode.decode_column(column, column_tokens, value_rng)
            value = forced.get(column.name)
            if value is not None and value is not _NULL:  # the null token decodes to null
                decoded = np.full(len(decoded), value, dtype=decoded.dtype)
            values[column.name] = decoded
        id_rng = scheme.rng(key, scheme.STREAM_IDS)
        for column in self.schema.columns:
            if column.kind == "id" and column.style == "sequence":
                values[column.name] = np.zeros(len(tokens), dtype=np.int64)  # numbered later
            elif not column.modelled:
                values[column.name] = decode.make_ids(column, 0, len(tokens), id_rng)
        return Drawn(Table(self.schema.columns, values, codes=codes), kept)


# Generators rebuilt from pickles, by bundle digest and trusted key: a
# process verifies each bundle once however many tasks it runs.
_RESTORED: collections.OrderedDict[tuple[str, bytes | None], Generator] = \
    collections.OrderedDict()
_RESTORED_MAX = 16
_restore_lock = threading.Lock()
verifications = 0  # bundles this process has verified from pickles (for tests)


def _restore(data: bytes, public_key: bytes | None, name: str | None) -> Generator:
    global verifications
    cache_key = (hashlib.sha256(data).hexdigest(), public_key)
    with _restore_lock:
        cached = _RESTORED.get(cache_key)
        if cached is not None:
            _RESTORED.move_to_end(cache_key)
            return cached
        if public_key is None:
            opened = decode_bundle(data, trust=None, insecure_skip_verify=True)
        else:
            key = TrustedKey(Ed25519PublicKey.from_public_bytes(public_key), name or "",
                             "pickle")
            opened = decode_bundle(data, trust=TrustStore([key]))
        generator = Generator.from_opened(opened)
        verifications += 1
        _RESTORED[cache_key] = generator
        while len(_RESTORED) > _RESTORED_MAX:
            _RESTORED.popitem(last=False)
        return generator


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
        try:
            paths = [trust] if isinstance(trust, (str, os.PathLike)) else list(trust)
        except TypeError:
            raise ConfigError("trust must be a TrustStore, a .pub path or folder, or a "
                              f"list of them, not {type(trust).__name__}") from None
        if not all(isinstance(p, (str, os.PathLike)) for p in paths):
            raise ConfigError("trust paths must be strings or paths")
        trust = TrustStore.from_paths(paths)
    elif trust is None and not insecure_skip_verify:
        trust = TrustStore.from_env()
    opened = open_bundle(path, trust=trust, insecure_skip_verify=insecure_skip_verify,
                         limits=limits)
    return Generator.from_opened(opened)

