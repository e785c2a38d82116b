"""Pure transforms against hand-computed values."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pandas as pd
import pytest

from dashboard import attrition, balance, fidelity, privacy, recruitment


def test_kaplan_meier_matches_hand_computation():
    # times 2(event) 3(censored) 5(event) 5(event) 8(censored): S(2)=4/5, S(5)=4/5*(1-2/3)=4/15
    frame = pd.DataFrame({"days_in_study": [2, 3, 5, 5, 8], "is_left": [True, False, True, True, False]})
    curve = attrition.kaplan_meier(frame)
    at = attrition.retention_at(curve, 4)["Alla"]
    assert at == pytest.approx(0.8)
    assert attrition.retention_at(curve, 6)["Alla"] == pytest.approx(4 / 15)
    assert curve.loc[curve["day"] == 5, "at_risk"].item() == 3


def test_kaplan_meier_groups_are_separate():
    frame = pd.DataFrame(
        {"days_in_study": [1, 2, 3, 4], "is_left": [True, False, False, False], "g": ["a", "a", "b", "b"]}
    )
    curve = attrition.kaplan_meier(frame, "g")
    assert attrition.retention_at(curve, 10) == {"a": pytest.approx(0.5), "b": pytest.approx(1.0)}


@pytest.mark.parametrize(
    "a, b, expected",
    [
        # two levels: |p1-p2| / sqrt((p1(1-p1)+p2(1-p2))/2) with p1=.5, p2=.25
        (["m", "k", "m", "k"], ["m", "m", "m", "k"], 0.25 / math.sqrt((0.25 + 0.1875) / 2)),
        (["m", "k"], ["m", "k"], 0.0),
    ],
)
def test_smd_categorical_two_levels_equals_binary_formula(a, b, expected):
    assert balance.smd_categorical(pd.Series(a), pd.Series(b)) == pytest.approx(expected)


def test_smd_continuous_pooled_sd():
    a, b = pd.Series([40.0, 42.0, 44.0]), pd.Series([42.0, 44.0, 46.0])
    # means 42 and 44, both sd 2 → SMD 1
    assert balance.smd_continuous(a, b) == pytest.approx(1.0)


def test_smd_categorical_three_levels_is_symmetric_and_nonnegative():
    a = pd.Series(["x"] * 5 + ["y"] * 3 + ["z"] * 2)
    b = pd.Series(["x"] * 2 + ["y"] * 3 + ["z"] * 5)
    assert balance.smd_categorical(a, b) == pytest.approx(balance.smd_categorical(b, a))
    assert balance.smd_categorical(a, b) > 0.5


@pytest.mark.parametrize(
    "counts, expected",
    [
        ([10, 3, 20], ["<5", "<5", "20"]),  # one small cell → complementary suppression of the next smallest
        ([10, 3, 2, 20], ["10", "<5", "<5", "20"]),
        ([10, 0, 20], ["10", "0", "20"]),
        ([4], ["<5"]),
    ],
)
def test_suppress_counts_hides_small_cells_and_a_complement(counts, expected):
    assert privacy.suppress_counts(counts, 4, "<5") == expected


def test_project_accrual_constant_rate_centres_on_naive_estimate():
    cutoff = date(2024, 12, 31)
    start = date(2024, 1, 1)
    days = pd.Series([start + timedelta(days=int(i * 365 / 120)) for i in range(120)])  # 10 per month
    p = recruitment.project_accrual(days, 240, cutoff, start)
    # 120 remaining at ~10/month ≈ 12 months
    assert p.median is not None and p.low < p.median < p.high
    assert abs((p.median - date(2025, 12, 31)).days) < 45
    assert p == recruitment.project_accrual(days, 240, cutoff, start)  # seeded: deterministic


def test_project_accrual_reports_date_reached():
    days = pd.Series([date(2024, 1, d) for d in range(1, 11)])
    p = recruitment.project_accrual(days, 5, date(2024, 2, 1), date(2024, 1, 1))
    assert p.reached_on == date(2024, 1, 5)


def test_project_accrual_without_recent_accrual_gives_no_date():
    p = recruitment.project_accrual(pd.Series([date(2020, 1, 1)]), 10, date(2024, 1, 1), date(2020, 1, 1))
    assert p.median is None


def test_checkpoint_sizes_are_thirds_rounded_up():
    assert balance.checkpoint_sizes(240) == [80, 160, 240]
    assert balance.checkpoint_sizes(135) == [45, 90, 135]
    assert balance.checkpoint_sizes(100) == [34, 67, 100]


def test_fidelity_interim_report_table2_totals_92_fair():
    scores = {
        "staffing": [5, 5, 5],
        "organisation": [5, 3, 3, 5, 5, 5, 3, 5],
        "services": [5, 5, 4, 3, 5, 2, 4, 1, 1, 1, 4, 4, 1, 3],
    }
    rows = [
        {"reviewed_on": date(2023, 9, 15), "section_key": s, "item_number": i + 1, "score": v}
        for s, values in scores.items()
        for i, v in enumerate(values)
    ]
    review = fidelity.reviews(pd.DataFrame(rows)).iloc[0]
    assert (review["Personal"], review["Organisation"], review["Tjänster"]) == (15, 34, 43)
    assert review["Totalt"] == 92 and review["band"] == "fair" and review["complete"]
