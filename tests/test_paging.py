"""Long tables a page at a time and the monthly chart summarised (issue 14): what is on screen is still
every row and every count, checked against the source files."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pandas as pd
import pytest

from dashboard import followup, recruitment, ui
from tests import independent as ind
from tests.conftest import render
from tests.test_trial_charts import datasets


def _district_table(at) -> pd.DataFrame:
    return next(df.value for df in at.dataframe if "Prognos mål nås" in df.value.columns)


def test_district_table_pages_cover_every_district_once(demo_db, demo_dir, monkeypatch):
    monkeypatch.setattr(ui, "PAGE_ROWS", 3)
    at = render(demo_db, "rekrytering")
    assert not at.exception
    first = _district_table(at)
    assert len(first) == 3
    assert any("Rad 1–3 av 4" in c.value for c in at.caption)
    at.number_input(key="district_table_page").set_value(2).run()
    assert not at.exception
    second = _district_table(at)
    assert len(second) == 1
    shown = pd.concat([first, second], ignore_index=True)
    expected = Counter(p["district"] for p in ind.randomised(demo_dir).values())
    assert {n.split(" (f.d.")[0]: k for n, k in zip(shown["Stadsdel"], shown["Randomiserade"], strict=True)} == dict(
        expected
    )


def test_unpaged_table_has_no_page_picker(demo_db):
    at = render(demo_db, "rekrytering")
    assert len(_district_table(at)) == 4
    assert not [w for w in at.number_input if str(w.key).endswith("_page")]


@pytest.mark.parametrize("max_stacked", [8, 2])
def test_monthly_chart_counts_every_randomised_per_month(demo_db, demo_dir, monkeypatch, max_stacked):
    """Per district while a legend can tell them apart, else the selection's total: either way each
    month's bar adds up to the randomisations dated that month in the randomisation log."""
    monkeypatch.setattr(recruitment, "MAX_STACKED", max_stacked)
    at = render(demo_db, "rekrytering")
    rows = [row for _, data in datasets(at) for row in data if "randomised_n" in row and "district" in row]
    per_month: Counter = Counter()
    for row in rows:
        per_month[str(row["month"])[:7]] += row["randomised_n"]
    expected = Counter()
    for p in ind.randomised(demo_dir).values():
        day = p["randomised_on"] if isinstance(p["randomised_on"], date) else date.fromisoformat(p["randomised_on"])
        expected[day.isoformat()[:7]] += 1
    assert {m: n for m, n in per_month.items() if n} == dict(expected)
    series = {row["district"] for row in rows}
    assert len(series) == (1 if max_stacked < 4 else 4)


def test_followup_unit_chart_gives_way_to_table_beyond_readable_count(demo_db, monkeypatch):
    """More units than a bar chart can carry: the chart gives way to a note, the table keeps every unit."""
    at = render(demo_db, "uppfoljning")
    charts = len(at.get("vega_lite_chart"))
    units = set(next(df.value for df in at.dataframe if "Enhet" in df.value.columns)["Enhet"])
    assert len(units) >= 2
    monkeypatch.setattr(followup, "MAX_UNITS_CHARTED", 1)
    at = render(demo_db, "uppfoljning")
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == charts - 1
    assert any("diagrammet visas för högst 1" in c.value for c in at.caption)
    assert set(next(df.value for df in at.dataframe if "Enhet" in df.value.columns)["Enhet"]) == units
