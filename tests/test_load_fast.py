"""The loader's fast paths give exactly what the reference paths give.

- The calamine reader (`etl.read.read_xlsx_grid`) against openpyxl's read-only `iter_rows` (the
  reader it replaced), on quirky sheets written by xlsxwriter and openpyxl (offsets, gaps, shared
  and inline strings, dates, booleans, special characters, formulas): the same cells with the
  same Python types in the same Excel rows.
- `etl.validate`'s column-wise checks (generated from the contract's declarations) against the
  pydantic model itself, cell by cell, on the fixture tables with odd values in every column.
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


# --- the column-wise checks against the pydantic model they are generated from ------------------
#
# The model validates one row at a time (its fields only: rules across fields and files live in
# etl/rules.py). The loader's column-wise check must judge every cell exactly as the model does:
# the same cells fail, with the same Swedish reason where the reason is the parser's own; the
# declared ranges report `out_of_range` where pydantic reports `greater_than_equal`/`less_than_equal`;
# accepted cells get the same typed value.

KEYS = [
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
]
ODD = [
    "2023-02-30",
    "2023-3-1",
    "5/3/2023",
    "13/3/2023",
    "20230301",
    "2099-01-01",
    "2023-03-01 00:00",
    "3,5",
    "007",
    "-2",
    "1e3",
    "6 mån",
    "200",
    " a0314m27 ",
    "a 0314 m27",
    "Ja",
    "x",
    "J",
    "nej",
    "Kvinna",
    "okänd",
    "Södermalm",
    "Atlantis",
    "50 %",
    "0,5",
    "AB",
    "1",
    "0",
    "999999",
    "",
    "   ",
    "1981",
    "1850",
    "Personal",
    "T",
]


def _model_errors(model, values, ctx):
    """Field -> (rule id, reason) of the model's own validation of one row; the typed row or None."""
    from pydantic import ValidationError

    from etl.columns import reason_sv

    try:
        return {}, model.model_validate(values, context={"study": ctx})
    except ValidationError as exc:
        out = {}
        for err in exc.errors(include_url=False, include_input=False):
            out.setdefault(err["loc"][0], (err["type"], reason_sv(err)))
        return out, None


def _model_input(model, raw_values):
    """The row as the model takes it: blank cells left out, numbers in text fields as text."""
    from etl.tables import value_text

    text_fields = {n for n, i in model.model_fields.items() if i.annotation in (str, str | None) and not i.metadata}
    out = {}
    for name, value in raw_values.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        out[name] = value_text(value) if name in text_fields and not isinstance(value, str) else value
    return out


def _odd_table(key):
    """The fixture table with every field of some rows replaced by odd values (one field per row)."""
    base = fx.raw_tables()[key]
    rows = list(base.rows)
    names = list(base.headers)
    extra = []
    for i, odd in enumerate(ODD):
        for j, name in enumerate(names):
            template = rows[(i + j) % len(rows)]
            values = dict(template.values)
            values[name] = odd
            extra.append(RawRow(1000 + i * len(names) + j, values))
    return RawTable(base.source_key, base.path, base.sheet, base.headers, base.header_letters, rows + extra)


