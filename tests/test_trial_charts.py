"""The charts trialists expect (issue 14), their numbers against counts made independently from the
source files: the accrual chart's planned trajectory and projection, the per-district small
multiples, the number at risk under the Kaplan–Meier curve."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta

import pandas as pd
import pytest

from dashboard import attrition, recruitment
from tests import independent as ind
from tests.conftest import render


def datasets(at) -> list[tuple[dict, list[dict]]]:
    """(spec, rows) for every dataset of every Vega-Lite chart on the page (Streamlit sends them as
    Arrow beside the spec)."""
    import pyarrow as pa

    out = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        for dataset in chart.proto.datasets:
            frame = pa.ipc.open_stream(dataset.data.data).read_all().to_pandas()
            out.append((spec, frame.to_dict("records")))
    return out


def test_planned_path_runs_from_start_to_target_at_planned_end():
    path = recruitment.planned_path(date(2023, 1, 1), date(2025, 12, 31), 250)
    assert list(path["n"]) == [0, 250]
    assert list(path["day"].dt.date) == [date(2023, 1, 1), date(2025, 12, 31)]


def test_projection_path_goes_from_today_to_target_inside_its_band():
    cutoff = date(2024, 6, 30)
    p = recruitment.Projection(
        100, 160, 4.0, date(2023, 7, 1), median=date(2025, 8, 1), low=date(2025, 3, 1), high=date(2026, 2, 1)
    )
    path = recruitment.projection_path(p, cutoff)
    assert path["n"].iloc[0] == 100 and path["n"].iloc[-1] == 160
    assert path["median"].iloc[0] == pd.Timestamp(cutoff) and path["median"].iloc[-1] == pd.Timestamp(p.median)
    assert path["low"].iloc[-1] == pd.Timestamp(p.low) and path["high"].iloc[-1] == pd.Timestamp(p.high)
    assert (path["low"] <= path["median"]).all() and (path["median"] <= path["high"]).all()
    reached = recruitment.Projection(160, 160, None, None, reached_on=date(2024, 1, 1))
    assert recruitment.projection_path(reached, cutoff).empty


def test_rekrytering_multiples_match_source_files(demo_db, demo_dir):
    at = render(demo_db, "rekrytering")
    assert not at.exception, [e.value for e in at.exception]
    expected = Counter(p["district"] for p in ind.randomised(demo_dir).values())
    multiples = next(rows for spec, rows in datasets(at) if "facet" in spec and rows and "Serie" in rows[0])
    frame = pd.DataFrame(multiples)
    actual = frame[frame["Serie"] == "Randomiserade"].sort_values("day").groupby("Stadsdel")["n"].last()
    assert actual.to_dict() == dict(expected)
    planned = frame[frame["Serie"] == "Planerat"].groupby("Stadsdel")["n"].max()
    targets = {d["name"]: d["target"] for d in ind.config(demo_dir)["districts"]}
    assert planned.to_dict() == {name: targets[name] for name in expected}


def test_rekrytering_accrual_chart_reaches_the_source_count_and_target(demo_db, demo_dir):
    at = render(demo_db, "rekrytering")
    n = len(ind.randomised(demo_dir))
    target = ind.config(demo_dir)["target_randomised"]
    found = [rows for _, rows in datasets(at) if rows and {"series", "day", "n"} <= set(rows[0])]
    assert found and max(r["n"] for r in found[0]) == n
    projected = [rows for _, rows in datasets(at) if rows and {"low", "high", "median"} <= set(rows[0])]
    if n < target:
        assert projected and projected[0][0]["n"] == n and projected[0][-1]["n"] == target


def test_bortfall_number_at_risk_matches_source_files(demo_db, demo_dir):
    at = render(demo_db, "bortfall")
    assert not at.exception, [e.value for e in at.exception]
    cutoff = ind.config(demo_dir)["data_cutoff"]
    left = ind.left_study(demo_dir)
    followed = []
    for code, p in ind.randomised(demo_dir).items():
        end = min(left[code][0], cutoff) if code in left else cutoff
        followed.append((end - p["randomised_on"]).days)
    risk = next(rows for _, rows in datasets(at) if rows and set(rows[0]) == {"group", "day", "at_risk"})
    assert len(risk) >= 4
    for row in risk:
        assert row["group"] == "Alla"
        assert row["at_risk"] == sum(1 for d in followed if d >= row["day"]), row
    days = [r["day"] for r in risk]
    assert days[0] == 0 and len(set(b - a for a, b in zip(days, days[1:], strict=False))) == 1  # regular


def test_at_risk_days_are_regular():
    assert attrition.at_risk_days(400) == [0, 90, 180, 270, 360]
    assert attrition.at_risk_days(5 * 365)[:3] == [0, 180, 360]


@pytest.mark.parametrize("group", [None, "arm"])
def test_at_risk_agrees_with_the_curve_at_its_steps(group):
    frame = pd.DataFrame(
        {
            "days_in_study": [10, 50, 50, 90, 200, 300],
            "is_left": [True, False, True, True, False, False],
            "arm": ["A", "B", "A", "B", "A", "B"],
        }
    )
    curve = attrition.kaplan_meier(frame, group)
    risk = attrition.at_risk(frame, group, [0, 50, 90])
    for _, row in risk.iterrows():
        step = curve[(curve["group"] == row["group"]) & (curve["day"] >= row["day"])]
        expected = (
            int(step["at_risk"].iloc[0])
            if row["day"] > 0
            else int(curve[curve["group"] == row["group"]]["at_risk"].iloc[0])
        )
        assert row["at_risk"] == expected
    assert timedelta(days=1)  # (keeps the date import honest when run alone)
