"""Blinding: with the study locked no page, role or download shows any outcome value; the
research lead sees coded arms only; after `close-study` the Utfall page opens with outcomes that
match hand counts from the demo's source files."""

from __future__ import annotations

import csv
import io
import re
import shutil
import statistics
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import outcomes, ui
from dashboard.access import PAGES_BY_ROLE, Viewer
from etl.close import close_study
from tests.conftest import APP, PAGES, environment, load_quietly, page_text, render
from tests.test_access import _gate, xlsx_text

ROLES = ["projektledare", "projektgrupp", "styrgrupp", "enhetschef:Södermalm", "forskare", "admin"]
# Distinctive outcome values written into the demo's sysselsattning.csv before loading (matched as
# numbers, so a chart's data hash that happens to contain the digits does not count).
SENTINELS = [
    re.compile(p)
    for p in (r"(?<![\w.])987[\s\u00a0]?654(?!\d)", r"(?<![\w.])4321[.,]5(?!\d)", r"(?<![\w.])876[\s\u00a0]?543(?!\d)")
]
CUTOFF = date(2024, 9, 30)


@pytest.fixture(scope="session")
def sentinel_dir(demo_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sentinel") / "src"
    shutil.copytree(demo_dir, out)
    path = out / "sysselsattning.csv"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig")), delimiter=";"))
    header = rows[0]
    income, hours, benefits = (header.index(h) for h in ("Inkomst kr", "Arbetade timmar", "Bistånd kr"))
    rows[1][income], rows[1][hours] = "987654", "4321,5"
    rows[2][benefits] = "876543"
    buf = io.StringIO()
    csv.writer(buf, delimiter=";", lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8-sig")
    return out


@pytest.fixture(scope="session")
def sentinel_db(sentinel_dir, tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("sentinel_store") / "ips.duckdb"
    assert load_quietly(sentinel_dir, db) == 0
    return db


@pytest.fixture(scope="session")
def closed_db(sentinel_dir, tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("closed_store") / "ips.duckdb"
    assert load_quietly(sentinel_dir, db) == 0
    assert close_study(db, "Projektledaren", "Styrgruppsbeslut 2026-12-31", io.StringIO(), io.StringIO()) == 0
    return db


@pytest.fixture(scope="session")
def locked_pages(sentinel_db):
    """Every page rendered for every role on the locked sentinel store, with the downloads built."""
    seen: dict[tuple[str, str], tuple] = {}
    original = ui.download_bytes
    current: list = []

    def spy(viewer, config, frame, topic, count_columns=None):
        made = original(viewer, config, frame, topic, count_columns)
        if made is not None:
            current.append(made)
        return made

    ui.download_bytes = spy
    try:
        for role in ROLES:
            # One session per role, switching pages as a user would (faster than a fresh app each).
            with environment({"IPSDASH_DB": str(sentinel_db), "IPSDASH_DEMO_ROLE": role}):
                at = AppTest.from_file(APP, default_timeout=60)
                at.run()
                for page in PAGES:
                    if page not in PAGES_BY_ROLE[role.split(":")[0]]:
                        continue
                    current.clear()
                    at.switch_page(f"pages/{page}.py").run()
                    seen[(role, page)] = (
                        page_text(at),
                        [e.value for e in at.exception],
                        len(at.dataframe),
                        list(current),
                    )
    finally:
        ui.download_bytes = original
    return seen


CASES = [(r, p) for r in ROLES for p in PAGES if p in PAGES_BY_ROLE[r.split(":")[0]]]


@pytest.mark.parametrize("role,page", CASES)
def test_locked_pages_show_no_outcome_values(locked_pages, role, page):
    text, exceptions, _, downloads = locked_pages[(role, page)]
    assert not exceptions, exceptions
    for pattern in SENTINELS:
        assert not pattern.search(text), pattern.pattern
    for csv_bytes, xlsx_bytes in downloads:
        blob = csv_bytes.decode("utf-8-sig") + xlsx_text(xlsx_bytes)
        for pattern in SENTINELS:
            assert not pattern.search(blob), pattern.pattern


@pytest.mark.parametrize("page", [p for p in PAGES if p in PAGES_BY_ROLE["forskare"]])
def test_forskare_sees_only_coded_arms(locked_pages, page):
    text, _, _, downloads = locked_pages[("forskare", page)]
    for label in ("IPS+TAU", "TVR+TAU"):
        assert label not in text
        for csv_bytes, xlsx_bytes in downloads:
            assert label not in csv_bytes.decode("utf-8-sig") + xlsx_text(xlsx_bytes)


@pytest.mark.parametrize("role", ROLES)
def test_utfall_shows_lock_while_locked(locked_pages, role):
    text, _, n_tables, downloads = locked_pages[(role, "utfall")]
    assert "Utfallen är låsta" in text and "2026-12-31" in text
    assert "Dagar från randomisering till anställning" in text
    assert n_tables == 0 and not downloads


def test_gate_positive_control_after_close(closed_db):
    """The sentinels are in the store: the locked tests above could have seen them."""
    gate = _gate(closed_db, Viewer("projektledare"))
    assert gate.scalar("select max(income_sek) from outcome_employment") == 987654
    gate.require_outcomes()


@pytest.mark.parametrize("role", ["projektledare", "forskare", "styrgrupp"])
def test_utfall_opens_after_close_with_audit_entry(closed_db, role):
    at = render(closed_db, "utfall", role)
    assert not at.exception, [e.value for e in at.exception]
    text = page_text(at)
    assert "Projektledaren" in text and "Styrgruppsbeslut 2026-12-31" in text and "2024-09-30" in text
    table = at.dataframe[0].value
    assert set(table["Grupp"]) == {"IPS+TAU", "TVR+TAU"}  # unblinded for the research lead too
    if role == "styrgrupp":
        assert any(str(v) == "<5" for v in at.dataframe[0].value.to_numpy().ravel()) or all(
            int(v) > 4 for v in table["varav heltid"]
        )


def test_utfall_after_close_refused_for_enhetschef(closed_db):
    at = render(closed_db, "utfall", "enhetschef:Södermalm")
    assert not at.exception and not at.dataframe
    assert "din roll visar inte utfall" in page_text(at)


def _hand_counts(folder: Path):
    def rows(name):
        return list(csv.DictReader(io.StringIO((folder / name).read_text(encoding="utf-8-sig")), delimiter=";"))

    arm_of = {"IPS+TAU": "IPS+TAU", "TVR+TAU": "TVR+TAU"}
    people = {
        r["Studiekod"]: (arm_of[r["Grupp"]], date.fromisoformat(r["Randomiseringsdatum"]))
        for r in rows("randomisering.csv")
    }
    per_arm: dict[str, dict] = {
        a: {"n": 0, "jobs": 0, "job_people": set(), "contact_days": {}, "income": {}, "worked_6": 0}
        for a in arm_of.values()
    }
    for arm, _ in people.values():
        per_arm[arm]["n"] += 1
    for r in rows("ips_aktivitet.csv"):
        arm, randomised = people[r["Studiekod"]]
        on = date.fromisoformat(r["Datum"])
        if not (randomised <= on <= CUTOFF):
            continue
        if r["Aktivitet"] == "Anställning":
            per_arm[arm]["jobs"] += 1
            per_arm[arm]["job_people"].add(r["Studiekod"])
        if r["Aktivitet"] == "Arbetsgivarkontakt":
            days = per_arm[arm]["contact_days"]
            days[r["Studiekod"]] = min(days.get(r["Studiekod"], 10**6), (on - randomised).days)
    for r in rows("sysselsattning.csv"):
        arm, _ = people[r["Studiekod"]]
        if r["Inkomst kr"]:
            income = per_arm[arm]["income"]
            income[r["Studiekod"]] = income.get(r["Studiekod"], 0) + float(r["Inkomst kr"].replace(",", "."))
        if r["Tidpunkt"] == "6" and r["Arbetat minst en dag"] == "Ja":
            per_arm[arm]["worked_6"] += 1
    return per_arm


def test_outcomes_match_hand_counts(closed_db, sentinel_dir):
    gate = _gate(closed_db, Viewer("projektledare"))
    people, activity, employment = outcomes.load(gate, gate.districts)
    pp = outcomes.per_participant(people, activity, employment, CUTOFF)
    summary = outcomes.summary_by_arm(pp).set_index("arm")
    timepoints = outcomes.by_timepoint(people, employment).set_index(["arm", "timepoint_months"])
    hand = _hand_counts(sentinel_dir)
    for arm, h in hand.items():
        row = summary.loc[arm]
        assert row["n"] == h["n"]
        assert row["jobs_total"] == h["jobs"]
        assert row["job_n"] == len(h["job_people"])
        assert row["contact_n"] == len(h["contact_days"])
        if h["contact_days"]:
            assert row["contact_median_days"] == statistics.median(h["contact_days"].values())
        if h["income"]:
            # Half up in exact arithmetic (issue 12): the amounts are decimals in the file.
            mean = sum(Fraction(Decimal(repr(v))) for v in h["income"].values()) / len(h["income"])
            assert row["income_mean"] == int(Decimal(mean.numerator) / Decimal(mean.denominator) + Decimal("0.5"))
        if (arm, 6) in timepoints.index:
            assert timepoints.loc[(arm, 6), "worked_n"] == h["worked_6"]
    assert (
        summary["jobs_total"].sum() > 0 and summary.loc["TVR+TAU", "contact_n"] <= summary.loc["IPS+TAU", "contact_n"]
    )


def test_utfall_steering_group_gets_all_districts_only(closed_demo_db):
    """Each district's outcome table suppressed on its own could be differenced against the whole
    study's: a suppressed role gets the outcomes for all districts only (docs/access.md)."""
    with environment({"IPSDASH_DB": str(closed_demo_db), "IPSDASH_DEMO_ROLE": "styrgrupp"}):
        at = render(closed_demo_db, None, role="styrgrupp")
        at.multiselect(key="district_filter").set_value(["jarva"]).run()
        at.switch_page("pages/utfall.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.dataframe
    assert any("alla stadsdelar" in i.value for i in at.info)


def test_utfall_steering_group_statistics_hidden_with_their_counts(closed_db):
    at = render(closed_db, "utfall", "styrgrupp")
    assert not at.exception, [e.value for e in at.exception]
    summary = at.dataframe[0].value
    labels = outcomes.SUMMARY_LABELS
    for _, row in summary.iterrows():
        for statistic, base in outcomes.STATISTIC_OF.items():
            if statistic in labels and base in labels and row[labels[base]] == "<5":
                assert row[labels[statistic]] == "<5", (row[labels[base]], row[labels[statistic]])
        jobs = {str(row[labels[c]]) == "<5" for c in outcomes.JOB_COUNTS}
        assert len(jobs) == 1  # the job counts are hidden together or not at all


def test_outcomes_suppressed_rules():
    """A median over few people hidden with its count; the job counts hidden together; the analysed
    "n" masked where the attrition family hides it."""
    import pandas as pd

    from dashboard import privacy

    frame = pd.DataFrame(
        {
            "arm": ["A", "B"],
            "n": [40, 41],
            "job_n": [2, 20],
            "job_median_days": [143, 88],
            "jobs_total": [30, 25],
            "full_time_jobs": [27, 12],
            "part_time_jobs": [3, 13],
        }
    )
    counts = ["n", "job_n", "jobs_total", "full_time_jobs", "part_time_jobs"]
    out = outcomes.suppressed(frame, counts, privacy.Policy(4, "<5"), attrition_hidden={("analysed", "B")})
    # B's count is hidden too (the column's complement), and its median with it.
    assert list(out["job_n"]) == ["<5", "<5"] and list(out["job_median_days"]) == ["<5", "<5"]
    for _, row in out.iterrows():  # A's part time (3) is small: its total and full time go with it
        assert len({row[c] == "<5" for c in outcomes.JOB_COUNTS}) == 1
    assert out.iloc[0]["jobs_total"] == "<5"
    assert list(out["n"]) == ["40", "<5"]
