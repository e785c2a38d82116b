"""Read the study team's source files (CSV or Excel) into `RawTable`s.

A file is scanned for personnummer (`etl.scan.scan_file`: its bytes, every xlsx part, its name)
before it is read, then read once into a grid of cells (`Grid`) and turned into a `RawTable`
(`table_from_grid`).
Staff quirks handled here: a title row or notes above the header, blank rows, notes columns,
header variants and stray spaces, CSV in UTF-8 (with or without BOM) or cp1252 with `;`, `,` or
tab as separator. Row numbers are always as Excel shows them.

Error messages never quote cell values: they may be read before the personnummer check.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import polars as pl
from python_calamine import CalamineWorkbook, SheetTypeEnum

from etl import scan
from etl.tables import ROW, RawTable, SourceFileError, column_letter, date_column, frame_from_columns
from schema.sources import CONFIG_STEMS, SOURCES, Source, header_map
from schema.vocab import normalize_token

EXTENSIONS = (".csv", ".xlsx")
HEADER_SEARCH_ROWS = 10
SEPARATORS = (";", ",", "\t")


class Sheet:
    """The cells of one sheet (or a CSV file) as read: `cells[i]` is Excel's row `first + i` (for a
    CSV file: record `first + i`), not yet cleaned. `rows` gives the non-blank rows cleaned, as
    (row number as Excel shows it, cell values), for callers that want rows (the fix list)."""

    def __init__(self, name: str | None, cells: list[list[object]], first: int = 1, excel: bool = False):
        self.name = name
        self.cells = cells
        self.first = first
        self.excel = excel
        self._rows: list[tuple[int, list[object]]] | None = None

    def head_cells(self) -> list[list[object]]:
        """The rows the header is looked for in (a CSV sheet keeps only its first records)."""
        return self.cells

    def clean_row(self, values: list[object]) -> list[object]:
        return [_cell(v) for v in values] if self.excel else [_clean(v) for v in values]

    @property
    def rows(self) -> list[tuple[int, list[object]]]:
        if self._rows is None:
            out = []
            for i, raw in enumerate(self.cells):
                values = self.clean_row(raw)
                if any(v is not None for v in values):
                    out.append((self.first + i, values))
            self._rows = out
        return self._rows


@dataclass
class Grid:
    path: Path
    sheets: list[Sheet] = field(default_factory=list)


# --- finding files ------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise SourceFileError(
            path.name, f"filen kan inte läsas ({type(exc).__name__}); kontrollera att du har behörighet till den"
        ) from None
    return digest.hexdigest()


def find_config(folder: Path) -> Path | None:
    """`studie.toml` (or `study.toml`) in the input folder, any case."""
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() == ".toml" and path.stem.lower() in CONFIG_STEMS:
            return path
    return None


def data_files(folder: Path) -> list[Path]:
    """Every .csv/.xlsx file directly in the folder (Excel lock files `~$x.xlsx` left out)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in EXTENSIONS and not p.name.startswith(("~$", "."))
    )


def match_sources(files: list[Path]) -> tuple[dict[str, Path], list[SourceFileError], list[Path]]:
    """Source key -> its file (by stem, case-insensitive); errors for two files of one source;
    files that match no source."""
    by_key: dict[str, list[Path]] = {}
    unmatched: list[Path] = []
    for path in files:
        stem = path.stem.strip().lower()
        src = next((s for s in SOURCES if stem in s.stems), None)
        if src is None:
            unmatched.append(path)
        else:
            by_key.setdefault(src.key, []).append(path)
    found: dict[str, Path] = {}
    errors: list[SourceFileError] = []
    for key, paths in by_key.items():
        if len(paths) > 1:
            names = ", ".join(p.name for p in paths)
            errors.append(
                SourceFileError(
                    paths[0].name,
                    f"flera filer för samma källa ({names}); behåll bara en av dem i mappen",
                )
            )
        else:
            found[key] = paths[0]
    return found, errors, unmatched


# --- reading cells ------------------------------------------------------------------------------


def _clean(value: object) -> object:
    if isinstance(value, str):
        text = value.replace("\u00a0", " ").strip()
        return text if text else None
    return value


