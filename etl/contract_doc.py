"""Generate `docs/contract.md`: the source files, their Swedish columns, types, allowed values and
the rules that reject a row — written from the pydantic models so it cannot drift from them."""

from __future__ import annotations

import typing
from pathlib import Path

from schema import vocab
from schema.sources import CONFIG_STEMS, SOURCES

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "contract.md"

# Which vocabulary each field uses (for the "allowed values" column).
FIELD_VOCAB = {
    "referral_source": vocab.REFERRAL_SOURCE,
    "motivation": vocab.MOTIVATION,
    "excluded_stage": vocab.EXCLUSION_STAGES,
    "exclusion_reason": vocab.EXCLUSION_REASON,
    "excluded_after_reason": vocab.EXCLUSION_REASON,
    "arm": vocab.ARM,
    "gender": vocab.GENDER,
    "education": vocab.EDUCATION,
    "housing": vocab.HOUSING,
    "income_source": vocab.INCOME,
    "civil_status": vocab.CIVIL_STATUS,
    "result": vocab.FOLLOWUP_RESULT,
    "event_type": vocab.EVENT_TYPE,
    "reason": vocab.EVENT_REASON,
    "activity_type": vocab.ACTIVITY_TYPE,
    "extent": vocab.EXTENT,
}
YES_NO_FIELDS = {
    "born_in_sweden",
    "worked_before",
    "longest_job_5y",
    "used_drugs_ever",
    "drugs_30d",
    "alcohol_30d",
    "sud_treatment_ever",
    "legal_problems_30d",
    "psychiatric_diagnosis",
    "mental_health_treatment",
    "worked_any",
}

ROW_RULES = {
    "referrals": [
        "stegen ska vara i datumordning: remiss ≤ informationsmöte ≤ samtycke ≤ inskrivningssamtal ≤ baslinje",
        "”Exkluderad vid” och ”Exklusionsorsak” fylls i båda eller ingen",
        "efter exklusion får inga senare steg ha datum",
        "otillräcklig motivation kräver en exklusion",
        "”Tidigare studiekod” måste finnas i remissloggen; ny remiss tidigast 3 månader efter exklusion för motivation",
        "en studiekod får bara finnas en gång",
    ],
    "randomisations": [
        "studiekoden måste finnas i remissloggen, inte vara exkluderad och ha baslinjedatum",
        "randomiseringen får inte ligga före baslinjen",
        "en kod får bara randomiseras en gång (den senare raden avvisas)",
        "ordningen samma dag avgörs av löpnumret, annars av radordningen i loggen (aldrig av studiekoden); "
        "dubbletter, luckor och löpnummer i fel datumordning visas som varningar under Datakvalitet",
        "”Exkluderad efter randomisering” och dess orsak fylls i båda eller ingen, inte före randomiseringen",
    ],
    "baseline": ["koden måste vara randomiserad", "åldern vid baslinjen ska vara 18–67 år", "en rad per kod"],
    "followups": [
        "koden måste vara randomiserad",
        "tidpunkten måste finnas i schemat (studie.toml)",
        "genomförd uppföljning kräver datum, som inte får ligga före randomiseringen",
        "en rad per kod och tidpunkt",
    ],
    "events": [
        "koden måste vara randomiserad",
        "händelsen får inte ligga före randomiseringen",
        "orsak krävs vid avslut och paus",
        "”Avslutat IPS” gäller bara IPS-gruppen",
    ],
    "specialists": ["”Till” får inte ligga före ”Från”"],
    "assignments": [
        "koden måste vara randomiserad till IPS",
        "arbetsspecialisten måste finnas i listan",
        "”Till” får inte ligga före ”Från”",
    ],
    "fidelity": ["varje skattning ska ha alla 25 punkter exakt en gång", "poäng 1–5"],
    "activity": ["koden måste vara randomiserad", "slutdatum inte före startdatum"],
    "employment": ["koden måste vara randomiserad", "en rad per kod och tidpunkt"],
}


def _type_text(name: str, annotation: object) -> str:
    text = str(annotation)
    if name in FIELD_VOCAB or name in YES_NO_FIELDS:
        return "val ur lista"
    if "date" in text:
        return "datum ÅÅÅÅ-MM-DD (eller Excel-datum)"
    if "int" in text and "float" not in text:
        return "heltal"
    if "float" in text:
        return "tal"
    if "tuple" in text:
        return "lista (semikolon)"
    return "text"


def _allowed(name: str) -> str:
    if name in FIELD_VOCAB:
        return ", ".join(FIELD_VOCAB[name].labels.values())
    if name in YES_NO_FIELDS:
        return "Ja, Nej (även J, N, x)"
    if name == "district_id" or name == "district_ids":
        return "stadsdelarna i studie.toml (även tidigare namn)"
    if name == "study_code" or name == "previous_code":
        return "mönstret i studie.toml, t.ex. A0314M27"
    return ""


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
        hints = typing.get_type_hints(model, include_extras=False)
        for name, field in model.model_fields.items():
            extra = field.json_schema_extra or {}
            required = "ja" if field.is_required() else ""
            aliases = ", ".join(extra.get("aliases", []))  # type: ignore[union-attr]
            lines.append(
                f"| {extra.get('header')} | {aliases} | {_type_text(name, hints.get(name))} | "
                f"{_allowed(name)} | {required} | {extra.get('doc', '')} |"
            )
        rules = ROW_RULES.get(src.key, [])
        if rules:
            lines += [
                "",
                "Regler som avvisar en rad: " + "; ".join(rules) + ". "
                "Alla datum måste ligga på eller före datauttagets datum.",
            ]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    DOC_PATH.write_text(render(), encoding="utf-8")
    print(f"skrev {DOC_PATH}")
