"""The dry run and the publish step: `prepare` reads, scans and validates without writing
anything; `publish` stores exactly what `prepare` showed."""

from __future__ import annotations

import csv
import shutil

import duckdb
import pytest

from etl.load import LoadRefused, prepare, publish
from tests import independent as ind


def test_prepare_writes_nothing_and_shows_what_publish_stores(mistakes_dir, tmp_path):
    db = tmp_path / "store" / "ips.duckdb"
    prepared = prepare(mistakes_dir)
    assert not (tmp_path / "store").exists()
    assert prepared.exit_code == 1
    # Counted from the files, not from the loader: every data row of the referral log was read.
    ref = next(f for f in prepared.files if f["source_key"] == "referrals")
    assert ref["rows_read"] == len(ind.rows(mistakes_dir, "remisslogg"))
    assert ref["rows_read"] == ref["rows_loaded"] + ref["rows_rejected"]
    assert all(len(f["sha256"]) == 64 for f in prepared.files if f["status"] != "saknas")
    assert prepared.rejected and all(r["reason"] and r["cell_ref"] and r["rule"] for r in prepared.rejected)
    new_file = publish(prepared, db)
    assert db.resolve() == new_file.resolve()
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute(
            "select source_key, file_name, sheet, row_number, column_header, cell_ref, value, reason, rule "
            "from meta.rejected_rows"
        ).fetchall()
        files = con.execute("select source_key, rows_read, rows_loaded, rows_rejected from meta.load_files").fetchall()
    keys = ("source_key", "file_name", "sheet", "row_number", "column_header", "cell_ref", "value", "reason", "rule")
    assert sorted(stored, key=str) == sorted((tuple(r[k] for k in keys) for r in prepared.rejected), key=str)
    assert sorted(files) == sorted(
        (f["source_key"], f["rows_read"], f["rows_loaded"], f["rows_rejected"]) for f in prepared.files
    )


def test_prepare_refuses_a_personnummer_before_anything_is_written(demo_dir, tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(demo_dir, folder)
    path = folder / "baslinje.csv"
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    rows[3][0] = "19811218-9876"
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh, delimiter=";").writerows(rows)
    with pytest.raises(LoadRefused) as caught:
        prepare(folder)
    text = " ".join(caught.value.messages)
    assert "baslinje.csv" in text and "19811218-9876" not in text


def test_publish_refuses_when_the_store_changed_since_prepare(demo_dir, tmp_path):
    db = tmp_path / "ips.duckdb"
    prepared = prepare(demo_dir)
    publish(prepared, db)
    before = db.resolve()
    with pytest.raises(LoadRefused):
        publish(prepared, db, previous=None)  # the caller saw no store; one has appeared since
    assert db.resolve() == before
