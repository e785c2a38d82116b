"""The demo written as a REDCap export loads end to end and gives the same store as the CSV path;
its figures are checked against the REDCap records file read with plain csv."""

from __future__ import annotations

import csv
import io

import duckdb
import pytest

from etl.demo import generate
from etl.load import load


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    base = tmp_path_factory.mktemp("redcap_demo")
    generate(base / "csv", seed=7)
    generate(base / "redcap", seed=7, redcap=True)
    out = {}
    for kind in ("csv", "redcap"):
        db = base / f"{kind}_store" / "ips.duckdb"
        assert load(base / kind, db, io.StringIO(), io.StringIO()) == 0
        out[kind] = db
    return base, out


@pytest.mark.parametrize("table", ["mart.participants", "mart.followup_status", "meta.balance_checkpoint_rows"])
def test_redcap_path_gives_same_derived_tables_as_csv(stores, table):
    _, dbs = stores
    frames = []
    for kind in ("csv", "redcap"):
        with duckdb.connect(str(dbs[kind]), read_only=True) as con:
            frames.append(con.execute(f"select * from {table} order by all").df())
    assert frames[0].equals(frames[1])


def test_redcap_counts_match_records_file(stores):
    base, dbs = stores
    with open(base / "redcap" / "redcap" / "records.csv", encoding="utf-8", newline="") as fh:
        records = list(csv.DictReader(fh))
    women = sum(1 for r in records if r["redcap_event_name"] == "baseline_arm_1" and r["kon"] == "2")
    done = sum(
        1 for r in records if r["redcap_event_name"] != "baseline_arm_1" and r["asi_uppfoljning_complete"] == "2"
    )
    with duckdb.connect(str(dbs["redcap"]), read_only=True) as con:
        assert con.execute("select count(*) from mart.participants where gender = 'woman'").fetchone()[0] == women
        assert con.execute("select count(*) from raw.followups where result = 'done'").fetchone()[0] == done
        files = {r[0] for r in con.execute("select file_name from meta.load_files").fetchall()}
    assert "baslinje.csv" not in files and "uppfoljning.csv" not in files
