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

from provisioner.bundle.fields import Fields
from provisioner.errors import MalformedHeader

KINDS = ("categorical", "numeric", "datetime", "id")
METADATA_ORIGINS = ("public", "dp", "exact")
DATETIME_UNITS = ("D", "s", "ms", "us")
ID_STYLES = ("sequence", "pattern", "uuid")
_NAME_MAX = 256
_DECIMALS = range(-15, 16)
# pattern alphabet for id columns: 9 digit, A upper, a lower, x hex; \ escapes
_ID_PATTERN = re.compile(r"^(?:[^\\]|\\.){1,128}$")


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
    def from_fields(cls, fields: Fields, integral: bool) -> Grid:
        edges = _floats(fields, "cell_edges")
        weights = _floats(fields, "cell_weights")
        starts = fields.array("bin_starts")
        where = fields.where
        if len(edges) < 2 or len(weights) != len(edges) - 1:
            raise MalformedHeader(f"{where}: need n+1 cell_edges for n cell_weights, n >= 1")
        if any(b <= a for a, b in zip(edges, edges[1:])):
            raise MalformedHeader(f"{where}.cell_edges must increase strictly")
        if integral and any(e != math.floor(e) or abs(e) > 2**62 for e in edges):
            raise MalformedHeader(f"{where}.cell_edges of an integer column must be integers")
        if any(w < 0 for w in weights):
            raise MalformedHeader(f"{where}.cell_weights must be >= 0")
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
      style, pattern: id only: how fresh identifiers are made.
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
    style: str | None = None
    pattern: str | None = None

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
        if self.kind == "numeric":
            plain["decimals"] = self.decimals
        if self.kind in ("numeric", "datetime"):
            plain.update(self.grid.to_plain())
        if self.kind == "datetime":
            plain["unit"] = self.unit
            plain["format"] = self.format
        if self.kind == "id":
            plain["style"] = self.style
            plain["pattern"] = self.pattern
        return plain

    @classmethod
    def from_plain(cls, fields: Fields) -> Column:
        name = fields.string("name", max_len=_NAME_MAX)
        kind = fields.string("kind")
        if kind not in KINDS:
            raise MalformedHeader(f"{fields.path('kind')}={kind!r}; expected one of {KINDS}")
        value_type = fields.string("value_type")
        nullable = fields.boolean("nullable")
        metadata = fields.string("metadata")
        if metadata not in METADATA_ORIGINS:
            raise MalformedHeader(
                f"{fields.path('metadata')} must be one of {METADATA_ORIGINS}")
        extra: dict[str, Any] = {}
        allowed_types = {
            "categorical": ("string", "boolean", "integer"),
            "numeric": ("integer", "float"),
            "datetime": ("datetime",),
            "id": ("integer", "string"),
        }[kind]
        if value_type not in allowed_types:
            raise MalformedHeader(
                f"{fields.path('value_type')}={value_type!r}; {kind} columns take {allowed_types}"
            )
        if kind == "categorical":
            extra["categories"] = tuple(_categories(fields, value_type))
            extra["rare_label"] = fields.string("rare_label", nullable=True, max_len=_NAME_MAX)
            if extra["rare_label"] is not None and value_type != "string":
                raise MalformedHeader(f"{fields.path('rare_label')} is only for string columns")
        if kind == "numeric":
            extra["decimals"] = fields.integer("decimals", minimum=_DECIMALS.start,
                                               maximum=_DECIMALS.stop - 1)
            if value_type == "integer" and extra["decimals"] > 0:
                raise MalformedHeader(f"{fields.path('decimals')} must be <= 0 for integers")
        if kind in ("numeric", "datetime"):
            integral = value_type in ("integer", "datetime")
            extra["grid"] = Grid.from_fields(fields, integral)
        if kind == "datetime":
            extra["unit"] = fields.string("unit")
            if extra["unit"] not in DATETIME_UNITS:
                raise MalformedHeader(f"{fields.path('unit')} must be one of {DATETIME_UNITS}")
            extra["format"] = fields.string("format", nullable=True, max_len=64)
        if kind == "id":
            extra["style"] = fields.string("style")
            extra["pattern"] = fields.string("pattern", nullable=True, pattern=_ID_PATTERN)
            if extra["style"] not in ID_STYLES:
                raise MalformedHeader(f"{fields.path('style')} must be one of {ID_STYLES}")
            if (extra["style"] == "pattern") != (extra["pattern"] is not None):
                raise MalformedHeader(f"{fields.path('pattern')} is required by style 'pattern' only")
            if (extra["style"] == "sequence") != (value_type == "integer"):
                raise MalformedHeader(f"{fields.path('style')}: integer ids use 'sequence'")
            if nullable:
                raise MalformedHeader(f"{fields.path('nullable')} must be false for id columns")
        fields.done()
        column = cls(name, kind, value_type, nullable, metadata, **extra)
        if column.modelled and column.num_tokens < 1:
            raise MalformedHeader(f"column {name!r} has no tokens")
        return column


def _categories(fields: Fields, value_type: str) -> list[Any]:
    values = fields.array("categories")
    check = {
        "string": lambda v: isinstance(v, str),
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    }[value_type]
    if not all(check(v) for v in values):
        raise MalformedHeader(f"{fields.path('categories')} must all be {value_type} values")
    if len(set(values)) != len(values):
        raise MalformedHeader(f"{fields.path('categories')} holds a value twice")
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
    def from_plain(cls, plain: Any, *, strict: bool = True) -> Schema:
        fields = Fields(plain, "header.schema", strict=strict)
        raw_columns = fields.array("columns")
        columns = tuple(
            Column.from_plain(Fields(c, f"header.schema.columns[{i}]", strict=strict))
            for i, c in enumerate(raw_columns)
        )
        rows = fields.integer("rows", nullable=True, minimum=0)
        fields.done()
        if not columns:
            raise MalformedHeader("header.schema.columns is empty")
        names = [c.name for c in columns]
        if len(set(names)) != len(names):
            raise MalformedHeader("header.schema.columns has two columns with one name")
        if not any(c.modelled for c in columns):
            raise MalformedHeader("header.schema has no modelled column")
        return cls(columns, rows)
