"""The input scan for personnummer: every file, name and argument the system reads or is given,
before anything is parsed further or written.

`scan_file` reads the file's bytes itself, never through a library that might skip text:
- an xlsx is a zip: every XML part is scanned (cells incl. numeric values and inline strings,
  shared strings mapped back to the cells that use them, sheet names, defined names, comments,
  notes, threaded comments, document properties, headers and footers, tables, drawings, pivot
  caches, anything else), and every part name;
- any other file (CSV incl. the REDCap exports, TOML) as text: UTF-8 with or without BOM, UTF-16
  with BOM, else Windows-1252; a CSV hit names its line and column (with the header text).
- the file's name as shown (with the folders it is shown with).
`scan_text` scans a name or argument. Both raise `PnrRefused` naming every place (in Swedish) with
the value masked. The decision is always `schema.pnr` (the one detector). A vectorised polars pass
(`candidate_windows`) cuts a file's text into lines, a sheet's XML into rows, and keeps the pieces
that hold a candidate (every candidate has six digits in a row, or a separated date; a superset, so
polars needs no look-around); only those pieces reach the detector. Two neighbouring non-empty
cells of a row are judged as a pair (`pnr.split_pair`), as two neighbouring CSV fields are; so are
a cell (or CSV field) that could be a first half and the next non-empty one below it in its column.
A number cell formatted as a date is a date (`DATE_CELL`), never half a split number.
"""

from __future__ import annotations

import bisect
import csv
import html
import io
import itertools
import posixpath
import re
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import polars as pl

from etl.tables import SourceFileError
from schema import pnr

XLSX_SUFFIXES = (".xlsx", ".xlsm")
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted xlsx, or an old .xls
MAX_UNZIPPED = 2 << 30  # a workbook that unzips to more than 2 GiB is refused, not scanned
SHOW = 40  # characters of context shown around a masked number


@dataclass(frozen=True)
class Hit:
    place: str  # Swedish, names exactly what to fix
    masked: str  # the value (or a window of it) with the number's digits as X

    def message_sv(self) -> str:
        return (
            f"{self.place}: värdet ser ut som ett personnummer ({self.masked}). Personnummer får "
            "aldrig finnas i studiens filer, namn eller argument – använd studiekoden. "
            "Ingenting har lästs in."
        )


class PnrRefused(Exception):
    """Something that may be a personnummer was found; `str()` is Swedish and masked."""

    def __init__(self, hits: list[Hit]):
        self.hits = hits
        super().__init__("\n".join(h.message_sv() for h in hits))

    @property
    def messages(self) -> list[str]:
        return [h.message_sv() for h in self.hits]


def masked_window(text: str) -> str:
    """The text masked; when long, only the part around the first number."""
    found = list(pnr.spans(text))
    out, last = [], 0
    for start, end in found:
        if start < last:
            continue
        out.append(text[last:start])
        out.append(re.sub(r"\d", "X", text[start:end]))
        last = end
    out.append(text[last:])
    masked = "".join(out).replace("\n", " ").replace("\r", " ")
    if len(masked) <= 2 * SHOW + 20 or not found:
        return masked
    start = found[0][0]
    lo, hi = max(0, start - SHOW), min(len(masked), start + 20 + SHOW)
    return ("…" if lo else "") + masked[lo:hi] + ("…" if hi < len(masked) else "")


def _hit(text: str, place: str) -> Hit | None:
    return Hit(place, masked_window(text)) if pnr.looks_like_pnr(text) else None


# Elements whose text is a formula: judged as written and with its literals joined
# (`="811218"&"-9876"`), and shown with every digit masked.
FORMULA_TAGS = {"f", "formula", "formula1", "formula2", "definedName"}


def _formula_hit(formula: str, place: str) -> Hit | None:
    if pnr.looks_like_pnr(formula):
        return Hit(place, masked_window(formula))
    if pnr.looks_like_pnr_formula(formula):
        return Hit(place, _short(pnr.mask_formula(formula)))
    return None


def _short(text: str) -> str:
    text = text.replace("\n", " ").replace("\r", " ")
    return text if len(text) <= 2 * SHOW + 20 else text[: 2 * SHOW + 20] + "…"


# --- the vectorised prefilter ------------------------------------------------------------------


def candidate_windows(text: str, sep: str, pattern: str, drop: str | None = None) -> list[tuple[int, int]]:
    """(start, end) of every piece of `text` between two `sep`s in which `pattern` occurs, found in
    one polars pass (Rust regex over all pieces at once). `pattern` only selects pieces: it is a
    superset of every candidate (no look-around, which polars' regex lacks; the boundaries are the
    detector's to judge). `drop`: matches taken out of each piece before the test (cell positions)."""
    return candidate_windows_each(text, sep, [pattern], drop)[0]


def candidate_windows_each(
    text: str, sep: str, patterns: list[str], drop: str | None = None
) -> list[list[tuple[int, int]]]:
    """`candidate_windows` for several patterns at once: the text is cut into pieces once."""
    pieces = pl.Series("piece", [text]).str.split(sep).explode()
    lengths = pieces.str.len_chars().cast(pl.Int64)
    step = lengths + len(sep)
    probe = pieces if drop is None else pieces.str.replace_all(drop, "")
    frame = pl.DataFrame({"start": step.cum_sum() - step, "length": lengths})
    return [
        [(start, start + length) for start, length in frame.filter(probe.str.contains(pattern)).iter_rows()]
        for pattern in patterns
    ]


def text_spans(text: str, windows: list[tuple[int, int]] | None = None) -> list[tuple[int, int]]:
    """Every personnummer in a text (`pnr.spans`), judged line by line on the lines the prefilter
    keeps (`windows`, else found here). No candidate holds a line break, so this is the same as
    judging the whole text."""
    found = []
    for start, end in candidate_windows(text, "\n", pnr.CANDIDATE) if windows is None else windows:
        found += [(start + a, start + b) for a, b in pnr.spans(text[start:end])]
    return found


