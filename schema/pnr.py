"""The one detector of Swedish personal identity and coordination numbers (personnummer,
samordningsnummer). Every path that decides whether input holds one calls this module: cells,
CSV and TOML text, xlsx XML parts, file and folder names, command-line arguments.

A candidate is, in any text, bounded by characters that are not digits (letters may touch it:
`pnr8112181234` is a candidate):
- 10 digits `YYMMDDNNNN`, or 12 digits `CCYYMMDDNNNN` with century 18, 19 or 20;
- optionally one separator before the last four: `-`, `+`, any Unicode dash or minus sign, a
  space (any Unicode space, also zero-width ones), or a dash with a space on either side;
- the date part with one dash, space, full stop or slash between year, month and day (the same
  both times): `1981-12-18-9876`, `81 12 18-9876`, `81.12.18-9876`, `81/12/18-9876`; a date written
  with full stops may have one before the last four too: `81.12.18.9876`;
- split over two neighbouring CSV fields or worksheet cells: a field of only the 6 or 8 date
  digits, then the next non-empty field of only the last four (`811218;9876`, `811218;;9876`;
  cells along a row or down a column, and fields down a CSV column: `split_pair`, which pads a
  number half that lost its leading zeros: `51218` | `9876`, `811218` | `123`);
- a run of exactly 9 digits that is a whole field (text start/end, a line break, `;`, `,`, tab or
  a quote on both sides): a 10-digit number that lost its leading zero when it went through a
  numeric Excel cell (people born 2000–2009) and was then saved as CSV.
A formula is judged as written and with its literals joined (`formula_literals`), so a number
assembled with `&` or CONCATENATE is judged whole.
A numeric value (an Excel number, int or float) is judged by its integer digits: 9 digits are read
as 10 with the leading zero restored, 10 and 12 as they are; a number with a fractional part
never is one.

A candidate is refused when its date part is a real date (month 1–12, day valid for the month;
day + 60 for a samordningsnummer; with a century, the exact calendar date incl. leap years) and
its last digit is the Luhn check digit of the last ten. Values failing either rule are never
refused; that is what keeps false refusals rare (measured in tests/test_pnr.py).

The number itself is never returned, only its position and a masked form (digits as X), so that
it cannot leak into a message.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator

# Dash punctuation (Unicode category Pd) and minus signs, besides ASCII `-` and `+`.
DASHES = (
    "\u002d\u058a\u05be\u1400\u1806\u2010\u2011\u2012\u2013\u2014\u2015\u2e17\u2e1a\u2e3a\u2e3b"
    "\u2e40\u2e5d\u301c\u3030\u30a0\ufe31\ufe32\ufe58\ufe63\uff0d\u2212\u207b\u208b\u2796\u00ad\u2043"
)
# Spaces that may stand between the date and the last four (incl. zero-width ones).
SPACES = "\u0020\u00a0\u1680\u2000-\u200d\u202f\u205f\u2060\u3000\ufeff"

_SEP = f"(?:[{SPACES}]?[{re.escape(DASHES)}+][{SPACES}]?|[{SPACES}])?"
# One dash, space, full stop or slash between year, month and day (`1981-12-18-9876`,
# `81 12 18-9876`, `81.12.18-9876`, `81/12/18-9876`); the same character both times (group 3 is
# repeated), or none.
_DATE_SEP = f"[{SPACES}{re.escape(DASHES)}./]"
# Before the last four, besides `_SEP`: the date's own full stop when the date is written with full
# stops (`81.12.18.9876`, `1981.12.18.9876`): `\3` is that separator, the look-behind makes sure it
# is a full stop. `811218.9876` (no separator in the date) is a decimal number, not a candidate.
_DOTTED_LAST = r"(?:\3(?<=\.))"
_TEN_OR_TWELVE = re.compile(
    rf"(?<!\d)(\d{{2}})?(\d{{2}})({_DATE_SEP}?)(\d{{2}})\3(\d{{2}})(?:{_DOTTED_LAST}|{_SEP})(\d{{4}})(?!\d)"
)
# Nine digits forming a whole field: a 10-digit number that lost its leading zero.
_FIELD_EDGE = "\\n\\r;,\\t\"'"
_NINE = re.compile(rf"(?<![^{_FIELD_EDGE}])(\d{{9}})(?![^{_FIELD_EDGE}])")
# A number split over two neighbouring fields of a CSV record or cells of a worksheet row: a field
# that is only the 6 or 8 date digits (the first half), and the next non-empty field that is only
# the last four (the second half): `811218;9876`, `"19811218","9876"`, `811218;;9876`; spaces,
# quotes and one dash or `+` at the split are allowed. The same two halves decide for cells
# (`split_pair`) and for CSV text (`_SPLIT`).
_Q = f"[{SPACES}]*[\"']?[{SPACES}]*"
_FIRST_HALF = rf"{_Q}(\d{{2}})?(\d{{6}}){_Q}(?:[{re.escape(DASHES)}+]{_Q})?"
_SECOND_HALF = rf"{_Q}(?:[{re.escape(DASHES)}+]{_Q})?(\d{{4}}){_Q}"
_SPLIT = re.compile(rf"(?:^|(?<=[\n\r;,\t])){_FIRST_HALF}[;,\t](?:[{SPACES}\"']*[;,\t])*{_SECOND_HALF}(?=$|[\n\r;,\t])")
_FIRST = re.compile(_FIRST_HALF)
_SECOND = re.compile(_SECOND_HALF)
# Every candidate contains its six date digits in a row, or the date with separators: the cheap
# prefilter for XML parts (etl.scan).
HINT = rf"\d{{6}}|\d{{2}}{_DATE_SEP}\d{{2}}{_DATE_SEP}\d{{2}}"
PREFILTER = re.compile(HINT)
# The candidate patterns above without their look-arounds and back-references: every candidate
# contains a match, so a text without one holds none. A plain regex (no look-around), so that
# polars runs it too (etl.scan's vectorised prefilter); an ISO date alone does not match it.
_SPLIT_GAP = f"[{SPACES}\"'{re.escape(DASHES)}+]"
CANDIDATE = (
    rf"\d{{2}}{_DATE_SEP}?\d{{2}}{_DATE_SEP}?\d{{2}}(?:{_SEP}|\.)\d{{4}}"
    rf"|\d{{6}}{_SPLIT_GAP}*[;,\t](?:{_SPLIT_GAP}|[;,\t])*\d{{4}}"
    rf"|\d{{9}}"
)
_CANDIDATE = re.compile(CANDIDATE)
# A line of delimited text with a field that could be the first half of a split number that
# `split_pair` refuses: 6 or 8 digits whose month is 01-12 and whose day is 01-31 or 61-91, with
# nothing but spaces, quotes and a dash around them. A plain regex for polars, a superset of those
# lines (the scan pairs each such field with the field below). A month or day digit outside ASCII
# (`\d` is any Unicode digit) is let through: `_ANY` is any non-ASCII character.
_ANY = r"[^\x00-\x7f]"
_MONTH = rf"(?:0[1-9]|1[0-2]|{_ANY}\d|\d{_ANY})"
_DAY = rf"(?:[0-2]\d|3[01]|[6-8]\d|9[01]|{_ANY}\d|\d{_ANY})"
FIRST_FIELD = rf"(?:^|[;,\t\r\n])[^;,\t\r\n\d]*(?:\d{{2}})?\d{{2}}{_MONTH}{_DAY}[^;,\t\r\n\d]*(?:[;,\t\r\n]|$)"
_BLANK_FIELD = re.compile(rf"[{SPACES}\"']*")


def is_blank_field(text: str) -> bool:
    """An empty field as the split-number rules skip it: nothing but spaces and quotes."""
    return _BLANK_FIELD.fullmatch(text) is not None


def _luhn_ok(ten: str) -> bool:
    total = 0
    for i, ch in enumerate(ten[:9]):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10 == int(ten[9])


def _date_ok(yymmdd: str, century: str | None) -> bool:
    month, day = int(yymmdd[2:4]), int(yymmdd[4:6])
    if day > 60:  # samordningsnummer
        day -= 60
    if not 1 <= month <= 12 or day < 1:
        return False
    if century is None:  # year unknown: 29 February may be real
        return day <= (29 if month == 2 else calendar.monthrange(2001, month)[1])
    return day <= calendar.monthrange(int(century + yymmdd[:2]), month)[1]


def _valid(century: str | None, yymmdd: str, last4: str) -> bool:
    if century is not None and century not in ("18", "19", "20"):
        return False
    ten = yymmdd + last4
    return ten.isdigit() and _date_ok(yymmdd, century) and _luhn_ok(ten)


def _ascii_digits(text: str) -> str:
    return "".join(str(int(ch)) for ch in text)  # `\d` matches any Unicode digit


def spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every personnummer-like number in the text, in order."""
    found: list[tuple[int, int]] = []
    if not _CANDIDATE.search(text):
        return iter(found)
    for m in _TEN_OR_TWELVE.finditer(text):
        century, yymmdd, last4 = m.group(1), m.group(2) + m.group(4) + m.group(5), m.group(6)
        century = _ascii_digits(century) if century else None
        if _valid(century, _ascii_digits(yymmdd), _ascii_digits(last4)):
            found.append(m.span())
    for m in _SPLIT.finditer(text):
        century = _ascii_digits(m.group(1)) if m.group(1) else None
        if _valid(century, _ascii_digits(m.group(2)), _ascii_digits(m.group(3))):
            found.append((m.start(1) if m.group(1) else m.start(2), m.end(3)))
    for m in _NINE.finditer(text):
        nine = _ascii_digits(m.group(1))
        if _valid(None, "0" + nine[:5], nine[5:]):
            found.append(m.span())
    return iter(sorted(found))


