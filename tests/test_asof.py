"""Issue 12, point 9: the extract date belongs to each load, the as-of date to each view or report.

The same study cut at two as-of dates gives, at the earlier date, the counts made from the files
with every step dated after it left out (censored, not rejected)."""

from __future__ import annotations

import io
import re
import shutil
from collections import Counter
from datetime import date

import duckdb
import openpyxl
import pytest

from etl.asof import open_as_of
from etl.paths import current_target
from ipsdash import report as cli_report
from tests import independent as ind
from tests.conftest import load_quietly

EARLY = date(2024, 3, 31)  # a quarter's end, half a year before the demo's extract (2024-09-30)


def _funnel_from_files(folder, as_of: date) -> dict[str, int]:
    """Referrals made by `as_of`, and how many had reached each step by then."""
    refs = [r for r in ind.rows(folder, "remisslogg") if r["Remissdatum"] <= as_of]

    def reached(column):
        return sum(1 for r in refs if isinstance(r[column], date) and r[column] <= as_of)

    randomised = {c for c, p in ind.randomised(folder).items() if p["randomised_on"] <= as_of}
    return {
        "Remiss": len(refs),
        "Samtycke": reached("Samtycke"),
        "Baslinje": reached("Baslinje"),
        "Randomiserad": len(randomised),
    }


@pytest.fixture(scope="module")
def early(demo_db):
    con = open_as_of(current_target(demo_db), EARLY)
    yield con
    con.close()


def test_as_of_participants_are_those_randomised_by_then(early, demo_dir):
    expected = Counter(
        (p["district"], p["arm"]) for p in ind.randomised(demo_dir).values() if p["randomised_on"] <= EARLY
    )
    rows = early.execute(
        "select d.name, a.label, count(*) from mart.participants p join meta.districts d using (district_id) "
        "join meta.arms a on a.key = p.arm group by all"
    ).fetchall()
    assert {(d, a): n for d, a, n in rows} == dict(expected)
    assert sum(expected.values()) < len(ind.randomised(demo_dir))  # the cut really removes people


def test_as_of_left_study_counts_only_events_by_then(early, demo_dir):
    randomised = {c for c, p in ind.randomised(demo_dir).items() if p["randomised_on"] <= EARLY}
    left = {c for c, (on, _) in ind.left_study(demo_dir).items() if on <= EARLY and c in randomised}
    shown = {r[0] for r in early.execute("select study_code from mart.participants where is_left").fetchall()}
    assert shown == left


def test_as_of_referral_with_later_consent_stays_in_the_funnel(early, demo_dir):
    expected = _funnel_from_files(demo_dir, EARLY)
    got = early.execute(
        "select count(*), count(*) filter (where reached_consent), count(*) filter (where reached_baseline), "
        "count(*) filter (where is_randomised) from mart.referral_funnel"
    ).fetchone()
    assert got == (expected["Remiss"], expected["Samtycke"], expected["Baslinje"], expected["Randomiserad"])
    # at least one referral made by then consented only afterwards: censored, still counted
    later = [
        r
        for r in ind.rows(demo_dir, "remisslogg")
        if r["Remissdatum"] <= EARLY and isinstance(r["Samtycke"], date) and r["Samtycke"] > EARLY
    ]
    assert later


def test_as_of_states_both_dates(early, demo_dir):
    from dashboard.access import read_config

    assert read_config(early).data_cutoff == EARLY
    extract = early.execute("select data_cutoff from meta.loads order by load_id desc limit 1").fetchone()[0]
    assert extract == ind.config(demo_dir)["data_cutoff"]


def test_as_of_after_the_extract_is_refused(demo_db):
    with pytest.raises(ValueError, match="efter datauttaget"):
        open_as_of(current_target(demo_db), date(2030, 1, 1))


