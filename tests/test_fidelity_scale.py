"""Fidelity item 1 (caseload size) is scored by the published bands, kept as data with their source."""

import tomllib

import pytest

from schema.fidelity import BANDS_FILE, caseload_scale


@pytest.mark.parametrize(
    ("per_fte", "score"),
    [
        (0, 5),
        (15, 5),
        (20, 5),
        (20.5, 4),
        (21, 4),
        (25, 4),
        (26, 3),
        (30, 3),
        (31, 2),
        (40, 2),
        (41, 1),
        (80, 1),
    ],
)
def test_caseload_score_follows_becker_2008(per_fte, score):
    # Becker, Swanson, Bond & Merrens (2008): <=20 -> 5, 21-25 -> 4, 26-30 -> 3, 31-40 -> 2, >=41 -> 1
    assert caseload_scale().score(per_fte) == score


def test_caseload_bands_are_data_with_their_source():
    with open(BANDS_FILE, "rb") as fh:
        data = tomllib.load(fh)
    assert "Becker" in data["source"] and "2008" in data["source"]
    assert [b.label for b in caseload_scale().bands] == [
        "5 p (≤ 20)",
        "4 p (21–25)",
        "3 p (26–30)",
        "2 p (31–40)",
        "1 p (≥ 41)",
    ]
    assert caseload_scale().text(4) == "4 p (21–25 per heltid)"


def test_study_cap_is_a_separate_rule():
    from schema.config import Caseload

    assert Caseload().cap == 15
    assert caseload_scale().score(Caseload().cap) == 5
