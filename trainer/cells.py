"""Cells one by one: the class of each cell, and its value under a chosen type.

Two jobs, both functions of a single cell (never of the other cells of its
column), so that one row can change only its own class and its own value:

- :func:`cell_classes` puts every cell of a column in exactly one class of a
  fixed list (:func:`class_names`, fixed by the column's storage type). The
  typing release counts these classes under DP (``trainer.releases.typing``);
  the type is then chosen from the noisy counts (``trainer.column_types``).
- :func:`parse_cells` reads every cell under the chosen type. A cell that is
  not exactly a value of that type *does not parse*: it is read as null and
  flagged, so that stage A can count such cells under DP.

Text classes: ``null``; ``boolean`` (true/false in any case); ``integer``;
``integer-leading-zero`` (``040``, a code rather than a number);
``decimal-integral`` (``3.0``, ``1e3``); ``decimal-fractional`` (``39.5``);
one class per supported datetime format (day/month and month/day slashes
share three: ``dmy``, ``mdy`` and ``dmy-or-mdy``); ``text-first``,
``prose-first`` and ``text-repeat`` (the first cell holding a value, split
by whether the value is *prose*: at least 8 characters with a space inside,
as titles, names and comments are; and the others: the first two count a
column's distinct values and the last the rest). Adding a row moves exactly
one count of each column by one: the first occurrence of a value is a
function of the multiset of cells, not of row order, and whether a value is
prose depends on the value alone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

__all__ = ("DATETIME_FORMATS", "ParsedCells", "cell_classes", "class_names",
           "decimals_of_floats", "format_unit", "parse_cells")

_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_BOOL = {"true": True, "false": False}
MAX_DECIMALS = 9

# strptime formats, most common first; %z takes Z, +01:00 and +0100
DATETIME_FORMATS = (
    "%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y",
    "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S.%f%z",
)
_DMY, _MDY = "%d/%m/%Y", "%m/%d/%Y"
_SHAPE = {"%Y": r"\d{4}", "%m": r"\d{1,2}", "%d": r"\d{1,2}", "%H": r"\d{1,2}",
          "%M": r"\d{2}", "%S": r"\d{2}", "%f": r"\d{1,6}", "%z": r"(?:Z|[+-]\d{2}:?\d{2})"}
_SHAPES = {}
for _fmt in DATETIME_FORMATS:
    _pattern = re.escape(_fmt)
    for _code, _regex in _SHAPE.items():
        _pattern = _pattern.replace(re.escape(_code), _regex)
    _SHAPES[_fmt] = re.compile(f"^{_pattern}$")

_TEXT_CLASSES = (
    "null", "boolean", "integer", "integer-leading-zero", "decimal-integral",
    "decimal-fractional",
    *(f"datetime {f}" for f in DATETIME_FORMATS if f not in (_DMY, _MDY)),
    "datetime dmy", "datetime mdy", "datetime dmy-or-mdy",
    "text-first", "prose-first", "text-repeat",
)
_STRING_CLASSES = ("null", "text-first", "prose-first", "text-repeat")
PROSE_CHARS = 8
_FLOAT_CLASSES = ("null", "integral", "fractional")
_DATETIME_CLASSES = ("null", "day", "second", "subsecond")
TICKS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000}


def class_names(storage: str) -> tuple[str, ...]:
    """The fixed list of cell classes of a column with this storage type.

    Empty for storage types that fix the value type by themselves (boolean,
    integer): such columns are not part of the typing release.
    """
    if storage in ("text", "category"):
        return _TEXT_CLASSES
    if storage == "string":
        return _STRING_CLASSES
    if storage == "float":
        return _FLOAT_CLASSES
    if storage == "datetime":
        return _DATETIME_CLASSES
    return ()


def format_unit(fmt: str) -> str:
    """Tick unit a datetime text format needs: days, seconds or microseconds."""
    if "%f" in fmt:
        return "us"
    return "s" if "%H" in fmt else "D"


# --- classes -----------------------------------------------------------------


def _text_class(text: str) -> str:
    s = text.strip()
    if s.lower() in _BOOL:
        return "boolean"
    if _INT.match(s):
        digits = s.lstrip("+-")
        return "integer-leading-zero" if len(digits) > 1 and digits[0] == "0" else "integer"
    if _FLOAT.match(s):
        value = float(s)
        if not np.isfinite(value):
            return "text"
        return "decimal-integral" if value.is_integer() else "decimal-fractional"
    dmy = mdy = False
    for fmt in DATETIME_FORMATS:
        if _SHAPES[fmt].match(s) and _strptime_ok(s, fmt):
            if fmt == _DMY:
                dmy = True
            elif fmt == _MDY:
                mdy = True
            else:
                return f"datetime {fmt}"
    if dmy or mdy:
        return "datetime dmy-or-mdy" if dmy and mdy else (
            "datetime dmy" if dmy else "datetime mdy")
    return "text"


def is_prose(text: str) -> bool:
    """At least PROSE_CHARS characters with a space inside (one value alone)."""
    s = text.strip()
    return len(s) >= PROSE_CHARS and any(ch.isspace() for ch in s)


def _strptime_ok(text: str, fmt: str) -> bool:
    try:
        dt.datetime.strptime(text, fmt)
        return True
    except ValueError:
        return False


def cell_classes(storage: str, cells: np.ndarray, null: np.ndarray,
                 unit: str | None = None) -> np.ndarray:
    """Counts of each class of :func:`class_names` over the column's cells.

    Privacy:
      A function of the multiset of cells; adding a row adds 1 to exactly
      one class (for text, the first cell with a value counts as
      ``text-first``, later ones as ``text-repeat``), so the count vector
      has L2 (and L1) sensitivity 1.
    """
    names = class_names(storage)
    index = {name: i for i, name in enumerate(names)}
    counts = np.zeros(len(names), dtype=np.float64)
    counts[0] = float(null.sum())
    present = ~null
    if storage in ("text", "category"):
        for value, count in Counter(cells[present].tolist()).items():
            kind = _text_class(value)
            if kind == "text":
                counts[index["prose-first" if is_prose(value) else "text-first"]] += 1
                counts[index["text-repeat"]] += count - 1
            else:
                counts[index[kind]] += count
    elif storage == "string":
        distinct = set(cells[present].tolist())
        prose = sum(1 for value in distinct if is_prose(str(value)))
        counts[1:] = [len(distinct) - prose, prose, int(present.sum()) - len(distinct)]
    elif storage == "float":
        values = cells[present]
        integral = np.isfinite(values) & (values == np.round(values))
        counts[index["integral"]] = float(integral.sum())
        counts[index["fractional"]] = float((~integral).sum())
    elif storage == "datetime":
        # whole days, whole seconds, finer: the coarsest unit that holds a cell
        ticks = cells[present].astype(np.int64)
        per_second = TICKS_PER_SECOND[unit]
        whole_second = ticks % per_second == 0
        whole_day = whole_second & ((ticks // per_second) % 86_400 == 0)
        counts[1:] = [whole_day.sum(), (whole_second & ~whole_day).sum(), (~whole_second).sum()]
    return counts


# --- parsing -----------------------------------------------------------------


@dataclasses.dataclass
class ParsedCells:
    """Values of one column under its type, one cell at a time.

    Attributes:
      values: kind-specific array (see ``trainer.column_types.TypedColumn``).
      null: null in the source, or did not parse.
      unparsed: not null in the source, but not a value of the type.
      decimals: float columns: decimal places of each value as written
        (-1 for null); None otherwise.
    """

    values: np.ndarray
    null: np.ndarray
    unparsed: np.ndarray
    decimals: np.ndarray | None = None


def parse_cells(storage: str, cells: np.ndarray, null: np.ndarray, value_type: str,
                *, kind: str, fmt: str | None = None, unit: str | None = None,
                storage_unit: str | None = None) -> ParsedCells:
    """Read every cell under ``(kind, value_type)``; each cell on its own.

    Args:
      storage: the column's storage type (see ``trainer.load``).
      cells, null: the column as read.
      value_type: string, boolean, integer, float or datetime.
      kind: categorical, numeric, datetime or id.
      fmt: datetime text format (text storage).
      unit: datetime tick unit of the result; coarser than a cell's
        precision truncates (a declared unit is the owner's resolution).
      storage_unit: datetime storage: the unit of ``cells``.
    """
    n = len(cells)
    if storage in ("text", "string", "category"):
        return _parse_text(cells, null, value_type, kind=kind, fmt=fmt, unit=unit)
    unparsed = np.zeros(n, dtype=bool)
    if storage == "datetime":
        if value_type != "datetime":
            return _parse_text(_as_text(storage, cells, null, storage_unit), null, value_type,
                               kind=kind, fmt=fmt, unit=unit)
        ticks = _convert_ticks(cells, storage_unit, unit)
        return ParsedCells(np.where(null, 0, ticks), null.copy(), unparsed)
    if storage == "boolean":
        if value_type == "boolean":
            return ParsedCells(cells.copy(), null.copy(), unparsed)
        return _parse_text(_as_text(storage, cells, null), null, value_type, kind=kind,
                           fmt=fmt, unit=unit)
    # integer and float storage
    values = cells.astype(np.float64)
    if kind == "numeric":
        if value_type == "integer":
            bad = ~null & ~(np.isfinite(values) & (values == np.round(values)))
            out_null = null | bad
            return ParsedCells(np.where(out_null, np.nan, values), out_null, bad)
        bad = ~null & ~np.isfinite(values)
        out_null = null | bad
        decimals = decimals_of_floats(np.where(out_null, np.nan, values))
        return ParsedCells(np.where(out_null, np.nan, values), out_null, bad, decimals)
    return _parse_text(_as_text(storage, cells, null), null, value_type, kind=kind, fmt=fmt,
                       unit=unit)


def _as_text(storage: str, cells: np.ndarray, null: np.ndarray,
             unit: str | None = None) -> np.ndarray:
    """Typed storage as text cells, for a declared type that needs text."""
    out = np.empty(len(cells), dtype=object)
    for i, (value, is_null) in enumerate(zip(cells.tolist(), null.tolist())):
        if is_null:
            out[i] = None
        elif storage == "boolean":
            out[i] = "true" if value else "false"
        elif storage == "integer":
            out[i] = str(int(value))
        elif storage == "float":
            out[i] = repr(float(value)) if not float(value).is_integer() else str(int(value))
        else:
            out[i] = str(np.datetime64(int(value), unit))
    return out


def _convert_ticks(ticks: np.ndarray, source: str | None, target: str | None) -> np.ndarray:
    if target is None or target == source:
        return ticks.astype(np.int64)
    stamps = ticks.astype(np.int64).astype(f"datetime64[{source}]")
    return stamps.astype(f"datetime64[{target}]").astype(np.int64)


def _parse_text(cells: np.ndarray, null: np.ndarray, value_type: str, *, kind: str,
                fmt: str | None, unit: str | None) -> ParsedCells:
    n = len(cells)
    present = ~null
    unique = list(set(cells[present].tolist()))
    parse = _text_parser(value_type, kind, fmt, unit, unique)
    table = {u: parse(u) for u in unique} if not isinstance(parse, dict) else parse
    bad = np.zeros(n, dtype=bool)
    decimals = None
    if value_type == "float":
        decimals = np.full(n, -1, dtype=np.int64)
    if kind == "numeric":
        values = np.full(n, np.nan)
    elif kind == "datetime":
        values = np.zeros(n, dtype=np.int64)
    else:
        values = np.empty(n, dtype=object)
        values[:] = None
    for i in np.flatnonzero(present):
        parsed = table[cells[i]]
        if parsed is None:
            bad[i] = True
            continue
        values[i] = parsed
        if decimals is not None:
            decimals[i] = _decimals_of_text(cells[i].strip())
    out_null = null | bad
    return ParsedCells(values, out_null, bad, decimals)


def _text_parser(value_type: str, kind: str, fmt: str | None, unit: str | None,
                 unique: Sequence[str]):
    """A function text -> value (None: does not parse), or a ready dict."""
    if kind in ("categorical", "text", "id") and value_type == "string":
        return lambda s: s
    if value_type == "boolean":
        return lambda s: _BOOL.get(s.strip().lower())
    if value_type == "integer":
        def integer(s: str):
            t = s.strip()
            if _INT.match(t):
                return int(t) if kind != "numeric" else float(int(t))
            if _FLOAT.match(t):
                v = float(t)
                if np.isfinite(v) and v.is_integer() and abs(v) < 2**63:
                    return int(v) if kind != "numeric" else v
            return None
        return integer
    if value_type == "float":
        def number(s: str):
            t = s.strip()
            if not _FLOAT.match(t):
                return None
            v = float(t)
            return v if np.isfinite(v) else None
        return number
    if value_type == "datetime":
        return _datetime_table(unique, fmt, unit)
    raise ValueError(f"no parser for {kind}/{value_type}")


def _datetime_table(unique: Sequence[str], fmt: str | None, unit: str | None) -> dict:
    import pandas as pd

    if fmt is None:
        raise ValueError("a datetime text column needs a format")
    unit = unit or format_unit(fmt)
    stripped = pd.Series([u.strip() for u in unique], dtype=object)
    if "%z" in fmt:
        parsed = pd.to_datetime(stripped, format=fmt, errors="coerce", utc=True)
        parsed = parsed.dt.tz_localize(None)
    else:
        parsed = pd.to_datetime(stripped, format=fmt, errors="coerce")
    ok = parsed.notna().to_numpy()
    ticks = parsed.to_numpy().astype(f"datetime64[{unit}]").astype(np.int64)
    return {u: (int(t) if good else None) for u, t, good in zip(unique, ticks, ok)}


def _decimals_of_text(text: str) -> int:
    mantissa, _, exponent = text.lower().partition("e")
    digits = len(mantissa.partition(".")[2].rstrip("0"))
    places = digits - (int(exponent) if exponent else 0)
    return int(min(max(places, 0), MAX_DECIMALS))


def decimals_of_floats(values: np.ndarray) -> np.ndarray:
    """Fewest decimal places (up to 9) that represent each float; -1 for NaN."""
    out = np.full(len(values), MAX_DECIMALS, dtype=np.int64)
    finite = np.isfinite(values)
    scale = np.maximum(1.0, np.abs(values))
    for places in range(MAX_DECIMALS, -1, -1):
        exact = np.abs(np.round(values, places) - values) <= 1e-9 * scale
        out[finite & exact] = places
    out[~finite] = -1
    return out
