"""A fast path for `openpyxl`'s read-only `iter_rows(values_only=True)` on plain worksheets.

openpyxl parses every cell through ElementTree and its descriptor machinery (about 17 µs a cell:
6 s for a 29 000-row referral log). Sheets written by Excel, xlsxwriter or openpyxl are a flat
`<sheetData>` of `<row>`/`<c>` elements holding a `<v>` value or an inline `<is><t>` string; this
module reads exactly that form with one regular expression, and reproduces openpyxl's rules for
everything else it would do with those cells: the dimension (`max_row`/`max_column`, taken from
openpyxl's own worksheet object), missing rows and cells filled with None, the same number casting
(`_cast_number`), shared strings, booleans, date styles (`from_excel` with the workbook's epoch and
date/timedelta formats), ISO dates (`t="d"`) and XML character references (decoded by ElementTree).

Anything outside that form (formulas, rich-text runs, another namespace prefix, single-quoted
attributes, CDATA, unknown child elements …) makes `sheet_rows` return None, and the caller reads
the sheet with openpyxl as before. The result is the same list of tuples either way (tests compare
both readers on every quirk fixture and the demo files).
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import fromstring
from xml.parsers.expat import ExpatError, ParserCreate

from openpyxl.utils.cell import column_index_from_string
from openpyxl.utils.datetime import from_excel, from_ISO8601
from openpyxl.worksheet._reader import _cast_number

MAIN_NS = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'

# One token of <sheetData>: optional whitespace, then a row start/end/self-closed row, or a cell
# (its `r` attribute, when it comes first, split into column letters and row number).
_TOKEN = re.compile(
    r"\s*(?:"
    r"<row((?:\s+[\w:]+=\"[^\"<>]*\")*)\s*(/?)>"
    r"|(</row>)"
    r"|<c(?:\s+r=\"([A-Z]{1,3})\d+\")?((?:\s+[\w:]+=\"[^\"<>]*\")*)\s*(?:/>|>\s*(?:"
    r"<v>([^<]*)</v>"
    r"|<v\s*/>"
    r"|(<is>)\s*(?:<t(?:\s+xml:space=\"preserve\")?>([^<]*)</t>|<t(?:\s+xml:space=\"preserve\")?\s*/>)\s*</is>"
    r")?\s*</c>)"
    r")"
)
_ATTR = re.compile(r"([\w:]+)=\"([^\"]*)\"")
_COORD = re.compile(r"^[$]?([A-Za-z]{1,3})[$]?(\d+)$")


def _text(raw: str) -> str:
    """Character data as an XML parser returns it (entities decoded, line ends normalised)."""
    if "&" in raw or "\r" in raw:
        return fromstring("<x>" + raw + "</x>").text or ""
    return raw


class _Unsupported(Exception):
    pass


def _parse_rows(xml: str, shared_strings, epoch, date_formats, timedelta_formats):
    """(row number, [(column, value), …]) per <row>, as openpyxl's WorkSheetParser yields them."""
    start = xml.find("<sheetData")
    if start < 0:
        raise _Unsupported
    head_end = xml.index(">", start)
    if xml[head_end - 1] == "/":
        return []
    end = xml.find("</sheetData>", head_end)
    if end < 0 or xml.find("<sheetData", head_end) >= 0:
        raise _Unsupported
    body = xml[head_end + 1 : end]
    rows = []
    row_counter = col_counter = 0
    cells = None
    col_letters: dict[str, int] = {}
    cell_attrs: dict[str, tuple[dict[str, str], str, object]] = {}
    numbers: dict[tuple[object, str], object] = {}
    pos, n = 0, len(body)
    match = _TOKEN.match
    while pos < n:
        m = match(body, pos)
        if m is None:
            if body[pos:].strip() == "":
                break
            raise _Unsupported
        pos = m.end()
        rattrs, rclose, rend, letters, cattrs, raw_v, is_tag, raw_t = m.groups()
        if cattrs is not None:
            if cells is None:
                raise _Unsupported  # a cell outside a row
            parsed = cell_attrs.get(cattrs)
            if parsed is None:
                attrs = dict(_ATTR.findall(cattrs))
                style_id = attrs.get("s", 0)
                if style_id:
                    style_id = int(style_id)
                parsed = cell_attrs[cattrs] = (attrs, attrs.get("t", "n"), style_id)
            attrs, data_type, style_id = parsed
            if letters is not None and "r" not in attrs:
                column = col_letters.get(letters)
                if column is None:
                    column = col_letters[letters] = column_index_from_string(letters)
                col_counter = column
            elif letters is None and attrs.get("r"):
                cm = _COORD.match(attrs["r"])
                if cm is None:
                    raise _Unsupported
                col_counter = column = column_index_from_string(cm.group(1))
            elif letters is None:
                col_counter += 1
                column = col_counter
            else:
                raise _Unsupported  # two r attributes
            value = None
            if data_type == "inlineStr":
                if raw_t is not None:
                    value = _text(raw_t)
                elif is_tag is not None:
                    value = ""
            elif raw_v:
                if data_type == "n":
                    key = (style_id, raw_v)
                    value = numbers.get(key, numbers)
                    if value is numbers:
                        value = _cast_number(_text(raw_v))
                        if style_id in date_formats:
                            try:
                                value = from_excel(value, epoch, timedelta=style_id in timedelta_formats)
                            except (OverflowError, ValueError):
                                raise _Unsupported from None  # openpyxl warns and shows "#VALUE!"
                        numbers[key] = value
                else:
                    value = _text(raw_v) or None
                    if value is not None:
                        if data_type == "s":
                            value = shared_strings[int(value)]
                        elif data_type == "b":
                            value = bool(int(value))
                        elif data_type == "d":
                            value = from_ISO8601(value)
            cells.append((column, value))
            continue
        if rend is not None:
            if cells is None:
                raise _Unsupported
            rows.append((row_counter, cells))
            cells = None
            continue
        # a row start
        if cells is not None:
            raise _Unsupported  # nested rows
        attrs = dict(_ATTR.findall(rattrs)) if rattrs else {}
        if "r" in attrs:
            try:
                row_counter = int(attrs["r"])
            except ValueError:
                val = float(attrs["r"])
                if not val.is_integer():
                    raise _Unsupported from None
                row_counter = int(val)
        else:
            row_counter += 1
        col_counter = 0
        if rclose:
            rows.append((row_counter, []))
        else:
            cells = []
    if cells is not None:
        raise _Unsupported
    return rows


