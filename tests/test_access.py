"""Access control: the gate's SQL check, district scope on every page, cache keys, downloads for
the steering group, the app audit trail, closing the study and the personnummer end-to-end."""

from __future__ import annotations

import io
import re
import shutil
import sqlite3
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pytest

from dashboard import auth, ui
from dashboard import queries as q
from dashboard.access import (
    PAGES_BY_ROLE,
    AccessDenied,
    Gate,
    OutcomesLocked,
    QueryFailed,
    RoleFileError,
    Viewer,
    parse_roles,
)
from etl.close import close_study
from tests.conftest import PAGES, load_quietly, page_text, render

SODERMALM = "sodermalm"


def _connect(target: Path) -> duckdb.DuckDBPyConnection:
    """Same configuration as the dashboard's connection (DuckDB refuses a second one otherwise)."""
    return duckdb.connect(str(target), read_only=True)


def _gate(db: Path, viewer: Viewer) -> Gate:
    target = db.resolve()
    con = _connect(target)
    return Gate(con.cursor(), viewer, store_id=str(target))


# --- the gate's SQL check ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "select * from mart.participants",
        'select * from "mart"."participants"',
        "select * from mart /* x */ . participants",
        "select * from mart --x\n.participants",
        "select * from main.participants",
        "select * from query('select * from mart.participants')",
        "select * from query_table('participants')",
        "select * from read_csv('/etc/passwd')",
        "attach '/tmp/x.duckdb' as x",
        "select 1; drop table participants",
        "select getenv('HOME')",
        "select * from duckdb_tables()",
    ],
)
def test_gate_check_refuses_bypasses(demo_db, sql):
    gate = _gate(demo_db, Viewer("enhetschef", (SODERMALM,)))
    with pytest.raises(AccessDenied):
        gate.frame(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "select * from outcome_employment",
        "select * from sealed.employment",
        'select * from "sealed"."activity"',
        "select * from sealed /**/ . activity",
        "select * from query('select * from sealed.activity')",
    ],
)
@pytest.mark.parametrize("role", ["projektledare", "admin", "forskare", "styrgrupp"])
def test_gate_refuses_outcomes_while_locked(demo_db, sql, role):
    gate = _gate(demo_db, Viewer(role))
    with pytest.raises(OutcomesLocked):
        gate.frame(sql)
    with pytest.raises(OutcomesLocked):
        gate.require_outcomes()


def test_gate_error_messages_name_no_data(demo_db):
    gate = _gate(demo_db, Viewer("projektledare"))
    code = gate.scalar("select min(study_code) from participants")
    with pytest.raises(QueryFailed) as info:
        gate.frame("select cast(study_code as integer) from participants")
    assert code not in str(info.value) and not re.search(r"\d", str(info.value))


def test_gate_scopes_enhetschef_views(demo_db):
    gate = _gate(demo_db, Viewer("enhetschef", (SODERMALM,)))
    for view in (
        "participants",
        "referral_funnel",
        "followup_status",
        "recruitment_monthly",
        "caseload_daily",
        "specialist_roster",
        "districts",
    ):
        ids = set(gate.frame(f"select distinct district_id from {view}")["district_id"])
        assert ids <= {SODERMALM}, view


# --- district scope on every page ---------------------------------------------------------------


@pytest.fixture(scope="session")
def other_districts(demo_dir):
    """Study codes and district names that are not Södermalm's, read from the source file itself."""
    ws = openpyxl.load_workbook(demo_dir / "remisslogg.xlsx", read_only=True).active
    rows = list(ws.iter_rows(values_only=True))
    header = list(rows[0])
    code_i, district_i = header.index("Studiekod"), header.index("Stadsdel")
    codes = {r[code_i] for r in rows[1:] if r[code_i] and r[district_i] != "Södermalm"}
    mine = {r[code_i] for r in rows[1:] if r[code_i] and r[district_i] == "Södermalm"}
    names = {r[district_i] for r in rows[1:] if r[district_i] and r[district_i] != "Södermalm"}
    names |= {"Järva", "Rinkeby-Kista", "Enheten för hemlösa", "Enskede-Årsta-Vantör", "hemlösa"}
    return codes - mine, names, len({r[code_i] for r in rows[1:] if r[code_i]})


@pytest.fixture(scope="session")
def captured_downloads():
    """Every download's bytes built while rendering (AppTest cannot read download buttons)."""
    seen: list[tuple[str, bytes, bytes]] = []
    original = ui.download_bytes

    def spy(viewer, config, frame, topic, count_columns=None):
        made = original(viewer, config, frame, topic, count_columns)
        if made is not None:
            seen.append((topic, *made))
        return made

    ui.download_bytes = spy
    yield seen
    ui.download_bytes = original


def xlsx_text(data: bytes) -> str:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))


