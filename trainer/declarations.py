"""Schema files: what the data owner declares public about each column.

A schema file is TOML or JSON with one entry per column::

    [columns.age]
    kind = "numeric"
    bounds = [17, 90]        # public range: no budget spent finding it
    decimals = 0
    nullable = false

    [columns.workclass]
    kind = "categorical"
    categories = ["Private", "Self-emp-not-inc", "Local-gov"]
    rare = true              # other values may occur: keep a rare token
    nullable = true

    [columns.title]
    kind = "text"            # free text: frequent values kept, others get fillers
    pattern = "AA-9999"      # optional: the fillers' public shape

    [columns.education-num]
    determined_by = "education"   # a function of education: generated from it

    [columns.education-num.mapping]   # optional: the function itself (a
    Bachelors = 13                    # published code table), for each of the
    HS-grad = 9                       # source's declared categories; else it
                                      # is learned under DP, which at a small
                                      # budget can miss values few rows hold

    [columns.ssn]
    drop = true

Anything declared here is not derived from the data: by declaring it the
owner asserts it reveals nothing about individuals (published code lists,
legal ranges), and no budget is spent finding it. A declared category list
is still counted (noisy counts, no partition selection), because those
counts are what calibrates the column's marginal. Anything left out is
derived from the data with DP. ``hzg schema`` drafts such a file for review.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from provisioner._files import TEXT_FILE_LIMIT, read_capped
from provisioner.errors import SchemaFileError
from provisioner.schema import DATETIME_UNITS

KINDS = ("categorical", "text", "numeric", "datetime", "id")
VALUE_TYPES = {
    "categorical": ("string", "boolean", "integer"),
    "text": ("string",),
    "numeric": ("integer", "float"),
    "datetime": ("datetime",),
    "id": ("integer", "string"),
}
_KEYS = {"kind", "drop", "categories", "rare", "nullable", "bounds", "decimals", "edges",
         "unit", "format", "pattern", "value_type", "determined_by", "mapping"}


@dataclasses.dataclass(frozen=True)
class ColumnDeclaration:
    """Public facts about one column; None means "derive it with DP"."""

    name: str
    kind: str | None = None
    drop: bool = False
    value_type: str | None = None
    categories: tuple[Any, ...] | None = None
    rare: bool | None = None
    nullable: bool | None = None
    bounds: tuple[float, float] | None = None
    decimals: int | None = None
    edges: tuple[float, ...] | None = None
    unit: str | None = None
    format: str | None = None
    pattern: str | None = None
    determined_by: str | None = None  # a functional dependency: source column
    # the dependency's values: (source category, dependent value) pairs
    mapping: tuple[tuple[Any, Any], ...] | None = None


@dataclasses.dataclass(frozen=True)
class Declarations:
    """The owner's public declarations, read from a schema file.

    Attributes:
      columns: declarations by column name.
      source: where they came from (for messages).
    """

    columns: dict[str, ColumnDeclaration]
    source: str = "schema"

    @classmethod
    def empty(cls) -> Declarations:
        return cls({}, "no schema file")

    @classmethod
    def load(cls, path: str | Path) -> Declarations:
        path = Path(path)
        data = read_capped(path, limit=TEXT_FILE_LIMIT, what="schema file",
                           error=SchemaFileError)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SchemaFileError(f"cannot read schema file {path}: {exc}") from None
        try:
            plain = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SchemaFileError(f"schema file {path} does not parse: {exc}") from None
        return cls.from_plain(plain, str(path))

    @classmethod
    def from_plain(cls, plain: Any, source: str = "schema") -> Declarations:
        if not isinstance(plain, dict) or set(plain) - {"columns"}:
            raise SchemaFileError(f"{source}: expected a single table 'columns'")
        columns = plain.get("columns", {})
        if not isinstance(columns, dict):
            raise SchemaFileError(f"{source}: 'columns' must map column names to settings")
        problems: list[str] = []
        parsed: dict[str, ColumnDeclaration] = {}
        for name, entry in columns.items():
            try:
                parsed[name] = _column(name, entry)
            except SchemaFileError as exc:
                problems.append(str(exc))
        if problems:
            raise SchemaFileError(f"{source}: " + "; ".join(problems))
        return cls(parsed, source)

    def get(self, name: str) -> ColumnDeclaration:
        return self.columns.get(name, ColumnDeclaration(name))

    @property
    def dropped(self) -> list[str]:
        return [name for name, c in self.columns.items() if c.drop]

    @property
    def kinds(self) -> dict[str, str]:
        return {name: c.kind for name, c in self.columns.items() if c.kind and not c.drop}

    def check_columns(self, table_columns: Iterable[str]) -> None:
        table_columns = list(table_columns)
        missing = sorted(set(self.columns) - set(table_columns))
        if missing:
            raise SchemaFileError(
                f"{self.source} names column(s) {missing} that the table does not have"
            )
        for name, column in self.columns.items():
            source = column.determined_by
            if source is None:
                continue
            if source not in table_columns or self.get(source).drop:
                raise SchemaFileError(
                    f"{self.source}: column {name!r} is determined_by {source!r}, which "
                    "the table does not have")
            if table_columns.index(source) > table_columns.index(name):
                raise SchemaFileError(
                    f"{self.source}: column {name!r} is determined_by {source!r}, which "
                    "comes after it; put the source column first in the table")
            if column.mapping is not None:
                self._check_mapping(name, column)

    def _check_mapping(self, name: str, column: ColumnDeclaration) -> None:
        """A declared mapping covers exactly the source's closed category list."""
        source = self.get(column.determined_by)
        where = f"{self.source}: column {name!r}"
        if source.categories is None or source.rare is not False:
            raise SchemaFileError(
                f"{where} declares a mapping: declare the categories of "
                f"{column.determined_by!r} with rare = false, so that every value has one")
        keys = {str(k) for k, _ in column.mapping}
        categories = {str(c) for c in source.categories}
        if keys != categories:
            raise SchemaFileError(
                f"{where}: mapping must give a value for each of the {len(categories)} "
                f"categories of {column.determined_by!r}, and for nothing else "
                f"({len(categories - keys)} missing, {len(keys - categories)} unknown)")
        if column.categories is not None:
            allowed = {str(c) for c in column.categories}
            if any(str(v) not in allowed for _, v in column.mapping):
                raise SchemaFileError(f"{where}: mapping gives values outside its categories")
        if column.categories is None and column.bounds is None and column.edges is None:
            raise SchemaFileError(
                f"{where} declares a mapping: declare its categories, or its bounds, so "
                "that every value the mapping gives is in its range")
        if column.bounds is not None:
            lo, hi = column.bounds
            if any(not (_is_number(v) and lo <= v <= hi) for _, v in column.mapping):
                raise SchemaFileError(f"{where}: mapping gives values outside its bounds")


