"""Write baseline and follow-up rows as a REDCap project export, for the demo and round-trip tests.

The project written here is the one `config/redcap_mapping.toml` describes: a longitudinal project
with a baseline event and one event per follow-up timepoint, record ids 1..N with the study code in
a field, one data access group per district, the baseline as a survey (so it has a timestamp) and
the ASI follow-up as a data-entry form with a "could not be done" flag.
"""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

from etl.redcap import DICTIONARY_FILE, EVENT_MAPPING_FILE, EVENTS_FILE, RECORDS_FILE
from etl.template import column_kinds
from schema.config import StudyConfig
from schema.sources import BaselineRow, header_of
from schema.vocab import FOLLOWUP_RESULT, YES_NO, Vocabulary, normalize_token

BASELINE_EVENT = "baseline_arm_1"
BASELINE_EVENT_LABEL = "Baslinje"
INCLUSION_FORM, BASELINE_FORM, FOLLOWUP_FORM = "inklusion", "baslinje", "asi_uppfoljning"

# BaselineRow field -> REDCap field name in the written project.
BASELINE_FIELD_NAMES = {
    "gender": "kon",
    "birth_year": "fodelsear",
    "born_in_sweden": "fodd_sverige",
    "education": "utbildning",
    "housing": "boende",
    "income_source": "inkomst",
    "civil_status": "civilstand",
    "worked_before": "lonearbete_tidigare",
    "longest_job_5y": "langsta_arbete_5ar",
    "used_drugs_ever": "narkotika_nagonsin",
    "drugs_30d": "narkotika_30d",
    "alcohol_30d": "alkohol_30d",
    "sud_treatment_ever": "behandling_missbruk",
    "legal_problems_30d": "rattsliga_problem_30d",
    "psychiatric_diagnosis": "psykiatrisk_diagnos",
    "mental_health_treatment": "behandling_psykisk",
}
BAD_CODE = "99"  # written for a value the study's list does not know: the reader reports it

DICTIONARY_HEADER = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]


def followup_event(months: int) -> str:
    return f"{months}_man_arm_1"