@pytest.mark.parametrize("page", PAGES)
def test_enhetschef_pages_show_no_other_district(demo_db, other_districts, captured_downloads, page):
    codes, names, _ = other_districts
    before = len(captured_downloads)
    if page not in PAGES_BY_ROLE["enhetschef"]:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            render(demo_db, page, "enhetschef:Södermalm")
        return
    at = render(demo_db, page, "enhetschef:Södermalm")
    assert not at.exception, [e.value for e in at.exception]
    text = page_text(at) + "\n".join(str(s.value) for s in at.sidebar.get("multiselect"))
    leaked_codes = {c for c in codes if c in text}
    assert not leaked_codes, sorted(leaked_codes)[:5]
    leaked_names = {n for n in names if n in text}
    assert not leaked_names, leaked_names
    for _topic, csv, xlsx in captured_downloads[before:]:
        blob = csv.decode("utf-8-sig") + xlsx_text(xlsx)
        assert not {c for c in codes if c in blob}
        assert not {n for n in names if n in blob}


def test_enhetschef_sees_no_study_wide_totals(demo_db, other_districts):
    _, _, total_referred = other_districts
    gate = _gate(demo_db, Viewer("projektledare"))
    total_randomised = gate.scalar("select count(*) from participants")
    at = render(demo_db, "oversikt", "enhetschef:Södermalm")
    values = [str(m.value) for m in at.metric]
    assert not any(re.search(rf"\b{total_randomised}\b", v) for v in values), values
    assert not any(re.search(rf"\b{total_referred}\b", v) for v in values), values


# --- caches ----------------------------------------------------------------------------------------


def test_cached_queries_keyed_by_role_scope_and_close(demo_db, tmp_path):
    blinded = q.participants(_gate(demo_db, Viewer("forskare")), (SODERMALM,))
    open_ = q.participants(_gate(demo_db, Viewer("projektledare")), (SODERMALM,))
    assert set(blinded["arm"]) <= {"Grupp A", "Grupp B"}
    assert set(open_["arm"]) <= {"IPS+TAU", "TVR+TAU"}
    every = ("sodermalm", "jarva", "hemlosa", "eav")
    scoped = q.participants(_gate(demo_db, Viewer("enhetschef", (SODERMALM,))), every)
    whole = q.participants(_gate(demo_db, Viewer("projektledare")), every)
    assert set(scoped["district_id"]) == {SODERMALM} and len(whole) > len(scoped)
    # Closing makes a new store file and a new closed state: both are in the key.
    db = tmp_path / "ips.duckdb"
    shutil.copytree(
        demo_db.parent, tmp_path, dirs_exist_ok=True, symlinks=True, ignore=shutil.ignore_patterns("*-journal")
    )
    locked_gate = _gate(db, Viewer("forskare"))
    assert q.participants(locked_gate, (SODERMALM,))["arm"].isin(["Grupp A", "Grupp B"]).all()
    # In its own process, as in production (this process holds the old file open).
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "ipsdash.cli", "close-study", "--by", "Test", "--note", "test", "--db", str(db)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    assert done.returncode == 0, done.stderr
    closed_gate = _gate(db, Viewer("forskare"))
    assert closed_gate.store_id != locked_gate.store_id and "closed=True" in closed_gate.cache_key
    assert q.participants(closed_gate, (SODERMALM,))["arm"].isin(["IPS+TAU", "TVR+TAU"]).all()


# --- downloads -----------------------------------------------------------------------------------


def _config(demo_db):
    from dashboard.access import read_config

    con = _connect(demo_db.resolve())
    try:
        return read_config(con)
    finally:
        con.close()


def test_download_frame_suppresses_small_cells_for_styrgrupp(demo_db):
    config = _config(demo_db)
    frame = pd.DataFrame({"Stadsdel": ["A", "B", "C"], "Antal": [3, 10, 12], "Andel": [0.1, 0.4, 0.5]})
    csv, xlsx = ui.download_bytes(Viewer("styrgrupp"), config, frame, "Test")
    text = csv.decode("utf-8-sig")
    assert text.splitlines()[1:] == ["A;<5;0,1", "B;<5;0,4", "C;12;0,5"]
    assert "&lt;5" in xlsx_text(xlsx) and ";3;" not in text
    plain, _ = ui.download_bytes(Viewer("projektgrupp"), config, frame, "Test")
    assert "A;3;0,1" in plain.decode("utf-8-sig")


def test_download_frame_refuses_row_level_data_for_styrgrupp(demo_db):
    frame = pd.DataFrame({"study_code": ["A0101M01"], "n": [1]})
    assert ui.download_bytes(Viewer("styrgrupp"), _config(demo_db), frame, "Lista") is None


# --- app audit trail -------------------------------------------------------------------------------


