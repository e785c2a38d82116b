"""The fix-list ("felrapport"): the rejected rows of a dry run as a workbook a unit can act on.

One sheet per source file with rejected rows. Each row is written as it was typed in the checked
file (every column of the file's header row, in the file's order), the offending cell highlighted,
followed by the row number in the file and the Swedish reason. Values of sealed sources (employment,
activity) are masked while the study is locked: the caller passes `visible(source_key)`, decided by
the one access rule (`dashboard.access.rejected_values_visible`). Per district: one workbook per
district holding only that district's rows (a participant's district is the referral log's).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import column_index_from_string, get_column_letter

from etl import read, scan
from etl.staging import Check
from etl.tables import SourceFileError
from etl.validate import Rejection, value_text
from schema.sources import SOURCES
from schema.vocab import normalize_token

MASK = "(dolt)"
MASKED_REASON = "fel i kolumnen ”{column}” (värdet visas inte medan studien är låst)"
NO_DISTRICT = "utan-stadsdel"
HIGHLIGHT = PatternFill("solid", start_color="FFC7CE", end_color="FFC7CE")
HEADER_FONT = Font(bold=True)
_SEALED = {s.key for s in SOURCES if s.sealed}


@dataclass
class FixRow:
    row_number: int
    values: list[object]  # the row as typed, one per header column
    bad_columns: set[int]  # 0-based positions of the offending cells
    reasons: list[str]
    districts: set[str] = field(default_factory=set)


@dataclass
class FixSheet:
    file_name: str
    source_key: str
    header: list[str]
    code_column: int | None  # position of the study code (kept visible when values are masked)
    rows: list[FixRow] = field(default_factory=list)


def _letter_index(cell_ref: str) -> int | None:
    match = re.search(r"!([A-Z]+)\d+$", cell_ref or "")
    return column_index_from_string(match.group(1)) - 1 if match else None


def _sheet_rows(check: Check, table) -> dict[int, list[object]]:
    """Row number -> every cell of the row, as the checked file holds it (the dry run's grid, or the
    file read again: it is still in the checked folder)."""
    grid = check.grids.get(table.file_name)
    if grid is None and Path(table.path).suffix.lower() in read.EXTENSIONS and Path(table.path).is_file():
        try:
            grid = read.read_grid(Path(table.path))
        except (SourceFileError, scan.PnrRefused):  # a checked file cannot hold one; never show it
            grid = None
    if grid is None:
        return {}
    for sheet in grid.sheets:
        if sheet.name == table.sheet or len(grid.sheets) == 1:
            return dict(sheet.rows)
    return {}


def _district_of_code(check: Check) -> dict[str, str]:
    """Study code -> district id, from the referral log's rows (accepted or not)."""
    out: dict[str, str] = {}
    lookup = check.config.district_lookup() if check.config else {}
    res = check.results.get("referrals")
    if res is None:
        return out
    for raw in res.table.rows:
        code, district = raw.values.get("study_code"), raw.values.get("district_id")
        if code is not None and district is not None:
            found = lookup.get(normalize_token(str(district)))
            if found is not None:
                out[str(code).strip().upper()] = found
    return out


def _row_districts(check: Check, source_key: str, values: dict[str, object], by_code: dict[str, str]) -> set[str]:
    lookup = check.config.district_lookup() if check.config else {}
    if source_key == "referrals":
        found = lookup.get(normalize_token(str(values.get("district_id") or "")))
        return {found} if found else set()
    if source_key == "specialists":
        parts = re.split(r"[,;/]", str(values.get("district_ids") or ""))
        return {d for d in (lookup.get(normalize_token(p)) for p in parts if p.strip()) if d}
    code = values.get("study_code")
    found = by_code.get(str(code).strip().upper()) if code is not None else None
    return {found} if found else set()


def fix_sheets(check: Check) -> list[FixSheet]:
    """The rejected rows of the check, grouped per file in source order, one entry per row."""
    by_code = _district_of_code(check)
    sheets: list[FixSheet] = []
    for src in SOURCES:
        res = check.results.get(src.key)
        if res is None or not res.rejected:
            continue
        table = res.table
        cells = _sheet_rows(check, table)
        positions = {name: column_index_from_string(letter) - 1 for name, letter in table.header_letters.items()}
        header_row = _header_row(cells, table.headers, positions)
        if header_row is not None:
            header = ["" if v is None else str(v) for v in cells[header_row]]
        else:  # REDCap tables: the mapped columns only
            header = list(table.headers.values())
            positions = {name: i for i, name in enumerate(table.headers)}
        code_col = positions.get("study_code")
        sheet = FixSheet(table.file_name, src.key, header, code_col)
        raws = {r.row_number: r for r in table.rows}
        rows: dict[int, FixRow] = {}
        for rej in sorted(res.rejected, key=lambda r: r.row_number):
            row = rows.get(rej.row_number)
            if row is None:
                raw = raws.get(rej.row_number)
                raw_values = raw.values if raw else {}
                if header_row is not None and rej.row_number in cells:
                    typed = list(cells[rej.row_number]) + [None] * max(0, len(header) - len(cells[rej.row_number]))
                else:
                    typed = [None] * len(header)
                    for name, pos in positions.items():
                        typed[pos] = raw_values.get(name)
                row = rows[rej.row_number] = FixRow(
                    rej.row_number,
                    typed[: max(len(header), len(typed))],
                    set(),
                    [],
                    _row_districts(check, src.key, raw_values, by_code),
                )
            bad = _bad_column(rej, header, positions)
            if bad is not None:
                row.bad_columns.add(bad)
            row.reasons.append(rej.reason)
        sheet.rows = list(rows.values())
        sheets.append(sheet)
    return sheets