def is_first_half(value: object) -> bool:
    """Could the value be the first half of a split number (only the 6 or 8 date digits, or a
    5-digit number that lost its leading zero)? A cheap test for the scan to pick candidate cells
    and fields; `split_pair` decides."""
    text = _half_text(value, FIRST_SHORT, 6)
    return text is not None and _FIRST.fullmatch(text) is not None


# A half typed into a number cell loses its leading zeros: the date half of someone born 2001–2009
# (`051218` → 51218, five digits) and a last four below 1000 (`0123` → 123, one to three digits).
# Only a *number* is padded back (text keeps what was typed); `split_pair` pads before judging.
FIRST_SHORT = (5,)
SECOND_SHORT = (1, 2, 3)


def _half_text(value: object, short: tuple[int, ...], width: int) -> str | None:
    """The text of one half as `split_pair` reads it: a number (int or integral float) whose digits
    are one of the `short` lengths is padded with zeros to `width`."""
    text = _as_text(value)
    if text is not None and isinstance(value, int | float) and not isinstance(value, bool) and len(text) in short:
        return text.zfill(width)
    return text


def split_pair(first: object, second: object) -> bool:
    """True when two neighbouring cells (`second` the next non-empty cell after `first` along its
    row, or below it in its column) hold a personnummer split after its date: `811218` | `9876`,
    `19811218-` | `9876`, also as Excel numbers, a number half padded back to its width when it lost
    its leading zeros (`51218` | `9876`, `811218` | `123`). The same halves and the same date +
    check-digit rule as a split CSV record."""
    a, b = _half_text(first, FIRST_SHORT, 6), _half_text(second, SECOND_SHORT, 4)
    if a is None or b is None:
        return False
    ma, mb = _FIRST.fullmatch(a), _SECOND.fullmatch(b)
    if ma is None or mb is None:
        return False
    century = _ascii_digits(ma.group(1)) if ma.group(1) else None
    return _valid(century, _ascii_digits(ma.group(2)), _ascii_digits(mb.group(1)))