def _codes(voc: Vocabulary) -> dict[str, str]:
    """Vocabulary key -> REDCap code ('1'/'0' for yes/no, else 1..n in list order)."""
    if voc is YES_NO:
        return {"yes": "1", "no": "0"}
    return {key: str(i) for i, key in enumerate(voc.keys, start=1)}


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _dictionary(config: StudyConfig) -> list[dict[str, str]]:
    kinds = column_kinds(BaselineRow, config)

    def row(name: str, form: str, ftype: str, label: str, choices: str = "", validation: str = "") -> dict[str, str]:
        return {
            "Variable / Field Name": name,
            "Form Name": form,
            "Field Type": ftype,
            "Field Label": label,
            "Choices, Calculations, OR Slider Labels": choices,
            "Text Validation Type OR Show Slider Number": validation,
        }

    rows = [
        row("record_id", INCLUSION_FORM, "text", "Record ID"),
        row("studiekod", INCLUSION_FORM, "text", "Studiekod"),
        row("rand_datum", INCLUSION_FORM, "text", "Randomiseringsdatum", validation="date_ymd"),
        row("bas_datum", BASELINE_FORM, "text", "Datum för baslinjeenkäten", validation="date_ymd"),
    ]
    for target, name in BASELINE_FIELD_NAMES.items():
        label = header_of(BaselineRow, target)
        voc = kinds[target].vocabulary
        if target == "birth_year":
            rows.append(row(name, BASELINE_FORM, "text", label, validation="integer"))
        elif voc is YES_NO:
            rows.append(row(name, BASELINE_FORM, "yesno", label))
        elif voc is not None:
            choices = " | ".join(f"{code}, {voc.labels[key]}" for key, code in _codes(voc).items())
            rows.append(row(name, BASELINE_FORM, "radio" if len(voc.keys) <= 3 else "dropdown", label, choices))
    rows += [
        row("uppf_datum", FOLLOWUP_FORM, "text", "Datum för uppföljningen", validation="date_ymd"),
        row("uppf_enhet", FOLLOWUP_FORM, "text", "Enhet som gjorde uppföljningen"),
        row("uppf_missad", FOLLOWUP_FORM, "yesno", "Uppföljningen kunde inte genomföras"),
    ]
    return rows


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mapping_toml(config: StudyConfig) -> str:
    """The mapping file for the project this module writes."""
    lines = [
        "# Kartläggning REDCap -> baslinje och uppföljningar (skriven av ipsdash demo --redcap).",
        "# Se docs/redcap.md.",
        "",
        "[project]",
        'study_code = "studiekod"',
        'missing_codes = ["UNK", "NASK", "-99"]',
        "",
        "[events]",
        f'baseline = "{BASELINE_EVENT}"',
        "",
        "[events.followups]",
        *(f'"{m}" = "{followup_event(m)}"' for m in config.followup.timepoints_months),
        "",
        "[event_labels]",
        f'{_toml_str(BASELINE_EVENT_LABEL)} = "{BASELINE_EVENT}"',
        *(f'"{m} mån" = "{followup_event(m)}"' for m in config.followup.timepoints_months),
        "",
        "[baseline]",
        f'form = "{BASELINE_FORM}"',
        'date = ["bas_datum", "timestamp"]',
        "",
        "[baseline.fields]",
        *(f'{target} = {{ field = "{name}" }}' for target, name in BASELINE_FIELD_NAMES.items()),
        "",
        "[followup]",
        f'form = "{FOLLOWUP_FORM}"',
        'date = "uppf_datum"',
        'unit_field = "uppf_enhet"',
        'missed = { field = "uppf_missad", codes = ["1"] }',
        "",
    ]
    for d in config.districts:
        lines += [f"[dags.{d.id}]", f'district = "{d.id}"', f"label = {_toml_str(d.name)}"]
        if d.units:
            lines.append(f"unit = {_toml_str(d.units[0])}")
        lines.append("")
    return "\n".join(lines)


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_redcap_export(
    folder: Path,
    baseline_rows: list[dict],
    followup_rows: list[dict],
    codes_to_district: dict[str, str],
    config: StudyConfig,
    randomised_on: dict[str, date],
    *,
    labels: bool = False,
) -> list[Path]:
    """Write records.csv, dictionary.csv, event_mapping.csv, events.csv and mapping.toml.

    Rows are keyed by contract field names with the Swedish labels the demo writes. With
    `labels=True` the records file is REDCap's "CSV (labels)" flavour instead of raw data.
    """
    folder.mkdir(parents=True, exist_ok=True)
    kinds = column_kinds(BaselineRow, config)
    lookup = config.district_lookup()
    timepoints = list(config.followup.timepoints_months)
    dictionary = _dictionary(config)
    fields = {r["Variable / Field Name"]: r for r in dictionary}

    # Columns in REDCap's export order: record id, event, repeat columns, DAG, then per form.
    forms = [(INCLUSION_FORM, False), (BASELINE_FORM, True), (FOLLOWUP_FORM, False)]
    columns = [
        "record_id",
        "redcap_event_name",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
        "redcap_data_access_group",
    ]
    for form, survey in forms:
        if survey:
            columns.append(f"{form}_timestamp")
        columns += [n for n, r in fields.items() if r["Form Name"] == form and n != "record_id"]
        columns.append(f"{form}_complete")

    codes: list[str] = []
    for code in [
        *(_text(r.get("study_code")) for r in baseline_rows),
        *(_text(r.get("study_code")) for r in followup_rows),
        *randomised_on,
    ]:
        if code and code not in codes:
            codes.append(code)
    record_of = {code: str(i) for i, code in enumerate(codes, start=1)}
    baseline_by_code = {}
    for r in baseline_rows:
        baseline_by_code.setdefault(_text(r.get("study_code")), r)

    out: list[dict[str, str]] = []
    for code in codes:
        district = lookup.get(normalize_token(codes_to_district.get(code, "") or ""), "")
        base = {
            "record_id": record_of[code],
            "redcap_event_name": BASELINE_EVENT,
            "redcap_data_access_group": district,
            "studiekod": code,
            "rand_datum": _text(randomised_on.get(code)),
            f"{INCLUSION_FORM}_complete": "2",
        }
        row = baseline_by_code.get(code)
        if row is not None:
            base["bas_datum"] = _text(row.get("baseline_on"))
            base[f"{BASELINE_FORM}_timestamp"] = f"{base['bas_datum']} 10:15:00" if base["bas_datum"] else ""
            for target, name in BASELINE_FIELD_NAMES.items():
                value = row.get(target)
                voc = kinds[target].vocabulary
                if target == "birth_year" or voc is None or _text(value) == "":
                    base[name] = _text(value)
                else:
                    key = voc.parse(value)
                    base[name] = _codes(voc)[key] if key else BAD_CODE
            base[f"{BASELINE_FORM}_complete"] = "2"
        else:
            base[f"{BASELINE_FORM}_complete"] = "0"
        out.append(base)
        seen: set[int] = set()
        for fu in followup_rows:
            if _text(fu.get("study_code")) != code:
                continue
            try:
                months = int(float(_text(fu.get("timepoint_months")).lower().replace("mån", "").strip()))
            except ValueError:
                continue
            if months not in timepoints or months in seen:
                continue  # REDCap holds one row per record and event
            seen.add(months)
            result = FOLLOWUP_RESULT.parse(fu.get("result") or "")
            ev = {
                "record_id": record_of[code],
                "redcap_event_name": followup_event(months),
                "redcap_data_access_group": district,
                "uppf_enhet": _text(fu.get("unit")),
            }
            if result == "done":
                ev.update({"uppf_datum": _text(fu.get("done_on")), f"{FOLLOWUP_FORM}_complete": "2"})
            elif result == "missed":
                ev.update({"uppf_missad": "1", f"{FOLLOWUP_FORM}_complete": "0"})
            else:
                ev[f"{FOLLOWUP_FORM}_complete"] = "1"
            out.append(ev)

    records_rows = [[r.get(c, "") for c in columns] for r in out]
    header = columns
    if labels:
        header, records_rows = _as_labels(columns, records_rows, fields, config)
    paths = [
        folder / RECORDS_FILE,
        folder / DICTIONARY_FILE,
        folder / EVENT_MAPPING_FILE,
        folder / EVENTS_FILE,
        folder / "mapping.toml",
    ]
    _write_csv(paths[0], header, records_rows)
    _write_csv(paths[1], DICTIONARY_HEADER, [[r.get(h, "") for h in DICTIONARY_HEADER] for r in dictionary])
    events = [BASELINE_EVENT, *(followup_event(m) for m in timepoints)]
    mapping_rows = [["1", BASELINE_EVENT, INCLUSION_FORM], ["1", BASELINE_EVENT, BASELINE_FORM]]
    mapping_rows += [["1", followup_event(m), FOLLOWUP_FORM] for m in timepoints]
    _write_csv(paths[2], ["arm_num", "unique_event_name", "form"], mapping_rows)
    event_labels = [BASELINE_EVENT_LABEL, *(f"{m} mån" for m in timepoints)]
    _write_csv(
        paths[3],
        ["event_name", "arm_num", "unique_event_name", "custom_event_label"],
        [[label, "1", unique, ""] for label, unique in zip(event_labels, events, strict=True)],
    )
    paths[4].write_text(mapping_toml(config), encoding="utf-8")
    return paths


