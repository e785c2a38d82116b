"""Generate `docs/contract.md`: the source files, their Swedish columns, types, ranges, allowed
values and the rules that reject a row — written from the pydantic models' declarations
(`etl.columns.field_specs`) and the named rules (`etl.rules`), so it cannot drift from them."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from etl.columns import FieldSpec, field_specs
from etl.rules import CROSS_FILE_RULES, ROW_RULES
from schema import vocab
from schema.sources import CONFIG_STEMS, SOURCES

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "contract.md"


def _vocabulary(spec: FieldSpec) -> vocab.Vocabulary | None:
    """The vocabulary whose keys the field's `Literal` declares."""
    return vocab.vocabulary_with_keys(spec.allowed)


def _type_text(spec: FieldSpec) -> str:
    if spec.allowed is not None:
        return "val ur lista"
    if spec.kind == "date":
        return "datum ÅÅÅÅ-MM-DD (eller Excel-datum)" + (", inte efter datauttaget" if spec.not_after_extract else "")
    if spec.kind == "whole":
        return f"heltal {int(spec.ge or 0)}–{int(spec.le or 0)}"
    if spec.kind == "number":
        return "tal ≥ 0"
    if spec.kind == "code":
        return "studiekod"
    if isinstance(spec.dtype, pl.List):
        return "lista (semikolon)"
    if spec.dtype == pl.Int64:
        return "heltal"
    return "text"


def _allowed(spec: FieldSpec) -> str:
    voc = _vocabulary(spec)
    if voc is vocab.YES_NO:
        return "Ja, Nej (även J, N, x)"
    if voc is not None:
        return ", ".join(voc.labels.values())
    if spec.name in ("district_id", "district_ids"):
        return "stadsdelarna i studie.toml (även tidigare namn)"
    if spec.kind == "code":
        return "mönstret i studie.toml, t.ex. A0314M27"
    return ""


def rules_of(key: str) -> list[str]:
    """The named rules (row rules, then rules across files) that reject a row of the source."""
    return [f"{r.doc} (`{r.rule}`)" for r in ROW_RULES if r.source == key] + [
        f"{doc} (`{rule}`)" for source, rule, doc in CROSS_FILE_RULES if source == key
    ]


def render() -> str:
    lines = [
        "# Datakontraktet – källfilerna",
        "",
        "<!-- Genererad av `python -m etl.contract_doc` från schema/sources.py; ändra inte för hand. -->",
        "",
        "Mappen som läses in med `ipsdash load MAPP` innehåller studiekonfigurationen "
        f"(`{CONFIG_STEMS[0]}.toml`) och en fil per källa nedan, som **.xlsx eller .csv** (semikolon eller "
        "komma, UTF-8 eller Windows-1252). Rubrikerna får skrivas med andra stavningar som anges, och en "
        "rubrikrad kan ha titelrader ovanför sig. Tomma rader och extra kolumner (t.ex. anteckningar) hoppas över.",
        "",
        "**Personnummer får aldrig finnas i någon fil.** Finns något som liknar ett personnummer eller "
        "samordningsnummer i någon cell avvisas hela inläsningen och inget ändras.",
        "",
        "En rad som bryter mot en regel avvisas och visas på sidan Datakvalitet med fil, cell, kolumn, värde "
        "och skäl; övriga rader läses in.",
        "",
    ]
    for src in SOURCES:
        model = src.model
        files = " eller ".join(f"`{s}.xlsx`/`.csv`" for s in src.stems[:2])
        lines += [
            f"## {model.title_sv}",
            "",
            f"Fil: {files}. {'Måste finnas.' if src.required else 'Frivillig.'}"
            f"{' **Förseglade utfallsdata:** läses in men visas inte förrän studien stängts.' if src.sealed else ''}",
            f"Korn: {model.grain_sv}.",
            "",
            "| Kolumn | Andra rubriker som godtas | Typ | Tillåtna värden | Krävs | Förklaring |",
            "|---|---|---|---|---|---|",
        ]
        for spec in field_specs(model):
            extra = model.model_fields[spec.name].json_schema_extra or {}
            required = "ja" if spec.required else ""
            aliases = ", ".join(extra.get("aliases", []))  # type: ignore[union-attr]
            lines.append(
                f"| {extra.get('header')} | {aliases} | {_type_text(spec)} | "
                f"{_allowed(spec)} | {required} | {extra.get('doc', '')} |"
            )
        rules = rules_of(src.key)
        if rules:
            lines += ["", "Regler som avvisar en rad (regelns namn inom parentes, som på sidan Datakvalitet):", ""]
            lines += [f"- {rule}" for rule in rules]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    DOC_PATH.write_text(render(), encoding="utf-8")
    print(f"skrev {DOC_PATH}")