# --- names and arguments -----------------------------------------------------------------------


def scan_text(text: str, place: str) -> None:
    """Refuse a name or free text (an argument, a note) that holds a personnummer."""
    if not pnr.looks_like_pnr(text):
        return
    lines = text.splitlines() or [text]
    if len(lines) == 1:
        raise PnrRefused([Hit(place, masked_window(text))])
    raise PnrRefused(
        [
            Hit(f"{place}, rad {i}", masked_window(line))
            for i, line in enumerate(lines, start=1)
            if pnr.looks_like_pnr(line)
        ]
    )


def scan_args(argv: Iterable[str], place: str = "kommandoraden") -> None:
    """Every command-line argument (options, paths, free text)."""
    hits = [
        Hit(f"{place}, argument {i}", masked_window(arg))
        for i, arg in enumerate(argv, start=1)
        if pnr.looks_like_pnr(arg)
    ]
    if hits:
        raise PnrRefused(hits)


def name_hits(shown: str, folder: bool = False) -> list[Hit]:
    """The file name (or, with `folder`, the folder name) and every folder it is shown with."""
    parts = shown.replace("\\", "/").split("/")
    hits = []
    for i, part in enumerate(parts):
        if pnr.looks_like_pnr(part):
            what = "filnamnet" if i == len(parts) - 1 and not folder else "mappnamnet"
            masked = "/".join(masked_window(p) for p in parts)
            hits.append(Hit(f"{what} {masked}", masked_window(part)))
    return hits


# --- files -------------------------------------------------------------------------------------


def scan_file(path: Path, shown_name: str | None = None) -> None:
    """Refuse the file (raise PnrRefused) if its name or any text in it holds a personnummer.
    A file that cannot be read at all raises SourceFileError naming it and what to do."""
    path = Path(path)
    shown = shown_name or path.name
    hits = name_hits(shown)
    try:
        data = path.read_bytes()
    except OSError as exc:
        if hits:
            raise PnrRefused(hits) from None
        raise SourceFileError(
            shown,
            f"filen kan inte läsas ({_os_reason(exc)}); kontrollera att den "
            "finns, att du har behörighet och att den inte är öppen i ett annat "
            "program",
        ) from None
    if data.startswith(ZIP_MAGIC) or path.suffix.lower() in XLSX_SUFFIXES:
        try:
            hits += scan_xlsx_bytes(data, shown)
        except SourceFileError:
            if hits:
                raise PnrRefused(hits) from None
            raise
    else:
        hits += scan_text_bytes(data, shown, is_csv=path.suffix.lower() in (".csv", ".txt", ".tsv"))
    if hits:
        raise PnrRefused(hits)


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "filen finns inte"
    if isinstance(exc, PermissionError):
        return "behörighet saknas"
    if isinstance(exc, IsADirectoryError):
        return "det är en mapp"
    return type(exc).__name__


def decode_for_scan(data: bytes) -> str:
    """Text as any reader of the project could see it: UTF-8 (BOM or not), UTF-16 with BOM, else
    Windows-1252 (where every byte is some character, so nothing is skipped)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _line_starts(text: str) -> list[int]:
    if text.count("\r") == text.count("\r\n"):  # no lone CR: a line ends at each LF (the usual case, fast)
        return [0, *itertools.accumulate(len(line) + 1 for line in text.split("\n")[:-1])]
    return [0, *(m.end() for m in re.finditer(r"\r\n|\r|\n", text))]


def scan_text_bytes(data: bytes, shown: str, is_csv: bool = True) -> list[Hit]:
    text = decode_for_scan(data)
    if b"\x00" in data and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # UTF-16 without BOM or a binary file: also read it with the NULs taken out
        text += "\n" + data.replace(b"\x00", b"").decode("cp1252", errors="replace")
    if is_csv:
        lines, firsts = candidate_windows_each(text, "\n", [pnr.CANDIDATE, pnr.FIRST_FIELD])
        found = text_spans(text, lines)
    else:
        found, firsts = text_spans(text), []
    if not found and not firsts:
        return []
    starts = _line_starts(text)

    def line_at(n: int) -> str:
        end = starts[n + 1] if n + 1 < len(starts) else len(text)
        return text[starts[n] : end].rstrip("\r\n")

    head = [line_at(n) for n in range(min(30, len(starts)))]
    sep = _sniff(head) if is_csv else None
    header = _header_row(head, sep) if sep else []
    hits: list[Hit] = []
    seen: set[str] = set()
    for start, end in found:
        n = bisect.bisect_right(starts, start) - 1
        line = line_at(n)
        col = start - starts[n]
        if sep:
            index, field_text = _field_at(line, col, sep)
            last, _ = _field_at(line, min(len(line), end - starts[n]) - 1, sep)
            place = f"{shown}, rad {n + 1}, kolumn ”{_column_name(index, header)}”"
            if last != index:  # a number split over neighbouring fields
                place += f" och ”{_column_name(last, header)}”"
            hit = Hit(place, masked_window(field_text) if pnr.looks_like_pnr(field_text) else masked_window(line))
        else:
            hit = Hit(f"{shown}, rad {n + 1}, tecken {col + 1}", masked_window(line))
        if hit.place not in seen:
            seen.add(hit.place)
            hits.append(hit)
    if sep:
        hits += _stacked_fields(firsts, starts, line_at, sep, shown, header)
    return hits


def _stacked_fields(windows, starts, line_at, sep: str, shown: str, header: list[str]) -> list[Hit]:
    """A number split over two fields one above the other: a field that is only the date digits
    (`pnr.is_first_half`) and the next non-empty field of the same column in the lines below (empty
    lines and empty fields skipped), judged by `pnr.split_pair` as a pair of cells is. `windows`: the
    lines the polars prefilter kept (`pnr.FIRST_FIELD`, a superset)."""
    hits = []
    lines = {
        n
        for start, end in windows
        for n in range(bisect.bisect_right(starts, start) - 1, bisect.bisect_right(starts, max(start, end - 1)))
    }
    for n in sorted(lines):
        for index, first in enumerate(_split(line_at(n), sep)):
            if not _FIRST_FIELD.search(first) or not pnr.is_first_half(first):
                continue  # the prefilter's own pattern first: a cheap test that keeps every first half
            below = _next_in_field(n, index, starts, line_at, sep)
            if below is not None and pnr.split_pair(first, below[1]):
                place = f"{shown}, rad {n + 1} och rad {below[0] + 1}, kolumn ”{_column_name(index, header)}”"
                hits.append(Hit(place, f"{pnr.mask_digits(first)} | {pnr.mask_digits(below[1])}"))
    return hits


_FIRST_FIELD = re.compile(pnr.FIRST_FIELD)


def _next_in_field(n: int, index: int, starts: list[int], line_at, sep: str) -> tuple[int, str] | None:
    """The line number and text of the next non-empty field `index` below line `n`."""
    for k in range(n + 1, len(starts)):
        cells = _split(line_at(k), sep)
        field = cells[index] if index < len(cells) else ""
        if not pnr.is_blank_field(field):
            return k, field
    return None


def _sniff(lines: list[str]) -> str:
    sample = [ln for ln in lines[:30] if ln.strip()]
    best, best_score = ";", (-1, -1)
    for sep in (";", ",", "\t"):
        counts = [_split(ln, sep) for ln in sample]
        multi = [len(c) for c in counts if len(c) > 1]
        if multi:
            width, freq = Counter(multi).most_common(1)[0]
            if (freq, width) > best_score:
                best, best_score = sep, (freq, width)
    return best


def _split(line: str, sep: str) -> list[str]:
    if '"' not in line:  # no quoting: the csv module would split exactly so, at a fraction of the cost
        return line.split(sep) if line else []
    try:
        return next(csv.reader([line], delimiter=sep), [])
    except csv.Error:
        return line.split(sep)


def _header_row(lines: list[str], sep: str) -> list[str]:
    top = [_split(ln, sep) for ln in lines[:10]]
    return max(top, key=lambda cells: sum(1 for c in cells if c.strip()), default=[])


def _field_at(line: str, col: int, sep: str) -> tuple[int, str]:
    """Index of the CSV field the character at `col` belongs to, and that field's text."""
    index, quoted = 0, False
    for ch in line[:col]:
        if ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            index += 1
    cells = _split(line, sep)
    return index, (cells[index] if index < len(cells) else line)


