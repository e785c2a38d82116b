"""Half-up rounding in exact arithmetic (schema/rounding.py): the one rule for every share shown."""

from decimal import Decimal
from fractions import Fraction

import pytest

from schema import rounding


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [
        (17, 136, 13),  # interim report Table 1: exactly 12.5 % -> 13 (half to even would give 12)
        (29, 200, 15),  # 14.5 %, but 0.145 is 0.14499999... as a float
        (1, 8, 13),  # 12.5
        (3, 8, 38),  # 37.5
        (5, 8, 63),  # 62.5 (round() gives 62)
        (1, 3, 33),
        (2, 3, 67),
        (0, 5, 0),
        (5, 5, 100),
        (113, 137, 82),  # Table 1: men 82 %
    ],
)
def test_percent_rounds_half_up_from_counts(part, whole, expected):
    assert rounding.percent(part, whole) == expected


def test_percent_of_nothing_is_none():
    assert rounding.percent(0, 0) is None
    assert rounding.percent_text(0, 0) == "–"


@pytest.mark.parametrize(
    ("part", "whole", "digits", "text"),
    [
        (29, 200, 0, "15 %"),
        (29, 200, 1, "14,5 %"),
        (1, 6, 1, "16,7 %"),
        (1, 16, 1, "6,3 %"),  # 6.25 -> 6.3 (half to even gives 6.2)
        (17, 136, 0, "13 %"),
    ],
)
def test_percent_text_is_swedish_and_half_up(part, whole, digits, text):
    assert rounding.percent_text(part, whole, digits) == text


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (2.5, 0, Decimal("3")),
        (-2.5, 0, Decimal("-3")),
        (0.125, 2, Decimal("0.13")),
        (2.675, 2, Decimal("2.68")),  # the float 2.675 is 2.67499999...; read as the person reads it
        (Fraction(1, 8), 2, Decimal("0.13")),
        (Decimal("12.45"), 1, Decimal("12.5")),
        (43.05, 1, Decimal("43.1")),
    ],
)
def test_round_half_up(value, digits, expected):
    assert rounding.round_half_up(value, digits) == expected


def test_round_float_keeps_missing_values_missing():
    assert rounding.round_float(None) is None
    assert rounding.round_float(float("nan")) is None
    assert rounding.round_float(12.25, 1) == 12.3
    assert rounding.round_int(0.5) == 1
