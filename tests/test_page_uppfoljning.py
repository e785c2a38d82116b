"""The ASI follow-up page against follow-up statuses computed independently, in plain Python, from
the demo's source files and the rules stated in etl/sql/30_followup_status.sql."""

from __future__ import annotations

import calendar
import csv
import tomllib
from collections import Counter
from datetime import date, timedelta

import openpyxl
import pytest

from dashboard import followup
from tests.conftest import page_text, render

STATUS_LABEL = {
    "not_due": "Ej aktuell än",
    "due": "Aktuell (i fönstret)",
    "done_on_time": "Genomförd i tid",
    "done_late": "Genomförd sent",
    "overdue": "Försenad",
    "missed": "Missad",
    "not_applicable": "Ej tillämplig",
}


def _csv(path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


def _day(text) -> date | None:
    if text in (None, ""):
        return None
    return text.date() if hasattr(text, "date") else date.fromisoformat(str(text))


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _study(demo_dir):
    cfg = tomllib.loads((demo_dir / "studie.toml").read_text(encoding="utf-8"))
    names = {}
    for d in cfg["districts"]:
        for name in [d["name"], d["id"], *d.get("aliases", []), *(f["name"] for f in d.get("former_names", []))]:
            names[name.lower()] = d
    return cfg, names


def independent_followups(demo_dir) -> list[dict]:
    """One dict per randomised participant per timepoint, with status as 30_followup_status.sql states it."""
    cfg, names = _study(demo_dir)
    fu, cutoff = cfg["followup"], cfg["data_cutoff"]
    before, after, missed_after = fu["window_before_days"], fu["window_after_days"], fu["missed_after_days"]
    left: dict[str, date] = {}
    ws = openpyxl.load_workbook(demo_dir / "avslut.xlsx", read_only=True).active
    for code, on, kind, _reason in list(ws.iter_rows(values_only=True))[1:]:
        if kind == "Lämnat studien":
            left[code] = min(left.get(code, date.max), _day(on))
    done = {(r["Studiekod"], int(r["Tidpunkt"])): r for r in _csv(demo_dir / "uppfoljning.csv")}
    # Issue 12: a person excluded after randomisation is owed no follow-up after that date, as if left.
    for r in _csv(demo_dir / "randomisering.csv"):
        if r.get("Exkluderad efter randomisering"):
            code = r["Studiekod"]
            left[code] = min(left.get(code, date.max), _day(r["Exkluderad efter randomisering"]))
    rows = []
    for r in _csv(demo_dir / "randomisering.csv"):
        code, randomised = r["Studiekod"], _day(r["Randomiseringsdatum"])
        district = names[r["Stratum"].lower()]
        for months in fu["timepoints_months"]:
            due = _add_months(randomised, months)
            start, end = due - timedelta(days=before), due + timedelta(days=after)
            rec = done.get((code, months))
            result = {"Genomförd": "done", "Missad": "missed"}[rec["Status"]] if rec else None
            done_on = _day(rec["Datum"]) if rec else None
            if result == "done":
                status = "done_on_time" if done_on <= end else "done_late"
            elif result == "missed":
                status = "missed"
            elif code in left and left[code] <= end:
                status = "not_applicable"
            elif cutoff < start:
                status = "not_due"
            elif cutoff <= end:
                status = "due"
            elif cutoff <= end + timedelta(days=missed_after):
                status = "overdue"
            else:
                status = "missed"
            rows.append(
                {
                    "code": code,
                    "district": district["id"],
                    "months": months,
                    "due": due,
                    "window": (start, end),
                    "status": status,
                    "days_overdue": (cutoff - end).days
                    if result is None and code not in left and cutoff > end
                    else None,
                    "left": code in left,
                    "unit": (rec["Enhet"] if rec and rec["Enhet"] else district["units"][0]),
                }
            )
    return rows


def independent_action_list(rows: list[dict], cutoff: date, due_soon: int) -> list[tuple]:
    # Someone who has left the study is owed no follow-up, so is never on the list.
    picked = [
        r
        for r in rows
        if not r["left"]
        and (
            r["status"] in ("due", "overdue")
            or (r["status"] == "not_due" and r["due"] <= cutoff + timedelta(days=due_soon))
        )
    ]
    picked.sort(
        key=lambda r: (-(r["days_overdue"] if r["days_overdue"] is not None else -1), r["due"], r["code"], r["months"])
    )
    # Issue 12: not overdue is shown as 0 days late, never as an empty value the grid calls "None".
    return [(r["code"], f"{r['months']} mån", r["due"], r["days_overdue"] or 0, r["status"]) for r in picked]


def _frame_with(at, *columns):
    for df in at.dataframe:
        if all(c in df.value.columns for c in columns):
            return df.value
    raise AssertionError(f"no table with columns {columns}")


@pytest.fixture(scope="module")
def expected(demo_dir):
    return independent_followups(demo_dir)


@pytest.fixture(scope="module")
def page(demo_db):
    return render(demo_db, "uppfoljning")


def test_uppfoljning_renders_headings_and_window_in_words(page):
    assert not page.exception, [e.value for e in page.exception]
    text = page_text(page)
    assert "Uppföljning (ASI)" in text
    for heading in ("Status per tidpunkt", "Status per enhet", "Andel genomförda över tid"):
        assert heading in text
    assert (
        "fönster: 14 dagar före till 30 dagar efter förfallodagen; ej gjord 90 dagar efter fönstret räknas som missad"
    ) in text
    assert "genomförda (i tid eller sent) / uppföljningar vars fönster har stängt" in text


def test_uppfoljning_status_counts_per_timepoint_match_source_files(page, expected):
    table = _frame_with(page, "Tidpunkt", "Totalt")
    assert "Enhet" not in table.columns
    counted = Counter((r["months"], r["status"]) for r in expected)
    for months in (6, 12, 18):
        row = table[table["Tidpunkt"] == f"{months} mån"].iloc[0]
        for status, label in STATUS_LABEL.items():
            assert int(row[label]) == counted[(months, status)], (months, status)
        assert int(row["Totalt"]) == sum(1 for r in expected if r["months"] == months)


def test_uppfoljning_status_counts_per_unit_match_source_files(page, expected):
    table = _frame_with(page, "Enhet", "Tidpunkt", "Totalt")
    counted = Counter((r["unit"], f"{r['months']} mån", r["status"]) for r in expected)
    assert len(table) == len({(r["unit"], r["months"]) for r in expected})
    for _, row in table.iterrows():
        for status, label in STATUS_LABEL.items():
            assert int(row[label]) == counted[(row["Enhet"], row["Tidpunkt"], status)]


def test_uppfoljning_completion_rate_uses_closed_windows(page, expected):
    done = sum(r["status"] in ("done_on_time", "done_late") for r in expected)
    closed = sum(r["status"] in ("done_on_time", "done_late", "overdue", "missed") for r in expected)
    metric = next(m for m in page.metric if m.label == "Andel genomförda")
    assert metric.value == f"{round(100 * done / closed)} %"
    quarters = _frame_with(page, "Kvartal", "Andel genomförda")
    assert int(quarters["Genomförda"].sum()) == done
    assert int(quarters["Stängda fönster"].sum()) == closed


def test_uppfoljning_unit_manager_list_is_own_district_most_overdue_first(demo_db, demo_dir, expected):
    cfg, _ = _study(demo_dir)
    at = render(demo_db, "uppfoljning", role="enhetschef:Södermalm")
    assert not at.exception, [e.value for e in at.exception]
    table = _frame_with(at, "Studiekod", "Förfallodag", "Dagar försenad")
    assert list(table.columns) == [
        "Studiekod",
        "Enhet",
        "Tidpunkt",
        "Förfallodag",
        "Fönster",
        "Dagar försenad",
        "Status",
    ]
    own = [r for r in expected if r["district"] == "sodermalm"]
    want = independent_action_list(own, cfg["data_cutoff"], cfg["followup"]["due_soon_days"])
    assert want, "the demo has Södermalm follow-ups to act on"
    got = [
        (
            r["Studiekod"],
            r["Tidpunkt"],
            r["Förfallodag"],
            int(r["Dagar försenad"]),
            r["Status"],
        )
        for _, r in table.iterrows()
    ]
    labels = {"due": "Aktuell (i fönstret)", "overdue": "Försenad", "not_due": followup.DUE_SOON_LABEL}
    assert got == [(c, t, d, n, labels[s]) for c, t, d, n, s in want]
    others = {r["code"] for r in expected if r["district"] != "sodermalm"}
    assert not set(table["Studiekod"]) & others
    text = page_text(at)
    assert not [code for code in others if code in text]


def test_uppfoljning_unit_filter_empty_selection_explains(page):
    page.multiselect(key="followup_units").set_value([]).run()
    assert not page.exception
    assert any("Ingen enhet vald" in i.value for i in page.info)


def test_uppfoljning_steering_group_gets_no_participant_list(demo_db):
    at = render(demo_db, "uppfoljning", role="styrgrupp")
    assert not at.exception
    assert not any("Studiekod" in df.value.columns for df in at.dataframe)
    assert any("visas inte för din roll" in i.value for i in at.info)


def test_uppfoljning_action_list_pure_function_sorts_and_filters():
    import pandas as pd

    rows = pd.DataFrame(
        {
            "study_code": ["A", "B", "C", "D", "E"],
            "unit": ["u"] * 5,
            "timepoint_months": [6] * 5,
            "due_on": pd.to_datetime(["2024-06-01", "2024-07-01", "2024-09-20", "2024-10-25", "2024-12-01"]),
            "window_start": pd.to_datetime(["2024-05-18", "2024-06-17", "2024-09-06", "2024-10-11", "2024-11-17"]),
            "window_end": pd.to_datetime(["2024-07-01", "2024-07-31", "2024-10-20", "2024-11-24", "2024-12-31"]),
            "days_overdue": pd.array([91, 61, None, None, None], dtype="Int64"),
            "status": ["missed", "overdue", "due", "not_due", "not_due"],
            "is_on_action_list": [False, True, True, True, False],
        }
    )
    out = followup.action_list(rows, date(2024, 9, 30), 30)
    assert list(out["Studiekod"]) == ["B", "C", "D"]  # most overdue first; flagged rows only