def _header_row(cells: dict[int, list[object]], headers: dict[str, str], positions: dict[str, int]) -> int | None:
    for number in sorted(cells)[:12]:
        values = cells[number]
        if all(
            pos < len(values) and str(values[pos]).strip() == str(headers[name]).strip()
            for name, pos in positions.items()
        ):
            return number
    return None


def _bad_column(rej: Rejection, header: list[str], positions: dict[str, int]) -> int | None:
    found = _letter_index(rej.cell_ref)
    if found is not None:
        return found
    if rej.column:
        for i, h in enumerate(header):
            if h.strip() == rej.column.strip():
                return i
    return None


def _cell(value: object) -> object:
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date().isoformat()
    if isinstance(value, (date, datetime)):
        return value_text(value)
    return value


def _sheet_title(name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "_", Path(name).stem)[:28] or "Blad"
    title, n = base, 2
    while title.lower() in used:
        title, n = f"{base[:25]}-{n}", n + 1
    used.add(title.lower())
    return title


def build_workbook(sheets: list[FixSheet], visible: Callable[[str], bool], note: str = "") -> Workbook:
    """The workbook: a short instruction sheet, then one sheet per file with rejected rows."""
    wb = Workbook()
    info = wb.active
    info.title = "Läs först"
    info["A1"] = "Felrapport: rader som inte lästes in"
    info["A1"].font = Font(bold=True, size=14)
    lines = [
        "Varje blad är en källfil. Raderna står som de skrevs i filen; cellen med felet är markerad.",
        'Rätta raden i er egen fil (kolumnen "Rad i filen" anger raden som Excel visar den) och skicka filen igen.',
        'Kolumnen "Varför raden avvisades" förklarar felet.',
    ]
    if note:
        lines.append(note)
    if not sheets:
        lines.append("Inga avvisade rader.")
    for i, line in enumerate(lines, start=3):
        info.cell(row=i, column=1, value=line)
    info.column_dimensions["A"].width = 110
    used: set[str] = {info.title.lower()}
    for sheet in sheets:
        ws = wb.create_sheet(_sheet_title(sheet.file_name, used))
        masked = sheet.source_key in _SEALED and not visible(sheet.source_key)
        header = [*sheet.header, "Rad i filen", "Varför raden avvisades"]
        ws.append(header)
        for cell in ws[1]:
            cell.font = HEADER_FONT
        for row in sheet.rows:
            values = []
            for i, v in enumerate(row.values[: len(sheet.header)]):
                if masked and i != sheet.code_column and v is not None:
                    values.append(MASK)
                else:
                    values.append(_cell(v))
            values += [None] * (len(sheet.header) - len(values))
            if masked:
                reasons = [
                    MASKED_REASON.format(column=sheet.header[c] if c < len(sheet.header) else "?")
                    for c in sorted(row.bad_columns)
                ] or ["raden avvisades (värdena visas inte medan studien är låst)"]
            else:
                reasons = row.reasons
            ws.append([*values, row.row_number, "; ".join(dict.fromkeys(reasons))])
            r = ws.max_row
            for c in row.bad_columns:
                if c < len(sheet.header):
                    ws.cell(row=r, column=c + 1).fill = HIGHLIGHT
        for i, title in enumerate(header, start=1):
            ws.column_dimensions[get_column_letter(i)].width = min(60, max(10, len(str(title)) + 4))
        ws.column_dimensions[get_column_letter(len(header))].width = 80
        ws.freeze_panes = "A2"
    return wb


def workbook_bytes(sheets: list[FixSheet], visible: Callable[[str], bool], note: str = "") -> bytes:
    buf = io.BytesIO()
    build_workbook(sheets, visible, note).save(buf)
    return buf.getvalue()


def per_district(sheets: list[FixSheet]) -> dict[str, list[FixSheet]]:
    """District id (or NO_DISTRICT) -> the sheets holding only that district's rows."""
    out: dict[str, list[FixSheet]] = {}
    for sheet in sheets:
        by: dict[str, list[FixRow]] = {}
        for row in sheet.rows:
            for d in sorted(row.districts) or [NO_DISTRICT]:
                by.setdefault(d, []).append(row)
        for d, rows in by.items():
            out.setdefault(d, []).append(
                FixSheet(sheet.file_name, sheet.source_key, sheet.header, sheet.code_column, rows)
            )
    return out


def write(check: Check, out: Path, visible: Callable[[str], bool]) -> Path:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_bytes(workbook_bytes(fix_sheets(check), visible))
    return Path(out)


def write_per_district(check: Check, folder: Path, visible: Callable[[str], bool]) -> list[Path]:
    """One workbook per district with rejected rows: `felrapport-<district id>.xlsx`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    names = {d.id: d.name for d in check.config.districts} if check.config else {}
    for district, sheets in per_district(fix_sheets(check)).items():
        note = f"Stadsdel: {names.get(district, 'rader utan känd stadsdel')}"
        path = folder / f"felrapport-{district}.xlsx"
        path.write_bytes(workbook_bytes(sheets, visible, note))
        written.append(path)
    return written