def _column(name: str, entry: Any) -> ColumnDeclaration:
    where = f"column {name!r}"
    if not isinstance(entry, dict):
        raise SchemaFileError(f"{where} must be a table of settings")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise SchemaFileError(f"{where} has unknown setting(s) {unknown}")
    if entry.get("drop"):
        if set(entry) - {"drop"}:
            raise SchemaFileError(f"{where}: a dropped column takes no other settings")
        return ColumnDeclaration(name, drop=True)
    kind = entry.get("kind")
    if kind is not None and kind not in KINDS:
        raise SchemaFileError(f"{where}: kind must be one of {KINDS}, not {kind!r}")
    fields: dict[str, Any] = {"kind": kind}
    if "categories" in entry:
        cats = entry["categories"]
        if not isinstance(cats, list) or not cats or len(set(map(repr, cats))) != len(cats):
            raise SchemaFileError(f"{where}: categories must be a non-empty list without repeats")
        fields["categories"] = tuple(cats)
    for key in ("rare", "nullable"):
        if key in entry:
            if not isinstance(entry[key], bool):
                raise SchemaFileError(f"{where}: {key} must be true or false")
            fields[key] = entry[key]
    if "bounds" in entry:
        bounds = entry["bounds"]
        if (not isinstance(bounds, list) or len(bounds) != 2
                or not all(_is_number(b) for b in bounds) or not bounds[0] < bounds[1]):
            raise SchemaFileError(f"{where}: bounds must be [low, high] with low < high")
        fields["bounds"] = (float(bounds[0]), float(bounds[1]))
    if "decimals" in entry:
        if not isinstance(entry["decimals"], int) or not -15 <= entry["decimals"] <= 15:
            raise SchemaFileError(f"{where}: decimals must be an integer in -15..15")
        fields["decimals"] = entry["decimals"]
    if "edges" in entry:
        edges = entry["edges"]
        if (not isinstance(edges, list) or len(edges) < 2
                or not all(_is_number(e) for e in edges)
                or any(b <= a for a, b in zip(edges, edges[1:]))):
            raise SchemaFileError(f"{where}: edges must be at least 2 increasing numbers")
        fields["edges"] = tuple(float(e) for e in edges)
    if "unit" in entry:
        if entry["unit"] not in DATETIME_UNITS:
            raise SchemaFileError(f"{where}: unit must be one of {DATETIME_UNITS}")
        fields["unit"] = entry["unit"]
    for key in ("format", "pattern", "value_type", "determined_by"):
        if key in entry:
            if not isinstance(entry[key], str):
                raise SchemaFileError(f"{where}: {key} must be a string")
            fields[key] = entry[key]
    value_type = fields.get("value_type")
    if value_type is not None:
        allowed = VALUE_TYPES.get(kind, tuple(sorted({v for t in VALUE_TYPES.values()
                                                      for v in t})))
        if value_type not in allowed:
            raise SchemaFileError(f"{where}: value_type must be one of {allowed}")
    if "format" in fields and not _round_trips(fields["format"]):
        raise SchemaFileError(f"{where}: format must be a strftime format that reads back "
                              "what it writes, e.g. \"%d/%m/%Y\"")
    if fields.get("determined_by") == name:
        raise SchemaFileError(f"{where}: a column cannot be determined_by itself")
    if "mapping" in entry:
        mapping = entry["mapping"]
        if "determined_by" not in fields:
            raise SchemaFileError(f"{where}: mapping needs determined_by (its source column)")
        if (not isinstance(mapping, dict) or not mapping
                or not all(isinstance(v, str) or _is_number(v) for v in mapping.values())):
            raise SchemaFileError(f"{where}: mapping must be a table of source value = "
                                  "dependent value (numbers or strings)")
        fields["mapping"] = tuple(mapping.items())
    return ColumnDeclaration(name, **fields)


