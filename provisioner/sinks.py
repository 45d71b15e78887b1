"""Stream sampled rows to CSV or Parquet, batch by batch, atomically.

Memory stays flat in the number of rows: each batch is formatted, written
and dropped, in slices small enough that even the widest schema the format
allows formats within a few tens of MB. The file appears only when complete
(temporary file, then a rename); an error or an interrupt leaves no partial
output behind.

CSV cells are data, never code. A cell is quoted (RFC 4180) when it holds a
comma, a quote, a line break or surrounding spaces. A *text* cell (the
header row, string categories and identifiers, dates written with a custom
format) that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is written as ``"'..."``: the leading apostrophe makes spreadsheets
show it as text instead of running it as a formula, as the OWASP guidance
on CSV injection recommends. Numbers and ISO dates are never changed, so a
minus sign stays a sign. ``formula_guard=False`` (``hzg sample
--no-formula-guard``) writes text cells exactly as they are.
"""

from __future__ import annotations

import gzip
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np

from provisioner._atomic import atomic_output
from provisioner.decode import category_labels
from provisioner.errors import ConfigError, MissingDependency
from provisioner.schema import Column, pattern_units
from provisioner.table import Table
from provisioner.timezones import fixed_tzinfo, offset_text, utc_offsets

FORMATS = (".csv", ".csv.gz", ".parquet")
_SPECIAL = (",", '"', "\n", "\r", "\u2028", "\u2029")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Cells formatted at a time (a slice of a batch): bounds the Python strings
# alive at once whatever the number of columns. Parquet converts columns
# without a Python object per cell and writes a row group per slice.
CELLS_PER_SLICE = 1 << 18
PARQUET_CELLS_PER_GROUP = 1 << 22
# Characters of CSV text formatted at a time, for schemas of long labels.
TEXT_PER_SLICE = 1 << 23


def row_text_chars(columns: tuple[Column, ...]) -> int:
    """An upper bound on the characters of one CSV row of ``columns``."""
    total = 0
    for column in columns:
        if column.kind == "categorical":
            longest = max((len(str(v)) for v in category_labels(column) if v is not None),
                          default=0)
            if column.filler is not None:  # a unit is one character
                longest = max(longest, pattern_units(column.filler))
        elif column.kind == "id":
            longest = 32 if column.style == "uuid" else (
                20 if column.style == "sequence" else len(column.pattern or ""))
        elif column.kind == "datetime" and column.format is not None:
            longest = 16 * len(column.format)  # a directive expands to at most ~16
        else:
            longest = 40
        total += 2 * longest + 4  # quotes doubled at worst, the guard, the comma
    return total


def output_format(path: str | os.PathLike[str]) -> str:
    name = str(path).lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise ConfigError(f"cannot tell the output format of {path}; use {', '.join(FORMATS)}")


def require_format(kind: str) -> None:
    """Raise MissingDependency unless output of ``kind`` can be written here."""
    if kind == ".parquet":
        try:
            import pyarrow  # noqa: F401
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise MissingDependency(
                "Parquet output needs pyarrow: pip install 'hzg[parquet]'") from None


def _quote(text: str) -> str:
    if any(ch in text for ch in _SPECIAL) or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_text_cell(text: str, *, formula_guard: bool = True) -> str:
    """A text value as one CSV field: quoted if needed, never a formula."""
    if formula_guard and text.startswith(FORMULA_STARTS):
        return '"\'' + text.replace('"', '""') + '"'
    return _quote(text)


def _offsets(values: np.ndarray, zone: str) -> np.ndarray:
    """Seconds east of UTC in ``zone`` at each instant (0 at NaT)."""
    null = np.isnat(values)
    seconds = np.where(null, 0, values.astype("datetime64[s]").astype(np.int64))
    offsets = utc_offsets(seconds, zone)
    offsets[null] = 0
    return offsets