def _fit_for_a_header(name: str) -> bool:
    """May this text name a column in a message? The header row is a guess (the fullest of the first
    lines), so it may be a data row holding half of a split number: no text with four digits in a
    row is shown, whatever it is (the letter alone names the column)."""
    return bool(name.strip()) and re.search(r"\d{4}", name) is None and not pnr.looks_like_pnr(name)


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _column_name(index: int, header: list[str]) -> str:
    letter = column_letter(index)
    name = header[index].strip() if index < len(header) else ""
    if _fit_for_a_header(name):
        return f"{letter} ({name})"
    return letter


# --- xlsx --------------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _rel_target(base: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), target))


def _rels(zf: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """Relationship id -> (type tail, target part) of a part."""
    name = posixpath.join(posixpath.dirname(part), "_rels", posixpath.basename(part) + ".rels")
    try:
        root = ET.fromstring(zf.read(name))
    except (KeyError, ET.ParseError):
        return {}
    out = {}
    for rel in root:
        target = rel.get("Target", "")
        if rel.get("TargetMode") == "External":
            continue
        out[rel.get("Id", "")] = (rel.get("Type", "").rsplit("/", 1)[-1], _rel_target(part, target))
    return out


class _Book:
    """Which sheet name each worksheet, comments and threaded-comments part belongs to."""

    def __init__(self, zf: zipfile.ZipFile):
        self.sheet_of: dict[str, str] = {}
        self.sheet_parts: list[str] = []
        try:
            root = ET.fromstring(zf.read("xl/workbook.xml"))
        except (KeyError, ET.ParseError):
            return
        rels = _rels(zf, "xl/workbook.xml")
        for el in root.iter():
            if _local(el.tag) == "sheet":
                rid = next((v for k, v in el.attrib.items() if _local(k) == "id"), "")
                kind, target = rels.get(rid, ("", ""))
                name = el.get("name", "")
                if target:
                    self.sheet_of[target] = name if not pnr.looks_like_pnr(name) else masked_window(name)
                    if kind == "worksheet":
                        self.sheet_parts.append(target)
                        for sub_kind, sub in _rels(zf, target).values():
                            if sub_kind in ("comments", "threadedComment", "vmlDrawing", "table", "drawing"):
                                self.sheet_of[sub] = self.sheet_of[target]


def scan_xlsx_bytes(data: bytes, shown: str) -> list[Hit]:
    if not data:
        raise SourceFileError(
            shown, "filen kan inte läsas som Excel-fil: den är tom (0 byte); spara arbetsboken igen i Excel"
        )
    if data.startswith(OLE_MAGIC):
        raise SourceFileError(
            shown,
            "filen kan inte läsas som Excel-fil: den är lösenordsskyddad eller "
            "krypterad (eller en äldre .xls-fil); spara den i Excel som .xlsx utan "
            "lösenord",
        )
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise SourceFileError(
            shown,
            "filen kan inte läsas som Excel-fil: den är ingen .xlsx-arbetsbok eller "
            "är skadad; öppna den i Excel och spara den igen som Excel-arbetsbok "
            "(.xlsx)",
        ) from None
    if sum(i.file_size for i in infos) > MAX_UNZIPPED:
        raise SourceFileError(shown, "arbetsboken är för stor uppackad (över 2 GiB); dela upp den")
    try:
        return _scan_zip(zf, infos, shown, data)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError):
        raise SourceFileError(
            shown,
            "filen kan inte läsas som Excel-fil: den är skadad; öppna den i Excel "
            "och spara den igen som Excel-arbetsbok (.xlsx) utan lösenord",
        ) from None


