"""Real and synthetic tables as comparable frames.

Every metric compares columns of the same *kind* (categorical, numeric,
datetime), so both tables are first put in one plain form, decided by the
bundle's column schema (or by the real table's dtypes when there is none):

* numeric and datetime columns: float64 (datetimes as seconds since the
  epoch), NaN for null;
* categorical columns: Python strings, None for null;
* identifiers are left out (a synthetic identifier says nothing about
  fidelity and is never a copy of a real one by construction).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from provisioner.errors import ConfigError, InputDataError

Frame = Any  # pandas.DataFrame

__all__ = ("Frames", "align", "is_numeric_kind", "read_real")

NUMERIC_KINDS = ("numeric", "datetime")


def is_numeric_kind(kind: str) -> bool:
    return kind in NUMERIC_KINDS


@dataclasses.dataclass(frozen=True)
class Frames:
    """The three tables of an evaluation, aligned.

    Attributes:
      train: the real rows the generator was trained on.
      holdout: real rows it never saw (same population).
      synthetic: rows drawn from the generator.
      kinds: column name -> ``"categorical"``, ``"numeric"`` or ``"datetime"``.
    """

    train: Frame
    holdout: Frame
    synthetic: Frame
    kinds: dict[str, str]

    @property
    def columns(self) -> list[str]:
        return list(self.kinds)

    @property
    def numeric(self) -> list[str]:
        return [c for c, k in self.kinds.items() if is_numeric_kind(k)]

    @property
    def categorical(self) -> list[str]:
        return [c for c, k in self.kinds.items() if not is_numeric_kind(k)]


def read_real(path: str) -> Frame:
    """A real table (CSV, CSV.gz or Parquet) as text cells, as the trainer reads it."""
    import pandas as pd

    text = str(path)
    try:
        if text.endswith((".parquet", ".pq")):
            return pd.read_parquet(text)
        return pd.read_csv(text, dtype=str, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise InputDataError(f"{path} does not exist") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputDataError(f"cannot read {path}: {exc}") from None


def _kinds_from_frame(frame: Frame) -> dict[str, str]:
    import pandas as pd

    kinds = {}
    for name in frame.columns:
        dtype = frame[name].dtype
        if pd.api.types.is_bool_dtype(dtype):
            kinds[name] = "categorical"
        elif pd.api.types.is_numeric_dtype(dtype):
            kinds[name] = "numeric"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            kinds[name] = "datetime"
        else:
            kinds[name] = "categorical"
    return kinds


def _as_float(series: Any, kind: str) -> np.ndarray:
    import pandas as pd

    if kind == "datetime":
        if not pd.api.types.is_datetime64_any_dtype(series.dtype):
            series = pd.to_datetime(series, errors="coerce", format="mixed")
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        values = series.to_numpy(dtype="datetime64[ns]")
        out = values.astype("datetime64[ns]").astype(np.int64).astype(np.float64) / 1e9
        out[np.isnat(values)] = np.nan
        return out
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(float).to_numpy()
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _as_text(series: Any) -> np.ndarray:
    import pandas as pd

    out = np.empty(len(series), dtype=object)
    for i, value in enumerate(series.tolist()):
        if value is None or (isinstance(value, float) and value != value) or value is pd.NA \
                or value is pd.NaT:
            out[i] = None
        elif isinstance(value, (bool, np.bool_)):
            out[i] = "true" if value else "false"
        elif isinstance(value, float) and value.is_integer():
            out[i] = str(int(value))
        else:
            out[i] = str(value)
    return out


def _plain(frame: Frame, kinds: Mapping[str, str]) -> Frame:
    import pandas as pd

    data = {}
    index = pd.RangeIndex(len(frame))
    for name, kind in kinds.items():
        column = frame[name]
        # object dtype explicitly: pandas would infer its string dtype, whose
        # missing value is NaN rather than None
        data[name] = (pd.Series(_as_float(column, kind), index=index) if is_numeric_kind(kind)
                      else pd.Series(_as_text(column), index=index, dtype=object))
    return pd.DataFrame(data, index=index)


def align(train: Frame, holdout: Frame, synthetic: Frame,
          kinds: Mapping[str, str] | None = None,
          columns: Sequence[str] | None = None) -> Frames:
    """Put the three tables in the plain form of the module docstring.

    Args:
      train, holdout, synthetic: DataFrames (any dtypes).
      kinds: column -> kind (``"id"`` columns are dropped); default: from
        the real table's dtypes.
      columns: evaluate only these.

    Raises:
      InputDataError: a column is missing from one of the tables.
    """
    kinds = dict(kinds or _kinds_from_frame(train))
    if columns is not None:
        unknown = sorted(set(columns) - set(kinds))
        if unknown:
            raise ConfigError(f"unknown column(s) {unknown}")
        kinds = {c: kinds[c] for c in columns}
    kinds = {c: k for c, k in kinds.items() if k != "id"}
    for label, frame in (("--real", train), ("--holdout", holdout), ("synthetic", synthetic)):
        missing = [c for c in kinds if c not in frame.columns]
        if missing:
            raise InputDataError(f"the {label} table has no column(s) {missing}")
    if len(train) < 2 or len(holdout) < 2 or len(synthetic) < 2:
        raise InputDataError("each table needs at least two rows to be compared")
    return Frames(_plain(train, kinds), _plain(holdout, kinds), _plain(synthetic, kinds), kinds)
