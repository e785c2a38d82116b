"""The caseload page against caseloads counted independently (plain Python interval counting) from
the demo's tilldelning.csv, avslut.xlsx, randomisering.csv and arbetsspecialister.csv."""

from __future__ import annotations

import csv
import tomllib
from datetime import date, timedelta

import openpyxl
import pandas as pd
import pytest

from dashboard import caseload
from tests.conftest import page_text, render


def _csv(path):
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


def _day(value) -> date | None:
    if value in (None, ""):
        return None
    return value.date() if hasattr(value, "date") else date.fromisoformat(str(value))


class Demo:
    """Spans of active IPS assignment and the roster, read straight from the source files."""

    def __init__(self, demo_dir):
        self.cfg = tomllib.loads((demo_dir / "studie.toml").read_text(encoding="utf-8"))
        self.cutoff: date = self.cfg["data_cutoff"]
        names = {}
        for d in self.cfg["districts"]:
            for name in [d["name"], *d.get("aliases", []), *(f["name"] for f in d.get("former_names", []))]:
                names[name.lower()] = d["id"]
        self.district = {r["Studiekod"]: names[r["Stratum"].lower()] for r in _csv(demo_dir / "randomisering.csv")}
        left, stopped = {}, {}
        ws = openpyxl.load_workbook(demo_dir / "avslut.xlsx", read_only=True).active
        for code, on, kind, _reason in list(ws.iter_rows(values_only=True))[1:]:
            target = {"Lämnat studien": left, "Avslutat IPS": stopped}.get(kind)
            if target is not None:
                target[code] = min(target.get(code, date.max), _day(on))
        self.spans = []  # (specialist, district, first day, last day) — both inclusive
        for r in _csv(demo_dir / "tilldelning.csv"):
            code = r["Studiekod"]
            if code not in self.district:
                continue
            end = min(
                _day(r["Till"]) or self.cutoff, stopped.get(code, date.max), left.get(code, date.max), self.cutoff
            )
            self.spans.append((r["Arbetsspecialist"], self.district[code], _day(r["Från"]), end))
        self.roster = []
        for r in _csv(demo_dir / "arbetsspecialister.csv"):
            districts = [names[p.strip().lower()] for p in r["Stadsdelar"].split(";") if p.strip()]
            self.roster.append(
                {
                    "id": r["Kod"],
                    "districts": districts,
                    "pct": int(r["Tjänstgöringsgrad"]),
                    "start": _day(r["Från"]),
                    "end": _day(r["Till"]),
                }
            )

    def active_on(self, specialist: str, day: date, district: str | None = None) -> int:
        return sum(
            1 for s, d, a, b in self.spans if s == specialist and a <= day <= b and (district is None or d == district)
        )

    def series(self, specialist: str, start: date, end: date) -> list[int]:
        out, day = [], start
        while day <= end:
            out.append(self.active_on(specialist, day))
            day += timedelta(days=1)
        return out

    def in_service_at_cutoff(self) -> dict[str, int]:
        return {
            r["id"]: r["pct"]
            for r in self.roster
            if r["start"] <= self.cutoff and (r["end"] is None or r["end"] >= self.cutoff)
        }

    def staffed(self, district: str, day: date) -> int:
        return len(
            {
                r["id"]
                for r in self.roster
                if district in r["districts"] and r["start"] <= day and (r["end"] is None or r["end"] >= day)
            }
        )


def _points(per_fte: float) -> int:
    # Issue 12: the published bands (Becker, Swanson, Bond & Merrens 2008), not the invented 21–22/23–24/25.
    return 5 if per_fte <= 20 else 4 if per_fte <= 25 else 3 if per_fte <= 30 else 2 if per_fte <= 40 else 1


def _table(at, column):
    return next(df.value for df in at.dataframe if column in df.value.columns)


@pytest.fixture(scope="module")
def demo(demo_dir):
    return Demo(demo_dir)


@pytest.fixture(scope="module")
def page(demo_db):
    return render(demo_db, "belastning")


def test_belastning_renders_headings_and_metrics(page):
    assert not page.exception, [e.value for e in page.exception]
    text = page_text(page)
    for heading in (
        "Belastning per arbetsspecialist",
        "Belastning över tid",
        "Bemanning per stadsdel",
        "Arbetsspecialister som delas mellan stadsdelar",
    ):
        assert heading in text
    assert {m.label for m in page.metric} >= {
        "Specialister i tjänst",
        "Högsta belastning nu",
        "Över taket nu",
        "Under minimum",
    }
    assert page.get("vega_lite_chart"), "caseload chart drawn"


def test_belastning_caseload_at_cutoff_matches_interval_count(page, demo):
    table = _table(page, "Aktiva vid datauttaget").set_index("Arbetsspecialist")
    serving = demo.in_service_at_cutoff()
    assert set(serving) <= set(table.index)
    for specialist, pct in serving.items():
        n = demo.active_on(specialist, demo.cutoff)
        assert int(table.at[specialist, "Aktiva vid datauttaget"]) == n, specialist
        assert int(table.at[specialist, "Tjänstgöringsgrad %"]) == pct
        assert table.at[specialist, "Programtrohet punkt 1"].startswith(f"{_points(n / (pct / 100))} p")
    biggest = max(demo.active_on(s, demo.cutoff) for s in serving)
    assert next(m for m in page.metric if m.label == "Högsta belastning nu").value == str(biggest)


def test_belastning_max_caseload_and_days_above_cap_match_interval_count(page, demo):
    table = _table(page, "Högsta antal").set_index("Arbetsspecialist")
    first = min(a for _, _, a, _ in demo.spans)
    cap = demo.cfg["caseload"]["cap"]
    for specialist in table.index:
        series = demo.series(specialist, first, demo.cutoff)
        assert int(table.at[specialist, "Högsta antal"]) == max(series), specialist
        assert int(table.at[specialist, "Dagar över taket"]) == sum(n > cap for n in series), specialist
    assert (table["Dagar över taket"] > 0).any(), "the demo has a specialist above the cap"