def _scan_zip(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], shown: str, data: bytes) -> list[Hit]:
    book = _Book(zf)
    shared = _Shared(zf, infos)
    hits: list[Hit] = []
    shared_hits: dict[int, Hit] = {}
    for info in infos:
        name = info.filename
        if pnr.looks_like_pnr(name):
            hits.append(Hit(f"{shown}, delnamn i arbetsboken", masked_window(name)))
        if info.is_dir():
            continue
        raw = zf.read(name)
        lower = name.lower()
        if not lower.endswith((".xml", ".rels", ".vml")):
            # binary part (image, printer settings, VBA): its readable text
            hits += [Hit(f"{shown}, delen {name}", h.masked) for h in scan_text_bytes(raw, name, is_csv=False)]
            continue
        if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
            raise SourceFileError(
                shown,
                "filen innehåller XML-konstruktioner som Excel aldrig skriver "
                "(DOCTYPE); spara den igen i Excel som .xlsx",
            )
        if name in book.sheet_parts:
            hits += _scan_sheet(raw, shown, book.sheet_of.get(name, name), shared)
        elif posixpath.basename(lower) == "sharedstrings.xml":
            shared_hits.update(_scan_shared(raw, shown))
        elif _may_hold(raw) or b"definedName" in raw:
            hits += _scan_part(raw, name, shown, book)
    if shared_hits:
        hits += _map_shared(zf, book, shown, shared_hits)
    return _with_headers(data, hits)


_CELL_PLACE = re.compile(
    r"blad ”(?P<sheet>[^”]*)”, (?:formel i )?cell (?P<col>[A-Z]+)\d+ \(rad \d+, kolumn (?P<letter>[A-Z]+)\)"
)


def _with_headers(data: bytes, hits: list[Hit]) -> list[Hit]:
    """Name the column of each cell hit by its header (the fullest of the first 10 rows), as the
    loader's messages do. Only runs when something was found."""
    if not any(_CELL_PLACE.search(h.place) for h in hits):
        return hits
    import openpyxl

    headers: dict[str, list[object]] = {}
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            for ws in wb.worksheets:
                top = list(ws.iter_rows(min_row=1, max_row=10, values_only=True))
                headers[ws.title] = list(max(top, key=lambda r: sum(v is not None for v in r), default=()))
        finally:
            wb.close()
    except Exception:  # noqa: BLE001 - the header is a courtesy; the place is named without it
        return hits
    out = []
    for hit in hits:
        m = _CELL_PLACE.search(hit.place)
        row = headers.get(m.group("sheet")) if m else None
        if m and row is not None:

            def named(col: re.Match, row=row) -> str:
                index = _column_index(col.group(1))
                header = row[index] if index < len(row) else None
                if isinstance(header, str) and _fit_for_a_header(header):
                    return f"kolumn ”{col.group(1)} ({header.strip()})”)"
                return col.group(0)

            # every column of the place: a split number names two cells
            hit = Hit(re.sub(r"kolumn ([A-Z]+)\)", named, hit.place), hit.masked)
        out.append(hit)
    return out


def _column_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


_TAG = re.compile(r"<[^>]*>")