def _round_trips(fmt: str) -> bool:
    import datetime as dt

    if "%" not in fmt:
        return False
    text = dt.datetime(2021, 11, 23, 13, 45, 56, 123456).strftime(fmt)
    try:
        return dt.datetime.strptime(text, fmt).strftime(fmt) == text
    except ValueError:
        return False


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# --- drafting (hzg schema) ---------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(type(value))


def draft_schema(table: Any, *, with_values: bool = False) -> str:
    """A TOML schema for ``table`` (a TypedTable) for the owner to review."""
    import numpy as np

    lines = [
        "# HZG schema file drafted by `hzg schema`.",
        "# Kinds, value types and formats were read from the data EXACTLY (not with",
        "# DP), for you to check: once declared, training spends no budget on them.",
        "# Anything you keep below is declared PUBLIC and costs no privacy budget;",
        "# delete what you are not sure about, and HZG derives it with DP instead.",
    ]
    if with_values:
        lines.append("# WARNING: the values below (categories, bounds, nullability) were read")
        lines.append("# from your data without any privacy protection. Keep only those that")
        lines.append("# are truly public (published code lists, legal ranges).")
    for column in table.columns:
        lines.append("")
        lines.append(f"[columns.{json.dumps(column.name)}]")
        if _looks_like_free_text(column):
            lines.append("# most values are held by one row each (names, titles, comments):")
            lines.append("# as text, the frequent ones are kept and the rest get made-up strings")
            lines.append('kind = "text"')
            lines.append('value_type = "string"')
            continue
        lines.append(f"kind = {_toml_value(column.kind)}")
        lines.append(f"value_type = {_toml_value(column.value_type)}")
        if column.kind == "datetime" and column.format is not None:
            lines.append(f"format = {_toml_value(column.format)}")
        if column.kind == "datetime" and column.unit is not None:
            lines.append(f"unit = {_toml_value(column.unit)}")
        if not with_values:
            continue
        present = ~column.null
        lines.append(f"nullable = {_toml_value(bool(column.null.any()))}")
        if column.kind == "categorical":
            values = sorted({v for v in column.values[present]}, key=str)
            if len(values) <= 100:
                lines.append(f"categories = {_toml_value(values)}")
            else:
                lines.append(f"# {len(values)} distinct values: too many to list; "
                             "HZG keeps the frequent ones with DP")
        elif column.kind == "numeric":
            values = column.values[present]
            lines.append(f"bounds = {_toml_value([_plain(values.min()), _plain(values.max())])}")
            if column.decimals is not None:
                lines.append(f"decimals = {int(np.max(column.decimals[present]))}")
    return "\n".join(lines) + "\n"


def _looks_like_free_text(column: Any) -> bool:
    """For the draft (exact, like all of it): a string column whose values are
    mostly held by one row each, and, for one typed as an id, mostly contain
    a space (identifiers do not)."""
    from collections import Counter

    if column.value_type != "string" or column.kind not in ("categorical", "id"):
        return False
    values = [v for v in column.values[~column.null].tolist()]
    if not values:
        return False
    counts = Counter(values)
    singletons = sum(1 for v in values if counts[v] == 1)
    if singletons <= FREE_TEXT_SHARE * len(values):
        return False
    return column.kind == "categorical" or \
        sum(" " in v for v in values) > FREE_TEXT_SHARE * len(values)


FREE_TEXT_SHARE = 0.5


def _plain(value: Any) -> int | float:
    value = float(value)
    return int(value) if value.is_integer() else value
