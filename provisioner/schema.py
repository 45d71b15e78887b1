"""The column schema carried in a bundle's header (HZG.md, "Column schema").

A schema lists the output columns in order. Every column except ``id``
columns is modelled as a sequence of tokens; the schema says what each token
means so that :mod:`provisioner.decode` can turn tokens back into values.

Token layout per kind (``n`` = number of tokens)::

    categorical  categories..., [rare], [null]
    numeric      bins...,               [null]
    datetime     bins...,               [null]
    id           (not modelled: fresh values are made at sampling time)

Numeric and datetime columns share a two-level grid: ``cell_edges`` cut the
value range into cells, ``bin_starts`` group consecutive cells into bins (the
tokens), and ``cell_weights`` say how likely each cell is within its bin.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

from provisioner.bundle.canonical import CONTROL_CHARACTERS
from provisioner.bundle.fields import Fields
from provisioner.bundle.limits import (
    DEFAULT_LIMITS,
    FORMAT_CHARS,
    LABEL_CHARS,
    NAME_CHARS,
    PATTERN_UNITS,
    Limits,
)
from provisioner.errors import LimitExceeded, MalformedHeader

KINDS = ("categorical", "numeric", "datetime", "id")
METADATA_ORIGINS = ("public", "dp", "exact")
DATETIME_UNITS = ("D", "s", "ms", "us")
ID_STYLES = ("sequence", "pattern", "uuid")
VALUE_TYPES = {
    "categorical": ("string", "boolean", "integer"),
    "numeric": ("integer", "float"),
    "datetime": ("datetime",),
    "id": ("integer", "string"),
}
_DECIMALS = range(-15, 16)
# pattern alphabet for id columns: 9 digit, A upper, a lower, x hex; \c escapes
_ID_PATTERN = re.compile(r"^(?:[^\\]|\\.)+$", re.S)
# A datetime column's zone: UTC, a fixed offset, or an IANA name (HZG.md 6.4).
TIMEZONE = re.compile(r"^(?:UTC|[+-](?:[01]\d|2[0-3]):[0-5]\d"
                      r"|[A-Za-z][A-Za-z0-9_+-]{0,31}(?:/[A-Za-z0-9_+-]{1,32}){0,3})\Z")
TIMEZONE_CHARS = 64
_ID_UNIT = re.compile(r"[^\\]|\\.", re.S)
# Values decode through float64 ticks (multiples of the column's unit): below
# 2**53 every tick is an exact integer, so decoding never collapses values.
MAX_TICK = 2**53
MAX_WEIGHT = 2**53
INT64 = (-(2**63), 2**63 - 1)
# Datetimes span 0001-01-01 to 10000-01-01 (exclusive), in each unit.
_DAYS = (-719_162, 2_932_897)
DATETIME_SPAN = {
    "D": _DAYS,
    "s": (_DAYS[0] * 86_400, _DAYS[1] * 86_400),
    "ms": (_DAYS[0] * 86_400_000, _DAYS[1] * 86_400_000),
    "us": (_DAYS[0] * 86_400_000_000, _DAYS[1] * 86_400_000_000),
}


@dataclasses.dataclass(frozen=True)
class Grid:
    """Cells and bins of a numeric or datetime column."""

    cell_edges: tuple[float, ...]
    cell_weights: tuple[float, ...]
    bin_starts: tuple[int, ...]

    @property
    def num_bins(self) -> int:
        return len(self.bin_starts)

    @property
    def num_cells(self) -> int:
        return len(self.cell_weights)

    def to_plain(self) -> dict[str, Any]:
        return {
            "bin_starts": list(self.bin_starts),
            "cell_edges": list(self.cell_edges),
            "cell_weights": list(self.cell_weights),
        }

    @classmethod
    def from_fields(cls, fields: Fields, *, span: tuple[float, float],
                    integral: bool, scale: float = 1.0) -> Grid:
        """Read a grid whose edges, times ``scale``, lie in ``span``."""
        edges = _floats(fields, "cell_edges")
        weights = _floats(fields, "cell_weights")
        starts = fields.array("bin_starts")
        where = fields.where
        if len(edges) < 2 or len(weights) != len(edges) - 1:
            raise MalformedHeader(f"{where}: need n+1 cell_edges for n cell_weights, n >= 1")
        if any(b <= a for a, b in zip(edges, edges[1:])):
            raise MalformedHeader(f"{where}.cell_edges must increase strictly")
        if integral and any(e != math.floor(e) for e in edges):
            raise MalformedHeader(f"{where}.cell_edges of this column must be integers")
        lo, hi = span
        if not (lo <= edges[0] * scale and edges[-1] * scale <= hi):
            raise MalformedHeader(f"{where}.cell_edges must lie in [{lo:g}, {hi:g}]"
                                  + (f" after scaling by {scale:g}" if scale != 1 else ""))
        if any(not 0 <= w <= MAX_WEIGHT for w in weights):
            raise MalformedHeader(f"{where}.cell_weights must lie in [0, 2**53]")
        if (not starts or any(isinstance(s, bool) or not isinstance(s, int) for s in starts)
                or starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:]))
                or starts[-1] >= len(weights)):
            raise MalformedHeader(
                f"{where}.bin_starts must be increasing cell indices starting at 0"
            )
        return cls(tuple(edges), tuple(weights), tuple(starts))


def _floats(fields: Fields, key: str) -> list[float]:
    values = fields.array(key)
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
        raise MalformedHeader(f"{fields.path(key)} must hold numbers")
    return [float(v) for v in values]


@dataclasses.dataclass(frozen=True)
class Column:
    """One output column.

    Attributes:
      name: column name as in the source table.
      kind: categorical, numeric, datetime or id.
      value_type: string/boolean/integer (categorical), integer/float
        (numeric), integer/string (id); "datetime" for datetimes.
      nullable: whether the column has a null token (may produce nulls).
      metadata: "public" if everything below was declared by the user,
        "dp" if any of it was derived from the data with DP, "exact" if it was
        read from the data without privacy (only in non-DP bundles).
      categories: categorical values, in token order.
      rare_label: categorical only: the label of the token standing for all
        values too rare to be released, or None when there is no such token.
      decimals: numeric only: values are rounded to this many decimals.
      grid: numeric and datetime only.
      unit: datetime only: resolution of the epoch integers (D, s, ms, us).
      format: datetime only: strftime format for text output, or None for ISO.
      timezone: datetime only (units s, ms, us): the values are instants
        counted from UTC, presented in this zone; None for wall-clock times.
      style, pattern: id only: how fresh identifiers are made.
      filler: categorical string columns with a rare token only (1.1): a
        template in the id pattern grammar; the rare token then decodes to
        a fresh string of that shape in each row instead of ``rare_label``.
        Such a column is a *text* column (``kind = "text"`` in schema files).
    """

    name: str
    kind: str
    value_type: str
    nullable: bool = False
    metadata: str = "dp"
    categories: tuple[Any, ...] = ()
    rare_label: str | None = None
    decimals: int = 0
    grid: Grid | None = None
    unit: str | None = None
    format: str | None = None
    timezone: str | None = None
    style: str | None = None
    pattern: str | None = None
    filler: str | None = None

    @property
    def modelled(self) -> bool:
        return self.kind != "id"

    @property
    def num_tokens(self) -> int:
        if self.kind == "categorical":
            base = len(self.categories) + (self.rare_label is not None)
        elif self.kind in ("numeric", "datetime"):
            base = self.grid.num_bins
        else:
            return 0
        return base + self.nullable

    @property
    def null_token(self) -> int | None:
        return self.num_tokens - 1 if self.nullable and self.modelled else None

    @property
    def rare_token(self) -> int | None:
        if self.kind == "categorical" and self.rare_label is not None:
            return len(self.categories)
        return None

    def to_plain(self) -> dict[str, Any]:
        plain: dict[str, Any] = {
            "kind": self.kind,
            "metadata": self.metadata,
            "name": self.name,
            "nullable": self.nullable,
            "value_type": self.value_type,
        }
        if self.kind == "categorical":
            plain["categories"] = list(self.categories)
            plain["rare_label"] = self.rare_label
            if self.filler is not None:  # absent in 1.0 bundles: keep them byte-equal
                plain["filler"] = self.filler
        if self.kind == "numeric":
            plain["decimals"] = self.decimals
        if self.kind in ("numeric", "datetime"):
            plain.update(self.grid.to_plain())
        if self.kind == "datetime":
            plain["unit"] = self.unit
            plain["format"] = self.format
            if self.timezone is not None:  # absent in 1.0 bundles: keep them byte-equal
                plain["timezone"] = self.timezone
        if self.kind == "id":
            plain["style"] = self.style
            plain["pattern"] = self.pattern
        return plain

    @classmethod
    def from_plain(cls, fields: Fields) -> Column:
        """Read one column map (HZG.md, "Column schema").

        The common keys come first, then the keys of the column's kind; a
        new column key of a later format version is read in the kind's
        block below and described in the same section of the spec.
        """
        name = fields.string("name", min_len=1, max_len=NAME_CHARS)
        kind = fields.string("kind", choices=KINDS)
        value_type = fields.string("value_type", choices=VALUE_TYPES[kind])
        nullable = fields.boolean("nullable")
        metadata = fields.string("metadata", choices=METADATA_ORIGINS)
        extra: dict[str, Any] = {}
        if kind == "categorical":
            extra["categories"] = tuple(_categories(fields, value_type))
            extra["rare_label"] = fields.string("rare_label", nullable=True,
                                                max_len=NAME_CHARS)
            if extra["rare_label"] is not None and value_type != "string":
                raise MalformedHeader(f"{fields.path('rare_label')} is only for string columns")
            filler = fields.string("filler", None, pattern=_ID_PATTERN)
            if filler is not None:
                if extra["rare_label"] is None:
                    raise MalformedHeader(f"{fields.path('filler')} needs a rare token: "
                                          "it is what the rare token decodes to")
                _check_units(fields, "filler", filler)
            extra["filler"] = filler
        if kind == "numeric":
            decimals = fields.integer("decimals", minimum=_DECIMALS.start,
                                      maximum=_DECIMALS.stop - 1)
            if value_type == "integer" and decimals > 0:
                raise MalformedHeader(f"{fields.path('decimals')} must be <= 0 for integers")
            extra["decimals"] = decimals
            scale = 10.0 ** decimals if value_type == "float" else 1.0
            extra["grid"] = Grid.from_fields(fields, span=(-MAX_TICK, MAX_TICK),
                                             integral=value_type == "integer", scale=scale)
        if kind == "datetime":
            unit = fields.string("unit", choices=DATETIME_UNITS)
            extra["unit"] = unit
            extra["format"] = fields.string("format", nullable=True, min_len=1,
                                            max_len=FORMAT_CHARS)
            zone = fields.string("timezone", None, max_len=TIMEZONE_CHARS, pattern=TIMEZONE)
            if zone is not None and unit == "D":
                raise MalformedHeader(f"{fields.path('timezone')} needs a unit of s, ms or us: "
                                      "days are dates, not instants")
            extra["timezone"] = zone
            extra["grid"] = Grid.from_fields(fields, span=DATETIME_SPAN[unit], integral=True)
        if kind == "id":
            style = fields.string("style", choices=ID_STYLES)
            pattern = fields.string("pattern", nullable=True, pattern=_ID_PATTERN)
            if (style == "pattern") != (pattern is not None):
                raise MalformedHeader(f"{fields.path('pattern')} is required by style 'pattern' only")
            if pattern is not None:
                _check_units(fields, "pattern", pattern)
            if (style == "sequence") != (value_type == "integer"):
                raise MalformedHeader(f"{fields.path('style')}: integer ids use 'sequence'")
            if nullable:
                raise MalformedHeader(f"{fields.path('nullable')} must be false for id columns")
            extra["style"], extra["pattern"] = style, pattern
        fields.done()
        column = cls(name, kind, value_type, nullable, metadata, **extra)
        if column.modelled and column.num_tokens < 1:
            raise MalformedHeader(f"column {name!r} has no tokens")
        return column


def pattern_units(template: str) -> int:
    """Units of an id pattern or filler template (``\\c`` counts as one)."""
    return len(_ID_UNIT.findall(template))


def _check_units(fields: Fields, key: str, template: str) -> None:
    if pattern_units(template) > PATTERN_UNITS:
        raise MalformedHeader(f"{fields.path(key)} is longer than {PATTERN_UNITS} units")


def _categories(fields: Fields, value_type: str) -> list[Any]:
    values = fields.array("categories")
    where = fields.path("categories")
    kinds = set(map(type, values))
    expected = {"string": str, "boolean": bool, "integer": int}[value_type]
    if not kinds <= {expected}:
        raise MalformedHeader(f"{where} must all be {value_type} values")
    if value_type == "integer" and values and not (
            INT64[0] <= min(values) and max(values) <= INT64[1]):
        raise MalformedHeader(f"{where} must be 64-bit signed integers")
    if value_type == "string" and values and max(map(len, values)) > LABEL_CHARS:
        raise MalformedHeader(f"{where} holds a label longer than {LABEL_CHARS} characters")
    if len(set(values)) != len(values):
        raise MalformedHeader(f"{where} holds a value twice")
    return values


@dataclasses.dataclass(frozen=True)
class Schema:
    """The ordered output columns and the (DP) number of training rows.

    Attributes:
      columns: output columns in order; modelled columns appear in the
        model in the same relative order.
      rows: the noisy number of training rows, or None if not released.
    """

    columns: tuple[Column, ...]
    rows: int | None = None

    @property
    def modelled(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.modelled)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def to_plain(self) -> dict[str, Any]:
        return {"columns": [c.to_plain() for c in self.columns], "rows": self.rows}

    @classmethod
    def from_plain(cls, plain: Any, *, strict: bool = True,
                   limits: Limits = DEFAULT_LIMITS) -> Schema:
        check_schema_limits(plain, limits)
        fields = Fields(plain, "header.schema", strict=strict)
        raw_columns = fields.array("columns")
        columns = tuple(
            Column.from_plain(Fields(c, f"header.schema.columns[{i}]", strict=strict))
            for i, c in enumerate(raw_columns)
        )
        rows = fields.integer("rows", nullable=True, minimum=0, maximum=INT64[1])
        fields.done()
        if not columns:
            raise MalformedHeader("header.schema.columns is empty")
        names = [c.name for c in columns]
        if len(set(names)) != len(names):
            raise MalformedHeader("header.schema.columns has two columns with one name")
        if not any(c.modelled for c in columns):
            raise MalformedHeader("header.schema has no modelled column")
        return cls(columns, rows)


def check_schema_limits(plain: Any, limits: Limits) -> None:
    """The schema's cost limits, checked before anything else in it.

    Only arrays are counted; what is not an array is left for the schema
    checks to refuse (HZG.md, "Limits": cost limits come first).
    """
    if not isinstance(plain, dict) or not isinstance(plain.get("columns"), list):
        return
    columns = plain["columns"]
    if len(columns) > limits.max_columns:
        raise LimitExceeded(f"header.schema has {len(columns)} columns, above the limit "
                            f"{limits.max_columns}")
    for i, column in enumerate(columns):
        if not isinstance(column, dict):
            continue
        for key, limit in (("categories", limits.max_categories),
                           ("cell_weights", limits.max_cells)):
            value = column.get(key)
            if isinstance(value, list) and len(value) > limit:
                raise LimitExceeded(f"header.schema.columns[{i}].{key} has {len(value)} "
                                    f"entries, above the limit {limit}")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a column name in a bundle, or None if it can.

    The trainer asks before training, so a table whose names a reader
    would refuse is refused up front, with the reason.
    """
    if not isinstance(name, str) or not name:
        return "a column name must be a non-empty string"
    if len(name) > NAME_CHARS:
        return f"column name {name[:40]!r}... is longer than {NAME_CHARS} characters"
    if CONTROL_CHARACTERS.search(name):
        return f"column name {name!r} holds a control character (tab, newline, ...)"
    if len(name.encode("utf-8", "surrogatepass")) > DEFAULT_LIMITS.max_string_bytes:
        return f"column name {name[:40]!r}... is too long"
    return None


def storable_category(value: Any, value_type: str) -> bool:
    """Whether ``value`` can be released as a category of a ``value_type`` column.

    Strings longer than the label limit or holding control characters, and
    integers outside int64, cannot be written: the trainer treats them as
    rare. The rule depends on the value alone, never on the data around it.
    """
    if value_type == "string":
        return (isinstance(value, str) and len(value) <= LABEL_CHARS
                and not CONTROL_CHARACTERS.search(value))
    if value_type == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)
                and INT64[0] <= value <= INT64[1])
    return isinstance(value, bool)