def decode_text(data: bytes) -> str:
    """UTF-8 (BOM or not), else cp1252 (Excel's 'CSV' on Swedish Windows)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def sniff_separator(text: str) -> str:
    """The separator among `;`, `,` and tab that splits the first lines most consistently."""
    lines = [ln for ln in text.splitlines()[:30] if ln.strip()]
    best, best_score = ";", (-1, -1)
    for sep in SEPARATORS:
        try:
            counts = [len(r) for r in csv.reader(lines, delimiter=sep)]
        except csv.Error:  # e.g. a field over the size limit: reported by the reader with its line
            continue
        multi = [c for c in counts if c > 1]
        if not multi:
            continue
        width, freq = Counter(multi).most_common(1)[0]
        score = (freq, width)
        if score > best_score:
            best, best_score = sep, score
    return best


def text_file_problem(data: bytes) -> str | None:
    """Why these bytes cannot be read as a CSV text file (Swedish, saying what to do), or None."""
    if not data.strip():
        return "filen är tom; spara den igen från Excel (med rubrikraden) som CSV"
    head = data[:4000]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or head.count(b"\x00") * 5 > len(head):
        return (
            "filen är sparad som UTF-16 (”Unicode-text”); spara den i Excel som ”CSV UTF-8 "
            "(kommaavgränsad)” eller ”CSV (semikolonavgränsad)”"
        )
    if b"\x00" in data:
        return "filen innehåller NUL-tecken (binära data) och är ingen CSV-fil; spara den igen från Excel som CSV"
    return None


def toml_where(exc: Exception) -> str:
    """'rad 3, tecken 7' from a TOMLDecodeError (its English text is never shown)."""
    lineno, colno = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    if lineno is None:
        m = re.search(r"line (\d+), column (\d+)", str(exc))
        lineno, colno = (int(m.group(1)), int(m.group(2))) if m else (None, None)
    return f"rad {lineno}, tecken {colno}" if lineno is not None else "okänd rad"


def csv_failure(name: str, exc: csv.Error, line: int) -> SourceFileError:
    """A Swedish error for the csv module's failure at `line`, saying what to do."""
    if "field larger than field limit" in str(exc):
        return SourceFileError(
            name,
            f"rad {line}: ett fält är längre än {csv.field_size_limit():,} tecken".replace(",", " ")
            + ' – oftast ett citattecken (") som saknar sitt avslutande citattecken; rätta raden eller '
            "spara filen igen från Excel som CSV",
        )
    return SourceFileError(name, f"rad {line}: filen är ingen läsbar CSV-fil; spara den igen från Excel som CSV")


def read_csv_grid(path: Path) -> Grid:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceFileError(
            path.name,
            f"filen kan inte läsas ({type(exc).__name__}); kontrollera att den finns och att du har behörighet",
        ) from None
    problem = text_file_problem(data)
    if problem:
        raise SourceFileError(path.name, problem)
    text = decode_text(data)
    sep = sniff_separator(text)
    # One streaming pass of the csv module (Excel's dialect) checks the whole file, counts its
    # records and keeps the first ones (the header is among them); the rows are read later,
    # column-wise (`CsvSheet.body`).
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    head: list[list[object]] = []
    lines: list[int] = []
    count = 0
    try:
        for record in reader:
            if count < HEADER_SEARCH_ROWS:
                head.append(record)  # type: ignore[arg-type]
                lines.append(reader.line_num)
            count += 1
    except csv.Error as exc:
        raise csv_failure(path.name, exc, reader.line_num) from None
    return Grid(path, [CsvSheet(text, sep, head, lines, count)])


class CsvSheet(Sheet):
    """A CSV file: its first records (`cells` reads all of them on demand) and the body below a
    header read by polars, column-wise."""

    def __init__(self, text: str, sep: str, head: list[list[object]], lines: list[int], count: int):
        super().__init__(None, head)
        self.text, self.sep, self.lines, self.count = text, sep, lines, count
        self._all: list[list[object]] | None = None

    @property  # type: ignore[override]
    def cells(self) -> list[list[object]]:
        """Every record (read again on demand: the fix list wants whole rows)."""
        if self._all is None:
            self._all = list(csv.reader(io.StringIO(self.text, newline=""), delimiter=self.sep))  # type: ignore[arg-type]
        return self._all

    @cells.setter
    def cells(self, value: list[list[object]]) -> None:
        self._head = value

    def head_cells(self) -> list[list[object]]:
        return self._head

    def body(self, pos: int, columns: dict[int, str]) -> dict[str, Sequence[object]] | None:
        """The mapped columns of the records below the header record `pos` (polars' CSV reader:
        every record kept, blank ones as empty rows, short ones padded), or None when polars would
        not see the same records as the csv module (then the caller reads them cell by cell)."""
        skip = self.lines[pos - 1] if pos else 0
        if pos and skip != pos:  # a title record spanning lines: count lines and records alike
            return None
        try:
            frame = pl.read_csv(
                self.text.encode("utf-8"),
                separator=self.sep,
                has_header=False,
                infer_schema=False,
                truncate_ragged_lines=True,
                skip_lines=skip,
                quote_char='"',
            )
        except Exception:  # noqa: BLE001 - the csv module decides (it has read the whole file)
            return None
        if frame.height != self.count - pos:
            return None
        names = frame.columns
        if max(columns) >= len(names):
            return None
        return {name: frame[names[i]].slice(1) for i, name in columns.items()}