def test_project_pack_as_of_two_dates_gives_the_earlier_counts(demo_dir, demo_db, tmp_path):
    db = tmp_path / "store" / "ips.duckdb"
    shutil.copytree(demo_db.parent, db.parent, symlinks=True, ignore=shutil.ignore_patterns("*-journal"))
    for as_of in (EARLY, ind.config(demo_dir)["data_cutoff"]):
        out = tmp_path / f"projektgrupp-{as_of}.xlsx"
        status = cli_report.run_report(db, "projektgrupp", out, io.StringIO(), io.StringIO(), as_of=as_of)
        assert status == 0
        wb = openpyxl.load_workbook(out, data_only=True)
        rows = list(wb["Rekrytering"].iter_rows(min_row=3, values_only=True))
        header = [str(h) for h in rows[0]]
        shown = {
            str(dict(zip(header, r, strict=False))["Stadsdel"]).split(" (f.d.")[0]: dict(zip(header, r, strict=False))[
                "Randomiserade"
            ]
            for r in rows[1:]
            if any(r)
        }
        expected = Counter(p["district"] for p in ind.randomised(demo_dir).values() if p["randomised_on"] <= as_of)
        assert {k: v for k, v in shown.items() if v} == dict(expected)
        funnel = {r[0]: r[1] for r in wb["Remissflöde"].iter_rows(min_row=4, values_only=True) if r[0]}
        assert funnel["Remiss"] == _funnel_from_files(demo_dir, as_of)["Remiss"]
        stamp = " ".join(
            str(c.value) for ws in wb.worksheets for row in ws.iter_rows(max_row=2) for c in row if c.value
        )
        assert f"per {as_of.isoformat()}" in stamp


def test_report_cli_takes_as_of(demo_dir, demo_db, tmp_path):
    from ipsdash import cli

    db = tmp_path / "store" / "ips.duckdb"
    shutil.copytree(demo_db.parent, db.parent, symlinks=True, ignore=shutil.ignore_patterns("*-journal"))
    out = tmp_path / "styrgrupp.pdf"
    assert cli.main(["report", "styrgrupp", "--out", str(out), "--db", str(db), "--as-of", EARLY.isoformat()]) == 0
    from tests.test_reports import pdf_text

    text = pdf_text(out)
    n = sum(1 for p in ind.randomised(demo_dir).values() if p["randomised_on"] <= EARLY)
    assert any(re.fullmatch(rf"Randomiserade\s+{n}(\s+.*)?", line.strip()) for line in text.splitlines())
    assert f"per {EARLY.isoformat()}" in text
    assert "datauttag " + ind.config(demo_dir)["data_cutoff"].isoformat() in text.lower()


# --- the extract date of a load ----------------------------------------------------------------------


def _newest_date(folder) -> date:
    """The newest date in the source files, planned ends ('Till') aside."""
    newest = date.min
    for stem in (
        "remisslogg",
        "randomisering",
        "baslinje",
        "uppfoljning",
        "avslut",
        "arbetsspecialister",
        "tilldelning",
        "programtrohet",
    ):
        for row in ind.rows(folder, stem):
            for column, value in row.items():
                if isinstance(value, date) and column != "Till":
                    newest = max(newest, value)
    return newest


def _without_cutoff(folder, out):
    shutil.copytree(folder, out)
    text = (out / "studie.toml").read_text("utf-8")
    (out / "studie.toml").write_text(re.sub(r"(?m)^data_cutoff = .*\n", "", text), "utf-8")
    return out


def _extract(db) -> date:
    con = duckdb.connect(str(current_target(db)), read_only=True)
    try:
        return con.execute("select data_cutoff from meta.loads order by load_id desc limit 1").fetchone()[0]
    finally:
        con.close()


def test_extract_date_defaults_to_newest_date_in_files(demo_dir, tmp_path):
    folder = _without_cutoff(demo_dir, tmp_path / "in")
    db = tmp_path / "ips.duckdb"
    assert load_quietly(folder, db) == 0
    assert _extract(db) == _newest_date(folder)


def test_extract_date_option_rejects_later_dates(demo_dir, tmp_path):
    from etl.load import load

    folder = _without_cutoff(demo_dir, tmp_path / "in")
    db = tmp_path / "ips.duckdb"
    status = load(folder, db, io.StringIO(), io.StringIO(), extract_date=EARLY)
    assert status == 1
    assert _extract(db) == EARLY
    con = duckdb.connect(str(current_target(db)), read_only=True)
    try:
        later = con.execute("select count(*) from mart.participants where randomised_on > $d", {"d": EARLY}).fetchone()[
            0
        ]
        rules = {r[0] for r in con.execute("select distinct rule from meta.rejected_rows").fetchall()}
    finally:
        con.close()
    assert later == 0 and "after_cutoff" in rules


def test_extract_date_far_in_the_future_is_an_error(demo_dir, tmp_path):
    folder = _without_cutoff(demo_dir, tmp_path / "in")
    path = folder / "randomisering.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    header = lines[0].split(";")
    cells = lines[-1].split(";")
    cells[header.index("Randomiseringsdatum")] = "2099-01-01"
    lines[-1] = ";".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = tmp_path / "ips.duckdb"
    assert load_quietly(folder, db) == 1
    assert _extract(db) < date(2099, 1, 1)
