"""The gate's side of issue 10: what the views hand a blinded role (coded arms only, nothing only the
IPS arm has), sealed values in rejected rows, the as-of rule, and the steering report's small cells.
The browser-level tests of the same rules, on what is sent, are in tests/test_payload.py."""

from __future__ import annotations

import io
import re
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from dashboard import access, reports
from dashboard.access import Gate, Viewer, read_config
from tests.conftest import ROOT, load_quietly
from tests.conftest import SEALED_SENTINELS as SENTINELS
from tests.test_access import _connect


def _gate(db: Path, viewer: Viewer) -> tuple[Gate, object]:
    con = _connect(db.resolve())
    return Gate(con.cursor(), viewer), con


def _arms() -> list[dict]:
    return tomllib.loads((ROOT / "config" / "studie.toml").read_text(encoding="utf-8"))["arms"]


def test_gate_blinded_views_hold_nothing_only_one_arm_has(demo_db, demo_dir):
    gate, con = _gate(demo_db, Viewer("forskare"))
    try:
        people = gate.frame("select * from participants")
        assert people["specialist_id"].isna().all() and not people["is_stopped_ips"].any()
        assert people["stopped_ips_reason"].isna().all() and people["stopped_ips_on"].isna().all()
        assert gate.frame("select * from followup_status")["specialist_id"].isna().all()
        assert gate.scalar("select count(*) from caseload_daily") == 0
        assert gate.scalar("select count(*) from specialist_roster") == 0
        keys = {a["key"] for a in _arms()}
        labels = {a["label"] for a in _arms()}
        monthly = gate.frame("select * from recruitment_monthly")
        assert not {p for c in monthly.columns for p in c.split("_")} & keys, list(monthly.columns)
        arms = gate.frame("select * from arms")
        assert not (set(arms.astype(str).to_numpy().ravel()) & (keys | labels))
        assert gate.arm_labels(read_config(con)) == sorted(a["blinded_label"] for a in _arms())
    finally:
        con.close()
    # Positive control: the same store holds them, and an unblinded role gets them.
    gate, con = _gate(demo_db, Viewer("projektledare"))
    try:
        people = gate.frame("select * from participants")
        assert people["specialist_id"].notna().any() and people["is_stopped_ips"].any()
        assert {"ips_n", "control_n"} <= set(gate.frame("select * from recruitment_monthly").columns)
        assert gate.scalar("select count(*) from caseload_daily") > 0
    finally:
        con.close()


def test_gate_blinded_role_gets_one_arm_data_after_close(closed_demo_db):
    gate, con = _gate(closed_demo_db, Viewer("forskare"))
    try:
        assert not gate.coded
        assert gate.frame("select * from participants")["specialist_id"].notna().any()
        assert set(gate.frame("select arm from participants")["arm"]) == {a["label"] for a in _arms()}
    finally:
        con.close()


# --- sealed values in rejected rows ------------------------------------------------------------------


@pytest.fixture(scope="module")
def rejected_dbs(sealed_sentinel_dir, tmp_path_factory) -> tuple[Path, Path]:
    from etl.close import close_study

    base = tmp_path_factory.mktemp("gate_rejected")
    src = sealed_sentinel_dir
    locked, closed = base / "locked" / "ips.duckdb", base / "closed" / "ips.duckdb"
    assert load_quietly(src, locked) == 1 and load_quietly(src, closed) == 1
    assert close_study(closed, "Projektledaren", "Beslut", io.StringIO(), io.StringIO()) == 0
    return locked, closed


def test_gate_rejected_sealed_values_hidden_while_locked(rejected_dbs):
    locked, closed = rejected_dbs
    gate, con = _gate(locked, Viewer("projektledare"))
    try:
        rows = gate.frame("select * from rejected_rows")
        sealed = rows[rows["source_key"].isin(access.sealed_source_keys())]
        assert {f for f in sealed["file_name"]} == set(SENTINELS)  # file, row, column and reason stay
        assert sealed["row_number"].notna().all() and sealed["column_header"].notna().all()
        assert sealed["reason"].str.len().gt(0).all()
        assert sealed["value"].isna().all()
        blob = rows.to_csv()
        for _, value in SENTINELS.values():
            assert value not in blob
    finally:
        con.close()
    gate, con = _gate(closed, Viewer("projektledare"))
    try:
        blob = gate.frame("select * from rejected_rows").to_csv()
        assert all(value in blob for _, value in SENTINELS.values())  # positive control after close
    finally:
        con.close()


# --- the as-of date --------------------------------------------------------------------------------


def test_asof_choice_is_not_for_the_steering_group():
    assert "styrgrupp" not in access.ASOF_ROLES
    assert not access.ASOF_ROLES & access.SUPPRESSED_ROLES
    assert {"projektledare", "projektgrupp"} <= access.ASOF_ROLES <= set(access.ROLES)


# --- the steering report for styrgrupp ---------------------------------------------------------------

NOT_COUNTS = {
    "Mål",
    "Andel av mål",
    "Prognos mål nås",
    "Nådd",
    "SMD kön",
    "SMD ålder",
    "Bedömning",
    "Tidpunkt",
    "Andel lämnat",
    "Andel genomförda",
    "Över taket",
    "Skattning",
    "Totalt",
    "Nivå",
    "Punkter",
    "Personal",
    "Organisation",
    "Tjänster",
    "Nyckeltal",
    "Stadsdel",
    "Orsak",
    "Grupp",
    "Arbetsspecialist",
    "Ruta",
    "Fas",
}


def test_steering_report_figures_have_no_small_count(demo_db):
    threshold = tomllib.loads((ROOT / "config" / "studie.toml").read_text(encoding="utf-8"))["privacy"][
        "small_cell_threshold"
    ]
    gate, con = _gate(demo_db, Viewer("styrgrupp"))
    try:
        figures = reports.steering_figures(gate, read_config(con))
    finally:
        con.close()
    found = []
    for name, value in figures.items():
        if not isinstance(value, pd.DataFrame) or name in ("cumulative", "fidelity"):
            continue
        for column in value.columns:
            if column in NOT_COUNTS:
                continue
            for v in value[column]:
                if re.fullmatch(r"[+−-]?\d+", str(v).strip()) and 0 < abs(int(str(v).replace("−", "-"))) <= threshold:
                    found.append(f"{name}.{column}={v}")
    for key, v in figures["stopped_ips"].items():
        if str(v).isdigit() and 0 < int(v) <= threshold:
            found.append(f"stopped_ips.{key}={v}")
    assert not found, found
