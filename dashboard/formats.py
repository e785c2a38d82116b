"""Swedish text for numbers and dates, and the calendar month every topic counts in."""

from __future__ import annotations

from datetime import date

from schema import rounding

DAYS_PER_MONTH = 365.25 / 12


def pct(part: float, whole: float, digits: int = 0) -> str:
    """A share as Swedish text, rounded half up from the counts (schema/rounding.py, the one rule)."""
    return rounding.percent_text(part, whole, digits)


def percent(part: float, whole: float, digits: int = 0) -> int | float | None:
    """A share as a number of per cent (int for whole per cent), half up from the counts."""
    return rounding.percent(part, whole, digits)


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
