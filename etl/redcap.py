"""Read a REDCap project export (records, data dictionary, instrument–event mapping) into RawTables.

The study's baseline survey and follow-up assessments may be kept in a longitudinal REDCap project
instead of Excel. A mapping file (`config/redcap_mapping.toml`, documented in `docs/redcap.md`)
says which REDCap field and choice codes give each `BaselineRow` field, which events are the
baseline and the 6/12/18-month follow-ups, which instrument's completion counts as a follow-up
done, and which data access group (DAG) is which district and unit. The output is the same
`RawTable`s the CSV/Excel reader gives, keyed by contract field names and with REDCap field names
as headers, so the validator reports rejected rows against the REDCap fields.

Both REDCap export flavours are read: "CSV (raw data)" (field names, codes, unique event names)
and "CSV (labels)" (field labels, choice labels, event labels), told apart by the header row, and
the API's rawOrLabel=label export, which keeps raw field names as headers (rawOrLabelHeaders
defaults to raw) over label values: that one is told apart by its values.
`pull` fetches the same three files over the REDCap API.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import tomllib
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from etl import scan
from etl.read import csv_failure, text_file_problem, toml_where
from etl.tables import RawRow, RawTable, SourceFileError
from etl.template import column_kinds
from schema.config import StudyConfig
from schema.sources import BaselineRow
from schema.vocab import YES_NO, Vocabulary, normalize_token

DEFAULT_MAPPING = Path(__file__).resolve().parent.parent / "config" / "redcap_mapping.toml"

# File names `pull` and `write_redcap_export` use; `read_redcap_dir` recognises files by content.
RECORDS_FILE = "records.csv"
DICTIONARY_FILE = "dictionary.csv"
EVENT_MAPPING_FILE = "event_mapping.csv"
EVENTS_FILE = "events.csv"

# Headers of the special columns in the "CSV (labels)" export (English and Swedish REDCap).
SPECIAL_LABELS = {
    "event name": "redcap_event_name",
    "händelsenamn": "redcap_event_name",
    "repeat instrument": "redcap_repeat_instrument",
    "repeat instance": "redcap_repeat_instance",
    "data access group": "redcap_data_access_group",
    "dataåtkomstgrupp": "redcap_data_access_group",
    "survey identifier": "redcap_survey_identifier",
}
TIMESTAMP_LABELS = {"survey timestamp", "tidsstämpel för enkät", "enkätens tidsstämpel"}
COMPLETE_LABELS = {
    "incomplete": "0",
    "unverified": "1",
    "complete": "2",
    "ofullständig": "0",
    "ej verifierad": "1",
    "overifierad": "1",
    "komplett": "2",
    "fullständig": "2",
}
CHECKBOX_LABELS = {
    "checked": "1",
    "unchecked": "0",
    "markerad": "1",
    "ej markerad": "0",
    "ikryssad": "1",
    "ej ikryssad": "0",
}
CHOICE_TYPES = {"radio", "dropdown", "yesno", "truefalse", "checkbox"}
BASELINE_FIELDS = [f for f in BaselineRow.model_fields if f not in ("study_code", "baseline_on")]


def _fail(name: str, message: str) -> SourceFileError:
    return SourceFileError(name, message)


# --- the project's metadata ---------------------------------------------------------------------


@dataclass
class DictField:
    name: str
    form: str
    type: str
    label: str
    choices: dict[str, str]  # code -> label (yesno/truefalse get REDCap's fixed codes)
    validation: str = ""


@dataclass
class Dictionary:
    path: Path
    fields: dict[str, DictField]
    forms: list[str]

    @property
    def record_id(self) -> str:
        return next(iter(self.fields))


_DICT_COLUMNS = {
    "name": ("variable / field name", "field_name"),
    "form": ("form name", "form_name"),
    "type": ("field type", "field_type"),
    "label": ("field label", "field_label"),
    "choices": ("choices, calculations, or slider labels", "select_choices_or_calculations"),
    "validation": ("text validation type or show slider number", "text_validation_type_or_show_slider_number"),
}


def _plain(text: str) -> str:
    """A label as REDCap prints it in the labels export: tags stripped, one line."""
    text = re.sub(r"<[^>]*>", "", html.unescape(text or ""))
    return " ".join(text.split())


def parse_choices(text: str) -> dict[str, str]:
    """'1, Man | 2, Kvinna' -> {'1': 'Man', '2': 'Kvinna'}."""
    out: dict[str, str] = {}
    for part in (text or "").split("|"):
        if not part.strip():
            continue
        code, _, label = part.partition(",")
        out[code.strip()] = _plain(label)
    return out


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and rows, each row with the line it starts on (header is line 1)."""
    data = path.read_bytes()
    problem = text_file_problem(data)
    if problem:
        raise _fail(path.name, problem.replace("från Excel", "från REDCap"))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _fail(path.name, "filen är inte UTF-8; exportera den igen från REDCap") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    start = 1
    try:
        for cells in reader:
            if header is None:
                header = [c.strip() for c in cells]
            elif any(c.strip() for c in cells):
                rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise csv_failure(path.name, exc, reader.line_num) from None
    if header is None:
        raise _fail(path.name, "filen är tom; exportera den igen från REDCap")
    return header, rows


