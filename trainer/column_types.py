"""Column types: declared, or decided from the noisy counts of the typing release.

A column's type (kind, value type, datetime format and unit) steers which
mechanisms run, how every cell is parsed, and it ships in the bundle. So it
comes from one of two places, never from an exact look at the data:

- **declared**: the owner's schema file (``kind``, ``value_type``,
  ``format``, ``unit``), or the storage type of a DataFrame/Parquet column
  (boolean, integer, float, datetime, categorical dtype);
- **decided under DP**: from the noisy class counts of the typing release
  (``trainer.releases.cell_classes``), by the rules of :func:`decide_type`.
  The decision is post-processing of that release.

Then every cell is parsed on its own under the chosen type
(``trainer.cells``): a cell that is not a value of the type is read as null
and counted under DP in stage A, never shown.

Decision rules (``n`` = noisy non-null cells; a share is "accepted" when it
is a majority and at least 95% minus two of its noise standard deviations,
so clean columns pass even when the noise is large):

1. If the shares' noise is above 25% (too few rows for the typing budget),
   the column is categorical text, with a notice to declare it.
2. Nearly all null: an error (drop the column or declare its kind).
3. The largest of boolean, number, each datetime format, and text, when it
   beats the next by three standard deviations of their difference:
   boolean -> categorical boolean; numbers (accepted, or winning while
   text is not clearly over 5% of the cells) -> numeric (integer unless
   fractional numbers are clearly more than 0.5% of them; when most cells
   are written with a decimal point, as a float column is, integer only
   when fractional numbers are clearly fewer than 0.5%), or categorical
   text when more than 2% carry a leading zero (codes such as zip codes);
   a datetime format -> datetime (day/month vs month/day by which has more
   unambiguous cells); text -> free text (kind ``text``) when values
   held by one row each and written as prose (8+ characters with a space)
   are clearly more than half of the cells, else an identifier when nearly
   every value is distinct (judged only when that share's noise is under
   15%), else categorical.
4. If nothing is accepted: categorical text.

Integer columns are numeric unless declared ``kind = "id"``: uniqueness alone
cannot tell a row number from a fine-grained measurement.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from provisioner.errors import InputDataError
from trainer.cells import DATETIME_FORMATS, class_names, format_unit, parse_cells
from trainer.declarations import VALUE_TYPES, ColumnDeclaration, Declarations
from trainer.load import NamedColumns, RawColumn, RawTable

__all__ = ("ColumnType", "TypedColumn", "TypedTable", "TypingNeeds", "decide_type",
           "type_table", "typing_needs")

ACCEPT = 0.95
MARGIN_SD = 2.0
MAJORITY = 0.5
WIN_SD = 3.0
MAX_SHARE_SD = 0.25
ID_SHARE = 0.8
ID_MAX_SD = 0.15
LEADING_ZERO_SHARE = 0.02
FRACTIONAL_SHARE = 0.005
_KIND_OF_VALUE_TYPE = {"string": "categorical", "boolean": "categorical",
                       "integer": "numeric", "float": "numeric", "datetime": "datetime"}
_NUMBER = ("integer", "integer-leading-zero", "decimal-integral", "decimal-fractional")
_TEXT = ("text-first", "prose-first", "text-repeat")
_DISTINCT = ("text-first", "prose-first")
PROSE_SHARE = 0.5


@dataclasses.dataclass(frozen=True)
class ColumnType:
    """What a column is: the outcome of declarations or of the DP decision.

    Attributes:
      kind: categorical, text (declared free text), numeric, datetime or id.
      value_type: see ``provisioner.schema.Column``.
      format: datetime text format (None for datetime storage: ISO output).
      unit: datetime tick unit.
      timezone: datetime storage only: the zone of a tz-aware dtype.
      origin: ``declared`` (schema file or storage type), ``dp`` (decided
        from the typing release) or ``exact`` (non-private runs and drafts).
      notice: a line for the owner about the decision, or None.
    """

    kind: str
    value_type: str
    format: str | None = None
    unit: str | None = None
    timezone: str | None = None
    origin: str = "declared"
    notice: str | None = None


@dataclasses.dataclass
class TypedColumn:
    """One column with its type and values in a kind-specific array.

    Attributes:
      name: column name.
      kind, value_type: see :class:`ColumnType`.
      values: categorical and id: object array (None for null); numeric:
        float64 (NaN for null); datetime: int64 ticks of ``unit``.
      null: null in the source or did not parse.
      unparsed: not null in the source but not a value of the type.
      decimals: numeric floats: decimal places of each value as written
        (-1 for null); None otherwise.
      unit, format, timezone: datetime only.
      origin: where the type came from (see :class:`ColumnType`).
    """

    name: str
    kind: str
    value_type: str
    values: np.ndarray
    null: np.ndarray
    decimals: np.ndarray | None = None
    unit: str | None = None
    format: str | None = None
    unparsed: np.ndarray | None = None
    timezone: str | None = None
    origin: str = "declared"

    def __post_init__(self) -> None:
        if self.unparsed is None:
            self.unparsed = np.zeros(len(self.null), dtype=bool)

    def __len__(self) -> int:
        return len(self.null)


@dataclasses.dataclass
class TypedTable(NamedColumns):
    """Typed columns, and the owner's notes from the typing decision."""

    columns: list[TypedColumn]
    source: str
    notices: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class TypingNeeds:
    """Columns of the typing release and their class lists (data-independent).

    Attributes:
      classes: class names per participating column, in table order.
    """

    classes: dict[str, tuple[str, ...]]

    @classmethod
    def of(cls, table: RawTable, names: set[str] | frozenset[str]) -> TypingNeeds:
        """The layout for the columns ``names`` of ``table`` (chosen from
        declarations and storage types only)."""
        return cls({c.name: class_names(c.storage) for c in table.columns if c.name in names})

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.classes)

    @property
    def sensitivity(self) -> float:
        """L2 sensitivity of the whole release: one count per column moves by 1."""
        return math.sqrt(len(self.classes))



