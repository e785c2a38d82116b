"""Half up where the last stray `round()` calls were (issue 12): the sealed outcomes, caseload per
full time, waiting times, the attrition projection and the percent axes. Each input is chosen so
that half to even (Python's `round`, a float format) and half up disagree; the expected figures are
worked out by hand from the input rows."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from dashboard import caseload, charts, formats, outcomes, recruitment


def _pp(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {
        "study_code": [f"X{i}" for i in range(n)],
        "arm": ["IPS+TAU"] * n,
        "days_to_contact": [None] * n,
        "days_to_job": [None] * n,
        "jobs": [0] * n,
        "full_time_jobs": [0] * n,
        "part_time_jobs": [0] * n,
        "worked_one_day": [False] * n,
        "continuous_work": [False] * n,
        "days_worked_share": [None] * n,
        "income_sek": [None] * n,
        "benefits_sek": [None] * n,
        "asi_change": [None] * n,
    }
    base.update(columns)
    return pd.DataFrame(base)


def test_outcome_means_round_half_up():
    pp = _pp(
        income_sek=[100.0, 101.0],  # mean 100.5 → 101 (round() gives 100)
        benefits_sek=[2500.0, 2500.0 + 1.0],  # 2500.5 → 2501
        asi_change=[0.0005, 0.0],  # 0.00025 → 0.000 (3 decimals) – and 0.0015/2 below
        days_to_contact=[10, 15],  # median 12.5, exact
    )
    row = outcomes.summary_by_arm(pp).iloc[0]
    assert row["income_mean"] == 101
    assert row["benefits_mean"] == 2501
    assert row["contact_median_days"] == 12.5
    pp = _pp(asi_change=[0.125, 0.0], days_worked_share=[None, None])  # 0.0625 → 0.063 (round gives 0.062)
    assert outcomes.summary_by_arm(pp).iloc[0]["asi_change_mean"] == 0.063


def test_outcome_days_worked_share_is_exact():
    # 1 day worked of 16 in the study: 6.25 % → 6.3 (half to even on the float gives 6.2)
    people = pd.DataFrame(
        {"study_code": ["X1"], "arm": ["IPS+TAU"], "randomised_on": [pd.Timestamp("2024-01-01")], "left_on": [None]}
    )
    activity = pd.DataFrame(columns=["study_code", "activity_on", "activity_type", "end_on", "extent"])
    employment = pd.DataFrame(
        {
            "study_code": ["X1"],
            "timepoint_months": [6],
            "days_worked": [1.0],
            "hours_worked": [1.25],
            "worked_any": ["yes"],
            "income_sek": [None],
            "benefits_sek": [None],
            "asi_employment": [None],
        }
    )
    pp = outcomes.per_participant(people, activity, employment, date(2024, 1, 17))
    assert outcomes.summary_by_arm(pp).iloc[0]["days_worked_share_mean"] == 6.3
    # hours 1.25 at the 6-month follow-up → 1.3 (round(1.25, 1) gives 1.2)
    assert outcomes.by_timepoint(people, employment).iloc[0]["hours_mean"] == 1.3


def test_caseload_per_full_time_rounds_half_up():
    # 5 active at 80 %: 6.25 per full time → 6.3 (round(6.25, 1) gives 6.2)
    day = pd.Timestamp("2024-03-01")
    daily = pd.DataFrame({"specialist_id": ["A"], "day": [day], "active_n": [5]})
    roster = pd.DataFrame(
        {"specialist_id": ["A"], "start_on": [pd.Timestamp("2023-01-01")], "end_on": [None], "employment_pct": [80]}
    )
    row = caseload.caseload_summary(daily, roster, day.date(), 15).iloc[0]
    assert row["Per heltid"] == 6.3 and row["Tjänstgöringsgrad %"] == 80
    agg = pd.DataFrame({"specialist_id": ["A"], "active_at": [5], "peak": [5], "peak_day": [day], "over_n": [0]})
    assert caseload.caseload_summary_agg(agg, roster, day.date()).iloc[0]["Per heltid"] == 6.3


def test_waiting_time_median_is_whole_days_half_up():
    summary = recruitment.wait_summary(np.array([10.0, 15.0]))  # median 12.5 → 13 (round gives 12)
    assert summary["Median"] == 13
    assert recruitment.wait_summary(np.array([1.0, 2, 3, 4, 5, 6]))["Q1"] == 2  # 2.25 → 2


def test_number_texts_are_half_up_and_swedish():
    assert formats.number_text(2.5) == "3"  # f"{2.5:.0f}" gives "2"
    assert formats.number_text(0.125, 2) == "0,13"
    assert formats.number_text(None) == "–" and formats.rounded(float("nan")) is None
    assert formats.rounded(6.25, 1) == 6.3


def test_percent_axis_labels_are_written_on_the_server():
    axis = charts.percent_axis(0.5).to_dict()
    assert axis["values"] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert "'30 %'" in axis["labelExpr"] and "format" not in axis