def test_app_audit_records_events_append_only(tmp_path):
    db = tmp_path / "ips.duckdb"
    assert auth.read_app_audit(db).empty
    assert auth.record_event(db, "anna@stad.se", "login", "Styrgrupp")
    assert auth.record_event(db, "anna@stad.se", "download", "Översikt (csv)", "/x/ips-1.duckdb")
    log = auth.read_app_audit(db)
    assert list(log["action"]) == ["download", "login"] and log["store_file"].iloc[0] == "ips-1.duckdb"
    path = auth.audit_path(db)
    assert path.name == "ips.duckdb.audit.sqlite" and not Path(str(path) + "-wal").exists()
    con = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError):
        con.execute("delete from events")
    with pytest.raises(sqlite3.DatabaseError):
        con.execute("update events set actor = 'x'")
    con.close()


# --- roles file ----------------------------------------------------------------------------------


def test_roles_file_parses_users_case_insensitively():
    roles = parse_roles(
        '[users."Anna.A@Stad.se"]\nrole = "enhetschef"\ndistricts = ["Södermalm"]\n'
        '[users."bo@stad.se"]\nrole = "styrgrupp"\n'
    )
    assert roles.viewer_for(" anna.a@stad.SE ") == Viewer("enhetschef", ("Södermalm",), "anna.a@stad.se")
    assert roles.viewer_for("bo@stad.se").role == "styrgrupp"
    assert roles.viewer_for("eve@stad.se") is None and roles.viewer_for(None) is None


@pytest.mark.parametrize(
    "text",
    [
        '[users."a@b.se"]\nrole = "superuser"\n',
        '[users."a@b.se"]\nrole = "enhetschef"\n',
        '[users."a@b.se"]\nrole = "styrgrupp"\ndistricts = ["Södermalm"]\n',
        '[users."a@b.se"]\nrole = "admin"\nextra = 1\n',
        '[users."not-an-email"]\nrole = "admin"\n',
        'role = "admin"\n',
        "[users\n",
    ],
)
def test_roles_file_refuses_invalid_entries(text):
    with pytest.raises(RoleFileError):
        parse_roles(text)


# --- closing the study ------------------------------------------------------------------------------


def test_close_study_appends_audit_row_in_new_version(demo_db, tmp_path, capsys):
    shutil.copytree(
        demo_db.parent, tmp_path, dirs_exist_ok=True, symlinks=True, ignore=shutil.ignore_patterns("*-journal")
    )
    db = tmp_path / "ips.duckdb"
    old = db.resolve()
    old_bytes = old.read_bytes()
    reader = duckdb.connect(str(old), read_only=True)  # a dashboard reading during the close
    from ipsdash.cli import main

    assert main(["close-study", "--by", "Projektledaren", "--note", "Styrgruppsbeslut", "--db", str(db)]) == 0, (
        capsys.readouterr().err
    )
    assert db.resolve() != old and old.read_bytes() == old_bytes
    assert reader.execute("select count(*) from meta.audit_log").fetchone()[0] == 0
    reader.close()
    con = duckdb.connect(str(db.resolve()), read_only=True)
    rows = con.execute("select actor, action, detail, data_cutoff from meta.audit_log").fetchall()
    con.close()
    assert [r[:3] for r in rows] == [("Projektledaren", "close_study", "Styrgruppsbeslut")]
    assert str(rows[0][3]) == "2024-09-30"
    assert main(["close-study", "--by", "X", "--note", "igen", "--db", str(db)]) == 1
    assert not list(db.with_name("ips.duckdb.d").glob("*.building"))


@pytest.mark.parametrize("by,note", [("", "x"), ("Anna", "  "), ("Anna", "gäller 19121212-1212")])
def test_close_study_refuses_bad_input(demo_db, tmp_path, by, note):
    shutil.copytree(
        demo_db.parent, tmp_path, dirs_exist_ok=True, symlinks=True, ignore=shutil.ignore_patterns("*-journal")
    )
    db = tmp_path / "ips.duckdb"
    before = db.resolve()
    assert close_study(db, by, note, io.StringIO(), io.StringIO()) == 2
    assert db.resolve() == before


def test_close_study_refuses_without_store(tmp_path):
    assert close_study(tmp_path / "ips.duckdb", "A", "B", io.StringIO(), io.StringIO()) == 2


# --- personnummer end to end -------------------------------------------------------------------------


def test_pnr_in_source_is_refused_and_dashboard_shows_previous_data(demo_dir, tmp_path):
    folder = tmp_path / "src"
    shutil.copytree(demo_dir, folder)
    db = tmp_path / "store" / "ips.duckdb"
    assert load_quietly(folder, db) == 0
    before = db.resolve()
    pnr = "19121212-1212"
    path = folder / "sysselsattning.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    lines[1] = lines[1].replace(lines[1].split(";")[0], pnr, 1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    err = io.StringIO()
    from etl.load import load

    assert load(folder, db, io.StringIO(), err) == 2
    assert db.resolve() == before and "1212" not in err.getvalue()
    at = render(db, "oversikt", "projektledare")
    assert not at.exception and at.metric
    text = page_text(at)
    assert "121212" not in text and "1212" not in text.replace("2024-09-30", "")