# --- what is declared ------------------------------------------------------------


def _declared_kind(column: RawColumn, d: ColumnDeclaration) -> str | None:
    if d.kind is not None:
        return d.kind
    if d.value_type is not None:
        return _KIND_OF_VALUE_TYPE.get(d.value_type)
    return {"category": "categorical", "boolean": "categorical", "integer": "numeric",
            "float": "numeric", "datetime": "datetime"}.get(column.storage)


def _storage_value_type(column: RawColumn, kind: str) -> str | None:
    """The value type a storage type fixes for ``kind`` (None: to decide)."""
    storage = column.storage
    if kind == "text":
        return "string"  # free text is text whatever its storage
    if storage == "boolean":
        return "boolean" if kind == "categorical" else "string"
    if storage == "integer":
        return "integer"
    if storage == "float":
        return None if kind == "numeric" else "string"
    if storage == "string":
        # strings stay strings; a declared numeric kind reads them as floats
        return {"categorical": "string", "id": "string", "numeric": "float"}.get(kind)
    if storage == "datetime":
        return "datetime" if kind == "datetime" else "string"
    return None


def declared_type(column: RawColumn, d: ColumnDeclaration) -> ColumnType | None:
    """The column's type if declarations and storage fix it, else None."""
    kind = _declared_kind(column, d)
    if kind is None:
        return None
    value_type = d.value_type or (
        "datetime" if kind == "datetime" else _storage_value_type(column, kind)
        or _categories_value_type(kind, d))
    if value_type is None:
        return None
    _check_value_type(column.name, kind, value_type)
    if kind != "datetime":
        return ColumnType(kind, value_type)
    if column.storage == "datetime":
        if d.unit is None:
            return None  # the resolution is decided from the typing release
        return ColumnType(kind, "datetime", d.format, d.unit, column.timezone)
    if d.format is None:
        return None
    return ColumnType(kind, "datetime", d.format, d.unit or format_unit(d.format))


def _categories_value_type(kind: str, d: ColumnDeclaration) -> str | None:
    """Declared categories of one Python type declare the value type too."""
    if kind != "categorical" or not d.categories:
        return None
    for value_type, python in (("boolean", bool), ("integer", int), ("string", str)):
        if all(type(c) is python for c in d.categories):
            return value_type
    return None


def _check_value_type(name: str, kind: str, value_type: str) -> None:
    if value_type not in VALUE_TYPES.get(kind, ()):
        raise InputDataError(f"column {name!r}: value_type {value_type!r} does not fit kind "
                             f"{kind!r} (use one of {VALUE_TYPES.get(kind)})")


def typing_needs(table: RawTable, declared: Declarations) -> TypingNeeds:
    """Columns the typing release must cover: those declarations and storage leave open.

    Privacy:
      Depends on column names, storage types and declarations only.
    """
    names = {c.name for c in table.columns
             if class_names(c.storage) and declared_type(c, declared.get(c.name)) is None}
    return TypingNeeds.of(table, frozenset(names))


# --- the decision (post-processing of noisy counts) ------------------------------


