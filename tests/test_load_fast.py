"""The loader's fast paths give exactly what the reference paths give.

- The calamine reader (`etl.read.read_xlsx_grid`) against openpyxl's read-only `iter_rows` (the
  reader it replaced), on quirky sheets written by xlsxwriter and openpyxl (offsets, gaps, shared
  and inline strings, dates, booleans, special characters, formulas): the same cells with the
  same Python types in the same Excel rows.
- `etl.validate`'s per-field cached fast path against the full pydantic model: same accepted rows,
  same rejections (messages, cell references), also for one bad row in a big file.
- The personnummer scan's prefilter never skips a cell the full check would flag.
"""

from __future__ import annotations

from datetime import date, datetime

import openpyxl
import pytest

from etl import read, validate
from etl.tables import RawRow, RawTable
from schema.sources import ValidationContext
from tests import fixtures as fx
from tests.conftest import ROOT


def _both(path):
    """(openpyxl's rows cleaned as the loader cleans cells, the calamine reader's rows) per sheet."""
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        refs = []
        for ws in wb.worksheets:
            rows = []
            for number, cells in enumerate(ws.iter_rows(min_row=1, min_col=1, values_only=True), start=1):
                # openpyxl's read-only mode leaves Excel's escape of a carriage return (`_x000D_`)
                # in the text; calamine decodes it, as Excel shows the cell.
                values = [read._clean(v.replace("_x000D_", "\r") if isinstance(v, str) else v) for v in cells]
                if any(v is not None for v in values):
                    rows.append((number, _trim(values)))
            refs.append(rows)
    finally:
        wb.close()
    grid = read.read_xlsx_grid(path)
    return [(ref, [(n, _trim(v)) for n, v in sheet.rows]) for ref, sheet in zip(refs, grid.sheets, strict=True)]


def _trim(values: list) -> list:
    """Trailing empty cells left out (sheets differ in how wide they say they are)."""
    values = list(values)
    while values and values[-1] is None:
        values.pop()
    return values


def _same(a, b):
    return len(a) == len(b) and all(
        nx == ny and len(x) == len(y) and all(type(u) is type(v) and u == v for u, v in zip(x, y, strict=True))
        for (nx, x), (ny, y) in zip(a, b, strict=True)
    )


def test_calamine_reader_equals_openpyxl_on_xlsxwriter_quirks(tmp_path):
    import xlsxwriter

    path = tmp_path / "q.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet("Instruktioner")
    ws.write(0, 0, "Fyll i bladet Data")
    ws = wb.add_worksheet("Data")
    ws.write(2, 3, 'Remisslogg 2024 & <stadsdelar> "x"')  # leading empty rows and columns
    ws.write_row(4, 2, ["Studiekod", "Stadsdel", "Remissdatum", "Anteckning"])
    ws.write_row(5, 2, ["A0101M1001", "  Södermalm\u00a0", None, "  rad\r\nbrytning  "])
    ws.write_datetime(5, 4, datetime(2024, 3, 1), fmt)
    ws.write_row(8, 2, [3, 3.5, True, False])  # gap of two rows; numbers and booleans
    ws.write_datetime(9, 4, datetime(2024, 3, 1, 13, 30), fmt)
    ws.write(9, 30, "långt bort")
    ws.write_string(10, 2, "")
    ws.write(11, 2, "1e3")
    ws.write_number(11, 3, 1e21)
    wb.close()
    for ref, new in _both(path):
        assert _same(ref, new)


def test_calamine_reader_equals_openpyxl_on_openpyxl_written_file_with_shared_strings(tmp_path):
    path = tmp_path / "p.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Blad1"
    ws["B3"] = "Studiekod"
    ws["C3"] = "Datum"
    ws["B4"] = "A0101M1001"
    ws["C4"] = date(2024, 1, 31)
    ws["D6"] = 12
    ws["E6"] = 0.25
    ws["B7"] = "tab\there"
    wb.save(path)
    for ref, new in _both(path):
        assert _same(ref, new)


