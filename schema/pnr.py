"""Detection and masking of Swedish personal identity and coordination numbers.

A cell "looks like" a personnummer when it holds 10 or 12 digits (optionally with `-` or `+`
before the last four) whose date part is a real month and day (day + 60 for a
samordningsnummer) and whose last digit is the Luhn check digit of the last ten. The number itself
is never returned, only its position and a masked form, so that it cannot leak into a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CANDIDATE = re.compile(r"(?<![\dA-Za-z])(\d{2})?(\d{6})[-+]?(\d{4})(?![\dA-Za-z])")


def _luhn_ok(ten: str) -> bool:
    total = 0
    for i, ch in enumerate(ten[:9]):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10 == int(ten[9])


def _date_ok(yymmdd: str) -> bool:
    month, day = int(yymmdd[2:4]), int(yymmdd[4:6])
    if day > 60:  # samordningsnummer
        day -= 60
    return 1 <= month <= 12 and 1 <= day <= 31


def _candidates(text: str):
    for m in _CANDIDATE.finditer(text):
        century, yymmdd, last4 = m.group(1), m.group(2), m.group(3)
        if century is not None and century not in ("18", "19", "20"):
            continue
        ten = yymmdd + last4
        if _date_ok(yymmdd) and _luhn_ok(ten):
            yield m


def looks_like_pnr(value: object) -> bool:
    """True when the cell value contains something that looks like a personnummer."""
    if value is None:
        return False
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return any(True for _ in _candidates(str(value)))


def mask(value: object) -> str:
    """The cell text with every digit of each personnummer-like number replaced by X."""
    text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    out, last = [], 0
    for m in _candidates(text):
        out.append(text[last : m.start()])
        out.append(re.sub(r"\d", "X", m.group(0)))
        last = m.end()
    out.append(text[last:])
    return "".join(out)


@dataclass(frozen=True)
class PnrHit:
    file: str
    row: int
    column: str
    masked: str

    def message_sv(self) -> str:
        return (
            f"{self.file}, rad {self.row}, kolumn ”{self.column}”: värdet ser ut som ett personnummer "
            f"({self.masked}). Personnummer får aldrig finnas i studiens filer – använd studiekoden. "
            "Ingenting har lästs in."
        )