@pytest.mark.parametrize("key", KEYS)
def test_columnar_checks_judge_every_cell_as_the_model_does(key):
    from etl.columns import RANGE_RULE
    from etl.rules import ROW_RULES
    from schema.sources import cutoff_checked_fields, parse_date, source

    table = _odd_table(key)
    ctx = ValidationContext(fx.config())
    model = source(key).model
    res = validate.validate_table(table, ctx)
    row_rules = {r.rule for r in ROW_RULES if r.source == key}
    got = {(r.row_number, r.column): (r.rule, r.reason) for r in res.rejected if r.rule not in row_rules}
    accepted = {a.row_number: a.row.model_dump() for a in res.accepted}
    by_header = {n: h for n, h in table.headers.items()}
    checked = 0
    for raw in table.rows:
        given = _model_input(model, raw.values)
        errors, row = _model_errors(model, given, ctx)
        # The extract-date limit is declared (NotAfterExtract) and checked by the loader only.
        for name in cutoff_checked_fields(model):
            if name in errors or name not in given:
                continue
            day = parse_date(given[name])
            if day is not None and day > ctx.cutoff:
                errors[name] = ("after_cutoff", f"datumet {day} ligger efter datauttagets datum {ctx.cutoff}")
                row = None
        expected = {}
        for name, (rule, reason) in errors.items():
            if rule in ("greater_than_equal", "less_than_equal"):
                rule, reason = RANGE_RULE, None
            expected[(raw.row_number, by_header.get(name, name))] = (rule, reason)
        mine = {k: v for k, v in got.items() if k[0] == raw.row_number}
        assert set(mine) == set(expected), (raw.row_number, raw.values, mine, expected)
        for k, (rule, reason) in expected.items():
            assert mine[k][0] == rule, (k, mine[k], rule)
            if reason is not None:
                assert mine[k][1] == reason, (k, mine[k], reason)
        if row is not None and raw.row_number in accepted:
            assert accepted[raw.row_number] == row.model_dump(), raw.row_number
            checked += 1
    assert checked > 0 and len(got) > 0


def test_big_file_with_one_bad_row_rejects_that_row_only():
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
    res = validate.validate_table(table, ValidationContext(fx.config()))
    rejected = {(r.row_number, r.rule) for r in res.rejected}
    assert (2502, "date_format") in rejected and (2602, "unknown_district") in rejected
    assert res.rows_loaded == 3000 - len({r.row_number for r in res.rejected})


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


def test_contract_models_have_no_validators_of_their_own():
    """Rules across fields and files are written once, in etl/rules.py (polars): no pydantic twin."""
    import ast

    tree = ast.parse((ROOT / "schema" / "sources.py").read_text(encoding="utf-8"))
    decorated = [
        (cls.name, fn.name)
        for cls in tree.body
        if isinstance(cls, ast.ClassDef)
        for fn in cls.body
        if isinstance(fn, ast.FunctionDef)
        for d in fn.decorator_list
        if "validator" in ast.unparse(d)
    ]
    assert decorated == []
    from etl.rules import ROW_RULES

    ids = [(r.source, r.rule) for r in ROW_RULES]
    assert len(ids) == len(set(ids))


def test_a_load_never_imports_pyarrow_or_pandas_and_returns_freed_memory(demo_dir, tmp_path):
    """The checked frames reach DuckDB as Arrow streams (the PyCapsule interface), so a load runs in
    a process where pyarrow and pandas cannot be imported at all (about 70 MB of peak memory at
    scale 100, issue 11); and the loader asks polars' allocator to return freed pages. The store it
    writes has the same tables, rows and column types as a load in an ordinary process."""
    import subprocess
    import sys

    import duckdb

    code = (
        "import io, os, sys; from pathlib import Path\n"
        "sys.modules['pyarrow'] = None; sys.modules['pandas'] = None\n"
        "from etl.load import load\n"
        "err = io.StringIO(); status = load(Path(sys.argv[1]), Path(sys.argv[2]), io.StringIO(), err)\n"
        "print(status, os.environ.get('_RJEM_MALLOC_CONF'), err.getvalue())\n"
    )
    blocked, plain = tmp_path / "blocked" / "ips.duckdb", tmp_path / "plain" / "ips.duckdb"
    done = subprocess.run(
        [sys.executable, "-c", code, str(demo_dir), str(blocked)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    status, conf, *rest = done.stdout.split(maxsplit=2)
    assert status == "0", done.stdout
    assert "dirty_decay_ms:0" in conf
    from tests.conftest import load_quietly

    assert load_quietly(demo_dir, plain) == 0

    def tables(db):
        con = duckdb.connect(str(db), read_only=True)
        try:
            columns = con.execute(
                "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema IN ('raw', 'sealed', 'mart') ORDER BY ALL"
            ).fetchall()
            counts = {(s, t): con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0] for s, t, *_ in columns}
        finally:
            con.close()
        return columns, counts

    assert tables(blocked) == tables(plain)
