"""Typed columns: the kind, value type and parsed values of each column.

Column kinds (categorical, numeric, datetime, id) describe the table's
*domain*, like a database schema. HZG infers them from the table as a
convenience, prints them, and treats them as public; declare them in a
schema file to make them independent of the data. Values, bounds and
category lists are never treated as public unless declared: they go through
DP mechanisms (``trainer.releases``).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import numpy as np

from provisioner.errors import InputDataError

__all__ = ("DATETIME_FORMATS", "TypedColumn", "TypedTable", "decimals_of_floats",
           "type_column")

_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_BOOL = {"true": True, "false": False}
DATETIME_FORMATS = (
    "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M", "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y",
    "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f",
)
MIN_ID_ROWS = 20
MAX_DECIMALS = 9


@dataclasses.dataclass
class TypedColumn:
    """One column with its kind and values in a kind-specific array.

    Attributes:
      name: column name.
      kind: categorical, numeric, datetime or id.
      value_type: string/boolean/integer, integer/float, datetime, or
        integer/string for ids.
      values: categorical and id: object array (None for null); numeric:
        float64 (NaN for null); datetime: int64 ticks of ``unit``.
      null: boolean mask of nulls.
      decimals: numeric floats: decimal places of each value as written
        (-1 for null); None otherwise.
      unit, format: datetime only: tick unit and the text format seen.
    """

    name: str
    kind: str
    value_type: str
    values: np.ndarray
    null: np.ndarray
    decimals: np.ndarray | None = None
    unit: str | None = None
    format: str | None = None

    def __len__(self) -> int:
        return len(self.null)


@dataclasses.dataclass
class TypedTable:
    columns: list[TypedColumn]
    source: str

    @property
    def num_rows(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> TypedColumn:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


# --- typing ------------------------------------------------------------------


def type_column(name: str, raw: Any, declared: str | None = None) -> TypedColumn:
    """Type one column from text cells (list) or a typed pandas Series."""
    if not isinstance(raw, list):
        return _type_series(name, raw, declared)
    cells = np.array(raw, dtype=object)
    null = np.array([c is None for c in raw], dtype=bool)
    present = [c for c in raw if c is not None]
    if not present:
        raise InputDataError(
            f"column {name!r} is empty (every cell is null): drop it or declare its kind"
        )
    stripped = [c.strip() for c in present]
    kind = declared or _infer_kind(name, stripped, null)
    if kind == "numeric":
        return _numeric_from_text(name, cells, null, stripped)
    if kind == "datetime":
        return _datetime_from_text(name, cells, null, stripped)
    if kind == "categorical":
        lowered = {s.lower() for s in stripped}
        if declared and all(_INT.match(s) for s in stripped) and not any(
                _leading_zero(s) for s in stripped):
            values = np.array([None if c is None else int(c) for c in raw], dtype=object)
            return TypedColumn(name, "categorical", "integer", values, null)
        if lowered <= set(_BOOL):
            values = np.array([None if c is None else _BOOL[c.strip().lower()] for c in raw],
                              dtype=object)
            return TypedColumn(name, "categorical", "boolean", values, null)
        return TypedColumn(name, "categorical", "string", cells, null)
    if kind == "id":
        if null.any():
            raise InputDataError(f"column {name!r} is declared an id but has nulls")
        if all(_INT.match(s) for s in stripped) and not any(_leading_zero(s) for s in stripped):
            return TypedColumn(name, "id", "integer", cells, null)
        return TypedColumn(name, "id", "string", cells, null)
    raise InputDataError(f"column {name!r}: unknown kind {kind!r}")


def _leading_zero(text: str) -> bool:
    digits = text.lstrip("+-")
    return len(digits) > 1 and digits[0] == "0" and digits[1] != "."


def _infer_kind(name: str, cells: list[str], null: np.ndarray) -> str:
    n = len(cells)
    ints = sum(1 for c in cells if _INT.match(c))
    numbers = sum(1 for c in cells if _FLOAT.match(c))
    unique = len(set(cells)) == n and not null.any() and n >= MIN_ID_ROWS
    if numbers == n and not any(_leading_zero(c) for c in cells):
        if ints == n and unique:
            values = [int(c) for c in cells]
            if max(values) - min(values) + 1 <= 2 * n:
                return "id"  # a near-contiguous unique integer: a row number
        return "numeric"
    if numbers and numbers >= n / 2 and numbers < n:
        example = next(c for c in cells if not _FLOAT.match(c))
        raise InputDataError(
            f"column {name!r} mixes numbers and text ({n - numbers} of {n} values are not "
            f"numbers, e.g. {example!r}): clean it, or declare it categorical in the schema"
        )
    if _datetime_format(cells) is not None:
        return "datetime"
    if unique:
        return "id"
    return "categorical"


def _numeric_from_text(name: str, cells: np.ndarray, null: np.ndarray,
                       present: list[str]) -> TypedColumn:
    bad = [c for c in present if not _FLOAT.match(c)]
    if bad:
        raise InputDataError(
            f"column {name!r} is numeric but {len(bad)} value(s) are not numbers, "
            f"e.g. {bad[0]!r}"
        )
    values = np.full(len(cells), np.nan)
    values[~null] = np.array(present, dtype=np.float64)
    if not np.all(np.isfinite(values[~null])):
        raise InputDataError(f"column {name!r} holds values too large for 64-bit floats")
    decimals = np.full(len(cells), -1, dtype=np.int64)
    decimals[~null] = [_decimals_of_text(c) for c in present]
    is_int = bool(np.all(decimals[~null] == 0))
    return TypedColumn(name, "numeric", "integer" if is_int else "float", values, null,
                       decimals=None if is_int else decimals)


def _decimals_of_text(text: str) -> int:
    """Decimal places a number needs: trailing zeros do not count ("3.0" needs
    none, as pandas writes integer-valued floats), so such a column is integral."""
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


def _datetime_format(cells: list[str]) -> str | None:
    sample = cells[:200]
    for fmt in DATETIME_FORMATS:
        if all(_parses(c, fmt) for c in sample):
            return fmt
    return None


def _parses(text: str, fmt: str) -> bool:
    import datetime as dt

    try:
        dt.datetime.strptime(text, fmt)
        return True
    except ValueError:
        return False


def _datetime_from_text(name: str, cells: np.ndarray, null: np.ndarray,
                        present: list[str]) -> TypedColumn:
    import pandas as pd

    fmt = _datetime_format(present)
    if fmt is None:
        raise InputDataError(f"column {name!r} is declared datetime but its values do not "
                             "parse with one common format")
    parsed = pd.to_datetime(pd.Series(present), format=fmt, errors="coerce")
    if parsed.isna().any():
        bad = present[int(np.argmax(parsed.isna().to_numpy()))]
        raise InputDataError(f"column {name!r}: {bad!r} does not match the format {fmt}")
    unit = "D" if "%H" not in fmt else ("us" if "%f" in fmt else "s")
    ticks = np.zeros(len(cells), dtype=np.int64)
    ticks[~null] = parsed.to_numpy().astype(f"datetime64[{unit}]").astype(np.int64)
    return TypedColumn(name, "datetime", "datetime", ticks, null, unit=unit, format=fmt)


def _type_series(name: str, series: Any, declared: str | None) -> TypedColumn:
    import pandas as pd

    null = series.isna().to_numpy()
    if null.all():
        raise InputDataError(
            f"column {name!r} is empty (every cell is null): drop it or declare its kind"
        )
    if pd.api.types.is_bool_dtype(series.dtype):
        values = np.array([None if m else bool(v) for v, m in zip(series.tolist(), null)],
                          dtype=object)
        return TypedColumn(name, "categorical", "boolean", values, null)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        stamps = series.to_numpy().astype("datetime64[s]")
        has_time = bool(np.any(stamps[~null].astype("datetime64[D]") != stamps[~null]))
        unit = "s" if has_time else "D"
        ticks = np.zeros(len(series), dtype=np.int64)
        ticks[~null] = stamps[~null].astype(f"datetime64[{unit}]").astype(np.int64)
        fmt = "%Y-%m-%d %H:%M:%S" if has_time else "%Y-%m-%d"
        return TypedColumn(name, "datetime", "datetime", ticks, null, unit=unit, format=fmt)
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.all(np.isfinite(values[~null])):
        raise InputDataError(f"column {name!r} holds infinite values")
    decimals = decimals_of_floats(values)
    integral = bool(np.all(decimals[~null] == 0))
    if declared == "id" or (declared is None and integral and not null.any()
                            and len(values) >= MIN_ID_ROWS
                            and len(np.unique(values)) == len(values)
                            and values.max() - values.min() + 1 <= 2 * len(values)):
        cells = np.array([str(int(v)) for v in values], dtype=object)
        return TypedColumn(name, "id", "integer", cells, null)
    if declared == "categorical":
        cells = np.array([None if m else (str(int(v)) if integral else str(v))
                          for v, m in zip(values, null)], dtype=object)
        return TypedColumn(name, "categorical", "string", cells, null)
    return TypedColumn(name, "numeric", "integer" if integral else "float", values, null,
                       decimals=None if integral else decimals)