def _text_formatter(column: Column, formula_guard: bool = True
                    ) -> Callable[[np.ndarray], list[str]]:
    """A function turning one column's values into CSV field strings."""
    cache: dict[Any, str] = {None: ""}

    def cell(text: str) -> str:
        return csv_text_cell(text, formula_guard=formula_guard)

    if column.kind == "datetime":
        unit = column.unit
        iso_like = {"%Y-%m-%d": ("D", None), "%Y-%m-%dT%H:%M:%S": ("s", None),
                    "%Y-%m-%d %H:%M:%S": ("s", " "), "%Y-%m-%dT%H:%M": ("m", None),
                    "%Y-%m-%d %H:%M": ("m", " ")}
        fmt = column.format
        zone = column.timezone
        if fmt is None or fmt in iso_like:
            text_unit, sep = iso_like.get(fmt, (unit, None))

            def datetimes(values: np.ndarray) -> list[str]:
                offsets = None
                if zone is not None:  # local wall-clock time of each instant
                    offsets = _offsets(values, zone)
                    values = values + offsets.astype("timedelta64[s]")
                texts = np.datetime_as_string(values, unit=text_unit)
                out = texts.tolist()
                if sep:
                    out = [t.replace("T", sep) for t in out]
                if offsets is not None and fmt is None:  # ISO 8601 with its offset
                    return ["" if t == "NaT" else t + offset_text(o)
                            for t, o in zip(out, offsets.tolist())]
                return ["" if t == "NaT" else t for t in out]

            return datetimes

        def strftime(values: np.ndarray) -> list[str]:
            # a custom format can make any text: format it as a text cell
            if zone is None:
                return ["" if v is None else cell(v.strftime(fmt))
                        for v in values.astype("datetime64[us]").astype(object).tolist()]
            offsets = _offsets(values, zone)
            local = (values + offsets.astype("timedelta64[s]")).astype("datetime64[us]")
            return ["" if v is None else cell(v.replace(tzinfo=fixed_tzinfo(o)).strftime(fmt))
                    for v, o in zip(local.astype(object).tolist(), offsets.tolist())]

        return strftime
    if column.kind == "numeric" and column.value_type == "float":
        places = max(column.decimals, 0)
        fmt = f"{{:.{places}f}}".format

        def floats(values: np.ndarray) -> list[str]:
            return ["" if v != v else fmt(v) for v in values.tolist()]

        return floats
    if column.value_type == "integer" or (column.kind == "id" and column.style == "sequence"):

        def integers(values: np.ndarray) -> list[str]:
            if values.dtype.kind in "iu":
                return list(map(str, values.tolist()))
            return ["" if v is None or v != v else str(int(v)) for v in values.tolist()]

        return integers

    if column.kind == "categorical" and column.value_type == "string" \
            and column.filler is None:
        known = [label for label in category_labels(column) if label is not None]
        if all(cell(label) == label for label in known):
            # every label is CSV-safe as it is: one C-level pass for nulls

            def plain_labels(values: np.ndarray) -> list[str]:
                out = values.copy()
                out[np.equal(values, None)] = ""
                return out.tolist()

            return plain_labels

    if column.kind == "id" or column.filler is not None:
        # fresh values (identifiers, a text column's fillers), each seen
        # once: a cache would only grow

        def identifiers(values: np.ndarray) -> list[str]:
            return ["" if v is None else cell(v) for v in values.tolist()]

        return identifiers

    def labels(values: np.ndarray) -> list[str]:
        out = []
        for value in values.tolist():
            text = cache.get(value)
            if text is None:
                text = cache[value] = cell(str(value))
            out.append(text)
        return out

    return labels


def _slices(batch: Table, columns: int, cells: int = CELLS_PER_SLICE,
            row_chars: int = 0) -> Iterable[Table]:
    step = max(1, min(cells // max(columns, 1), TEXT_PER_SLICE // max(row_chars, 1)))
    if batch.num_rows <= step:
        yield batch
        return
    for start in range(0, batch.num_rows, step):
        yield batch.slice(start, min(start + step, batch.num_rows))


def write_csv_stream(batches: Iterable[Table], columns: tuple[Column, ...],
                     handle: IO[str], *, formula_guard: bool = True) -> int:
    """Write the header and every batch to an open text handle; returns rows."""
    formatters = [_text_formatter(c, formula_guard) for c in columns]
    handle.write(",".join(csv_text_cell(c.name, formula_guard=formula_guard)
                          for c in columns) + "\n")
    rows = 0
    row_chars = row_text_chars(columns)
    for batch in batches:
        for part in _slices(batch, len(columns), row_chars=row_chars):
            fields = [f(part[c.name]) for f, c in zip(formatters, columns)]
            if len(fields) == 1:
                # a lone empty cell would be a blank line, which CSV readers
                # skip: a null must still be a row
                fields = [[cell if cell else '""' for cell in fields[0]]]
            handle.write("\n".join(map(",".join, zip(*fields))))
            handle.write("\n")
            rows += part.num_rows
    return rows


def write_rows(batches: Iterable[Table], columns: tuple[Column, ...],
               path: str | os.PathLike[str] | None, *, overwrite: bool = False,
               formula_guard: bool = True) -> int:
    """Write to ``path`` (.csv, .csv.gz, .parquet) or to stdout when None.

    An existing file is replaced only with ``overwrite``.
    """
    if path is None:
        return write_csv_stream(batches, columns, sys.stdout, formula_guard=formula_guard)
    target = Path(path)
    kind = output_format(target)
    require_format(kind)
    with atomic_output(target, overwrite=overwrite) as temp:
        if kind == ".parquet":
            return _write_parquet(batches, temp, len(columns))
        if kind == ".csv.gz":
            with gzip.open(temp, "wt", encoding="utf-8", newline="") as handle:
                return write_csv_stream(batches, columns, handle,
                                        formula_guard=formula_guard)
        with open(temp, "w", encoding="utf-8", newline="") as handle:
            return write_csv_stream(batches, columns, handle, formula_guard=formula_guard)


def estimate_bytes_per_row(table: Table, kind: str) -> float:
    """Bytes per row ``table`` takes in format ``kind`` (formatted in memory)."""
    import io

    if table.num_rows == 0:
        return 0.0
    if kind == ".parquet":
        import pyarrow.parquet as pq

        sink = io.BytesIO()
        pq.write_table(table.to_arrow(), sink)
        size = len(sink.getvalue())
    else:
        text = io.StringIO()
        write_csv_stream([table], table.columns, text)
        data = text.getvalue().encode("utf-8")
        size = len(gzip.compress(data, compresslevel=6)) if kind == ".csv.gz" else len(data)
    return size / table.num_rows


def _write_parquet(batches: Iterable[Table], path: str, columns: int) -> int:
    import pyarrow.parquet as pq

    writer = None
    rows = 0
    try:
        for batch in batches:
            for part in _slices(batch, columns, PARQUET_CELLS_PER_GROUP):
                table = part.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema)
                writer.write_table(table)
                rows += part.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows
