"""Swedish text for numbers and dates, and the calendar month every topic counts in."""

from __future__ import annotations

from datetime import date

DAYS_PER_MONTH = 365.25 / 12


def pct(part: float, whole: float, digits: int = 0) -> str:
    if not whole:
        return "–"
    return f"{100 * part / whole:.{digits}f} %".replace(".", ",")


def month_label(d: date) -> str:
    months = ["jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"]
    return f"{months[d.month - 1]} {d.year}"


def sv_date(d: date | None) -> str:
    return d.isoformat() if d else "–"