def test_calamine_reader_equals_openpyxl_for_formulas_and_a_staff_log(tmp_path):
    path = tmp_path / "f.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "Studiekod"
    ws["A2"] = '=CONCAT("A","1")'  # no cached value (never opened in Excel): empty for both
    ws["B2"] = 7
    wb.save(path)
    for ref, new in _both(path):
        assert _same(ref, new)
    spec = fx.study_rows()["referrals"]
    path = tmp_path / "remisslogg.xlsx"
    fx.write_xlsx(
        path,
        [*spec["headers"], "Anteckningar"],
        spec["rows"],
        preamble=[["Remisslogg"], []],
        blank_after={1, 3},
        extra_sheets={"Läs mig": [["text"], [None, 5]]},
    )
    pairs = _both(path)
    assert len(pairs) == 2
    for ref, new in pairs:
        assert _same(ref, new)


def _reference(table, ctx, monkeypatch):
    """validate_table with the fast path switched off (every row through the full model)."""
    with monkeypatch.context() as m:
        m.setattr(validate._FastModel, "rows", lambda self, data, context: [None] * len(data))
        return validate.validate_table(table, ctx)


def _summary(res):
    return (
        [(a.row_number, a.row.model_dump()) for a in res.accepted],
        [(r.row_number, r.column, r.cell_ref, r.value, r.reason, r.rule) for r in res.rejected],
    )


@pytest.mark.parametrize(
    "key",
    [
        "referrals",
        "randomisations",
        "baseline",
        "followups",
        "events",
        "specialists",
        "assignments",
        "fidelity",
        "activity",
        "employment",
    ],
)
def test_fast_validation_equals_full_model(key, monkeypatch):
    table = fx.raw_tables()[key]
    ctx = ValidationContext(fx.config())
    assert _summary(validate.validate_table(table, ctx)) == _summary(_reference(table, ctx, monkeypatch))


def test_big_file_with_one_bad_row_gives_the_same_rejection(monkeypatch):
    base = fx.raw_tables()["referrals"]
    rows = []
    for i in range(3000):  # many well-formed rows repeating the same values, then one bad cell
        template = base.rows[i % len(base.rows)]
        values = dict(template.values)
        values["study_code"] = (
            f"{values['study_code']}"[:-3] + f"{i:03d}"[-3:] if i >= len(base.rows) else values["study_code"]
        )
        rows.append(RawRow(i + 2, values))
    bad = dict(rows[2500].values)
    bad["referred_on"] = "31/12/2023 kl 9"
    rows[2500] = RawRow(rows[2500].row_number, bad)
    odd = dict(rows[2600].values)
    odd["district_id"] = "Atlantis"
    rows[2600] = RawRow(rows[2600].row_number, odd)
    table = RawTable(base.source_key, base.path, base.sheet, base.headers, base.header_letters, rows)
    ctx = ValidationContext(fx.config())
    fast = _summary(validate.validate_table(table, ctx))
    assert fast == _summary(_reference(table, ctx, monkeypatch))
    assert {r[0] for r in fast[1]} >= {2502, 2602}


@pytest.mark.parametrize(
    "value",
    [
        "198112189876",
        "19811218-9876",
        "811218-9876",
        "x 8112189876 y",
        "８１１２１８９８７６",
        8112189876,
        198112189876,
        8112189876.0,
    ],
)
def test_pnr_prefilter_keeps_every_candidate(tmp_path, value):
    from etl import scan
    from schema import pnr

    path = tmp_path / "x.xlsx"
    fx.write_xlsx(path, ["Kod"], [{"Kod": value}])
    csv_path = tmp_path / "x.csv"
    csv_path.write_text(f"Kod\n{value}\n", "utf-8")
    for file in (path, csv_path):
        try:
            scan.scan_file(file)
            refused = False
        except scan.PnrRefused:
            refused = True
        assert refused == pnr.looks_like_pnr(value)


def test_contract_has_one_model_validator_so_the_fast_path_runs_every_row_rule():
    """The fast path builds rows from per-field results and runs `row_rules()`; a rule written as
    another `@model_validator` would be skipped by it, so the contract may have only SourceRow's."""
    import ast

    tree = ast.parse((ROOT / "schema" / "sources.py").read_text(encoding="utf-8"))
    decorated = [
        (cls.name, fn.name)
        for cls in tree.body
        if isinstance(cls, ast.ClassDef)
        for fn in cls.body
        if isinstance(fn, ast.FunctionDef)
        for d in fn.decorator_list
        if "model_validator" in ast.unparse(d) or "field_validator" in ast.unparse(d)
    ]
    assert decorated == [("SourceRow", "_run_row_rules")]
