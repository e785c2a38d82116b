"""The fidelity page against totals summed independently from the demo's programtrohet.xlsx and the
bands of the interim report (115–125 / 100–114 / 74–99 / ≤ 73)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import openpyxl
import pandas as pd
import pytest

from dashboard import fidelity
from schema import vocab
from tests import independent as ind
from tests.conftest import page_text, render

SECTIONS = {"Personal": "Personal", "Organisation": "Organisation", "Tjänster": "Tjänster"}


def _band(total: int) -> str:
    if total >= 115:
        return "Stämmer mycket bra överens med IPS"
    if total >= 100:
        return "Stämmer bra överens med IPS"
    if total >= 74:
        return "Stämmer delvis överens med IPS"
    return "Stämmer inte överens med IPS"


def independent_reviews(demo_dir) -> dict[date, dict]:
    ws = openpyxl.load_workbook(demo_dir / "programtrohet.xlsx", read_only=True).active
    out: dict[date, dict] = defaultdict(lambda: defaultdict(int))
    for reviewed, section, number, score, *_ in list(ws.iter_rows(values_only=True))[1:]:
        day = reviewed.date() if hasattr(reviewed, "date") else date.fromisoformat(str(reviewed))
        out[day][section] += int(score)
        out[day]["total"] += int(score)
        out[day][(section, int(number))] = int(score)
    return out


def _reviews_table(at):
    return next(df.value for df in at.dataframe if "Totalt" in df.value.columns)


@pytest.fixture(scope="module")
def expected(demo_dir):
    return independent_reviews(demo_dir)


@pytest.fixture(scope="module")
def page(demo_db):
    return render(demo_db, "programtrohet")


def test_programtrohet_renders_headings_heatmap_and_report_note(page):
    assert not page.exception, [e.value for e in page.exception]
    text = page_text(page)
    for heading in ("Totalpoäng och delsummor per skattning", "Poäng per punkt", "Förändring sedan förra skattningen"):
        assert heading in text
    assert "Svagaste punkterna" in text
    assert len(page.get("vega_lite_chart")) >= 2


def test_programtrohet_comment_from_the_file_is_shown_with_its_review(page, demo_dir):
    # Issue 12: the 87-vs-92 remark is no fixed text any more but the fidelity file's Kommentar column.
    ws = openpyxl.load_workbook(demo_dir / "programtrohet.xlsx", read_only=True).active
    rows = list(ws.iter_rows(values_only=True))
    col = rows[0].index("Kommentar")
    comments = {r[0]: r[col] for r in rows[1:] if r[col]}
    assert comments
    for reviewed, comment in comments.items():
        day = reviewed.date() if hasattr(reviewed, "date") else date.fromisoformat(str(reviewed))
        assert any(day.isoformat() in i.value and comment in i.value for i in page.info)


def test_programtrohet_heatmap_has_every_item_of_every_review(page, expected):
    import pyarrow as pa

    cells = None
    for chart in page.get("vega_lite_chart"):
        for dataset in chart.proto.datasets:
            frame = pa.ipc.open_stream(dataset.data.data).read_all().to_pandas()
            if {"Punkt", "Skattning", "Poäng"} <= set(frame.columns):
                cells = frame
    assert cells is not None, "heat map drawn"
    assert len(cells) == 25 * len(expected)
    label = "Personal 1. Klientgruppens storlek"
    first = cells[(cells["Punkt"] == label) & (cells["Skattning"] == "2023-09-15")]
    assert int(first["Poäng"].iloc[0]) == expected[date(2023, 9, 15)][("Personal", 1)]


def test_programtrohet_totals_sections_and_bands_match_source_file(page, expected):
    table = _reviews_table(page).set_index("Skattning")
    assert list(table.index) == [d.isoformat() for d in sorted(expected)]
    for day, review in expected.items():
        row = table.loc[day.isoformat()]
        assert int(row["Totalt"]) == review["total"]
        for section, column in SECTIONS.items():
            assert int(row[column]) == review[section]
        assert row["Nivå"] == _band(review["total"])
    assert int(table.loc["2023-09-15", "Totalt"]) == 92  # the interim report's Table 2
    assert table.loc["2023-09-15", "Nivå"] == "Stämmer delvis överens med IPS"


def test_programtrohet_headline_change_and_next_review(page, expected, demo_dir):
    days = sorted(expected)
    newest, before = expected[days[-1]], expected[days[-2]]
    total = next(m for m in page.metric if m.label == "Totalpoäng")
    assert total.value == f"{newest['total']} av 125"
    assert total.delta.startswith(f"{newest['total'] - before['total']:+d}")
    months = ind.config(demo_dir)["fidelity"]["review_interval_months"]  # issue 12: configuration, yearly
    due = (pd.Timestamp(days[-1]) + pd.DateOffset(months=months)).date()
    assert next(m for m in page.metric if m.label == "Nästa skattning senast").value == due.isoformat()


def test_programtrohet_weakest_items_are_lowest_of_newest_review(page, expected):
    newest = expected[max(expected)]
    scores = {k: v for k, v in newest.items() if isinstance(k, tuple)}
    weakest = next(df.value for df in page.dataframe if list(df.value.columns) == ["Punkt", "Poäng"])
    assert int(weakest["Poäng"].min()) == min(scores.values())
    lowest = sum(1 for v in scores.values() if v == min(scores.values()))
    assert (weakest["Poäng"] == min(scores.values())).sum() == lowest


def test_programtrohet_single_review_shows_no_change_and_overdue_next_review(mistakes_db):
    # The loader refuses the whole second review when one of its rows is invalid (score 6).
    at = render(mistakes_db, "programtrohet")
    assert not at.exception, [e.value for e in at.exception]
    assert any("Bara en skattning" in i.value for i in at.info)
    nxt = next(m for m in at.metric if m.label == "Nästa skattning senast")
    assert nxt.value == "2024-09-15"  # issue 12: yearly (studie.toml); before the cut-off 2024-09-30
    assert nxt.delta == "försenad"


def test_programtrohet_incomplete_review_is_marked():
    items = pd.DataFrame(
        [
            {
                "reviewed_on": pd.Timestamp("2024-01-10"),
                "item_key": key,
                "section_key": section,
                "item_number": int(key[1:]),
                "score": 4,
            }
            for key, (section, _) in list(vocab.FIDELITY_ITEMS.items())[1:]
        ]
    )
    table = fidelity.review_table(items)
    assert table.loc[0, "Punkter"] == "24 av 25"
    assert not table.loc[0, "complete"]
    assert table.loc[0, "Totalt"] == 96


# Issue 12: the interval is study configuration (default yearly, as the interim report says); a
# shorter interval below "bra" only when configured.
@pytest.mark.parametrize(
    "total, shorter, months",
    [(110, None, 12), (120, None, 12), (92, None, 12), (60, None, 12), (110, 6, 12), (92, 6, 6), (99, 3, 3)],
)
def test_programtrohet_next_review_follows_configured_interval(total, shorter, months):
    from schema.config import Fidelity

    rules = Fidelity(interval_below_good_months=shorter)
    assert (
        fidelity.next_review_due(date(2024, 3, 31), total, rules)
        == (pd.Timestamp("2024-03-31") + pd.DateOffset(months=months)).date()
    )