def _cell(value: object) -> object:
    """A calamine cell as the rest of the loader expects it (and as openpyxl gave it before): blank
    as None, text stripped, a whole number as int (Excel stores every number as a float; typed 3
    is 3, not 3.0) and a date cell as a datetime."""
    if type(value) is float and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if type(value) is date:  # a date cell at midnight: a datetime, as Excel (and openpyxl) has it
        return datetime(value.year, value.month, value.day)
    return _clean(value)


def read_xlsx_grid(path: Path) -> Grid:
    """All sheets, every cell, with Excel's row numbers (calamine: cell values as typed, no type
    guessing per column; dates as dates where the cell is formatted as a date)."""
    try:
        wb = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # noqa: BLE001 - any failure means the file is unusable
        raise SourceFileError(
            path.name,
            f"filen kan inte läsas som Excel-fil ({type(exc).__name__}); öppna den i Excel och spara den igen "
            "som Excel-arbetsbok (.xlsx)",
        ) from None
    try:
        grid = Grid(path)
        for meta in wb.sheets_metadata:
            if meta.typ != SheetTypeEnum.WorkSheet:
                continue  # chart and macro sheets hold no rows
            name = meta.name
            # skip_empty_area=False: the first row is Excel's row 1 even when the sheet starts lower.
            cells = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
            grid.sheets.append(Sheet(name, cells, excel=True))
        return grid
    except Exception as exc:  # noqa: BLE001
        raise SourceFileError(
            path.name,
            f"filen kan inte läsas som Excel-fil ({type(exc).__name__}); öppna den i Excel och spara den igen "
            "som Excel-arbetsbok (.xlsx)",
        ) from None
    finally:
        wb.close()


def read_grid(path: Path, scanned: bool = False) -> Grid:
    """The file's cells; scanned for personnummer first unless the caller already did
    (`etl.scan.scan_file`, which raises PnrRefused)."""
    if not scanned:
        scan.scan_file(path)
    if path.suffix.lower() == ".xlsx":
        return read_xlsx_grid(path)
    return read_csv_grid(path)


# --- from grid to RawTable ----------------------------------------------------------------------


def required_fields(src: Source) -> list[str]:
    return [name for name, info in src.model.model_fields.items() if info.is_required()]


def _header_matches(values: list[object], hmap: dict[str, str]) -> dict[int, str]:
    """Column index -> field name for the cells of a candidate header row (first column wins)."""
    found: dict[int, str] = {}
    used: set[str] = set()
    for i, value in enumerate(values):
        if value is None or isinstance(value, (date, datetime)):
            continue
        name = hmap.get(normalize_token(str(value)))
        if name is not None and name not in used:
            found[i] = name
            used.add(name)
    return found


def _find_header(sheet: Sheet, hmap: dict[str, str]) -> tuple[int, dict[int, str]] | None:
    """Position in sheet.cells of the header row: the first of the first 10 rows as Excel numbers
    them where at least two cells are known headers."""
    first = sheet.head_cells()
    for pos, raw in enumerate(first[: max(0, HEADER_SEARCH_ROWS - sheet.first + 1)]):
        matches = _header_matches(sheet.clean_row(raw), hmap)
        if len(matches) >= 2:
            return pos, matches
    return None


def _sheet_order(grid: Grid, src: Source) -> list[Sheet]:
    wanted = {normalize_token(s) for s in (*src.stems, src.key, src.title_sv)}
    named = [s for s in grid.sheets if s.name and normalize_token(s.name) in wanted]
    return named + [s for s in grid.sheets if s not in named]


