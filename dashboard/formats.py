"""Swedish text for numbers and dates, and the calendar month every topic counts in."""

from __future__ import annotations

import numbers
from datetime import date

import pandas as pd

from schema import rounding

DAYS_PER_MONTH = 365.25 / 12


def pct(part: float, whole: float, digits: int = 0) -> str:
    """A share as Swedish text, rounded half up from the counts (schema/rounding.py, the one rule)."""
    return rounding.percent_text(part, whole, digits)


def percent(part: float, whole: float, digits: int = 0) -> int | float | None:
    """A share as a number of per cent (int for whole per cent), half up from the counts."""
    return rounding.percent(part, whole, digits)


def _missing(value) -> bool:
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def rounded(value, digits: int = 1) -> float | int | None:
    """A mean, rate or estimate rounded half up for a table cell (None stays None): an int for whole
    numbers, else the float that prints as the rounded decimal (schema/rounding.py, the one rule)."""
    if _missing(value):
        return None
    return rounding.round_int(value) if digits == 0 else rounding.round_float(value, digits)


def number_text(value, digits: int = 0, none: str = "–") -> str:
    """A figure as Swedish text rounded half up: 12,5 (decimal comma); `none` when missing."""
    if _missing(value):
        return none
    return rounding.decimal_text(value, digits)


def _cell_text(value) -> str:
    if _missing(value):
        return "–"
    if isinstance(value, str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    if isinstance(value, numbers.Integral) or (isinstance(value, numbers.Real) and float(value).is_integer()):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return number_text(value, 1)
    return str(value)


def dash_missing(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """For display: in each of `columns` (default all) that has a missing value, every cell as text
    (figures as Swedish text, a missing one as "–"); the grid would show a missing value as "None".
    Columns without a missing value keep their type."""
    out = frame.copy()
    for column in columns if columns is not None else list(out.columns):
        if column in out and out[column].isna().any():
            out[column] = [_cell_text(v) for v in out[column].astype(object)]
    return out


def share_texts(shares) -> list[str]:
    """Shares (0–1, or None) as rounded Swedish text for chart labels and tooltips: rounding is done
    here on the server, never by a client-side percent format."""
    out = []
    for v in shares:
        try:
            out.append("–" if v is None or v != v else rounding.percent_text(float(v), 1))
        except (TypeError, ValueError):
            out.append(str(v))
    return out


def month_label(d: date) -> str:
    months = ["jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"]
    return f"{months[d.month - 1]} {d.year}"


def sv_date(d: date | None) -> str:
    return d.isoformat() if d else "–"