def _text(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _may_hold(raw: bytes) -> bool:
    """Prefilter for a whole part: with markup taken out and character references resolved,
    does it have six digits in a row? (Removing tags can only join digit runs, never split one.)"""
    text = _text(raw)
    if text is None:
        return True
    views = [text, _TAG.sub("", text)]  # attribute values are in the first, joined runs in the second
    if "&" in text:
        views += [html.unescape(v) for v in views]
    return any(pnr.PREFILTER.search(v) for v in views)


def _parse(raw: bytes, shown: str, name: str) -> ET.Element:
    try:
        return ET.fromstring(raw)
    except ET.ParseError:
        raise SourceFileError(
            shown,
            f"arbetsbokens del {name} är skadad; öppna filen i Excel och spara den igen som Excel-arbetsbok (.xlsx)",
        ) from None


def _has_runs(el: ET.Element) -> bool:
    return any(_local(c.tag) in ("r", "t") for c in el)


def _judge_tree(root: ET.Element, place_of) -> list[Hit]:
    """Every attribute value and text of the tree, and the joined text of every element made of
    runs (rich text); `place_of(element, attribute name or None)` names where it is."""
    hits: list[Hit] = []
    for el in root.iter():
        for key, value in el.attrib.items():
            hit = _hit(value, place_of(el, _local(key)))
            if hit:
                hits.append(hit)
        if _has_runs(el):
            hit = _hit("".join(el.itertext()), place_of(el, None))
            if hit:
                hits.append(hit)
        if _local(el.tag) in FORMULA_TAGS and el.text:
            hit = _formula_hit(el.text, place_of(el, None))
            if hit:
                hits.append(hit)
        for text in (el.text, el.tail):
            if text:
                hit = _hit(text, place_of(el, None))
                if hit:
                    hits.append(hit)
    return _dedupe(hits)


def _dedupe(hits: list[Hit]) -> list[Hit]:
    seen, out = set(), []
    for h in hits:
        if h.place not in seen:
            seen.add(h.place)
            out.append(h)
    return out


DOC_PROPS = {"docProps/core.xml": "dokumentegenskap", "docProps/app.xml": "dokumentegenskap"}


def _scan_part(raw: bytes, name: str, shown: str, book: _Book) -> list[Hit]:
    root = _parse(raw, shown, name)
    sheet = book.sheet_of.get(name)
    base = posixpath.basename(name).lower()

    if name == "xl/workbook.xml":

        def place(el, attr):
            tag = _local(el.tag)
            if tag == "sheet":
                return f"{shown}, bladnamn"
            if tag == "definedName":
                return f"{shown}, definierat namn"
            return f"{shown}, arbetsbokens inställningar ({tag})"
    elif name in DOC_PROPS:

        def place(el, attr):
            return f"{shown}, dokumentegenskap ”{_local(el.tag)}”"
    elif name == "docProps/custom.xml":

        def place(el, attr):
            prop = el
            for p in root.iter():
                if _local(p.tag) == "property" and (p is el or el in list(p.iter())):
                    prop = p
            label = prop.get("name", "")
            label = "" if pnr.looks_like_pnr(label) else f" ”{label}”"
            return f"{shown}, anpassad dokumentegenskap{label}"
    elif base.startswith(("comment", "threadedcomment")):

        def place(el, attr):
            owner = el
            for c in root.iter():
                if _local(c.tag) in ("comment", "threadedComment") and (c is el or el in list(c.iter())):
                    owner = c
            ref = owner.get("ref")
            where = f"{sheet}!{ref}" if sheet and ref else (ref or sheet or name)
            if _local(el.tag) in ("author", "authors"):
                return f"{shown}, kommentarernas författare"
            return f"{shown}, kommentar till {where}"
    elif base.startswith("table"):

        def place(el, attr):
            return f"{shown}, tabell{' på ' + sheet if sheet else ''} ({_local(el.tag)})"
    elif base.startswith("person"):

        def place(el, attr):
            return f"{shown}, kommentarernas författare"
    else:

        def place(el, attr):
            return f"{shown}, delen {name} ({_local(el.tag)})"

    return _judge_tree(root, place)


# --- worksheets --------------------------------------------------------------------------------


def _has_runs_text(text: str) -> bool:
    """A rich-text run (`<r>`, not `<row>`) anywhere in the sheet."""
    return any(tag in text for tag in ("<r>", "<r ", ":r>", ":r "))


# A sheet's candidates: a text candidate, six digits in a row (a number cell, or a split number's
# first half), or an exponent (a large number written as 8.1121898E9).
_NUMBERISH = re.compile(rf"{pnr.CANDIDATE}|\d{{6}}|\d[Ee]\+?\d")


_CELL_OPEN = re.compile(r"<(?:\w+:)?c\b([^>]*)>")
_ATTR = re.compile(r'([\w:]+)\s*=\s*"([^"]*)"')
HEADER_FOOTER = {"oddHeader", "oddFooter", "evenHeader", "evenFooter", "firstHeader", "firstFooter"}


# A cell's or row's position with six or seven digits (`r="AB100000"`, `<row r="1000000"`): Excel
# writes it from where the cell is, at most 3 letters and 7 digits, which the detector could never
# refuse. From row 100 000 on every cell has one; the candidate search runs on a copy of the sheet
# where those digits are blanked (same length, so every offset still points into the real text).
_POSITIONS = [re.compile(rf'(\sr="[A-Z]{{0,3}})[0-9]{{{n}}}"') for n in (6, 7)]


def _without_positions(text: str) -> str:
    for pattern, blank in zip(_POSITIONS, ('\\1######"', '\\1#######"'), strict=True):
        text = pattern.sub(blank, text)
    return text


# A cell's or row's position, whatever its digits (the prefilter's `drop`): the windows then hold
# only rows with a candidate elsewhere; a 10-digit "position" is still judged (`_POSITIONS` blanks
# only 6 and 7 digits in the window itself).
_POSITION_DROP = r'(?:^|\s)r="[A-Z]{0,3}[0-9]{6,7}"'  # ^: a row's own number starts its piece
_ROW_SEPS = ("<row ", ":row ")


def _sheet_windows(text: str, shared: _Shared) -> list[tuple[int, int]]:
    """The rows (and the parts before and after them) that hold a candidate: six digits in a row,
    a separated date, an exponent, or a shared string that could be a split number's first half."""
    sep = next((s for s in _ROW_SEPS if s in text), "<")
    pattern = _NUMBERISH.pattern
    firsts = shared.first_halves()
    if firsts:
        refs = "|".join(map(str, firsts)) if len(firsts) <= 2000 else "[0-9]+"
        pattern += rf"|<(?:\w+:)?v>\s*(?:{refs})\s*</"
    pattern += _FIVE_DIGIT_DATE
    return candidate_windows(text, sep, pattern, drop=_POSITION_DROP)


# A number of five digits that is a date `0YMMDD` with its leading zero lost (`51218`, born 2005):
# month 01–12, day 01–31 or 61–91 (samordningsnummer). Excel's date serials of this century
# (44000–47000) are never one; those of 2009–2012 are, but a cell formatted as a date is no half.
_FIVE_DIGIT_DATE = r"|<(?:\w+:)?v>\d(?:0[1-9]|1[0-2])(?:[0-2]\d|3[01]|[6-8]\d|9[01])(?:\.0+)?</"


def _scan_sheet(raw: bytes, shown: str, sheet: str, shared: _Shared | None = None) -> list[Hit]:
    shared = shared or _Shared(None, [])
    text = _text(raw)
    if text is None or "&#" in text or _has_runs_text(text):
        return _scan_sheet_tree(raw, shown, sheet, shared)  # digits may be split across runs or encoded
    hits: list[Hit] = []
    done: set[int] = set()
    windows = _sheet_windows(text, shared)
    candidates = (
        (start + m.start(), m)
        for start, end in windows
        for m in _NUMBERISH.finditer(_without_positions(text[start:end]))
    )
    for pos, _m in candidates:
        lt, gt = text.rfind("<", 0, pos), text.rfind(">", 0, pos)
        if lt > gt:  # inside a tag: an attribute value
            tag_end = text.find(">", pos)
            tag = text[lt : tag_end + 1]
            if lt in done:
                continue
            done.add(lt)
            tag_name = re.match(r"<\s*([\w:]+)", tag)
            tname = tag_name.group(1).split(":")[-1] if tag_name else "?"
            attrs = dict(_ATTR.findall(tag))
            for value in attrs.values():
                hit = _hit(
                    html.unescape(value), _sheet_place(shown, sheet, tname, attrs.get("ref") or attrs.get("sqref"))
                )
                if hit:
                    hits.append(hit)
            continue
        if gt in done:
            continue
        done.add(gt)
        end = text.find("<", pos)
        node = html.unescape(text[gt + 1 : end if end >= 0 else len(text)])
        open_tag = text[text.rfind("<", 0, gt) : gt + 1]
        tname = re.match(r"<\s*([\w:]+)", open_tag)
        tname = tname.group(1).split(":")[-1] if tname else "?"
        if tname in FORMULA_TAGS:
            continue  # judged in the formula sweep below
        if tname in ("v", "t"):
            cell = _enclosing_cell(text, pos)
            ref, ctype = (cell.get("r"), cell.get("t")) if cell is not None else (None, None)
            if tname == "v" and ctype == "s":
                continue  # an index into the shared strings (scanned with them)
            if tname == "v" and ctype in (None, "n"):
                try:
                    value: object = float(node)
                except ValueError:
                    value = node
            else:
                value = node
            if pnr.looks_like_pnr(value):
                shown_value = node if isinstance(value, str) else pnr.mask(value)
                hits.append(Hit(_cell_place(shown, sheet, ref), masked_window(shown_value)))
        else:
            hit = _hit(node, _sheet_place(shown, sheet, tname, None))
            if hit:
                hits.append(hit)
    hits += _scan_formulas(text, shown, sheet)
    positioned: bool | None = None  # checked once, only when a first half needs the cell below it
    for start, end in windows:
        cells = []
        for c in _CELL.finditer(text, start, end):
            attrs = dict(_ATTR.findall(c.group(1)))
            ref, value = attrs.get("r"), _cell_value(attrs.get("t"), c.group(2) or "", shared, attrs.get("s"))
            cells.append((ref, value))
            if value is not None and pnr.is_first_half(value):
                if positioned is None:
                    positioned = _cells_positioned(text)
                if not positioned or not ref:
                    return _scan_sheet_tree(raw, shown, sheet, shared)  # a column only implied: count it
                below = _next_in_column(text, ref, c.end(), shared)
                if below is not None and pnr.split_pair(value, below[1]):
                    hits.append(_stacked_hit(shown, sheet, (ref, value), below))
        hits += _split_hits(cells, shown, sheet)
    return _dedupe(hits)


def _cells_positioned(text: str) -> bool:
    """Every cell of the sheet names its position first (`<c r="A1" …>`), as Excel, openpyxl and
    xlsxwriter write them. A sheet that leaves some implied (allowed) and holds a first half is read
    by the parsed path, which counts them, so that cells stacked in a column are found."""
    return (
        text.count("<c ") == text.count('<c r="')
        and text.count(":c ") == text.count(':c r="')
        and not any(tag in text for tag in ("<c>", "<c/>", ":c>", ":c/>"))
    )


_REF = re.compile(r"([A-Z]{1,3})(\d+)$")
_COLUMN_CELL: dict[str, re.Pattern] = {}


def _next_in_column(text: str, ref: str, pos: int, shared: _Shared) -> tuple[str, object] | None:
    """The next non-empty cell below `ref` in its column (position and value), searched from `pos`
    (the end of `ref`'s cell); empty cells between are skipped, as along a row."""
    m = _REF.match(ref)
    if m is None:
        return None
    column, row = m.group(1), int(m.group(2))
    pattern = _COLUMN_CELL.get(column)
    if pattern is None:
        pattern = _COLUMN_CELL.setdefault(column, re.compile(rf'<(?:\w+:)?c r="{column}(\d+)"'))
    for found in pattern.finditer(text, pos):
        if int(found.group(1)) <= row:
            continue
        cell = _CELL.match(text, found.start())
        if cell is None:
            continue
        attrs = dict(_ATTR.findall(cell.group(1)))
        value = _cell_value(attrs.get("t"), cell.group(2) or "", shared, attrs.get("s"))
        if value is not None and value != "":
            return attrs.get("r", ref), value
    return None


def _stacked_hit(shown: str, sheet: str, upper: tuple[str, object], lower: tuple[str, object]) -> Hit:
    """A number split over two cells one above the other: both cells named, both halves masked."""
    (ref1, first), (ref2, second) = upper, lower
    m = _REF.match(ref2)
    below = f"rad {m.group(2)}, kolumn {m.group(1)}" if m else "raden under"
    place = _cell_place(shown, sheet, ref1) + f" och cell {ref2} ({below})"
    return Hit(place, f"{pnr.mask_digits(first)} | {pnr.mask_digits(second)}")


_INLINE_T = re.compile(r"<(?:\w+:)?t\b[^>]*>(.*?)</(?:\w+:)?t>", re.S)
_V_TEXT = re.compile(r"<(?:\w+:)?v>(.*?)</(?:\w+:)?v>", re.S)


def _cell_value(ctype: str | None, inner: str, shared: _Shared, style: str | None = None) -> object:
    """A cell's value from its XML (fast path: no character references, no rich text): text, a
    number, `DATE_CELL`, or None (empty, boolean, error)."""
    if ctype == "inlineStr":
        return html.unescape("".join(_INLINE_T.findall(inner))) or None
    v = _V_TEXT.search(inner)
    if v is None or ctype in ("b", "e"):
        return None
    if ctype == "d":
        return DATE_CELL
    return _typed(ctype, html.unescape(v.group(1)), shared, style)


def _typed(ctype: str | None, v: str, shared: _Shared, style: str | None = None) -> object:
    if ctype == "s":
        return shared.text(v)
    if ctype in (None, "n"):
        try:
            number = float(v)
        except ValueError:
            return v
        return DATE_CELL if style is not None and style in shared.date_styles() else number
    return v or None


def _split_hits(cells: list[tuple[str | None, object]], shown: str, sheet: str) -> list[Hit]:
    """A number split over two neighbouring cells of one row: a cell that is only the date digits
    and the next non-empty cell (empty ones between are skipped) that is only the last four."""
    full = [(ref, value) for ref, value in cells if value is not None and value != ""]
    hits = []
    for (ref1, first), (ref2, second) in zip(full, full[1:], strict=False):
        if pnr.split_pair(first, second):
            m = re.match(r"([A-Z]+)\d+$", ref2 or "")
            place = _cell_place(shown, sheet, ref1) + f" och cell {ref2} (kolumn {m.group(1) if m else '?'})"
            hits.append(Hit(place, f"{pnr.mask_digits(first)} | {pnr.mask_digits(second)}"))
    return hits


# Excel's built-in number formats that show a date or a time (ECMA-376 §18.8.30).
_BUILTIN_DATES = {*range(14, 23), *range(27, 37), *range(45, 48), *range(50, 59), *range(71, 82)}
_FORMAT_NOISE = re.compile(r'"[^"]*"|\[[^\]]*\]|\\.|_.|\*.')  # literals, [colours]/[h], escapes, padding


def _date_styles(raw: bytes) -> frozenset[str]:
    root = ET.fromstring(raw)
    custom: dict[str, str] = {}
    cell_formats: list[ET.Element] = []
    for el in root:
        if _local(el.tag) == "numFmts":
            custom = {f.get("numFmtId", ""): f.get("formatCode", "") for f in el}
        elif _local(el.tag) == "cellXfs":
            cell_formats = list(el)
    out = set()
    for index, xf in enumerate(cell_formats):
        fmt = xf.get("numFmtId", "0")
        if fmt.isdigit() and int(fmt) in _BUILTIN_DATES:
            out.add(str(index))
        elif fmt in custom and re.search(r"[ymdhs]", _FORMAT_NOISE.sub("", custom[fmt]), re.I):
            out.add(str(index))
    return frozenset(out)


DATE_CELL = "(datum)"  # a number cell shown as a date: a value, but never half a split number


class _Shared:
    """What a cell's value needs from the rest of the workbook, parsed only when a split-number
    candidate needs it: the shared strings, and which cell styles show a number as a date or time."""

    def __init__(self, zf: zipfile.ZipFile | None, infos: list[zipfile.ZipInfo]):
        self.zf = zf
        self.name = next(
            (i.filename for i in infos if posixpath.basename(i.filename.lower()) == "sharedstrings.xml"), None
        )
        self.styles_name = next(
            (i.filename for i in infos if posixpath.basename(i.filename.lower()) == "styles.xml"), None
        )
        self._texts: list[str] | None = None
        self._firsts: list[int] | None = None
        self._date_styles: frozenset[str] | None = None

    def date_styles(self) -> frozenset[str]:
        """Indexes (as written in a cell's `s`) of the cell formats that show a number as a date or
        time: such a cell is a date (an Excel serial such as 41012), never half a split number."""
        if self._date_styles is None:
            self._date_styles = frozenset()
            if self.zf and self.styles_name:
                try:
                    self._date_styles = _date_styles(self.zf.read(self.styles_name))
                except (ET.ParseError, KeyError):
                    pass  # a damaged part is refused when it is scanned itself
        return self._date_styles

    def texts(self) -> list[str]:
        if self._texts is None:
            self._texts = []
            if self.zf and self.name:
                try:
                    root = ET.fromstring(self.zf.read(self.name))
                except ET.ParseError:
                    return self._texts  # refused as damaged when the part itself is scanned
                self._texts = ["".join(el.itertext()) for el in root if _local(el.tag) == "si"]
        return self._texts

    def text(self, index: str) -> str | None:
        texts = self.texts()
        i = int(index) if index.strip().isdigit() else -1
        return texts[i] if 0 <= i < len(texts) else None

    def first_halves(self) -> list[int]:
        """Indexes of the shared strings that could be a split number's first half."""
        if self._firsts is None:
            raw = self.zf.read(self.name) if self.zf and self.name else b""
            self._firsts = []
            if raw and _may_hold(raw):
                self._firsts = [i for i, t in enumerate(self.texts()) if pnr.is_first_half(t)]
        return self._firsts


_FORMULA_EL = re.compile(r"<(?:\w+:)?(f|formula|formula1|formula2)\b([^>]*)>(.*?)</(?:\w+:)?\1>", re.S)


def _scan_formulas(text: str, shown: str, sheet: str) -> list[Hit]:
    """Every formula of a sheet (cells, conditional formats, data validation), whether or not it
    has six digits in a row: a number may be assembled from short literals."""
    if "<f" not in text and ":f" not in text and "formula" not in text:
        return []
    hits = []
    for m in _FORMULA_EL.finditer(text):
        formula = html.unescape(m.group(3))
        if m.group(1) == "f":
            cell = _enclosing_cell(text, m.start())
            place = _cell_place(shown, sheet, cell.get("r") if cell else None, "formel i ")
        else:
            place = _sheet_place(shown, sheet, m.group(1), None)
        hit = _formula_hit(formula, place)
        if hit:
            hits.append(hit)
    return hits


def _cell_place(shown: str, sheet: str, ref: str | None, what: str = "") -> str:
    if ref:
        m = re.match(r"([A-Z]+)(\d+)$", ref)
        row = m.group(2) if m else "?"
        return f"{shown}, blad ”{sheet}”, {what}cell {ref} (rad {row}, kolumn {m.group(1) if m else '?'})"
    return f"{shown}, blad ”{sheet}”, {what}en cell"


def _sheet_place(shown: str, sheet: str, tag: str, ref: str | None) -> str:
    if tag in HEADER_FOOTER:
        return f"{shown}, sidhuvud/sidfot på {sheet}"
    if tag == "hyperlink":
        return f"{shown}, länk på {sheet}" + (f"!{ref}" if ref else "")
    if tag in ("dataValidation", "formula1", "formula2"):
        return f"{shown}, dataverifiering på {sheet}" + (f"!{ref}" if ref else "")
    return f"{shown}, blad ”{sheet}” ({tag})"


def _enclosing_cell(text: str, pos: int) -> dict[str, str] | None:
    start = text.rfind("<c", 0, pos)  # never a search for an absent tag: that would scan the whole sheet per hit
    while start >= 0 and text[start + 2 : start + 3] not in (" ", ">"):
        start = text.rfind("<c", 0, start)
    if start < 0:
        return None
    m = _CELL_OPEN.match(text, start)
    return dict(_ATTR.findall(m.group(1))) if m else None


def _scan_sheet_tree(raw: bytes, shown: str, sheet: str, shared: _Shared) -> list[Hit]:
    """The careful path for sheets with character references or inline rich text."""
    root = _parse(raw, shown, sheet)
    hits: list[Hit] = []
    row: list[tuple[str | None, object]] = []
    above: dict[int, tuple[str, object]] = {}  # column index -> its last non-empty cell (position, value)
    row_number, column = 0, -1  # where a cell without `r` is: after the one before it
    for el in root.iter():
        tag = _local(el.tag)
        if tag == "row":
            hits += _split_hits(row, shown, sheet)
            row = []
            number = el.get("r", "")
            row_number, column = int(number) if number.isdigit() else row_number + 1, -1
        if tag == "c":
            ref, ctype = el.get("r"), el.get("t")
            m = _REF.match(ref or "")
            column = _column_index(m.group(1)) if m else column + 1
            if m is None:
                ref = f"{column_letter(column)}{row_number}"
            value = _tree_value(el, ctype, shared)
            row.append((ref, value))
            if value is not None and value != "":
                upper = above.get(column)
                if upper is not None and pnr.split_pair(upper[1], value):
                    hits.append(_stacked_hit(shown, sheet, upper, (ref, value)))
                above[column] = (ref, value)
            for child in el:
                ctag = _local(child.tag)
                if ctag == "v" and child.text:
                    if ctype == "s":
                        continue
                    value: object = child.text
                    if ctype in (None, "n"):
                        try:
                            value = float(child.text)
                        except ValueError:
                            pass
                    if pnr.looks_like_pnr(value):
                        hits.append(Hit(_cell_place(shown, sheet, ref), masked_window(pnr.mask(value))))
                elif ctag == "is":
                    hit = _hit("".join(child.itertext()), _cell_place(shown, sheet, ref))
                    if hit:
                        hits.append(hit)
                elif ctag == "f":
                    hit = _formula_hit("".join(child.itertext()), _cell_place(shown, sheet, ref, "formel i "))
                    if hit:
                        hits.append(hit)
            continue
        if tag in ("v", "f", "is", "t", "r", "rPr") or tag.startswith("rPh"):
            continue  # inside a cell: judged with the cell above
        ref = el.get("ref") or el.get("sqref")
        for value in el.attrib.values():
            hit = _hit(value, _sheet_place(shown, sheet, tag, ref))
            if hit:
                hits.append(hit)
        if el.text:
            judge = _formula_hit if tag in FORMULA_TAGS else _hit
            hit = judge(el.text, _sheet_place(shown, sheet, tag, ref))
            if hit:
                hits.append(hit)
    hits += _split_hits(row, shown, sheet)
    return _dedupe(hits)


def _tree_value(cell: ET.Element, ctype: str | None, shared: _Shared) -> object:
    if ctype in ("b", "e"):
        return None
    for child in cell:
        ctag = _local(child.tag)
        if ctag == "is":
            return "".join(child.itertext()) or None
        if ctag == "v" and child.text:
            return DATE_CELL if ctype == "d" else _typed(ctype, child.text, shared, cell.get("s"))
    return None


# --- shared strings ----------------------------------------------------------------------------


def _scan_shared(raw: bytes, shown: str) -> dict[int, Hit]:
    """Index of every shared string that holds a personnummer -> its hit (place filled in later)."""
    if not _may_hold(raw):
        return {}
    root = _parse(raw, shown, "xl/sharedStrings.xml")
    out: dict[int, Hit] = {}
    index = 0
    for el in root:
        if _local(el.tag) != "si":
            continue
        value = "".join(el.itertext())
        if pnr.looks_like_pnr(value):
            out[index] = Hit("", masked_window(value))
        index += 1
    return out


_CELL = re.compile(r"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_V = re.compile(r"<(?:\w+:)?v>\s*(\d+)\s*</(?:\w+:)?v>")


def _map_shared(zf: zipfile.ZipFile, book: _Book, shown: str, shared: dict[int, Hit]) -> list[Hit]:
    """Each shared string with a hit, named by the cells that show it."""
    used: dict[int, list[str]] = {}
    for part in book.sheet_parts:
        text = _text(zf.read(part)) or ""
        sheet = book.sheet_of.get(part, part)
        for m in _CELL.finditer(text):
            attrs = dict(_ATTR.findall(m.group(1)))
            if attrs.get("t") != "s" or not m.group(2):
                continue
            v = _V.search(m.group(2))
            if v and int(v.group(1)) in shared:
                used.setdefault(int(v.group(1)), []).append(_cell_place(shown, sheet, attrs.get("r")))
    hits = []
    for index, hit in shared.items():
        places = used.get(index) or [f"{shown}, en delad text som ingen cell använder (xl/sharedStrings.xml)"]
        hits += [Hit(p, hit.masked) for p in places]
    return hits