def _as_text(value: object) -> str | None:
    """The text the detector reads for a value; None when the value cannot hold one."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    if isinstance(value, int):
        digits = str(abs(value))
        return digits.zfill(10) if len(digits) == 9 else digits
    if hasattr(value, "isoformat"):  # dates and times
        return None
    return str(value)


def looks_like_pnr(value: object) -> bool:
    """True when the value (text, or an Excel number) contains something that looks like a
    personnummer or samordningsnummer."""
    text = _as_text(value)
    return text is not None and next(spans(text), None) is not None


# A spreadsheet formula's literals: a string ("" is a quote inside it) or a number that is not part
# of a cell reference (`A1`, `$B$2`, `Blad1!C3`) or a name.
_FORMULA_LITERAL = re.compile(r'"((?:[^"]|"")*)"|(?<![\w$.])(\d+(?:\.\d+)?)(?![\w.])')


def formula_literals(formula: str) -> str:
    """The string and number literals of a formula joined in order, as `&`, CONCATENATE, CONCAT or
    TEXTJOIN would put them together: `="811218"&"-9876"` → `811218-9876`. The detector judges this
    text as well as the formula itself, so a number cannot be assembled from pieces."""
    parts = []
    for m in _FORMULA_LITERAL.finditer(formula):
        parts.append(m.group(1).replace('""', '"') if m.group(1) is not None else m.group(2))
    return "".join(parts)


def looks_like_pnr_formula(formula: str) -> bool:
    """True when a formula holds a personnummer, as written or assembled from its literals."""
    return looks_like_pnr(formula) or looks_like_pnr(formula_literals(formula))


def mask_formula(formula: str) -> str:
    """A formula with a hit, safe to show: every digit as X (its pieces are not one span)."""
    return re.sub(r"\d", "X", formula)


def mask_digits(value: object) -> str:
    """The value as the detector reads it, every digit as X: a half of a split number is no
    number by itself, so `mask` would leave it."""
    text = _as_text(value)
    return re.sub(r"\d", "X", str(value) if text is None else text)


def mask(value: object) -> str:
    """The value as text with every digit of each personnummer-like number replaced by X."""
    text = _as_text(value)
    if text is None:
        return str(value)
    out, last = [], 0
    for start, end in spans(text):
        if start < last:
            continue
        out.append(text[last:start])
        out.append(re.sub(r"\d", "X", text[start:end]))
        last = end
    out.append(text[last:])
    return "".join(out)
