"""Excel templates staff fill in: one workbook per source file, with instructions and drop-downs.

Every constraint a template offers (the lists of a drop-down, date and whole-number ranges) comes
from the contract: ranges from the fields' declarations (`etl.columns.field_specs`), the kind of a
column by asking the pydantic model itself (`column_kind` probes a field with a deliberately wrong
value and reads the Swedish error it raises), so a template cannot drift from what the loader accepts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import xlsxwriter
from pydantic import ValidationError

from etl.columns import field_specs
from schema import rounding, vocab
from schema.config import StudyConfig
from schema.sources import SOURCES, Source, SourceRow, ValidationContext, header_of
from schema.vocab import Vocabulary

INSTRUCTIONS_SHEET = "Instruktioner"
LISTS_SHEET = "Listor"
TEMPLATE_ROWS = 2000  # rows below the header that carry the drop-downs and formats
DATE_MIN, DATE_MAX = date(2000, 1, 1), date(2100, 12, 31)


def data_sheet_name(src: Source) -> str:
    """The data sheet is named after the file (with å/ä/ö when a stem has them): the reader looks
    for a sheet of that name before any other, so the instructions sheet is never mistaken for it."""
    first = src.stems[0]
    fold = str.maketrans("åäö", "aao")
    accented = next((s for s in src.stems if s != first and s.translate(fold) == first), first)
    return accented.replace("_", " ").capitalize()[:31]


@dataclass(frozen=True)
class ColumnKind:
    """What a column accepts: kind is vocab, district, fidelity_section, date, int, number, code or text."""

    kind: str
    vocabulary: Vocabulary | None = None
    lo: float | None = None
    hi: float | None = None
    multiple: bool = False  # several districts separated by semicolons


def _errors(model: type[SourceRow], field: str, value: object, ctx: ValidationContext) -> list[dict]:
    try:
        model.model_validate({field: value}, context={"study": ctx})
    except ValidationError as exc:
        return [e for e in exc.errors() if tuple(e["loc"]) == (field,)]
    return []


@functools.cache
def _kinds_cached(model: type[SourceRow], config_json: str) -> dict[str, ColumnKind]:
    ctx = ValidationContext(StudyConfig.model_validate_json(config_json))
    kinds: dict[str, ColumnKind] = {}
    for field in model.model_fields:
        kinds[field] = _probe(model, field, ctx)
    return kinds


def _probe(model: type[SourceRow], field: str, ctx: ValidationContext) -> ColumnKind:
    if model.__name__ == "FidelityRow" and field == "section":
        return ColumnKind("fidelity_section")
    errs = _errors(model, field, "§ogiltigt§", ctx)
    types = {e["type"] for e in errs}
    if "not_in_list" in types:
        name = next(e["ctx"]["name"] for e in errs if e["type"] == "not_in_list")
        return ColumnKind("vocab", vocab.vocabulary_named(name))
    if "unknown_district" in types:
        # A district column that accepts "A; B" takes several (specialists who split their time).
        first, second = ctx.config.districts[0].name, ctx.config.districts[-1].name
        multiple = len(ctx.config.districts) > 1 and not _errors(model, field, f"{first}; {second}", ctx)
        return ColumnKind("district", multiple=multiple)
    if types & {"date_format", "date_impossible", "date_ambiguous"}:
        return ColumnKind("date")
    if "code_pattern" in types:
        return ColumnKind("code")
    if "not_number" in types:
        # Ranges are declared on the field (`Field(ge=..., le=...)`): read, not probed.
        spec = next(s for s in field_specs(model) if s.name == field)
        if spec.kind == "whole":
            return ColumnKind("int", lo=spec.ge, hi=spec.le)
        if any(e["type"] == "share" for e in _errors(model, field, "999999", ctx)):
            return ColumnKind("number", lo=0, hi=100)
        return ColumnKind("number", lo=spec.ge if spec.ge is not None else 0)
    return ColumnKind("text")


def column_kinds(model: type[SourceRow], config: StudyConfig) -> dict[str, ColumnKind]:
    """Field name -> what the column accepts, for every field of the model."""
    return _kinds_cached(model, config.model_dump_json())


def allowed_values(kind: ColumnKind, config: StudyConfig) -> list[str] | None:
    """The drop-down list for a column, exactly as the loader accepts it, or None."""
    if kind.kind == "vocab" and kind.vocabulary is not None:
        return list(kind.vocabulary.labels.values())
    if kind.kind == "district":
        return [d.name for d in config.districts]
    if kind.kind == "fidelity_section":
        return list(vocab.FIDELITY_SECTIONS.values())
    return None


def _format_text(kind: ColumnKind, config: StudyConfig) -> str:
    values = allowed_values(kind, config)
    if kind.kind == "district" and kind.multiple:
        return "En eller flera av: " + ", ".join(values or []) + " (flera åtskilda med semikolon)"
    if values is not None:
        return "Välj i listan: " + ", ".join(values)
    if kind.kind == "date":
        return "Datum ÅÅÅÅ-MM-DD, t.ex. 2024-03-14"
    if kind.kind == "int":
        return f"Heltal {int(kind.lo or 0)}–{int(kind.hi or 0)}"
    if kind.kind == "number":
        return "Tal, 0 eller mer" if kind.hi is None else f"Tal 0–{rounding.plain_text(kind.hi)} (procent)"
    if kind.kind == "code":
        return f"Studiekod: {config.codes.description_sv}"
    return "Fritext"


def _sheet_ref(sheet: str, col: int, first_row: int, last_row: int) -> str:
    letter = xlsxwriter.utility.xl_col_to_name(col)
    return f"={sheet}!${letter}${first_row + 1}:${letter}${last_row + 1}"


def _instructions(wb, ws, src: Source, config: StudyConfig, kinds: dict[str, ColumnKind]) -> None:
    model = src.model
    title = wb.add_format({"bold": True, "font_size": 14})
    bold = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "top"})
    wrap = wb.add_format({"text_wrap": True, "valign": "top", "border": 1})
    warn = wb.add_format({"bold": True, "font_color": "#C00000", "text_wrap": True})
    ws.set_column(0, 0, 28)
    ws.set_column(1, 1, 50)
    ws.set_column(2, 2, 55)
    ws.set_column(3, 3, 14)
    ws.set_column(4, 4, 34)
    names = ", ".join(f"{s}.xlsx" for s in src.stems)
    lines = [
        (f"{model.title_sv} – {config.short_name}", title),
        (
            f"Vad filen är: {model.title_sv}. {'Filen krävs vid varje inläsning.' if src.required else 'Filen är frivillig.'}"
            + (
                " Innehåller förseglade utfall: visas inte i dashboarden förrän studien är avslutad."
                if src.sealed
                else ""
            ),
            None,
        ),
        (f"En rad är: {model.grain_sv}.", None),
        (
            f"Fyll i bladet ”{data_sheet_name(src)}”: rubrikerna står på rad 1, en post per rad från rad 2. Ändra inte rubrikerna.",
            None,
        ),
        (
            f"Spara filen som {src.stems[0]}.xlsx (även godtagna namn: {names}; .csv går också) i mappen som läses in.",
            None,
        ),
        (
            "Skriv aldrig personnummer (eller namn på deltagare) i filen – bara studiekoden. "
            "Kodnyckeln finns bara hos projektledaren.",
            warn,
        ),
        ("Datum skrivs ÅÅÅÅ-MM-DD. Kolumner med lista: välj ett värde i rullistan.", None),
    ]
    row = 0
    for text, fmt in lines:
        ws.merge_range(row, 0, row, 4, text, fmt or wb.add_format({"text_wrap": True}))
        ws.set_row(row, 30 if fmt is not title else 22)
        row += 1
    row += 1
    for col, head in enumerate(
        ["Kolumn", "Förklaring", "Tillåtna värden / format", "Obligatorisk", "Andra godtagna rubriker"]
    ):
        ws.write(row, col, head, bold)
    for field, info in model.model_fields.items():
        row += 1
        extra = info.json_schema_extra or {}
        ws.write(row, 0, header_of(model, field), wrap)
        ws.write(row, 1, str(extra.get("doc", "")), wrap)  # type: ignore[union-attr]
        ws.write(row, 2, _format_text(kinds[field], config), wrap)
        ws.write(row, 3, "Ja" if info.is_required() else "Nej", wrap)
        ws.write(row, 4, ", ".join(extra.get("aliases", [])), wrap)  # type: ignore[union-attr]


def write_template(src: Source, config: StudyConfig, out_dir: Path) -> Path:
    """Write `<first stem>.xlsx` for one source; returns its path."""
    model = src.model
    kinds = column_kinds(model, config)
    path = out_dir / f"{src.stems[0]}.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    try:
        ws_help = wb.add_worksheet(INSTRUCTIONS_SHEET)
        ws = wb.add_worksheet(data_sheet_name(src))
        lists = wb.add_worksheet(LISTS_SHEET)
        _instructions(wb, ws_help, src, config, kinds)

        head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        datefmt = wb.add_format({"num_format": "yyyy-mm-dd"})
        textfmt = wb.add_format({"num_format": "@"})
        ws.freeze_panes(1, 0)
        last = TEMPLATE_ROWS
        list_col = 0
        for col, (field, info) in enumerate(model.model_fields.items()):
            header = header_of(model, field)
            kind = kinds[field]
            values = allowed_values(kind, config)
            width = max(len(header) + 4, 12)
            if values:
                width = max(width, min(max(len(v) for v in values) + 3, 60))
            ws.write(0, col, header, head)
            cell_format = None
            if kind.kind == "date":
                cell_format = datefmt
            elif kind.kind in ("code", "text", "vocab", "district", "fidelity_section"):
                cell_format = textfmt  # keeps "0314" and codes as typed
            ws.set_column(col, col, width, cell_format)
            extra = info.json_schema_extra or {}
            message = str(extra.get("doc", ""))[:250]  # type: ignore[union-attr]
            dv: dict[str, object] = {"input_title": header[:32], "input_message": message}
            if values:
                lists.write(0, list_col, header)
                for i, v in enumerate(values, start=1):
                    lists.write_string(i, list_col, v)
                dv.update(
                    {
                        "validate": "list",
                        "source": _sheet_ref(LISTS_SHEET, list_col, 1, len(values)),
                        "error_title": header[:32],
                        "error_message": (
                            "Välj ett värde i listan."
                            if not kind.multiple
                            else "Välj en stadsdel i listan; flera skrivs åtskilda med semikolon."
                        )[:255],
                        # Several districts in one cell cannot be picked from a list: warn, do not stop.
                        "error_type": "warning" if kind.multiple else "stop",
                    }
                )
                list_col += 1
            elif kind.kind == "date":
                dv.update(
                    {
                        "validate": "date",
                        "criteria": "between",
                        "minimum": DATE_MIN,
                        "maximum": DATE_MAX,
                        "error_title": header[:32],
                        "error_message": "Skriv ett datum ÅÅÅÅ-MM-DD.",
                    }
                )
            elif kind.kind == "int":
                dv.update(
                    {
                        "validate": "integer",
                        "criteria": "between",
                        "minimum": int(kind.lo or 0),
                        "maximum": int(kind.hi or 0),
                        "error_title": header[:32],
                        "error_message": f"Skriv ett heltal {int(kind.lo or 0)}–{int(kind.hi or 0)}.",
                    }
                )
            elif kind.kind == "number" and kind.hi is not None:
                dv.update(
                    {
                        "validate": "decimal",
                        "criteria": "between",
                        "minimum": 0,
                        "maximum": kind.hi,
                        "error_title": header[:32],
                        "error_message": f"Skriv ett tal 0–{rounding.plain_text(kind.hi)}.",
                    }
                )
            elif kind.kind == "number":
                dv.update(
                    {
                        "validate": "decimal",
                        "criteria": ">=",
                        "value": 0,
                        "error_title": header[:32],
                        "error_message": "Skriv ett tal, 0 eller mer.",
                    }
                )
            else:
                dv["validate"] = "any"
            ws.data_validation(1, col, last, col, dv)
        lists.hide()
        ws_help.activate()
    finally:
        wb.close()
    return path


def write_templates(out_dir: Path, config: StudyConfig) -> list[Path]:
    """One template per source of the contract."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [write_template(src, config, out_dir) for src in SOURCES]


def run_template_command(args) -> int:
    """`ipsdash template DIR [--config studie.toml]`."""
    import sys

    from schema.config import load_config

    config_path = (
        Path(args.config) if args.config else Path(__file__).resolve().parent.parent / "config" / "studie.toml"
    )
    from etl import scan
    from etl.tables import SourceFileError

    try:
        scan.scan_file(config_path)
    except (scan.PnrRefused, SourceFileError) as exc:
        print(f"{exc}\nInga mallar har skrivits.", file=sys.stderr)
        return 2
    config = load_config(config_path)
    paths = write_templates(Path(args.dir), config)
    for path in paths:
        print(f"skrev {path}", file=sys.stderr)
    return 0
