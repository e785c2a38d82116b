"""What every reader hands to validation: a source's rows with their place in the original file.

Readers (CSV/Excel in `etl/read.py`, REDCap exports in `etl/redcap.py`) differ in how they find
rows; from here on every row is validated and located the same way, so a rejected row always names
file, sheet, row (as Excel shows it) and column header (as typed in the file).

A table is columnar: `RawTable.frame` is a polars DataFrame with the row number as Excel shows it
(`ROW`), one text column per field (the cell as the user sees it, blank as null) and, where a
column holds Excel date cells, their dates (`date_column(field)`). Readers of small inputs (REDCap,
tests) may still build it from `RawRow`s; `rows` gives them back for the few callers that want rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import polars as pl

ROW = "__row"  # the row number as Excel shows it (header row included), or the CSV record number
DATE_PREFIX = "__date__"  # an Excel date cell's date and time, per field


def date_column(field_name: str) -> str:
    return DATE_PREFIX + field_name


@dataclass
class RawRow:
    row_number: int  # as Excel shows it (header row included), or the CSV line number
    values: dict[str, object]  # field name -> cell value as read (str, int, float, date, datetime, None)


def value_text(value: object) -> str | None:
    """A cell value as the user typed/sees it."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def cell_columns(values: list[object]) -> tuple[list[str | None], list[datetime | None] | None]:
    """One column of cells as read -> (text as the user sees it, blank as None; the date cells as
    datetimes, or None when the column has none)."""
    texts: list[str | None] = []
    dates: list[datetime | None] | None = None
    for i, v in enumerate(values):
        t = type(v)
        if t is str:
            texts.append(v if v.strip() else None)
            continue
        if v is None:
            texts.append(None)
            continue
        if t is datetime or t is date:
            if dates is None:
                dates = [None] * len(values)
            dates[i] = v if t is datetime else datetime(v.year, v.month, v.day)  # type: ignore[union-attr]
        texts.append(value_text(v))
    return texts, dates


def _date_cells(values: Sequence[object]) -> tuple[pl.Series, pl.Series] | None:
    """A column of Excel date cells (dates at midnight, or blank), as (text, datetime) series built
    by polars; None when the column holds anything else (then cell by cell)."""
    if not all(type(v) is datetime or v is None for v in values):
        return None
    stamps = pl.Series(values, dtype=pl.Datetime("us"))
    if not (stamps.is_null() | (stamps.dt.truncate("1d") == stamps)).all():
        return None
    return stamps.dt.to_string("%Y-%m-%d"), stamps


def frame_from_columns(numbers: list[int], columns: dict[str, Sequence[object]]) -> pl.DataFrame:
    """The columnar table from row numbers and the cells per field (any cell types)."""
    data: dict[str, pl.Series] = {ROW: pl.Series(ROW, numbers, dtype=pl.Int64)}
    for name, values in columns.items():
        fast = _date_cells(values)
        if fast is not None:
            data[name] = fast[0].alias(name)
            data[date_column(name)] = fast[1].alias(date_column(name))
            continue
        texts, dates = cell_columns(values)
        data[name] = pl.Series(name, texts, dtype=pl.String)
        if dates is not None:
            data[date_column(name)] = pl.Series(date_column(name), dates, dtype=pl.Datetime("us"))
    return pl.DataFrame(data)


def field_names(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if not c.startswith("__")]


class RawTable:
    """One source's rows as read, before validation (see the module docstring)."""

    def __init__(
        self,
        source_key: str,
        path: Path,
        sheet: str | None,
        headers: dict[str, str],
        header_letters: dict[str, str] | None = None,
        rows: list[RawRow] | None = None,
        frame: pl.DataFrame | None = None,
    ):
        self.source_key = source_key  # a key of schema.sources.SOURCES
        self.path = Path(path)  # the file as given (its name is shown to users)
        self.sheet = sheet  # Excel sheet name, None for CSV
        self.headers = headers  # field name -> the header text as it appears in the file
        self.header_letters = header_letters or {}  # field name -> Excel column letter
        self._frame = frame
        self._rows = rows if rows is not None or frame is not None else []

    @property
    def frame(self) -> pl.DataFrame:
        """The table's columns; built from `rows` when a reader gave rows (every time: they may
        have been appended to)."""
        if self._frame is not None:
            return self._frame
        rows = self._rows or []
        names = list(self.headers)
        for row in rows:
            names += [n for n in row.values if n not in names]
        return frame_from_columns([r.row_number for r in rows], {n: [r.values.get(n) for r in rows] for n in names})

    @property
    def rows(self) -> list[RawRow]:
        """The rows (field name -> the cell as the user sees it; an Excel date cell as its date)."""
        if self._rows is None:
            frame = self._frame
            assert frame is not None
            names = field_names(frame)
            dates = {n: frame[date_column(n)].to_list() for n in names if date_column(n) in frame.columns}
            cols = {n: frame[n].to_list() for n in names}
            out = []
            for i, number in enumerate(frame[ROW].to_list()):
                values: dict[str, object] = {}
                for n in names:
                    d = dates.get(n)
                    values[n] = d[i] if d is not None and d[i] is not None else cols[n][i]
                out.append(RawRow(number, values))
            self._rows = out
        return self._rows

    def release(self) -> None:
        """Drop the cells (after validation and publishing only names and counts are needed)."""
        self._frame = None
        self._rows = []

    @property
    def file_name(self) -> str:
        return self.path.name

    def cell_ref(self, field_name: str | None, row_number: int) -> str:
        """`Blad1!C17` for Excel, `rad 17` for CSV."""
        letter = self.header_letters.get(field_name or "")
        if self.sheet and letter:
            return f"{self.sheet}!{letter}{row_number}"
        return f"rad {row_number}"


def column_letter(index: int) -> str:
    """Excel's column letters of a 1-based column index: 1 -> A, 27 -> AA."""
    letters = ""
    while index > 0:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


class SourceFileError(Exception):
    """A whole file cannot be used (unreadable, missing required columns). Message is Swedish."""

    def __init__(self, file_name: str, message_sv: str):
        super().__init__(f"{file_name}: {message_sv}")
        self.file_name = file_name
        self.message_sv = message_sv