class _Shares:
    """Shares of class counts among non-null cells, with their noise sd."""

    def __init__(self, names: tuple[str, ...], counts: np.ndarray, sigma: float,
                 rows: float) -> None:
        self.counts = dict(zip(names, np.asarray(counts, dtype=float).tolist()))
        self.sigma = sigma
        self.rows = max(float(rows), 1.0)
        # a noisy null count is clamped to [0, rows]: a negative one would
        # inflate every share's denominator
        nulls = min(max(self.counts.get("null", 0.0), 0.0), self.rows)
        self.nonnull = max(self.rows - nulls, 1.0)

    def of(self, names: tuple[str, ...], within: tuple[str, ...] | None = None
           ) -> tuple[float, float]:
        """(share, sd) of ``names`` among non-null cells, or among ``within``."""
        top = sum(self.counts[n] for n in names)
        base = self.nonnull if within is None else max(sum(self.counts[n] for n in within), 1.0)
        cells = len(names) + (1 if within is None else len(within))
        return top / base, self.sigma * math.sqrt(cells) / base

    def accepted(self, names: tuple[str, ...]) -> bool:
        """A noisy majority, and at least 95% less two standard deviations."""
        share, sd = self.of(names)
        return share >= max(MAJORITY, ACCEPT - MARGIN_SD * sd)

    def distinct(self) -> bool:
        """Nearly every value distinct, judged only when the noise is small."""
        share, sd = self.of(_DISTINCT)
        return sd <= ID_MAX_SD and share >= max(ID_SHARE, ACCEPT - MARGIN_SD * sd)

    def prose(self) -> bool:
        """Free text: values held by one row each and written as prose (8+
        characters with a space) are clearly more than half of the cells."""
        share, sd = self.of(("prose-first",))
        return share > PROSE_SHARE + MARGIN_SD * sd

    def clearly_above(self, names: tuple[str, ...], within: tuple[str, ...],
                      level: float) -> bool:
        share, sd = self.of(names, within)
        return share > level + MARGIN_SD * sd

    def clearly_below(self, names: tuple[str, ...], within: tuple[str, ...],
                      level: float) -> bool:
        share, sd = self.of(names, within)
        return share < level - MARGIN_SD * sd

    def fractional(self, fractional: tuple[str, ...], numbers: tuple[str, ...],
                   written_as_floats: bool) -> bool:
        """Whether a number column is float rather than integer.

        Plain integers (``3``) stay integer unless fractional numbers are
        clearly more than 0.5%: one ``39.5`` does not make a column float.
        Cells written as floats (``3.0``, ``24.01``) are integer only when
        fractional numbers are clearly fewer than 0.5%: when the noise cannot
        tell, reading them as integers would turn every fractional cell into
        null, while float loses nothing (stage A's decimals then come out 0
        for integral values, which decode as integers).
        """
        if written_as_floats:
            return not self.clearly_below(fractional, numbers, FRACTIONAL_SHARE)
        return self.clearly_above(fractional, numbers, FRACTIONAL_SHARE)

    @property
    def conclusive(self) -> bool:
        return self.sigma * math.sqrt(2) / self.nonnull <= MAX_SHARE_SD

    def null_share(self) -> tuple[float, float]:
        return self.counts.get("null", 0.0) / self.rows, self.sigma / self.rows


def _format_names(fmt: str) -> tuple[str, ...]:
    if fmt == "%d/%m/%Y":
        return ("datetime dmy", "datetime dmy-or-mdy")
    if fmt == "%m/%d/%Y":
        return ("datetime mdy", "datetime dmy-or-mdy")
    return (f"datetime {fmt}",)


def _best_format(s: _Shares) -> tuple[str, float]:
    best, share = DATETIME_FORMATS[0], -math.inf
    for fmt in DATETIME_FORMATS:
        value = s.of(_format_names(fmt))[0]
        if value > share:
            best, share = fmt, value
    if best in ("%d/%m/%Y", "%m/%d/%Y"):
        # both count the ambiguous cells; the unambiguous ones decide
        best = "%d/%m/%Y" if s.counts["datetime dmy"] >= s.counts["datetime mdy"] \
            else "%m/%d/%Y"
    return best, share


def decide_type(name: str, column: RawColumn, d: ColumnDeclaration, counts: np.ndarray,
                sigma: float, rows: float, *, origin: str = "dp") -> ColumnType:
    """The column's type from its (noisy) class counts and what is declared.

    Args:
      name: column name (for messages).
      column: the column as read (its storage type and dtype facts only;
        no cell is looked at).
      d: its declaration.
      counts: class counts in the order of ``class_names(column.storage)``.
      sigma: noise sd of each count (0 for exact counts).
      rows: the (noisy) number of rows.
      origin: ``dp`` or ``exact``, recorded on the result.

    Privacy:
      Post-processing of the typing release and of the row count. Messages
      carry noisy shares only.
    """
    s = _Shares(class_names(column.storage), counts, sigma, rows)
    kind = _declared_kind(column, d)
    if column.storage == "float":
        fractional = s.fractional(("fractional",), ("integral", "fractional"),
                                  True) or not s.conclusive
        return ColumnType(kind or "numeric", d.value_type or ("float" if fractional else "integer"),
                          origin=origin)
    if column.storage == "datetime":
        if not s.conclusive:
            unit = column.unit
        elif not s.clearly_above(("second", "subsecond"), ("day", "second", "subsecond"),
                                 FRACTIONAL_SHARE):
            unit = "D"
        elif not s.clearly_above(("subsecond",), ("day", "second", "subsecond"),
                                 FRACTIONAL_SHARE):
            unit = "s"
        else:
            unit = column.unit
        return ColumnType("datetime", "datetime", d.format, unit, column.timezone,
                          origin=origin)
    if column.storage == "string":
        return _decide_string(name, s, kind, d, origin)
    return _decide_text(name, s, kind, d, origin)


def _decide_string(name: str, s: _Shares, kind: str | None, d: ColumnDeclaration,
                   origin: str) -> ColumnType:
    """Strings stored as strings: an identifier or categorical text."""
    if kind == "datetime":
        raise InputDataError(f"column {name!r} holds strings and is declared datetime: "
                             "declare its format too")
    if not s.conclusive:
        return ColumnType("categorical", "string", origin=origin, notice=(
            f"column {name!r}: too few rows to decide under DP at this budget whether it "
            "is an identifier; read as categorical text. Declare its kind"))
    if kind is None and s.prose():
        return ColumnType("text", "string", origin=origin)
    if s.distinct():
        return ColumnType("id", "string", origin=origin)
    return ColumnType("categorical", "string", origin=origin)


def _decide_text(name: str, s: _Shares, kind: str | None, d: ColumnDeclaration,
                 origin: str) -> ColumnType:
    def pct(names: tuple[str, ...]) -> str:
        return f"{100 * min(max(s.of(names)[0], 0.0), 1.0):.0f}%"

    if not s.conclusive:
        notice = (f"column {name!r}: too few rows to decide its type under DP at this "
                  "budget; read as {what}. Declare its kind and value_type in a schema "
                  "file (hzg schema drafts one)")
        if kind is None or kind == "categorical":
            return ColumnType("categorical", d.value_type or "string", origin=origin,
                              notice=notice.format(what="categorical text"))
        if kind == "numeric":
            return ColumnType("numeric", d.value_type or "float", origin=origin,
                              notice=notice.format(what="numeric/float"))
        if kind == "id":
            return ColumnType("id", d.value_type or "string", origin=origin,
                              notice=notice.format(what="an identifier"))
        raise InputDataError(f"column {name!r} is declared datetime: too few rows to choose "
                             "its format under DP at this budget; declare its format")
    null_share, null_sd = s.null_share()
    if kind is None and null_share >= ACCEPT - MARGIN_SD * null_sd:
        raise InputDataError(f"column {name!r} is empty or nearly so (noisy share of nulls "
                             f"{100 * min(null_share, 1):.0f}%): drop it or declare its kind")
    integer_like = ("integer", "decimal-integral")
    codes = s.clearly_above(("integer-leading-zero",), _NUMBER, LEADING_ZERO_SHARE)
    with_point = s.of(("decimal-integral", "decimal-fractional"), _NUMBER)[0] > MAJORITY
    fractional = s.fractional(("decimal-fractional",), _NUMBER, with_point)
    if kind == "numeric":
        if s.of(_NUMBER)[0] < 0.5:
            raise InputDataError(f"column {name!r} is declared numeric but most of its cells "
                                 f"are not numbers (noisy share of numbers {pct(_NUMBER)})")
        return ColumnType("numeric", d.value_type or ("float" if fractional else "integer"),
                          origin=origin)
    if kind == "datetime":
        fmt, share = (d.format, 1.0) if d.format else _best_format(s)
        if share < 0.5:
            raise InputDataError(f"column {name!r} is declared datetime but no supported "
                                 "format fits most of its cells; declare its format")
        return ColumnType("datetime", "datetime", fmt, d.unit or format_unit(fmt),
                          origin=origin)
    if kind == "id":
        integer = s.accepted(("integer",)) and not codes
        return ColumnType("id", d.value_type or ("integer" if integer else "string"),
                          origin=origin)
    if kind == "categorical":
        if s.accepted(("boolean",)):
            value_type = "boolean"
        elif s.accepted(integer_like) and not codes:
            value_type = "integer"
        else:
            value_type = "string"
        return ColumnType("categorical", d.value_type or value_type, origin=origin)
    # nothing declared: the largest candidate, if it clearly beats the next
    # (the largest of many noisy counts is biased upward) and is accepted
    fmt, _ = _best_format(s)
    cells = {"boolean": ("boolean",), "number": _NUMBER,
             "datetime": _format_names(fmt), "text": _TEXT}
    shares = {name: s.of(names)[0] for name, names in cells.items()}
    best, second = sorted(shares, key=shares.get, reverse=True)[:2]
    spread = s.sigma * math.sqrt(len(cells[best]) + len(cells[second])) / s.nonnull
    if shares[best] - shares[second] <= WIN_SD * spread:
        return ColumnType("categorical", "string", origin=origin, notice=(
            f"column {name!r}: its cells' noisy classes do not single out a type at this "
            "budget; read as categorical text. Declare its kind and value_type"))
    if best == "boolean" and s.accepted(("boolean",)):
        return ColumnType("categorical", "boolean", origin=origin)
    # Numbers that clearly win are numbers unless text is clearly more than
    # the 5% a column may hold: under a wide table's typing noise (sd of a
    # share ~0.065 at eps = 1, 45 columns) "at least 95% less 2 sd" failed for
    # about one all-number column in 200, which then came out 100% rare.
    text_share, text_sd = s.of(_TEXT)
    if best == "number" and (s.accepted(_NUMBER)
                             or text_share <= 1 - ACCEPT + MARGIN_SD * text_sd):
        if codes:
            return ColumnType("categorical", "string", origin=origin)
        return ColumnType("numeric", "float" if fractional else "integer", origin=origin)
    if best == "datetime" and s.accepted(_format_names(fmt)):
        return ColumnType("datetime", "datetime", fmt, d.unit or format_unit(fmt),
                          origin=origin)
    if best == "text" and s.prose():
        return ColumnType("text", "string", origin=origin)
    if best == "text" and s.distinct():
        return ColumnType("id", "string", origin=origin)
    return ColumnType("categorical", "string", origin=origin)


# --- typing a table ------------------------------------------------------------------


def type_table(table: RawTable, declared: Declarations, counts: Mapping[str, np.ndarray],
               sigma: float, rows: float, *, origin: str = "dp") -> TypedTable:
    """Decide every column's type and parse its cells one by one.

    Args:
      table: the cells as read.
      declared: the owner's declarations.
      counts: the typing release (noisy class counts) per column it covers.
      sigma: the noise sd of each count.
      rows: the noisy row count.
      origin: ``dp``, or ``exact`` for non-private runs and drafts.
    """
    typed: list[TypedColumn] = []
    problems: list[str] = []
    notices: list[str] = []
    for column in table.columns:
        d = declared.get(column.name)
        try:
            kind_type = declared_type(column, d)
            if kind_type is None:
                kind_type = decide_type(column.name, column, d, counts[column.name], sigma,
                                        rows, origin=origin)
        except InputDataError as exc:
            problems.extend(exc.problems)
            continue
        if kind_type.notice:
            notices.append(kind_type.notice)
        typed.append(_parse(column, kind_type, d))
    if problems:
        raise InputDataError(problems)
    return TypedTable(typed, table.source, tuple(notices))


def _parse(column: RawColumn, t: ColumnType, d: ColumnDeclaration) -> TypedColumn:
    parsed = parse_cells(column.storage, column.cells, column.null, t.value_type,
                         kind=t.kind, fmt=t.format, unit=t.unit, storage_unit=column.unit)
    if t.kind == "categorical" and d.categories is not None and not d.rare:
        # a closed list: a value outside it is not a value of the column
        allowed = set(d.categories)
        outside = ~parsed.null & np.array([v not in allowed for v in parsed.values.tolist()],
                                          dtype=bool)
        parsed.unparsed |= outside
        parsed.null |= outside
        parsed.values[outside] = None
    decimals = parsed.decimals if (t.kind == "numeric" and t.value_type == "float") else None
    return TypedColumn(column.name, t.kind, t.value_type, parsed.values, parsed.null,
                       decimals=decimals, unit=t.unit if t.kind == "datetime" else None,
                       format=t.format if t.kind == "datetime" else None,
                       unparsed=parsed.unparsed, timezone=t.timezone, origin=t.origin)
