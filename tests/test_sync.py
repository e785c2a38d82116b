"""`ipsdash sync` (single instance, nothing new writes nothing, one-line failures, REDCap pull) and
`ipsdash check` (exit codes, the fix-list workbooks)."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from etl import audit, staging
from etl.paths import current_target
from etl.sync import sync
from tests import independent as ind
from tests.conftest import ROOT
from tests.test_redcap import TOKEN, FakeRedcap
from tests.test_staging import tree_digest

NO_REDCAP = ("IPSDASH_REDCAP_URL", "IPSDASH_REDCAP_TOKEN")


@pytest.fixture()
def place(demo_dir, tmp_path, monkeypatch) -> tuple[Path, Path]:
    for name in NO_REDCAP:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .streamlit/secrets.toml here
    db = tmp_path / "data" / "ips.duckdb"
    sources = staging.sources_dir(db)
    shutil.copytree(demo_dir, sources)
    return db, sources


def run_sync(db: Path, sources: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = sync(db, sources, out, err)
    return code, out.getvalue(), err.getvalue()


def test_sync_loads_then_a_run_with_nothing_new_writes_nothing(place):
    db, sources = place
    code, out, err = run_sync(db, sources)
    assert code == 0, err
    assert current_target(db) is not None and audit.entries(db)[0]["action"] == "publish"
    before = tree_digest(db.parent)
    code, out, err = run_sync(db, sources)
    assert code == 0 and err == "" and out.startswith("Inget nytt att läsa in")
    assert tree_digest(db.parent) == before  # no store version, no audit entry, no file


def test_sync_is_single_instance(place):
    db, sources = place
    with staging.folder_lock(sources):
        code, out, err = run_sync(db, sources)
    assert code == 3 and out == "" and len(err.strip().splitlines()) == 1
    assert "pågår" in err and current_target(db) is None


def test_sync_failure_is_one_swedish_line_and_keeps_the_store(place):
    db, sources = place
    assert run_sync(db, sources)[0] == 0
    before = current_target(db)
    (sources / "studie.toml").write_text("[study\n", encoding="utf-8")
    code, out, err = run_sync(db, sources)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("Synkroniseringen misslyckades: studie.toml") and "Den tidigare databasen gäller" in err
    assert current_target(db) == before


def test_sync_cli_exit_and_one_line(place, tmp_path):
    db, sources = place
    shutil.rmtree(sources)
    proc = subprocess.run(
        [sys.executable, "-m", "ipsdash.cli", "sync", "--db", str(db), "--sources", str(sources)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "källmappen" in proc.stderr and not db.parent.joinpath("ips.duckdb").exists()


def test_sync_pulls_redcap_and_loads_only_when_the_export_changed(tmp_path, monkeypatch):
    from etl.demo import generate

    monkeypatch.chdir(tmp_path)
    db = tmp_path / "data" / "ips.duckdb"
    sources = staging.sources_dir(db)
    generate(sources, seed=42, scale=1, redcap=True)
    export = tmp_path / "export"
    shutil.copytree(sources / "redcap", export)
    with FakeRedcap(export) as api:
        monkeypatch.setenv("IPSDASH_REDCAP_URL", api.url)
        monkeypatch.setenv("IPSDASH_REDCAP_TOKEN", TOKEN)
        code, out, err = run_sync(db, sources)
        assert code == 0, err
        first = current_target(db)
        assert run_sync(db, sources)[1].startswith("Inget nytt")
        # The next REDCap export has one record fewer: sync keeps the old set beside and loads.
        lines = (export / "records.csv").read_text(encoding="utf-8").splitlines(keepends=True)
        (export / "records.csv").write_text("".join(lines[:-1]), encoding="utf-8")
        code, out, err = run_sync(db, sources)
        assert code in (0, 1), err
        assert current_target(db) != first
        assert (sources / "redcap" / "records.csv").read_text(encoding="utf-8") == "".join(lines[:-1])
        assert (staging.previous_dir(sources) / "redcap" / "records.csv").read_text(encoding="utf-8") == "".join(lines)
    assert TOKEN not in out + err and TOKEN.encode() not in audit.audit_path(db).read_bytes()


# --- ipsdash check -------------------------------------------------------------------------------


def check_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ipsdash.cli", "check", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_check_cli_exit_codes(demo_dir, mistakes_dir, tmp_path):
    db = tmp_path / "none" / "ips.duckdb"
    assert check_cli(str(demo_dir), "--db", str(db)).returncode == 0
    assert check_cli(str(mistakes_dir), "--db", str(db)).returncode == 1
    bad = tmp_path / "bad"
    shutil.copytree(demo_dir, bad)
    path = bad / "randomisering.csv"
    path.write_bytes(path.read_bytes().replace(b"B0206M45", b"19121212-1212", 1))
    proc = check_cli(str(bad), "--db", str(db), "--out", str(tmp_path / "f.xlsx"))
    assert proc.returncode == 2 and "19121212" not in proc.stderr + proc.stdout
    assert not (tmp_path / "f.xlsx").exists() and not db.parent.exists()


@pytest.fixture(scope="module")
def fixlists(mistakes_dir, tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("fixlist")
    proc = check_cli(
        str(mistakes_dir),
        "--db",
        str(out / "none.duckdb"),
        "--out",
        str(out / "felrapport.xlsx"),
        "--per-district",
        str(out / "units"),
    )
    assert proc.returncode == 1, proc.stderr
    return out / "felrapport.xlsx", out / "units"


def _sheet_rows(ws) -> tuple[list, list[tuple]]:
    rows = list(ws.iter_rows())
    return [c.value for c in rows[0]], rows[1:]


def test_fixlist_rows_are_as_typed_with_the_bad_cell_highlighted(fixlists, mistakes_dir):
    wb = openpyxl.load_workbook(fixlists[0])
    assert wb.sheetnames[0] == "Läs först"
    header, rows = _sheet_rows(wb["baslinje"])
    typed = ind.rows(mistakes_dir, "baslinje")
    assert header[-2:] == ["Rad i filen", "Varför raden avvisades"]
    assert header[:-2] == list(typed[0].keys())
    by_row = {r[-2].value: r for r in rows}
    bad = by_row[41]  # the impossible date the demo's mistakes put in baslinje.csv
    file_row = typed[41 - 2]
    assert [c.value or "" for c in bad[:-2]] == [str(v) for v in file_row.values()]
    date_col = header.index("Baslinjedatum")
    assert bad[date_col].fill.start_color.rgb.endswith("FFC7CE")
    assert all(not c.fill.start_color.rgb.endswith("FFC7CE") for i, c in enumerate(bad[:-2]) if i != date_col)
    assert "2023-02-30" in bad[-1].value


def test_fixlist_masks_sealed_values_while_locked(fixlists, mistakes_dir):
    wb = openpyxl.load_workbook(fixlists[0])
    header, rows = _sheet_rows(wb["ips_aktivitet"])
    typed = {r: v for r, v in enumerate(ind.rows(mistakes_dir, "ips_aktivitet"), start=2)}
    for row in rows:
        line = row[-2].value
        assert row[header.index("Studiekod")].value == typed[line]["Studiekod"]
        values = [c.value for i, c in enumerate(row[:-2]) if i != header.index("Studiekod") and c.value is not None]
        assert values and set(values) == {"(dolt)"}
        assert "visas inte" in row[-1].value
        for v in typed[line].values():
            if v not in ("", None) and v != typed[line]["Studiekod"]:
                assert str(v) not in row[-1].value


def test_fixlist_per_district_holds_only_that_districts_rows(fixlists, mistakes_dir):
    folder = fixlists[1]
    names = ind.district_of_name(mistakes_dir)
    district_of = {
        r["Studiekod"]: names.get(str(r["Stadsdel"]).strip().lower()) for r in ind.rows(mistakes_dir, "remisslogg")
    }
    ids = {d["id"]: d["name"] for d in ind.config(mistakes_dir)["districts"]}
    written = sorted(p.name for p in folder.glob("*.xlsx"))
    assert written, "no per-district workbooks"
    seen = 0
    for path in folder.glob("felrapport-*.xlsx"):
        district = path.stem.removeprefix("felrapport-")
        wb = openpyxl.load_workbook(path)
        for ws in wb.worksheets[1:]:
            header, rows = _sheet_rows(ws)
            if "Studiekod" not in header:
                continue
            for row in rows:
                code = row[header.index("Studiekod")].value
                seen += 1
                if district == "utan-stadsdel":
                    assert district_of.get(code) is None
                else:
                    assert district_of[code] == ids[district]
    assert seen > 0


def test_sync_after_a_page_publish_with_an_extract_date_finds_nothing_new(place):
    from datetime import date

    db, files = place
    published = files.with_name("published")  # what a page publish does: the set installed, loaded with a date
    code, _, err = staging.install_set(files, published, db, date(2024, 9, 30))
    assert code == 0, err
    before = tree_digest(db.parent)
    code, out, err = run_sync(db, published)
    assert code == 0 and out.startswith("Inget nytt"), out + err
    assert tree_digest(db.parent) == before