def read_dictionary(path: Path) -> Dictionary:
    header, rows = _read_csv(path)
    index = {normalize_token(h): i for i, h in enumerate(header)}
    cols: dict[str, int] = {}
    for key, names in _DICT_COLUMNS.items():
        found = next((index[normalize_token(n)] for n in names if normalize_token(n) in index), None)
        if found is None and key in ("name", "form", "type"):
            raise _fail(path.name, f"datalexikonet saknar kolumnen ”{names[0]}”")
        if found is not None:
            cols[key] = found
    fields: dict[str, DictField] = {}
    forms: list[str] = []

    def cell(cells: list[str], key: str) -> str:
        i = cols.get(key)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    for _, cells in rows:
        name, form, ftype = cell(cells, "name"), cell(cells, "form"), cell(cells, "type").lower()
        if not name:
            continue
        if ftype == "yesno":
            choices = {"1": "Yes", "0": "No"}
        elif ftype == "truefalse":
            choices = {"1": "True", "0": "False"}
        elif ftype in CHOICE_TYPES:
            choices = parse_choices(cell(cells, "choices"))
        else:
            choices = {}
        fields[name] = DictField(name, form, ftype, _plain(cell(cells, "label")), choices, cell(cells, "validation"))
        if form not in forms:
            forms.append(form)
    if not fields:
        raise _fail(path.name, "datalexikonet innehåller inga fält")
    return Dictionary(path, fields, forms)


@dataclass
class EventMap:
    path: Path | None
    forms_by_event: dict[str, set[str]]
    labels: dict[str, str] = field(default_factory=dict)  # normalised "label|arm" -> unique name

    def arm_of(self, unique: str) -> str:
        m = re.search(r"_arm_(\d+)$", unique)
        return m.group(1) if m else "1"


def read_event_mapping(path: Path, events_path: Path | None) -> EventMap:
    header, rows = _read_csv(path)
    idx = {h.strip().lower(): i for i, h in enumerate(header)}
    forms_by_event: dict[str, set[str]] = {}
    for _, cells in rows:
        event = cells[idx["unique_event_name"]].strip()
        forms_by_event.setdefault(event, set()).add(cells[idx["form"]].strip())
    emap = EventMap(path, forms_by_event)
    if events_path is not None:
        header, rows = _read_csv(events_path)
        idx = {h.strip().lower(): i for i, h in enumerate(header)}
        for _, cells in rows:
            unique = cells[idx["unique_event_name"]].strip()
            arm = cells[idx["arm_num"]].strip() if "arm_num" in idx else emap.arm_of(unique)
            emap.labels[f"{normalize_token(cells[idx['event_name']])}|{arm}"] = unique
    return emap


def _stem_ascii(text: str, transliterate: bool) -> str:
    """The stem REDCap derives a unique name from (lower case, a–z, 0–9 and underscores)."""
    text = text.lower()
    if transliterate:
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9 ]", "", text)
    return re.sub(r"\s+", "_", text.strip())


# --- the mapping file ---------------------------------------------------------------------------


@dataclass
class FieldMap:
    target: str  # BaselineRow field name
    field: str  # REDCap field name
    kind: str = "value"  # value | year | age | date (birth_year only)
    checkbox: str | None = None  # checkbox choice code: checked = yes
    codes: dict[str, str] = field(default_factory=dict)  # REDCap code -> vocabulary key ("" = blank)
    vocabulary: Vocabulary | None = None  # the contract's list for the target, set by check_mapping


@dataclass
class DagMap:
    unique: str
    district_id: str
    unit: str | None
    label: str | None


