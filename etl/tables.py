"""What every reader hands to validation: a source's rows with their place in the original file.

Readers (CSV/Excel in `etl/read.py`, REDCap exports in `etl/redcap.py`) differ in how they find
rows; from here on every row is validated and located the same way, so a rejected row always names
file, sheet, row (as Excel shows it) and column header (as typed in the file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RawRow:
    row_number: int  # as Excel shows it (header row included), or the CSV line number
    values: dict[str, object]  # field name -> cell value as read (str, int, float, date, datetime, None)


@dataclass
class RawTable:
    source_key: str  # a key of schema.sources.SOURCES
    path: Path  # the file as given (its name is shown to users)
    sheet: str | None  # Excel sheet name, None for CSV
    headers: dict[str, str]  # field name -> the header text as it appears in the file
    header_letters: dict[str, str] = field(default_factory=dict)  # field name -> Excel column letter
    rows: list[RawRow] = field(default_factory=list)

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
