"""Meeting outputs: the steering PDF (pdftotext) and the project pack (openpyxl) against counts from
the demo's source files, small cells, no outcome values while locked, and the report snapshots."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import zipfile
from collections import Counter
from pathlib import Path

import duckdb
import openpyxl
import pytest

from etl.paths import current_target, versions_dir
from ipsdash import report as cli_report
from tests import independent as ind
from tests.conftest import load_quietly

SENTINEL = "987654"


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def sentinel_dir(demo_dir, tmp_path_factory) -> Path:
    """The demo with an outcome value nobody may see while the study is locked: income 987654."""
    out = tmp_path_factory.mktemp("demo_sentinel")
    shutil.copytree(demo_dir, out, dirs_exist_ok=True)
    path = out / "sysselsattning.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    header = lines[0].split(";")
    cells = lines[1].split(";")
    cells[header.index("Inkomst kr")] = SENTINEL
    lines[1] = ";".join(cells)
    path.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def report_db(sentinel_dir, tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("report_store") / "ips.duckdb"
    assert load_quietly(sentinel_dir, db) == 0
    con = duckdb.connect(str(current_target(db)), read_only=True)
    try:  # the sentinel really is in the store, sealed
        assert con.execute(f"select count(*) from sealed.employment where income_sek = {SENTINEL}").fetchone()[0] == 1
    finally:
        con.close()
    return db


@pytest.fixture(scope="module")
def steering(report_db, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("reports") / "styrgrupp.pdf"
    assert cli_report.run_report(report_db, "styrgrupp", out, io.StringIO(), io.StringIO()) == 0
    return out, pdf_text(out)


@pytest.fixture(scope="module")
def pack(report_db, tmp_path_factory) -> tuple[Path, openpyxl.Workbook]:
    out = tmp_path_factory.mktemp("reports") / "projektgrupp.xlsx"
    assert cli_report.run_report(report_db, "projektgrupp", out, io.StringIO(), io.StringIO()) == 0
    return out, openpyxl.load_workbook(out, data_only=True)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _sheet_rows(ws) -> list[dict]:
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    header = [str(h) for h in rows[0]]
    return [dict(zip(header, r, strict=False)) for r in rows[1:] if any(v is not None for v in r)]


# --- steering report ----------------------------------------------------------------------------------


def test_steering_report_randomised_total_matches_source_files(steering, sentinel_dir):
    _, text = steering
    n = len(ind.randomised(sentinel_dir))
    assert any(re.fullmatch(rf"Randomiserade\s+{n}(\s+.*)?", line) for line in _lines(text))
    assert f"Randomiserade n = {n}" not in text  # the CONSORT chart is an image, not text
    assert "Datauttag: " + ind.config(sentinel_dir)["data_cutoff"].isoformat() in text


def test_steering_report_per_district_numbers_match_source_files(steering, sentinel_dir):
    _, text = steering
    per_district = Counter(p["district"] for p in ind.randomised(sentinel_dir).values())
    targets = {d["name"]: d["target"] for d in ind.config(sentinel_dir)["districts"]}
    lines = _lines(text)
    for name, n in per_district.items():
        shown = str(n) if n > 4 else "<5"
        pattern = rf"{re.escape(name)}(\s\(f\.d\.[^)]*\))?\s+{re.escape(shown)}\s+{targets[name]}\s+.*"
        assert any(re.fullmatch(pattern, line) for line in lines), name


def test_steering_report_masks_small_attrition_reasons(steering, sentinel_dir):
    _, text = steering
    reasons = Counter(reason for _, reason in ind.left_study(sentinel_dir).values())
    assert any(1 <= n <= 4 for n in reasons.values()), "the demo has small reason counts"
    lines = _lines(text)
    for reason, n in reasons.items():
        expected = "<5" if 1 <= n <= 4 else str(n)
        assert any(re.fullmatch(rf"{re.escape(reason)}\s+{re.escape(expected)}", line) for line in lines), reason
    assert "Små tal (1–4) visas som" in text


def test_steering_report_has_no_outcome_values(steering):
    path, text = steering
    assert SENTINEL not in text and "987 654" not in text
    assert SENTINEL.encode() not in path.read_bytes()
    for word in ("Inkomst", "Arbetade dagar", "Bistånd kr"):
        assert word not in text


def test_steering_report_has_every_section(steering):
    _, text = steering
    for heading in (
        "1. Nyckeltal",
        "2. Rekrytering mot målet",
        "3. Flödesschema (CONSORT)",
        "4. Balans mellan grupperna",
        "5. Bortfall",
        "6. Uppföljning per stadsdel",
        "7. Belastning per arbetsspecialist",
        "8. Programtrohet",
        "9. Att uppmärksamma",
    ):
        assert heading in text
    assert re.search(r"nås troligen \w+ \d{4} \(80 % prognosintervall", text)
    assert "Kontrollpunkt 1 (fryst)" in text


def test_steering_report_snapshot_is_written_and_compared(report_db, tmp_path):
    db = tmp_path / "copy" / "ips.duckdb"
    shutil.copytree(report_db.parent, db.parent, symlinks=True)
    before = {"data_cutoff": "2024-06-30", "key_figures": {"randomised": 180, "left": 50, "share_left": 0.25}}
    cli_report.write_snapshot(db, "styrgrupp", json.dumps(before), "2024-06-30")
    versions = len(list(versions_dir(db).glob("ips-*.duckdb")))
    out = tmp_path / "r.pdf"
    assert cli_report.run_report(db, "styrgrupp", out, io.StringIO(), io.StringIO()) == 0
    assert current_target(db).name.endswith("-report-styrgrupp.duckdb")
    assert len(list(versions_dir(db).glob("ips-*.duckdb"))) == min(versions + 1, 5)
    text = pdf_text(out)
    lines = _lines(text)
    randomised = next(line for line in lines if line.startswith("Randomiserade "))
    assert re.fullmatch(r"Randomiserade\s+(\d+)\s+180\s+\+(\d+)", randomised)
    now, diff = re.fullmatch(r"Randomiserade\s+(\d+)\s+180\s+\+(\d+)", randomised).groups()
    assert int(now) - 180 == int(diff)
    assert "datauttag 2024-06-30" in text
    con = duckdb.connect(str(current_target(db)), read_only=True)
    try:
        rows = con.execute(
            "select report, data_cutoff, payload from meta.report_snapshots order by created_at"
        ).fetchall()
    finally:
        con.close()
    assert [r[0] for r in rows[-2:]] == ["styrgrupp", "styrgrupp"]  # the fake one, then this report's
    assert json.loads(rows[-2][2])["key_figures"]["randomised"] == 180
    newest = json.loads(rows[-1][2])
    assert newest["key_figures"]["randomised"] == int(now) and newest["data_cutoff"] == str(rows[-1][1])


def test_report_snapshots_survive_the_next_load(report_db, sentinel_dir, tmp_path):
    db = tmp_path / "copy" / "ips.duckdb"
    shutil.copytree(report_db.parent, db.parent, symlinks=True)
    cli_report.write_snapshot(db, "styrgrupp", json.dumps({"key_figures": {}}), "2024-06-30")
    assert load_quietly(sentinel_dir, db) == 0
    con = duckdb.connect(str(current_target(db)), read_only=True)
    try:
        n = con.execute("select count(*) from meta.report_snapshots where data_cutoff = '2024-06-30'").fetchone()[0]
    finally:
        con.close()
    assert n == 1


def test_report_cli_refuses_wrong_file_type(report_db, tmp_path):
    err = io.StringIO()
    assert cli_report.run_report(report_db, "styrgrupp", tmp_path / "r.xlsx", io.StringIO(), err) == 2
    assert ".pdf" in err.getvalue()
    assert not (tmp_path / "r.xlsx").exists()


# --- project pack ---------------------------------------------------------------------------------------


def test_project_pack_recruitment_per_district_matches_source_files(pack, sentinel_dir):
    _, wb = pack
    per_district = Counter(p["district"] for p in ind.randomised(sentinel_dir).values())
    rows = _sheet_rows(wb["Rekrytering"])
    shown = {str(r["Stadsdel"]).split(" (f.d.")[0]: r["Randomiserade"] for r in rows}
    assert shown == dict(per_district)


def test_project_pack_attrition_and_reasons_match_source_files(pack, sentinel_dir):
    _, wb = pack
    randomised = ind.randomised(sentinel_dir)
    left = ind.left_study(sentinel_dir)
    per_district = Counter(randomised[c]["district"] for c in left)
    rows = _sheet_rows(wb["Bortfall"])
    assert {r["Stadsdel"]: r["Lämnat studien"] for r in rows} == dict(per_district)
    reasons = Counter(reason for _, reason in left.values())
    rows = _sheet_rows(wb["Bortfallsorsaker"])
    assert {r["Orsak"]: r["Antal"] for r in rows} == dict(reasons)  # not masked for the project group


def test_project_pack_funnel_matches_referral_log(pack, sentinel_dir):
    _, wb = pack
    referrals = ind.rows(sentinel_dir, "remisslogg")
    rows = {r["Steg"]: r["Antal"] for r in _sheet_rows(wb["Remissflöde"])}
    assert rows["Remiss"] == len(referrals)
    assert rows["Randomiserad"] == len(ind.randomised(sentinel_dir))


def test_project_pack_unit_sheets_list_own_study_codes_only(pack, sentinel_dir):
    _, wb = pack
    cfg = ind.config(sentinel_dir)
    randomised = ind.randomised(sentinel_dir)
    unit_district = {u: d["name"] for d in cfg["districts"] for u in d["units"]}
    unit_sheets = [ws for ws in wb.worksheets if ws.title in {u[:31] for u in unit_district}]
    assert len(unit_sheets) == len(unit_district)
    listed = 0
    for ws in unit_sheets:
        district = next(d for u, d in unit_district.items() if u[:31] == ws.title)
        rows = _sheet_rows(ws)
        listed += len(rows)
        assert list(_sheet_rows(ws)[0].keys())[0] == "Studiekod" if rows else True
        for r in rows:
            assert randomised[r["Studiekod"]]["district"] == district
            assert not re.search(r"\d{6}[-+]?\d{4}", str(r["Studiekod"]))
    assert listed > 0


def test_project_pack_has_every_topic_sheet(pack):
    _, wb = pack
    for sheet in (
        "Innehåll",
        "Rekrytering",
        "Remissflöde",
        "Exklusioner",
        "Flödesschema",
        "Bortfall",
        "Bortfallsorsaker",
        "Avslutat IPS",
        "Uppföljning",
        "Belastning",
        "Programtrohet",
    ):
        assert sheet in wb.sheetnames


def test_project_pack_has_no_outcome_values(pack):
    path, wb = pack
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            for v in row:
                assert SENTINEL not in str(v)
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            assert SENTINEL.encode() not in z.read(name)


def test_report_download_in_app_builds_without_writing(report_db, monkeypatch):
    from dashboard import reports

    monkeypatch.setenv("IPSDASH_DB", str(report_db))
    before = sorted(p.name for p in versions_dir(report_db).iterdir())
    target = current_target(report_db)
    data = reports.app_download(reports.PROJECT)()
    assert data[:2] == b"PK"
    assert sorted(p.name for p in versions_dir(report_db).iterdir()) == before
    assert current_target(report_db) == target


def test_steering_report_keeps_the_previous_reports_masks(report_db, tmp_path):
    """A figure the previous report masked (a complement, say) is masked in this report's "previous"
    column too, and no change is computed from it: its raw value would give that report's small cells
    back. The report records what it masked for the next one."""
    db = tmp_path / "copy" / "ips.duckdb"
    shutil.copytree(report_db.parent, db.parent, symlinks=True)
    before = {
        "data_cutoff": "2024-06-30",
        "key_figures": {"randomised": 180, "left": 50, "share_left": 0.25},
        "key_figures_hidden": ["left", "share_left"],
    }
    cli_report.write_snapshot(db, "styrgrupp", json.dumps(before), "2024-06-30")
    out = tmp_path / "r.pdf"
    assert cli_report.run_report(db, "styrgrupp", out, io.StringIO(), io.StringIO()) == 0
    lines = _lines(pdf_text(out))
    left = next(line for line in lines if line.startswith("Lämnat studien "))
    assert " 50 " not in f" {left} " and "<5" in left, left
    assert re.search(r"Randomiserade\s+\d+\s+180\s+\+\d+", "\n".join(lines))  # a figure shown then still compares
    con = duckdb.connect(str(current_target(db)), read_only=True)
    try:
        payload = json.loads(
            con.execute("select payload from meta.report_snapshots order by created_at desc limit 1").fetchone()[0]
        )
    finally:
        con.close()
    assert isinstance(payload["key_figures_hidden"], list)


def test_steering_report_older_snapshot_without_masks_shows_no_hideable_previous(report_db, tmp_path):
    """A snapshot written before reports recorded their masks: a previous figure that could have been a
    complement is not shown (it might give that report's small cells back); plain counts still compare."""
    db = tmp_path / "copy" / "ips.duckdb"
    shutil.copytree(report_db.parent, db.parent, symlinks=True)
    before = {"data_cutoff": "2024-06-30", "key_figures": {"randomised": 180, "left": 50, "followup_overdue": 17}}
    cli_report.write_snapshot(db, "styrgrupp", json.dumps(before), "2024-06-30")
    out = tmp_path / "r.pdf"
    assert cli_report.run_report(db, "styrgrupp", out, io.StringIO(), io.StringIO()) == 0
    text = "\n".join(_lines(pdf_text(out)))
    assert re.search(r"Randomiserade\s+\d+\s+180\s+\+\d+", text)
    left = next(line for line in text.splitlines() if line.startswith("Lämnat studien "))
    overdue = next(line for line in text.splitlines() if line.startswith("Försenade uppföljningar "))
    assert " 50 " not in f" {left} " and " 17 " not in f" {overdue} ", (left, overdue)
