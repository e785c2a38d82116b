"""The loader end to end: exit codes, store contents, idempotence, personnummer, crash safety."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from etl.load import load
from etl.paths import current_target, versions_dir
from etl.store import open_store_readonly
from tests import fixtures as fx

ROOT = Path(__file__).resolve().parent.parent
D = date.fromisoformat


def run(folder: Path, db: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = load(folder, db, out, err)
    return code, out.getvalue(), err.getvalue()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def query(db: Path, sql: str):
    con = open_store_readonly(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def study(tmp_path):
    return fx.write_study(tmp_path / "in", fmt="xlsx"), tmp_path / "store" / "ips.duckdb"


def test_load_exit_0_builds_store_with_log_matching_files(study):
    folder, db = study
    code, out, err = run(folder, db)
    assert code == 0, err
    assert "remisslogg.xlsx: 5 rader, 5 inlästa, 0 avvisade" in out
    assert os.path.islink(db) and not os.path.isabs(os.readlink(db))
    target = current_target(db)
    assert target.parent == versions_dir(db) and target.name.startswith("ips-")
    assert not Path(str(target) + ".wal").exists()
    files = dict(query(db, "select file_name, sha256 from meta.load_files where sha256 is not null"))
    assert files == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.xlsx")}
    counts = query(
        db,
        "select file_name, rows_read, rows_loaded, rows_rejected, status from meta.load_files "
        "where source_key = 'fidelity'",
    )
    assert counts == [("programtrohet.xlsx", 25, 25, 0, "inläst")]
    assert query(db, "select count(*), min(source_row) from raw.referrals") == [(5, 2)]
    assert query(db, "select district_ids from raw.specialists order by specialist_id") == [
        (["sodermalm"],),
        (["jarva", "hemlosa"],),
    ]
    assert query(db, "select count(*) from raw.fidelity where item_key = 'T6' and section_key = 'services'") == [(1,)]
    assert query(db, "select count(*) from sealed.employment") == [(1,)]
    assert query(db, "select exit_code, rows_loaded, rows_rejected from meta.loads") == [(0, 50, 0)]
    assert query(db, "select id, display_name from meta.districts where id = 'jarva'") == [
        ("jarva", "Järva (f.d. Rinkeby-Kista)")
    ]
    assert query(db, "select key, blinded_label from meta.arms order by key") == [
        ("control", "Grupp B"),
        ("ips", "Grupp A"),
    ]
    assert query(db, "select config->>'short_name' from meta.study_config") == [("IPS-ADAS Stockholm",)]
    assert query(db, "select count(*) from meta.audit_log") == [(0,)]


def test_load_exit_1_keeps_valid_rows_and_lists_rejections_until_corrected(tmp_path):
    rows = fx.study_rows()
    fx.set_cell(rows, "referrals", 1, "Remissdatum", "03/04/2023")
    folder, db = fx.write_study(tmp_path / "in", rows, fmt="xlsx"), tmp_path / "ips.duckdb"
    code, out, _ = run(folder, db)
    assert code == 1
    assert "remisslogg.xlsx: 5 rader, 4 inlästa, 1 avvisade" in out
    assert "remisslogg.xlsx Blad1!C3 ”Remissdatum”" in out
    rejected = query(
        db,
        "select file_name, sheet, row_number, column_header, cell_ref, value, rule from meta.rejected_rows "
        "where source_key = 'referrals'",
    )
    assert rejected == [("remisslogg.xlsx", "Blad1", 3, "Remissdatum", "Blad1!C3", "03/04/2023", "date_ambiguous")]
    assert query(db, "select count(*) from raw.referrals") == [(4,)]
    assert query(db, "select count(*) from meta.rejected_rows where rule = 'randomisation_without_referral'") == [(1,)]
    fx.write_study(folder, fx.study_rows(), fmt="xlsx")  # corrected files
    code, _, _ = run(folder, db)
    assert code == 0
    assert query(db, "select count(*) from meta.rejected_rows") == [(0,)]
    assert query(db, "select exit_code from meta.loads order by load_id") == [(1,), (0,)]


def _drop_source(folder):
    (folder / "randomisering.xlsx").unlink()


def _drop_config(folder):
    (folder / "studie.toml").unlink()


def _bad_config(folder):
    text = (folder / "studie.toml").read_text("utf-8").replace('key = "control"', 'key = "kontroll"')
    (folder / "studie.toml").write_text(text, "utf-8")


def _broken_toml(folder):
    (folder / "studie.toml").write_text("name = \n", "utf-8")


def _missing_column(folder):
    spec = fx.study_rows()["baseline"]
    fx.write_xlsx(folder / "baslinje.xlsx", [h for h in spec["headers"] if h != "Kön"], spec["rows"])


def _unreadable(folder):
    (folder / "avslut.xlsx").write_bytes(b"PK\x03\x04 trasig")


def _two_files(folder):
    spec = fx.study_rows()["events"]
    fx.write_csv(folder / "avslut.csv", spec["headers"], spec["rows"])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_drop_source, "obligatorisk källfil saknas: Randomiseringslogg"),
        (_drop_config, "studie.toml saknas"),
        (_bad_config, "armarna måste vara exakt 'ips' och 'control'"),
        (_broken_toml, "ingen giltig TOML"),
        (_missing_column, "baslinje.xlsx: obligatorisk kolumn saknas: ”Kön”"),
        (_unreadable, "avslut.xlsx: filen kan inte läsas som Excel-fil"),
        (_two_files, "flera filer för samma källa"),
    ],
)
def test_load_exit_2_writes_nothing(study, mutate, message):
    folder, db = study
    mutate(folder)
    code, out, err = run(folder, db)
    assert code == 2
    assert message in err and "Inget har lästs in." in err
    assert not os.path.lexists(db) and not versions_dir(db).exists()
    assert "Traceback" not in err


def test_load_optional_source_missing_is_noted(study):
    folder, db = study
    (folder / "programtrohet.xlsx").unlink()
    code, out, _ = run(folder, db)
    assert code == 0
    assert "programtrohet: saknas" in out
    assert query(db, "select status, rows_read from meta.load_files where source_key = 'fidelity'") == [("saknas", 0)]
    assert query(db, "select count(*) from raw.fidelity") == [(0,)]


@pytest.mark.parametrize("broken", [False, True])
def test_load_idempotent_reload_builds_nothing(tmp_path, broken):
    rows = fx.study_rows()
    if broken:
        fx.set_cell(rows, "events", 0, "Orsak", None)
    folder, db = fx.write_study(tmp_path / "in", rows, fmt="csv"), tmp_path / "ips.duckdb"
    first, _, _ = run(folder, db)
    target, link, digest = current_target(db), os.readlink(db), sha(current_target(db))
    listing = sorted(os.listdir(versions_dir(db)))
    mtime = target.stat().st_mtime_ns
    code, out, _ = run(folder, db)
    assert code == first == (1 if broken else 0)
    assert "redan inlästa" in out
    assert os.readlink(db) == link and sha(target) == digest and target.stat().st_mtime_ns == mtime
    assert sorted(os.listdir(versions_dir(db))) == listing
    assert query(db, "select count(*) from meta.loads") == [(1,)]


PNR_FORMS = ("8112189876", "811218-9876", "198112189876", "19811218-9876")


def _assert_no_pnr_anywhere(texts: list[str], root: Path) -> None:
    for text in texts:
        for form in PNR_FORMS:
            assert form not in text
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for form in PNR_FORMS:
                assert form.encode() not in data, path


def test_load_refuses_personnummer_in_xlsx_notes_and_csv_cell(tmp_path):
    db = tmp_path / "store" / "ips.duckdb"
    folder = fx.write_study(tmp_path / "in", fmt="xlsx")
    assert run(folder, db)[0] == 0
    before = (os.readlink(db), sha(current_target(db)), sorted(os.listdir(versions_dir(db))))
    spec = fx.study_rows()["referrals"]
    noted = [dict(r) for r in spec["rows"]]
    noted[2]["Anteckning"] = "Pnr 811218-9876, ring först"
    fx.write_xlsx(folder / "remisslogg.xlsx", [*spec["headers"], "Anteckning"], noted)
    spec = fx.study_rows()["events"]
    (folder / "avslut.xlsx").unlink()
    events = [dict(r) for r in spec["rows"]]
    events[1]["Studiekod"] = "8112189876"
    fx.write_csv(folder / "avslut.csv", spec["headers"], events)
    code, out, err = run(folder, db)
    assert code == 2
    # issue 10 §4: the place names the sheet and cell (read from the workbook's XML) and the header
    assert "remisslogg.xlsx, blad ”Blad1”, cell M4 (rad 4, kolumn ”M (Anteckning)”)" in err
    assert "Pnr XXXXXX-XXXX, ring först" in err
    assert "avslut.csv, rad 3, kolumn ”A (Studiekod)”" in err and "(XXXXXXXXXX)" in err
    assert "Ingenting har lästs in" in err
    assert (os.readlink(db), sha(current_target(db)), sorted(os.listdir(versions_dir(db)))) == before
    _assert_no_pnr_anywhere([out, err], db.parent)


def test_load_refuses_personnummer_subprocess_and_in_config(tmp_path):
    db = tmp_path / "store" / "ips.duckdb"
    folder = fx.write_study(tmp_path / "in", fmt="csv")
    text = (folder / "studie.toml").read_text("utf-8")
    (folder / "studie.toml").write_text(text + "\n# kontakt 19811218-9876\n", "utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "ipsdash.cli", "load", str(folder), "--db", str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "studie.toml, rad" in proc.stderr and "XXXXXXXX-XXXX" in proc.stderr
    assert not db.parent.exists() or not any(db.parent.iterdir())
    _assert_no_pnr_anywhere([proc.stdout, proc.stderr], tmp_path / "store")


def test_load_carries_over_audit_log_and_load_history(study):
    folder, db = study
    assert run(folder, db)[0] == 0
    first = current_target(db)
    con = duckdb.connect(str(first))  # nobody else has this file open in the test
    con.execute(
        "insert into meta.audit_log values (timestamp '2024-09-01 10:00', 'pl', 'unblind', 'beslut', date '2024-08-31')"
    )
    con.execute("insert into meta.balance_checkpoints values (1, date '2024-01-01', now(), '{}')")
    con.close()
    rows = fx.study_rows()
    fx.set_cell(rows, "events", 1, "Orsak", "Flyttat")
    fx.write_study(folder, rows, fmt="xlsx")
    assert run(folder, db)[0] == 0
    assert current_target(db) != first
    assert query(db, "select actor, action, data_cutoff from meta.audit_log") == [("pl", "unblind", D("2024-08-31"))]
    assert query(db, "select count(*) from meta.balance_checkpoints") == [(1,)]
    assert query(db, "select load_id, exit_code from meta.loads order by 1") == [(1, 0), (2, 0)]
    assert query(db, "select count(distinct load_id) from meta.load_files") == [(2,)]


def test_load_keeps_last_five_versions(study):
    folder, db = study
    for i in range(7):
        rows = fx.study_rows()
        fx.set_cell(rows, "specialists", 0, "Namn", f"Anna {i}")
        fx.write_study(folder, rows, fmt="xlsx")
        assert run(folder, db)[0] == 0
    versions = sorted(versions_dir(db).glob("ips-*.duckdb"))
    assert len(versions) == 5 and current_target(db) in versions
    assert query(db, "select count(*) from meta.loads") == [(7,)]


@pytest.mark.parametrize("phase", ["after_read", "after_raw", "before_swap"])
def test_load_killed_halfway_leaves_previous_store_intact(tmp_path, phase):
    db = tmp_path / "store" / "ips.duckdb"
    folder = fx.write_study(tmp_path / "in", fmt="xlsx")
    assert run(folder, db)[0] == 0
    old_link, old_target = os.readlink(db), current_target(db)
    old_sha = sha(old_target)
    reader = duckdb.connect(str(old_target), read_only=True)  # a dashboard holding the old file
    rows = fx.study_rows()
    fx.add_row(rows, "followups", {"Studiekod": "A0314M27", "Tidpunkt": 18, "Status": "Missad"})
    fx.write_study(folder, rows, fmt="xlsx")
    env = dict(os.environ, IPSDASH_TEST_PAUSE=phase)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ipsdash.cli", "load", str(folder), "--db", str(db)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == f"IPSDASH_PAUSE {phase}", proc.stderr.read() if proc.poll() is not None else line
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert os.readlink(db) == old_link
    assert sha(old_target) == old_sha
    assert reader.execute("select count(*) from raw.followups").fetchall() == [(3,)]
    reader.close()
    assert query(db, "select count(*) from raw.followups") == [(3,)]
    leftovers = [p for p in versions_dir(db).iterdir() if p.name.startswith("ips-") and p != old_target]
    if phase == "after_raw":
        assert leftovers and all(".building" in p.name for p in leftovers)  # unfinished file
    if phase == "before_swap":
        assert len(leftovers) == 1 and leftovers[0].suffix == ".duckdb"  # complete, never linked
    # the next load ignores and removes the leftovers
    code, _, _ = run(folder, db)
    assert code == 0
    assert not any(".building" in p.name or ".tmp-" in p.name for p in versions_dir(db).iterdir())
    assert query(db, "select count(*) from raw.followups") == [(4,)]


def test_load_time_of_fixture_study(study):
    folder, db = study
    started = time.perf_counter()
    assert run(folder, db)[0] == 0
    assert time.perf_counter() - started < 5