def table_from_grid(grid: Grid, src: Source) -> RawTable:
    """The source's rows from the grid: header found, columns mapped, blank rows skipped."""
    hmap = header_map(src.model)
    chosen: tuple[Sheet, int, dict[int, str]] | None = None
    for sheet in _sheet_order(grid, src):
        found = _find_header(sheet, hmap)
        if found is not None:
            chosen = (sheet, *found)
            break
    if chosen is None:
        raise SourceFileError(
            grid.path.name,
            "hittar ingen rubrikrad bland de första 10 raderna (minst två kända kolumnrubriker, t.ex. "
            + ", ".join(f"”{h}”" for h in _example_headers(src))
            + ")",
        )
    sheet, pos, columns = chosen
    header_values = sheet.clean_row(sheet.head_cells()[pos])
    header_number = sheet.first + pos
    missing = [f for f in required_fields(src) if f not in columns.values()]
    if missing:
        from schema.sources import header_of

        found_headers = [str(v) for v in header_values if v is not None]
        raise SourceFileError(
            grid.path.name,
            "obligatorisk kolumn saknas: "
            + ", ".join(f"”{header_of(src.model, f)}”" for f in missing)
            + ". Rubriker som hittades (rad "
            + str(header_number)
            + "): "
            + ", ".join(f"”{h}”" for h in found_headers),
        )
    cells = sheet.body(pos, columns) if isinstance(sheet, CsvSheet) else None
    if cells is None:
        body = sheet.cells[pos + 1 :]
        cells = _columns_of(body, columns)
        count = len(body)
    else:
        count = sheet.count - pos - 1
    numbers = list(range(header_number + 1, header_number + 1 + count))
    text_only = {n: v for n, v in cells.items() if not sheet.excel or _all_text(v)}
    frame = clean_text_frame(numbers, text_only)
    if len(text_only) < len(cells):  # Excel columns with numbers or dates: cell by cell
        typed = frame_from_columns(
            numbers, {n: [_cell(v) for v in vs] for n, vs in cells.items() if n not in text_only}
        )
        frame = frame.with_columns(typed.drop(ROW))
    frame = frame.select(ROW, *[c for n in cells for c in (n, date_column(n)) if c in frame.columns])
    names = list(cells)
    # A blank row, or a row with notes only, is no row.
    frame = frame.filter(pl.any_horizontal(pl.col(n).is_not_null() for n in names)) if names else frame
    return RawTable(
        source_key=src.key,
        path=grid.path,
        sheet=sheet.name,
        headers={name: str(header_values[i]) for i, name in columns.items()},
        header_letters={name: column_letter(i + 1) for i, name in columns.items()},
        frame=frame,
    )


def _columns_of(body: list[list[object]], columns: dict[int, str]) -> dict[str, tuple[object, ...]]:
    """The mapped columns of the rows below the header, transposed in one pass (rows of another
    width padded or cut to the widest mapped column)."""
    width = max(columns) + 1
    if any(len(r) < width for r in body):
        body = [r if len(r) >= width else [*r, *([None] * (width - len(r)))] for r in body]
    transposed = list(zip(*body, strict=False)) if body else [() for _ in range(width)]
    return {name: transposed[i] for i, name in columns.items()}


def _all_text(values: tuple[object, ...]) -> bool:
    return all(type(v) is str or v is None for v in values)


def clean_text_frame(numbers: list[int], cells: dict[str, Sequence[object]]) -> pl.DataFrame:
    """CSV cells (text) cleaned column-wise as `_clean` cleans one: no-break spaces as spaces,
    stripped, blank as null."""
    frame = pl.DataFrame(
        {
            ROW: pl.Series(ROW, numbers, dtype=pl.Int64),
            **{n: pl.Series(n, v, dtype=pl.String) for n, v in cells.items()},
        }
    )
    cleaned = [pl.col(n).str.replace_all("\u00a0", " ", literal=True).str.strip_chars() for n in cells]
    return frame.with_columns(
        pl.when(c != "").then(c).otherwise(None).alias(n) for c, n in zip(cleaned, cells, strict=True)
    )


def _example_headers(src: Source) -> list[str]:
    from schema.sources import header_of

    return [header_of(src.model, f) for f in required_fields(src)[:4]]


def read_source(path: Path, src: Source) -> RawTable:
    """Read one source file (convenience for callers that do not scan first)."""
    return table_from_grid(read_grid(path), src)
