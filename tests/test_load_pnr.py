"""Issue 10 §4 end to end: a personnummer in any kind of place an input can hold refuses the whole
load (exit 2), names the place with the number masked, and nothing is written: the previous store
stays as it was and the digits appear nowhere in the output or under the store's folder.

This is the test that fails if an input path bypasses the scanner: each case puts the number where
only that path would see it (a comment, a sheet name, a property, a file or folder name, a numeric
cell that lost its leading zero, a value that validation would reject, a unit name, the REDCap
export, the configuration, the command line).
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from etl.close import close_study
from etl.load import load
from etl.paths import current_target
from tests import fixtures as fx
from tests.test_pnr import SEED, has, hidden, make_pnr

ROOT = Path(__file__).resolve().parent.parent
RNG = random.Random(SEED + 11)
TEN = make_pnr(RNG)
ZERO = make_pnr(RNG, year_digit0="0")
DASHED = f"{TEN[:6]}\u2013{TEN[6:]}"  # an en dash: missed by the old scan
LAST = next(t for t in (make_pnr(RNG) for _ in range(400)) if t[6] == "0" and t[0] != "0")  # last four 0xxx
assert ZERO[1] != "0"  # born 2001–2009: the date half typed as a number keeps five digits


def _forms() -> list[bytes]:
    """The numbers as typed in the cases (whole forms: 4 or 6 digits alone may occur by chance in a
    binary store file)."""
    return [
        f.encode()
        for f in (TEN, f"{TEN[:6]}-{TEN[6:]}", DASHED, f"{TEN[:6]} {TEN[6:]}", ZERO, ZERO[1:], LAST, LAST[:6] + "-")
    ]


def assert_digits_nowhere(texts: list[str], root: Path) -> None:
    for text in texts:
        for form in [*_forms(), *(h.encode() for h in (TEN[:6], TEN[6:], LAST[6:], ZERO[1:6], ZERO[6:]))]:
            has(text, form.decode(), False)
    if root.exists():
        for path in root.rglob("*"):
            has(path.name, TEN, False)
            if path.is_file():
                data = path.read_bytes()
                for form in _forms():
                    found = form in data
                    assert not found, hidden(path)


def _xlsx(folder: Path, edit) -> None:
    path = folder / "remisslogg.xlsx"
    wb = openpyxl.load_workbook(path)
    edit(wb)
    wb.save(path)


def _csv_cell(folder: Path, key: str, index: int, header: str, value: object) -> None:
    rows = fx.study_rows()
    fx.set_cell(rows, key, index, header, value)
    spec = rows[key]
    (folder / f"{fx.FILE_NAMES[key]}.xlsx").unlink(missing_ok=True)
    fx.write_csv(folder / f"{fx.FILE_NAMES[key]}.csv", spec["headers"], spec["rows"])


def _redcap(folder: Path) -> None:
    from tests.test_redcap import RECORDS, make_export

    make_export(folder / "redcap", records=RECORDS.replace("B0402K11", f"B0402K11 {TEN[:6]} {TEN[6:]}"))


def _split_cells(folder: Path) -> None:
    rows = fx.study_rows()
    fx.set_cell(rows, "events", 1, "Händelse", TEN[:6])
    fx.set_cell(rows, "events", 1, "Orsak", TEN[6:])
    spec = rows["events"]
    (folder / "avslut.xlsx").unlink(missing_ok=True)
    fx.write_csv(folder / "avslut.csv", spec["headers"], spec["rows"])


def _split_cells_gap(folder: Path) -> None:
    """The halves in the next non-empty fields, an empty field between: `…;811218;;9876`."""
    rows = fx.study_rows()
    fx.set_cell(rows, "events", 1, "Datum", TEN[:6])
    fx.set_cell(rows, "events", 1, "Händelse", "")
    fx.set_cell(rows, "events", 1, "Orsak", TEN[6:])
    spec = rows["events"]
    (folder / "avslut.xlsx").unlink(missing_ok=True)
    fx.write_csv(folder / "avslut.csv", spec["headers"], spec["rows"])


def _split_lines(folder: Path) -> None:
    """The halves one above the other in the same column of two lines: `…;811218` / `…;9876`."""
    rows = fx.study_rows()
    fx.set_cell(rows, "events", 0, "Orsak", TEN[:6])
    fx.set_cell(rows, "events", 1, "Orsak", TEN[6:])
    spec = rows["events"]
    (folder / "avslut.xlsx").unlink(missing_ok=True)
    fx.write_csv(folder / "avslut.csv", spec["headers"], spec["rows"])


CASES = {
    "xlsx comment": (
        lambda f: _xlsx(
            f, lambda wb: setattr(wb.active["C3"], "comment", openpyxl.comments.Comment(f"ring {DASHED}", "A"))
        ),
        "kommentar till Blad1!C3",
    ),
    "xlsx sheet name": (lambda f: _xlsx(f, lambda wb: setattr(wb.active, "title", f"R {TEN}")), "bladnamn"),
    "xlsx title": (lambda f: _xlsx(f, lambda wb: setattr(wb.properties, "title", DASHED)), "dokumentegenskap ”title”"),
    "xlsx header": (
        lambda f: _xlsx(f, lambda wb: setattr(wb.active.oddHeader.center, "text", DASHED)),
        "sidhuvud/sidfot på Blad1",
    ),
    "xlsx number lost zero": (lambda f: _xlsx(f, lambda wb: wb.active.cell(3, 20, int(ZERO))), "cell T3"),
    "xlsx run together": (lambda f: _xlsx(f, lambda wb: wb.active.cell(4, 13, f"pnr{TEN}")), "cell M4"),
    "rejected value": (lambda f: _csv_cell(f, "events", 1, "Datum", DASHED), "avslut.csv, rad 3"),
    "unit name": (lambda f: _csv_cell(f, "followups", 0, "Enhet", f"Enhet {TEN[:6]} {TEN[6:]}"), "kolumn ”E (Enhet)”"),
    "csv nine digits": (lambda f: _csv_cell(f, "events", 0, "Studiekod", ZERO[1:]), "kolumn ”A (Studiekod)”"),
    "file name": (lambda f: (f / f"anteckningar {TEN}.csv").write_text("x\n", "utf-8"), "filnamnet"),
    "config": (
        lambda f: (f / "studie.toml").write_text((f / "studie.toml").read_text("utf-8") + f"\n# {DASHED}\n", "utf-8"),
        "studie.toml, rad",
    ),
    "redcap export": (_redcap, "redcap/IPSADAS_DATA_2024-09-30_1200.csv, rad"),
    # issue 10: forms the scan missed before
    "xlsx formula assembled": (
        lambda f: _xlsx(f, lambda wb: wb.active.cell(4, 13, f'="{TEN[:3]}"&"{TEN[3:6]}"&"-"&"{TEN[6:]}"')),
        "formel i cell M4",
    ),
    "csv split over two cells": (_split_cells, "kolumn ”C (Händelse)” och ”D (Orsak)”"),
    "csv separated date": (
        lambda f: _csv_cell(f, "followups", 1, "Enhet", f"19{TEN[:2]}-{TEN[2:4]}-{TEN[4:6]}-{TEN[6:]}"),
        "kolumn ”E (Enhet)”",
    ),
    "xlsx split over two cells": (
        lambda f: _xlsx(f, lambda wb: (wb.active.cell(4, 13, TEN[:6]), wb.active.cell(4, 15, TEN[6:]))),
        "cell M4 (rad 4, kolumn M) och cell O4 (kolumn O)",
    ),
    "csv split with an empty field between": (_split_cells_gap, "kolumn ”B (Datum)” och ”D (Orsak)”"),
    "csv dotted date": (
        lambda f: _csv_cell(f, "followups", 1, "Enhet", f"{TEN[:2]}.{TEN[2:4]}.{TEN[4:6]}-{TEN[6:]}"),
        "kolumn ”E (Enhet)”",
    ),
    "xlsx slashed date": (
        lambda f: _xlsx(f, lambda wb: wb.active.cell(4, 13, f"19{TEN[:2]}/{TEN[2:4]}/{TEN[4:6]} {TEN[6:]}")),
        "cell M4",
    ),
    # issue 10, last session: cells one above the other, number halves that lost leading zeros, a
    # full stop before the last four
    "xlsx split over two stacked cells": (
        lambda f: _xlsx(f, lambda wb: (wb.active.cell(4, 13, TEN[:6]), wb.active.cell(5, 13, TEN[6:]))),
        "cell M4 (rad 4, kolumn M) och cell M5 (rad 5, kolumn M)",
    ),
    "xlsx last four lost its zero": (
        lambda f: _xlsx(f, lambda wb: (wb.active.cell(4, 13, LAST[:6]), wb.active.cell(4, 14, int(LAST[6:])))),
        "cell M4 (rad 4, kolumn M) och cell N4 (kolumn N)",
    ),
    "xlsx date half lost its zero, stacked": (
        lambda f: _xlsx(f, lambda wb: (wb.active.cell(4, 13, int(ZERO[:6])), wb.active.cell(6, 13, ZERO[6:]))),
        "cell M4 (rad 4, kolumn M) och cell M6 (rad 6, kolumn M)",
    ),
    "csv split over two lines": (_split_lines, "avslut.csv, rad 2 och rad 3, kolumn ”D (Orsak)”"),
    "csv full stop before the last four": (
        lambda f: _csv_cell(f, "followups", 1, "Enhet", f"Enhet {TEN[:2]}.{TEN[2:4]}.{TEN[4:6]}.{TEN[6:]}"),
        "kolumn ”E (Enhet)”",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_load_refuses_pnr_in_every_kind_of_place(tmp_path, case):
    edit, place = CASES[case]
    folder = fx.write_study(tmp_path / "in", fmt="xlsx")
    db = tmp_path / "store" / "ips.duckdb"
    out, err = io.StringIO(), io.StringIO()
    assert load(folder, db, out, err) == 0
    before = (os.readlink(db), current_target(db).read_bytes())
    edit(folder)
    out, err = io.StringIO(), io.StringIO()
    code = load(folder, db, out, err)
    assert code == 2, hidden(err.getvalue())
    has(err.getvalue(), place)
    has(err.getvalue(), "XXXX")
    same = (os.readlink(db), current_target(db).read_bytes()) == before
    assert same
    assert_digits_nowhere([out.getvalue(), err.getvalue()], db.parent)


def test_load_refuses_pnr_in_folder_name(tmp_path):
    folder = fx.write_study(tmp_path / f"underlag {TEN}", fmt="csv")
    db = tmp_path / "store" / "ips.duckdb"
    out, err = io.StringIO(), io.StringIO()
    code = load(folder, db, out, err)
    assert code == 2
    has(err.getvalue(), "mappnamnet")
    assert_digits_nowhere([out.getvalue(), err.getvalue()], db.parent)


def test_cli_refuses_pnr_in_any_argument_before_doing_anything(tmp_path):
    folder = fx.write_study(tmp_path / "in", fmt="csv")
    db = tmp_path / "store" / "ips.duckdb"
    for argv in (
        ["load", str(folder), "--db", str(tmp_path / f"x{TEN}" / "ips.duckdb")],
        ["close-study", "--by", "Anna", "--note", f"beslut {DASHED}", "--db", str(db)],
        ["demo", "--out", str(tmp_path / f"demo{TEN}")],
        ["load", f"{ZERO[1:]}"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "ipsdash.cli", *argv], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 2, hidden(proc.stderr)
        has(proc.stderr, "kommandoraden, argument")
        has(proc.stderr, "XXXX")
        assert_digits_nowhere([proc.stdout, proc.stderr.replace(str(tmp_path), "")], tmp_path / "store")
    written = (tmp_path / f"demo{TEN}").exists()
    assert not written


def test_close_study_refuses_pnr_in_note_masked(tmp_path):
    folder = fx.write_study(tmp_path / "in", fmt="csv")
    db = tmp_path / "store" / "ips.duckdb"
    assert load(folder, db, io.StringIO(), io.StringIO()) in (0, 1)
    before = current_target(db).read_bytes()
    for by, note, place in (("Anna", f"styrgruppen {DASHED}", "--note"), (f"A {TEN}", "beslut", "--by")):
        err = io.StringIO()
        code = close_study(db, by, note, io.StringIO(), err)
        assert code == 2
        has(err.getvalue(), place)
        has(err.getvalue(), "XXXX")
        assert_digits_nowhere([err.getvalue()], db.parent)
    same = current_target(db).read_bytes() == before
    assert same


def test_upload_refuses_pnr_in_a_workbook_comment_and_audits_only_the_place(tmp_path):
    from etl import audit, staging

    folder = fx.write_study(tmp_path / "in", fmt="xlsx")
    _xlsx(folder, lambda wb: setattr(wb.active["B2"], "comment", openpyxl.comments.Comment(f"ring {DASHED}", "A")))
    session = staging.new_session(staging.staging_root(tmp_path / "staging"))
    db = tmp_path / "data" / "ips.duckdb"
    with pytest.raises(staging.UploadRefused) as refused:
        staging.add_upload(session, "remisslogg.xlsx", (folder / "remisslogg.xlsx").read_bytes(), db=db, actor="pl")
    has(str(refused.value), "remisslogg.xlsx, kommentar till Blad1!B2")
    assert_digits_nowhere([str(refused.value)], session.root)
    assert session.uploaded() == []
    entry = audit.entries(db)[0]
    assert entry["action"] == "refused_upload"
    assert_digits_nowhere([], audit.audit_path(db).parent)