def _get_row(row, min_col, max_col):
    """openpyxl ReadOnlyWorksheet._get_row with values_only=True."""
    if not row and not max_col:
        return ()
    max_col = max_col or row[-1][0]
    new_row = [None] * (max_col + 1 - min_col)
    for column, value in row:
        if min_col <= column <= max_col:
            new_row[column - min_col] = value
    return tuple(new_row)


def sheet_rows(ws) -> list[tuple] | None:
    """`list(ws.iter_rows(min_row=1, min_col=1, values_only=True))` for an openpyxl read-only
    worksheet, or None when the sheet is not in the plain form this reader handles."""
    try:
        with ws._get_source() as src:
            data = src.read()
        head = data[:1000]
        if MAIN_NS not in head or b"<!" in data or b"<![CDATA[" in data:
            return None
        if head.startswith(b"<?xml") and not re.match(rb"<\?xml[^>]*encoding=[\"']utf-8[\"']", head, re.I):
            if b"encoding=" in head[: head.find(b"?>")]:
                return None
        xml = data.decode("utf-8")
        ParserCreate().Parse(data, True)  # malformed XML: let openpyxl decide what happens
        wb = ws.parent
        parsed = _parse_rows(xml, ws._shared_strings, wb.epoch, wb._date_formats, wb._timedelta_formats)
    except (_Unsupported, ExpatError, UnicodeDecodeError, ValueError, IndexError, KeyError, AttributeError):
        return None
    # ReadOnlyWorksheet._cells_by_row(min_col=1, min_row=1, max_col=None, max_row=None, values_only=True)
    min_col = min_row = 1
    max_col = ws.max_column
    max_row = ws.max_row
    empty_row = (None,) * (max_col + 1 - min_col) if max_col is not None else []
    out: list[tuple] = []
    counter = min_row
    idx = 1
    for idx, row in parsed:
        if max_row is not None and idx > max_row:
            break
        for _ in range(counter, idx):
            counter += 1
            out.append(empty_row)
        if counter <= idx:
            out.append(_get_row(row, min_col, max_col))
            counter += 1
    if max_row is not None and max_row < idx:
        for _ in range(counter, max_row + 1):
            out.append(empty_row)
    return out