def test_belastning_date_range_limits_max_caseload(page, demo):
    start = date(2024, 3, 1)
    page.date_input(key="caseload_period").set_value((start, demo.cutoff)).run()
    assert not page.exception
    table = _table(page, "Högsta antal").set_index("Arbetsspecialist")
    for specialist in table.index:
        assert int(table.at[specialist, "Högsta antal"]) == max(demo.series(specialist, start, demo.cutoff))


def test_belastning_staffing_and_shared_specialists_match_roster(page, demo):
    start = date(2023, 6, 1)
    page.date_input(key="caseload_period").set_value((start, demo.cutoff)).run()
    assert not page.exception
    staffing = _table(page, "Dagar under minimum")
    need = demo.cfg["caseload"]["min_specialists_per_district"]
    for d in demo.cfg["districts"]:
        row = staffing[staffing["Stadsdel"].str.startswith(d["name"])].iloc[0]
        assert int(row["Arbetsspecialister nu"]) == demo.staffed(d["id"], demo.cutoff)
        day, below = max(d["start"], start), 0
        while day <= demo.cutoff:
            below += demo.staffed(d["id"], day) < need
            day += timedelta(days=1)
        assert int(row["Dagar under minimum"]) == below, d["id"]
    assert staffing["Dagar under minimum"].sum() > 0, "the demo has a specialist on leave"
    shared = _table(page, "Antal stadsdelar")
    assert set(shared["Arbetsspecialist"]) == {r["id"] for r in demo.roster if len(r["districts"]) > 1}


def test_belastning_unit_manager_counts_own_district_only(demo_db, demo):
    at = render(demo_db, "belastning", role="enhetschef:Södermalm")
    assert not at.exception, [e.value for e in at.exception]
    table = _table(at, "Aktiva vid datauttaget").set_index("Arbetsspecialist")
    for specialist in table.index:
        assert int(table.at[specialist, "Aktiva vid datauttaget"]) == demo.active_on(
            specialist, demo.cutoff, "sodermalm"
        )
    assert "Räknar bara deltagare i valda stadsdelar" in page_text(at)


@pytest.mark.parametrize(
    "per_fte, points",
    # Issue 12: ≤ 20 → 5, 21–25 → 4, 26–30 → 3, 31–40 → 2, ≥ 41 → 1 per full-time specialist.
    [(4, 5), (20, 5), (20.5, 4), (21, 4), (23, 4), (25, 4), (25.5, 3), (26, 3), (30, 3), (31, 2), (40, 2), (41, 1)],
)
def test_belastning_caseload_points_follow_fidelity_item_1(per_fte, points):
    assert caseload.caseload_points(per_fte) == points


def test_belastning_chart_series_weekly_max_when_many_rows():
    days = pd.date_range("2024-01-01", "2024-01-14", freq="D")  # two Monday–Sunday weeks
    frame = pd.DataFrame({"specialist_id": "A", "day": days, "active_n": range(1, 15), "per_fte": range(1, 15)})
    daily, weekly = caseload.chart_series(frame, max_rows=100)
    assert not weekly and len(daily) == 14
    out, weekly = caseload.chart_series(frame, max_rows=10)
    assert weekly
    assert list(out["active_n"]) == [7, 14]
    assert list(out["day"]) == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-08")]


@pytest.mark.parametrize("role", ["projektledare", "enhetschef:Södermalm", "styrgrupp"])
def test_belastning_alert_names_specialists_over_cap_at_cutoff(demo_db, demo, role):
    """The overview's caseload alert, with the cap lowered so it fires, names exactly the
    specialists whose caseload at the cut-off (counted from the files, in the viewer's districts)
    is above it."""
    import duckdb

    from dashboard import alerts
    from dashboard import queries as q
    from dashboard.access import Gate, parse_demo_role, read_config
    from dashboard.ui import _resolve_districts

    con = duckdb.connect(str(demo_db.resolve()), read_only=True)
    try:
        config = read_config(con)
        viewer = parse_demo_role(role)
        viewer = type(viewer)(viewer.role, _resolve_districts(config, viewer.districts))
        gate = Gate(con.cursor(), viewer, store_id=f"alert-test|{role}")
        cap = 3
        low_cap = config.model_copy(update={"caseload": config.caseload.model_copy(update={"cap": cap})})
        got = alerts.collect(
            gate,
            low_cap,
            gate.districts,
            q.participants.uncached(gate, gate.districts),
            q.followup_status.uncached(gate, gate.districts),
        )
    finally:
        con.close()
    district = None if viewer.districts is None else "sodermalm"
    expected = {s for s in demo.in_service_at_cutoff() if demo.active_on(s, demo.cutoff, district) > cap}
    over = [text for text, page_key, _ in got if page_key == "belastning" and "aktiva deltagare" in text]
    if role == "styrgrupp":
        # No count for the steering group: the count may be hidden as a complement on Belastning
        # (privacy.caseload_hidden_scopes); "over the cap" is no count.
        assert expected and {t.split()[1] for t in over} == expected
        assert all(t.endswith(f"fler aktiva deltagare än taket ({cap}).") for t in over), over
        assert not any(str(demo.active_on(s, demo.cutoff)) in t.split() for s in expected for t in over)
        return
    named = {text.split()[1]: int(text.split()[3]) for text in over}
    assert expected and set(named) == expected
    # a shared specialist's count in a unit manager's alert holds only their district's participants
    for specialist, n in named.items():
        assert n == demo.active_on(specialist, demo.cutoff, district)