@dataclass
class Mapping:
    path: Path
    study_code: str
    missing_codes: set[str]
    date_format: str
    baseline_events: list[str]
    followup_events: dict[int, list[str]]
    event_labels: dict[str, str]
    baseline_form: str
    baseline_date: list[str]
    fields: dict[str, FieldMap]
    followup_form: str
    followup_date: list[str]
    missed_field: str | None
    missed_codes: set[str]
    unit_field: str | None
    dags: dict[str, DagMap]

    def event_names(self) -> list[str]:
        return [*self.baseline_events, *(e for evs in self.followup_events.values() for e in evs)]


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def load_mapping(path: Path) -> Mapping:
    """Parse the mapping TOML (shape only; checked against the project by `check_mapping`)."""
    name = path.name
    if not path.is_file():
        raise _fail(name, "kartläggningsfilen finns inte")
    scan.scan_file(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise _fail(name, "kartläggningsfilen finns inte") from None
    except tomllib.TOMLDecodeError as exc:
        raise _fail(
            name, f"kartläggningsfilen är inte giltig TOML ({toml_where(exc)}); rätta filen (se docs/redcap.md)"
        ) from None
    except UnicodeDecodeError:
        raise _fail(name, "kartläggningsfilen ska vara sparad som UTF-8; spara den igen som UTF-8") from None

    def need(table: dict, key: str, where: str) -> Any:
        if key not in table or table[key] in ("", None, []):
            raise _fail(name, f"[{where}] saknar ”{key}”")
        return table[key]

    project = data.get("project", {})
    events = need(data, "events", "events") if "events" in data else need({}, "events", "")
    followups = need(events, "followups", "events")
    try:
        fu_events = {int(k): _as_list(v) for k, v in followups.items()}
    except ValueError:
        raise _fail(name, '[events.followups] ska ha månader som nycklar, t.ex. "6" = "6_man_arm_1"') from None
    baseline = need(data, "baseline", "baseline")
    fields: dict[str, FieldMap] = {}
    for target, spec in need(baseline, "fields", "baseline").items():
        if target not in BASELINE_FIELDS:
            known = ", ".join(BASELINE_FIELDS)
            raise _fail(name, f"[baseline.fields] ”{target}” är inget baslinjefält; kända: {known}")
        if isinstance(spec, str):
            spec = {"field": spec}
        kind = str(spec.get("kind", "value"))
        if kind not in ("value", "year", "age", "date"):
            raise _fail(name, f"[baseline.fields.{target}] kind ska vara year, age eller date, inte ”{kind}”")
        if kind != "value" and target != "birth_year":
            raise _fail(name, f"[baseline.fields.{target}] kind gäller bara birth_year")
        codes = {str(k): str(v) for k, v in (spec.get("codes") or {}).items()}
        checkbox = spec.get("checkbox")
        fields[target] = FieldMap(
            target,
            str(need(spec, "field", f"baseline.fields.{target}")),
            kind,
            None if checkbox is None else str(checkbox),
            codes,
        )
    for required in ("gender", "birth_year"):
        if required not in fields:
            raise _fail(name, f"[baseline.fields] måste ange ”{required}” (obligatoriskt i baslinjen)")
    followup = need(data, "followup", "followup")
    missed = followup.get("missed") or {}
    dags: dict[str, DagMap] = {}
    for unique, spec in (data.get("dags") or {}).items():
        if isinstance(spec, str):
            spec = {"district": spec}
        dags[unique] = DagMap(
            unique, str(need(spec, "district", f"dags.{unique}")), spec.get("unit"), spec.get("label")
        )
    date_format = str(project.get("date_format", "YMD")).upper()
    if date_format not in ("YMD", "DMY", "MDY"):
        raise _fail(name, f"[project] date_format ska vara YMD, DMY eller MDY, inte ”{date_format}”")
    return Mapping(
        path=path,
        study_code=str(project.get("study_code", "record_id")),
        missing_codes={str(c) for c in project.get("missing_codes", [])},
        date_format=date_format,
        baseline_events=_as_list(need(events, "baseline", "events")),
        followup_events=fu_events,
        event_labels={normalize_token(k): str(v) for k, v in (data.get("event_labels") or {}).items()},
        baseline_form=str(need(baseline, "form", "baseline")),
        baseline_date=_as_list(need(baseline, "date", "baseline")),
        fields=fields,
        followup_form=str(need(followup, "form", "followup")),
        followup_date=_as_list(need(followup, "date", "followup")),
        missed_field=missed.get("field"),
        missed_codes={str(c) for c in missed.get("codes", ["1"])},
        unit_field=followup.get("unit_field"),
        dags=dags,
    )


def _date_columns(form: str, spec: list[str]) -> list[str]:
    return [f"{form}_timestamp" if s == "timestamp" else s for s in spec]


def check_mapping(m: Mapping, d: Dictionary, emap: EventMap | None, config: StudyConfig) -> None:
    """Every field, code, event and DAG named in the mapping must exist in the project and study."""
    name = m.path.name
    dict_name = d.path.name

    def need_field(fname: str, what: str) -> DictField:
        if fname == d.record_id or fname in d.fields:
            return d.fields[fname]
        raise _fail(name, f"fältet ”{fname}” ({what}) finns inte i REDCap-projektets datalexikon ({dict_name})")

    def need_form(form: str, what: str) -> None:
        if form not in d.forms:
            raise _fail(
                name, f"instrumentet ”{form}” ({what}) finns inte i datalexikonet; instrument: {', '.join(d.forms)}"
            )

    kinds = column_kinds(BaselineRow, config)  # the contract itself says which list a field takes
    need_field(m.study_code, "studiekod")
    need_form(m.baseline_form, "baslinje")
    need_form(m.followup_form, "uppföljning")
    for spec in (m.baseline_date, m.followup_date):
        for col in spec:
            if col != "timestamp":
                need_field(col, "datum")
    if m.missed_field:
        f = need_field(m.missed_field, "missad uppföljning")
        bad = sorted(c for c in m.missed_codes if f.choices and c not in f.choices)
        if bad:
            raise _fail(
                name,
                f"svarskoden ”{bad[0]}” för fältet ”{f.name}” finns inte i datalexikonet (där finns {', '.join(f.choices)})",
            )
    if m.unit_field:
        need_field(m.unit_field, "enhet")
    for fm in m.fields.values():
        header = BaselineRow.model_fields[fm.target].json_schema_extra["header"]  # type: ignore[index]
        f = need_field(fm.field, header)
        voc = fm.vocabulary = kinds[fm.target].vocabulary
        if fm.checkbox is not None:
            if f.type != "checkbox":
                raise _fail(
                    name, f'fältet ”{f.name}” är inte en kryssruta (checkbox) men anges med checkbox = "{fm.checkbox}"'
                )
            if fm.checkbox not in f.choices:
                raise _fail(
                    name,
                    f"svarskoden ”{fm.checkbox}” för fältet ”{f.name}” finns inte i datalexikonet (där finns {', '.join(f.choices)})",
                )
            if voc is not YES_NO:
                raise _fail(name, f"en kryssruta kan bara ge ett ja/nej-fält, inte ”{header}”")
        elif f.type == "checkbox":
            raise _fail(
                name, f'fältet ”{f.name}” är en kryssruta: ange vilket alternativ som betyder ja, t.ex. checkbox = "1"'
            )
        for code, key in fm.codes.items():
            if f.choices and code not in f.choices:
                raise _fail(
                    name,
                    f"svarskoden ”{code}” för fältet ”{f.name}” finns inte i datalexikonet (där finns {', '.join(f.choices)})",
                )
            if key and voc is not None and voc.parse(key) is None:
                raise _fail(
                    name,
                    f"”{key}” (kod {code} i fältet ”{f.name}”) är inget tillåtet värde för {voc.name_sv}; tillåtna: {voc.choices_text()}",
                )
    if emap is not None:
        known = sorted(emap.forms_by_event)
        for event in m.event_names():
            if event not in emap.forms_by_event:
                raise _fail(name, f"händelsen ”{event}” finns inte i projektets händelser ({', '.join(known)})")
        for event in m.baseline_events:
            if m.baseline_form not in emap.forms_by_event[event]:
                raise _fail(name, f"instrumentet ”{m.baseline_form}” är inte kopplat till händelsen ”{event}”")
        for evs in m.followup_events.values():
            for event in evs:
                if m.followup_form not in emap.forms_by_event[event]:
                    raise _fail(name, f"instrumentet ”{m.followup_form}” är inte kopplat till händelsen ”{event}”")
    lookup = config.district_lookup()
    for dag in m.dags.values():
        if normalize_token(dag.district_id) not in lookup:
            names = ", ".join(d.name for d in config.districts)
            raise _fail(
                name, f"[dags.{dag.unique}] stadsdelen ”{dag.district_id}” finns inte i studien; kända: {names}"
            )


# --- the records file ---------------------------------------------------------------------------


@dataclass
class Record:
    line: int
    values: dict[str, str]  # raw REDCap column name -> raw value (codes, unique names)


def export_kind(path: Path) -> str | None:
    """Which file of a REDCap export a CSV is, told by its header row: "dictionary",
    "event_mapping", "events", "raw" or "labels" (records); None for anything else."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = {h.strip().lower() for h in next(csv.reader(fh), [])}
    except (UnicodeDecodeError, StopIteration, csv.Error):
        return None
    if "variable / field name" in header or "field_name" in header:
        return "dictionary"
    if {"arm_num", "unique_event_name", "form"} <= header:
        return "event_mapping"
    if {"event_name", "arm_num", "unique_event_name"} <= header:
        return "events"
    if "redcap_event_name" in header:
        return "raw"
    if header & {"event name", "händelsenamn"}:
        return "labels"
    return None


def _classify(folder: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {"dictionary": [], "event_mapping": [], "events": [], "raw": [], "labels": []}
    for path in sorted(folder.glob("*.csv")):
        kind = export_kind(path)
        if kind is not None:
            found[kind].append(path)
        else:
            _read_header_or_fail(path)
    return found


def _read_header_or_fail(path: Path) -> None:
    """A CSV of the export that could not be classified because its header cannot be read is an
    error naming that file, not 'no export in the folder'."""
    data = path.read_bytes()
    problem = text_file_problem(data)
    if problem:
        raise _fail(path.name, problem.replace("från Excel", "från REDCap"))
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig", errors="replace"), newline=""))
    try:
        next(reader, None)
    except csv.Error as exc:
        raise csv_failure(path.name, exc, reader.line_num) from None


def _one(paths: list[Path], what: str, folder: Path) -> Path | None:
    if len(paths) > 1:
        names = ", ".join(p.name for p in paths)
        raise _fail(folder.name, f"flera {what} i mappen ({names}); lägg bara en")
    return paths[0] if paths else None


def _expected_columns(d: Dictionary) -> list[tuple[str, str, str]]:
    """(raw column, label header, form) in REDCap's export order, timestamps included."""
    out: list[tuple[str, str, str]] = []
    for form in d.forms:
        out.append((f"{form}_timestamp", "survey timestamp", form))
        for f in d.fields.values():
            if f.form != form or f.type == "descriptive":
                continue
            if f.type == "checkbox":
                for code, label in f.choices.items():
                    out.append((f"{f.name}___{code}", normalize_token(f"{f.label} (choice={label})"), form))
            else:
                out.append((f.name, normalize_token(f.label), form))
        out.append((f"{form}_complete", "complete?", form))
    return out


def _label_headers(header: list[str], d: Dictionary, path: Path) -> list[str | None]:
    """The raw column name of each labels-export header, found in dictionary order."""
    expected = _expected_columns(d)
    out: list[str | None] = []
    pos = 0
    for h in header:
        hn = normalize_token(_plain(h))
        if hn in SPECIAL_LABELS:
            out.append(SPECIAL_LABELS[hn])
            continue
        if hn in TIMESTAMP_LABELS:
            j = next((k for k in range(pos, len(expected)) if expected[k][0].endswith("_timestamp")), None)
            if j is not None:
                out.append(expected[j][0])
                pos = j + 1
                continue
        j = next(
            (
                k
                for k in range(pos, len(expected))
                if expected[k][1] == hn and not expected[k][0].endswith("_timestamp")
            ),
            None,
        )
        if j is None:
            out.append(None)
            continue
        out.append(expected[j][0])
        pos = j + 1
    if d.record_id not in out:
        raise _fail(
            path.name, f"hittar inte kolumnen för record id (”{d.fields[d.record_id].label}”) i exporten med etiketter"
        )
    return out


def _unlabel(col: str, value: str, d: Dictionary, m: Mapping, emap: EventMap | None, config: StudyConfig) -> str:
    """A labels-export value turned back into the raw code (unknown labels are kept as typed)."""
    v = value.strip()
    if v == "":
        return v
    n = normalize_token(v)
    if col == "redcap_event_name":
        return _event_from_label(v, m, emap)
    if col == "redcap_data_access_group":
        return _dag_from_label(v, m, config)
    if col.endswith("_complete") and col[: -len("_complete")] in d.forms:
        return COMPLETE_LABELS.get(n, v)
    if "___" in col:
        base = col.rsplit("___", 1)[0]
        if base in d.fields and d.fields[base].type == "checkbox":
            return CHECKBOX_LABELS.get(n, v)
    f = d.fields.get(col)
    if f is not None and f.type in CHOICE_TYPES:
        reverse = {normalize_token(label): code for code, label in f.choices.items()}
        if f.type == "yesno":
            reverse.update({"ja": "1", "nej": "0"})
        if f.type == "truefalse":
            reverse.update({"sant": "1", "falskt": "0"})
        return reverse.get(n, v)
    return v


def _event_from_label(text: str, m: Mapping, emap: EventMap | None) -> str:
    arm = "1"
    label = text
    match = re.match(r"^(.*?)\s*\(arm\s*(\d+)\s*:.*\)\s*$", text, re.IGNORECASE)
    if match:
        label, arm = match.group(1), match.group(2)
    n = normalize_token(label)
    if n in m.event_labels:
        return m.event_labels[n]
    if normalize_token(text) in m.event_labels:
        return m.event_labels[normalize_token(text)]
    if emap is not None and f"{n}|{arm}" in emap.labels:
        return emap.labels[f"{n}|{arm}"]
    candidates = list(emap.forms_by_event) if emap is not None else m.event_names()
    stems = {_stem_ascii(label, True), _stem_ascii(label, False)}
    for unique in candidates:
        um = re.match(r"^(.*)_arm_(\d+)$", unique)
        if um and um.group(2) == arm and um.group(1) in stems:
            return unique
    return text  # reported as an unknown event


def _dag_from_label(text: str, m: Mapping, config: StudyConfig) -> str:
    n = normalize_token(text)
    lookup = config.district_lookup()
    for dag in m.dags.values():
        if dag.unique == text or (dag.label and normalize_token(dag.label) == n):
            return dag.unique
    for dag in m.dags.values():
        if lookup.get(n) is not None and lookup.get(n) == lookup.get(normalize_token(dag.district_id)):
            return dag.unique
        if _stem_ascii(text, True) == dag.unique or _stem_ascii(text, False) == dag.unique:
            return dag.unique
    return text


def _values_are_labels(
    header: list[str], rows: list[tuple[int, list[str]]], d: Dictionary, emap: EventMap | None
) -> bool:
    """True when a file with raw column names carries label values: an API export with
    rawOrLabel=label keeps raw headers (rawOrLabelHeaders defaults to raw). Told from the values:
    a form's completion status written as a word ("Complete") or an event that is no unique event
    name of the project but reads as an event label."""
    complete = [i for i, h in enumerate(header) if h.endswith("_complete") and h[: -len("_complete")] in d.forms]
    event = header.index("redcap_event_name") if "redcap_event_name" in header else None
    known_events = set(emap.forms_by_event) if emap is not None else set()
    for _, cells in rows:
        for i in complete:
            value = cells[i].strip() if i < len(cells) else ""
            if value and value not in ("0", "1", "2") and normalize_token(value) in COMPLETE_LABELS:
                return True
        if event is not None and known_events and event < len(cells):
            value = cells[event].strip()
            if value and value not in known_events and re.search(r"\s|\(arm\s*\d+", value, re.IGNORECASE):
                return True
    return False


def read_records(
    path: Path, labels: bool, d: Dictionary, m: Mapping, emap: EventMap | None, config: StudyConfig
) -> list[Record]:
    header, rows = _read_csv(path)
    columns: list[str | None] = _label_headers(header, d, path) if labels else list(header)
    if not labels and _values_are_labels(header, rows, d, emap):
        labels = True  # raw column names, label values: unlabel the values only
    elif not labels and columns and columns[0] != d.record_id:
        raise _fail(path.name, f"första kolumnen är ”{columns[0]}” men projektets record id är ”{d.record_id}”")
    out: list[Record] = []
    for line, cells in rows:
        values: dict[str, str] = {}
        for col, cell in zip(columns, cells, strict=False):
            if col is None:
                continue
            value = cell.strip()
            if labels:
                value = _unlabel(col, value, d, m, emap, config)
            if value in m.missing_codes:
                value = ""
            values[col] = value
        out.append(Record(line, values))
    return out


# --- from records to contract rows --------------------------------------------------------------


def _to_date(text: str, fmt: str) -> object:
    """REDCap dates and timestamps as a date; anything else is passed on for the validator."""
    text = text.strip()
    if text == "" or text.startswith("[not completed"):
        return None
    m = re.match(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$", text)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return text
    m = re.match(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$", text)
    if m and fmt in ("DMY", "MDY"):
        a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        day, month = (a, b) if fmt == "DMY" else (b, a)
        try:
            return date(y, month, day)
        except ValueError:
            return text
    return text


def _first(values: dict[str, str], cols: list[str]) -> str:
    return next((values[c] for c in cols if values.get(c, "").strip()), "")


def _baseline_value(
    fm: FieldMap, values: dict[str, str], d: Dictionary, baseline_on: object, date_format: str
) -> object:
    f = d.fields[fm.field]
    if fm.checkbox is not None:
        raw = values.get(f"{fm.field}___{fm.checkbox}", "")
        if raw == "":
            return None
        return YES_NO.label("yes" if raw == "1" else "no") if raw in ("0", "1") else raw
    raw = values.get(fm.field, "").strip()
    if raw == "":
        return None
    if fm.target == "birth_year":
        if fm.kind == "age":
            try:
                age = int(float(raw.replace(",", ".")))
            except ValueError:
                return raw
            return baseline_on.year - age if isinstance(baseline_on, date) else None
        if fm.kind == "date":
            born = _to_date(raw, date_format)
            return born.year if isinstance(born, date) else raw
        return raw
    voc = fm.vocabulary
    if f.type not in CHOICE_TYPES or voc is None:
        return raw
    if raw not in f.choices:
        return f"{raw} – saknas bland svarsalternativen i REDCap-fältet {f.name}"
    if raw in fm.codes:
        key = voc.parse(fm.codes[raw]) if fm.codes[raw] else None
        return voc.label(key) if key else None
    key = voc.parse(f.choices[raw])
    if key is None and f.type in ("yesno", "truefalse"):
        key = voc.parse({"1": "yes", "0": "no"}[raw]) if raw in ("0", "1") else None
    # A label the study's list does not know is passed on as REDCap shows it: the validator
    # rejects the row naming both the label and the allowed values.
    return voc.label(key) if key else f.choices[raw]


def build_tables(records: list[Record], path: Path, d: Dictionary, m: Mapping, emap: EventMap | None) -> list[RawTable]:
    fu_event_month = {e: months for months, evs in m.followup_events.items() for e in evs}
    baseline_events = set(m.baseline_events)
    mapped_forms = {m.baseline_form, m.followup_form}
    if m.missed_field:
        mapped_forms.add(d.fields[m.missed_field].form)

    by_record: dict[str, list[Record]] = {}
    for rec in records:
        rid = rec.values.get(d.record_id, "").strip()
        if not rid:
            continue
        event = rec.values.get("redcap_event_name", "")
        if emap is not None and event not in emap.forms_by_event:
            raise _fail(path.name, _unknown_event_text(rec.line, event, m, emap))
        dag = rec.values.get("redcap_data_access_group", "")
        if dag and dag not in m.dags:
            known = ", ".join(m.dags) or "inga"
            raise _fail(
                path.name,
                f"rad {rec.line}: dataåtkomstgruppen ”{dag}” finns inte under [dags] i {m.path.name} (kända: {known}). "
                f"Lägg till i {m.path.name}: "
                f'[dags.{_toml_key(dag)}] district = "<stadsdelens id i studie.toml>"',
            )
        repeat = rec.values.get("redcap_repeat_instrument", "")
        if repeat and repeat not in mapped_forms:
            continue
        by_record.setdefault(rid, []).append(rec)

    code_col = m.study_code
    base_headers = {"study_code": code_col, "baseline_on": _date_columns(m.baseline_form, m.baseline_date)[0]}
    for fm in m.fields.values():
        base_headers[fm.target] = fm.field if fm.checkbox is None else f"{fm.field}___{fm.checkbox}"
    fu_headers = {
        "study_code": code_col,
        "timepoint_months": "redcap_event_name",
        "result": f"{m.followup_form}_complete",
        "done_on": _date_columns(m.followup_form, m.followup_date)[0],
        "unit": m.unit_field or "redcap_data_access_group",
    }
    baseline = RawTable("baseline", path, None, base_headers)
    followups = RawTable("followups", path, None, fu_headers)

    for recs in by_record.values():
        code = next((r.values.get(code_col, "") for r in recs if r.values.get(code_col, "").strip()), "")
        code_value: object = code.strip() or None
        dag = next(
            (
                r.values.get("redcap_data_access_group", "")
                for r in recs
                if r.values.get("redcap_data_access_group", "")
            ),
            "",
        )
        dag_unit = m.dags[dag].unit if dag else None

        base_recs = [r for r in recs if r.values.get("redcap_event_name") in baseline_events]
        complete = [r for r in base_recs if r.values.get(f"{m.baseline_form}_complete") == "2"]
        if complete:
            merged: dict[str, str] = {}
            for r in base_recs:
                for k, v in r.values.items():
                    if v.strip() and not merged.get(k):
                        merged[k] = v
            baseline_on = _to_date(_first(merged, _date_columns(m.baseline_form, m.baseline_date)), m.date_format)
            values: dict[str, object] = {"study_code": code_value, "baseline_on": baseline_on}
            for fm in m.fields.values():
                values[fm.target] = _baseline_value(fm, merged, d, baseline_on, m.date_format)
            baseline.rows.append(RawRow(complete[0].line, values))

        for r in recs:
            months = fu_event_month.get(r.values.get("redcap_event_name", ""))
            if months is None:
                continue
            status = r.values.get(f"{m.followup_form}_complete", "").strip()
            missed = bool(m.missed_field) and r.values.get(m.missed_field or "", "").strip() in m.missed_codes
            unit = (r.values.get(m.unit_field, "").strip() if m.unit_field else "") or dag_unit
            if status == "2":
                done_on = _to_date(_first(r.values, _date_columns(m.followup_form, m.followup_date)), m.date_format)
                followups.rows.append(
                    RawRow(
                        r.line,
                        {
                            "study_code": code_value,
                            "timepoint_months": months,
                            "result": "Genomförd",
                            "done_on": done_on,
                            "unit": unit,
                        },
                    )
                )
            elif status in ("0", "") and missed:
                followups.rows.append(
                    RawRow(
                        r.line,
                        {
                            "study_code": code_value,
                            "timepoint_months": months,
                            "result": "Missad",
                            "done_on": None,
                            "unit": unit,
                        },
                    )
                )
    return [baseline, followups]


def _toml_key(text: str) -> str:
    return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else json.dumps(text, ensure_ascii=False)


def _unknown_event_text(line: int, event: str, m: Mapping, emap: EventMap | None) -> str:
    """A designed refusal: the line, the value and the line to add to the mapping file."""
    known = ", ".join(emap.forms_by_event) if emap is not None else ""
    text = f"rad {line}: händelsen ”{event}” finns inte i projektets händelser (kända: {known})."
    if re.fullmatch(r"[a-z0-9_]+_arm_\d+", event):
        return (
            text + " Exportera projektets händelser på nytt tillsammans med data, eller lägg till i "
            f'{m.path.name} under [events.followups]: "<månader>" = "{event}"'
        )
    return (
        text + f" Lägg till i {m.path.name} under [event_labels]: "
        f'{json.dumps(event, ensure_ascii=False)} = "<händelsens unika namn, t.ex. 6_man_arm_1>"'
    )


def read_redcap_dir(
    folder: Path, config: StudyConfig, mapping_path: Path | None = None, *, scanned: bool = False
) -> list[RawTable]:
    """The baseline and follow-up RawTables of a REDCap export folder. Every file of the folder is
    scanned for personnummer (`etl.scan`) before any is read, unless the caller did (`scanned`:
    the loader scans every input first); no value is masked afterwards, since none can hold one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise _fail(folder.name, "mappen med REDCap-exporten finns inte")
    hits: list[scan.Hit] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not scanned):
        try:  # every file of the export, before any is read
            scan.scan_file(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
        except scan.PnrRefused as exc:
            hits += exc.hits
    if hits:
        raise scan.PnrRefused(hits)
    if mapping_path is None:
        mapping_path = folder / "mapping.toml" if (folder / "mapping.toml").exists() else DEFAULT_MAPPING
    m = load_mapping(Path(mapping_path))
    found = _classify(folder)
    dict_path = _one(found["dictionary"], "datalexikon", folder)
    if dict_path is None:
        raise _fail(folder.name, "datalexikonet (Data Dictionary, CSV) saknas i mappen")
    d = read_dictionary(dict_path)
    em_path = _one(found["event_mapping"], "instrument–händelse-filer", folder)
    ev_path = _one(found["events"], "händelsefiler", folder)
    if em_path is None:
        raise _fail(
            folder.name,
            "filen som kopplar instrument till händelser (arm_num, unique_event_name, form) saknas i mappen",
        )
    emap = read_event_mapping(em_path, ev_path)
    check_mapping(m, d, emap, config)
    raw = _one(found["raw"], "dataexporter (CSV, rådata)", folder)
    labels = None if raw is not None else _one(found["labels"], "dataexporter (CSV, etiketter)", folder)
    records_path = raw or labels
    if records_path is None:
        raise _fail(folder.name, "ingen dataexport (CSV med redcap_event_name) i mappen")
    records = read_records(records_path, raw is None, d, m, emap, config)
    present = set().union(*(r.values for r in records)) if records else set()
    needed = [
        m.study_code,
        f"{m.baseline_form}_complete",
        f"{m.followup_form}_complete",
        *_date_columns(m.baseline_form, m.baseline_date),
        *_date_columns(m.followup_form, m.followup_date),
    ]
    for col in needed:
        if records and col not in present:
            hint = " (exportera med enkätfälten, Survey fields)" if col.endswith("_timestamp") else ""
            raise _fail(records_path.name, f"kolumnen ”{col}” saknas i dataexporten{hint}")
    return build_tables(records, records_path, d, m, emap)


# --- the REDCap API -----------------------------------------------------------------------------


class RedcapApiError(Exception):
    """Fetching from REDCap failed; the message is Swedish and never holds the token."""


_TOKEN = re.compile(r"^[0-9A-Fa-f]{32}([0-9A-Fa-f]{32})?$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _masked(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


def credentials(env: dict[str, str] | None = None, secrets_paths: list[Path] | None = None) -> tuple[str, str]:
    """URL and token from IPSDASH_REDCAP_URL/_TOKEN, else `.streamlit/secrets.toml` [redcap]."""
    env = dict(os.environ) if env is None else env
    url, token = env.get("IPSDASH_REDCAP_URL", ""), env.get("IPSDASH_REDCAP_TOKEN", "")
    if secrets_paths is None:
        secrets_paths = [
            Path.cwd() / ".streamlit" / "secrets.toml",
            Path(__file__).resolve().parent.parent / ".streamlit" / "secrets.toml",
        ]
    for path in secrets_paths:
        if url and token:
            break
        if path.is_file():
            try:  # read like every other input: a personnummer in it refuses it (masked, with its place)
                scan.scan_file(path, f".streamlit/{path.name}")
            except scan.PnrRefused as exc:
                raise RedcapApiError(str(exc)) from None
            with open(path, "rb") as fh:
                section = tomllib.load(fh).get("redcap", {})
            url = url or str(section.get("url", ""))
            token = token or str(section.get("token", ""))
    if not url or not token:
        raise RedcapApiError(
            "REDCap-adress eller token saknas: sätt IPSDASH_REDCAP_URL och IPSDASH_REDCAP_TOKEN "
            "eller [redcap] url/token i .streamlit/secrets.toml"
        )
    return url.strip(), token.strip()


def _post(url: str, token: str, params: dict[str, str], timeout: float) -> bytes:
    body = urllib.parse.urlencode({"token": token, **params, "returnFormat": "json"}).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/csv, application/json"},
    )
    what = params["content"]
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked
            return response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:300]
        try:
            detail = str(json.loads(detail).get("error", detail))
        except (ValueError, AttributeError):
            pass
        raise RedcapApiError(_masked(f"REDCap svarade {exc.code} på {what}: {detail}", token)) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RedcapApiError(_masked(f"kunde inte nå REDCap ({url}) för {what}: {reason}", token)) from None


def pull(out: Path, url: str, token: str, timeout: float = 120.0) -> list[Path]:
    """Fetch records (raw, with DAGs and survey timestamps), data dictionary and event mapping."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme != "https" and not (parsed.scheme == "http" and parsed.hostname in _LOOPBACK):
        raise RedcapApiError(f"REDCap-adressen måste börja med https:// (inte {parsed.scheme or 'tom'}://)")
    if not _TOKEN.match(token):
        raise RedcapApiError("REDCap-token har fel format (ska vara 32 hexadecimala tecken)")
    requests = [
        (
            RECORDS_FILE,
            {
                "content": "record",
                "action": "export",
                "format": "csv",
                "type": "flat",
                "rawOrLabel": "raw",
                "rawOrLabelHeaders": "raw",
                "exportCheckboxLabel": "false",
                "exportSurveyFields": "true",
                "exportDataAccessGroups": "true",
            },
        ),
        (DICTIONARY_FILE, {"content": "metadata", "format": "csv"}),
        (EVENT_MAPPING_FILE, {"content": "formEventMapping", "format": "csv"}),
    ]
    fetched = [(name, _post(url, token, params, timeout)) for name, params in requests]
    for name, data in fetched:
        if data.lstrip().startswith(b"{"):
            try:
                error = json.loads(data).get("error")
            except ValueError:
                error = None
            if error:
                raise RedcapApiError(_masked(f"REDCap svarade med ett fel för {name}: {error}", token))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in fetched:  # all fetched before any is written: no half-updated folder
        target = out / name
        tmp = target.with_suffix(".csv.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        written.append(target)
    return written


def run_pull_command(args) -> int:
    """`ipsdash pull-redcap --out DIR`: credentials from the environment or secrets, never argv."""
    import sys

    token = ""
    try:
        url, token = credentials()
        paths = pull(Path(args.out), url, token)
    except RedcapApiError as exc:
        print(f"Fel: {_masked(str(exc), token)}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"skrev {path}", file=sys.stderr)
    return 0