def _as_labels(
    columns: list[str], rows: list[list[str]], fields: dict[str, dict[str, str]], config: StudyConfig
) -> tuple[list[str], list[list[str]]]:
    """The same records as REDCap's "CSV (labels)" export: labels as headers and values."""
    from etl.redcap import parse_choices

    special = {
        "redcap_event_name": "Event Name",
        "redcap_repeat_instrument": "Repeat Instrument",
        "redcap_repeat_instance": "Repeat Instance",
        "redcap_data_access_group": "Data Access Group",
    }
    event_labels = {
        BASELINE_EVENT: BASELINE_EVENT_LABEL,
        **{followup_event(m): f"{m} mån" for m in config.followup.timepoints_months},
    }
    header = []
    for c in columns:
        if c in special:
            header.append(special[c])
        elif c.endswith("_timestamp"):
            header.append("Survey Timestamp")
        elif c.endswith("_complete"):
            header.append("Complete?")
        else:
            header.append(fields[c]["Field Label"])
    complete = {"0": "Incomplete", "1": "Unverified", "2": "Complete"}
    names = {d.id: d.name for d in config.districts}
    out = []
    for row in rows:
        new = []
        for c, v in zip(columns, row, strict=True):
            if v == "":
                new.append(v)
            elif c == "redcap_event_name":
                new.append(f"{event_labels[v]} (Arm 1: Arm 1)")
            elif c == "redcap_data_access_group":
                new.append(names.get(v, v))
            elif c.endswith("_complete"):
                new.append(complete[v])
            elif c in fields and fields[c]["Field Type"] == "yesno":
                new.append({"1": "Yes", "0": "No"}.get(v, v))
            elif c in fields and fields[c]["Field Type"] in ("radio", "dropdown"):
                new.append(parse_choices(fields[c]["Choices, Calculations, OR Slider Labels"]).get(v, v))
            else:
                new.append(v)
        out.append(new)
    return header, out
