"""Half-up rounding in exact arithmetic: the one rule for every share and figure a person reads.

Swedish reports (and Excel) round half up: 17 of 136 is exactly 12.5 % and is shown as 13 %.
Python's `round` rounds half to even, and a float quotient is not exact either (29/200 is
0.14499999… in binary, which must still show as 15 %). So shares are computed here from the two
counts as a `Fraction` and rounded with `Decimal`'s ROUND_HALF_UP; pages, downloads, the PDF and
the workbook all call these functions, on the server, and never leave rounding to a client-side
percent format.

Where counts exist the figure is computed from them exactly (shares, means of whole numbers, caseload
per full time, days worked per day in the study). Some figures are genuinely real-valued estimates
computed in floats: the Kaplan–Meier retention and its Greenwood interval, the evaluable projection
built on it, SMDs, the accrual rate. Those are rounded from the Decimal of the float's shortest repr
(what Python prints for it), i.e. as a person reading the unrounded value would round it; the float's
binary error (0.145 stored as 0.14499999…) never decides a half. `tests/test_rounding_sweep.py` keeps
any other rounding (`round()`, `:.1f`, `%.0f`, Vega's `format`) out of the code that shows figures.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from numbers import Rational

Number = int | float | Decimal | Fraction


def _exact(value: Number) -> Fraction:
    if isinstance(value, Rational | Decimal):
        return Fraction(value)
    # A float is taken as the shortest decimal that prints as it (repr), i.e. as a person reads
    # it: 2.675 is rounded as 2.675, not as its binary neighbour 2.67499999…
    return Fraction(Decimal(repr(float(value))))


def exact(value: Number) -> Fraction:
    """`value` as an exact fraction (a float as the decimal it prints as)."""
    return _exact(value)


def round_half_up(value: Number, digits: int = 0) -> Decimal:
    """`value` rounded half up (away from zero at .5) to `digits` decimals, as a Decimal."""
    exact = _exact(value)
    step = Fraction(1, 10**digits) if digits >= 0 else Fraction(10 ** (-digits))
    units = exact / step
    sign = -1 if units < 0 else 1
    whole, rest = divmod(abs(units.numerator), units.denominator)
    if 2 * rest >= units.denominator:
        whole += 1
    result = Fraction(sign * whole) * step
    quantum = Decimal(1).scaleb(-digits) if digits > 0 else Decimal(1)
    return (Decimal(result.numerator) / Decimal(result.denominator)).quantize(quantum, rounding=ROUND_HALF_UP)


def round_int(value: Number) -> int:
    """`value` rounded half up to a whole number."""
    return int(round_half_up(value, 0))


def round_float(value: Number | None, digits: int = 1) -> float | None:
    """For a table column of means and ratios: rounded half up, handed on as a float (the float
    is the rounded decimal's nearest value, so a `%.{digits}f` format shows exactly it)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return float(round_half_up(value, digits))


def percent(part: Number, whole: Number, digits: int = 0) -> int | float | None:
    """100·part/whole rounded half up from the counts; None when `whole` is 0.

    Pass the two counts (ints are exact); a float share is read as the decimal it prints as.
    An int for whole percents, else a float carrying the rounded decimal."""
    if not whole:
        return None
    exact = 100 * _exact(part) / _exact(whole)
    if digits == 0:
        return int(round_half_up(exact, 0))
    return float(round_half_up(exact, digits))


def decimal_text(value: Number, digits: int = 0) -> str:
    """Rounded half up and written the Swedish way (decimal comma): 12,5."""
    return str(round_half_up(value, digits)).replace(".", ",")


def plain_text(value: Number) -> str:
    """A configured number as it is written (the shortest decimal of a float, no rounding), the
    Swedish way: 0.1 → '0,1', 100 → '100'. For thresholds and limits, never for a computed figure."""
    exact = _exact(value)
    if exact.denominator == 1:
        return str(exact.numerator)
    text = format(
        Decimal(repr(float(value)))
        if isinstance(value, float)
        else Decimal(exact.numerator) / Decimal(exact.denominator),
        "f",
    )
    return text.replace(".", ",")


def percent_text(part: Number, whole: Number, digits: int = 0, none: str = "–") -> str:
    """'13 %' for 17 of 136 (Swedish: a space before %, decimal comma)."""
    if not whole:
        return none
    return f"{decimal_text(100 * _exact(part) / _exact(whole), digits)} %"


def mean(values) -> Fraction | None:
    """The exact mean of whole numbers (e.g. ages), for rounding half up without float error."""
    items = [int(v) for v in values]
    return Fraction(sum(items), len(items)) if items else None
