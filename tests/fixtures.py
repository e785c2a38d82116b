"""A minimal valid study, hand-written, for the reader/validator/loader tests.

`study_rows()` gives each source as a header list and rows (header text -> value, as staff would
type them). `write_study()` writes them as CSV or xlsx next to a copy of config/studie.toml;
`raw_tables()` builds the same study as `RawTable`s without touching the disk (fast validation
tests). Mutate the rows dict with `set_cell`/`add_row`/`drop_row` before writing.
"""

from __future__ import annotations

import copy
import csv
from datetime import date
from pathlib import Path

from etl.tables import RawRow, RawTable
from schema.config import StudyConfig, load_config
from schema.sources import SOURCES, header_map
from schema.vocab import FIDELITY_ITEMS, normalize_token

ROOT = Path(__file__).resolve().parent.parent
CONFIG_PATH = ROOT / "config" / "studie.toml"
D = date.fromisoformat

# Participants: A0314M27 (IPS), B0320K11 (control), A0401M33 (IPS, stopped IPS), D0801M55
# (control; re-referral of C0410M44, who was excluded for motivation).
_REFERRAL_HEADERS = [
    "Studiekod",
    "Stadsdel",
    "Remissdatum",
    "Remitterande instans",
    "Informationsmöte",
    "Motivationsskattning",
    "Samtycke",
    "Inskrivningssamtal",
    "Baslinje",
    "Exkluderad vid",
    "Exklusionsorsak",
    "Tidigare studiekod",
]


def _ref(
    code,
    district,
    referred,
    info=None,
    motivation=None,
    consent=None,
    enrol=None,
    base=None,
    stage=None,
    reason=None,
    prev=None,
    source="Ekonomiskt bistånd + vuxenenhet",
):
    values = [code, district, referred, source, info, motivation, consent, enrol, base, stage, reason, prev]
    return dict(zip(_REFERRAL_HEADERS, values, strict=True))


def _fidelity_rows(day: date, score: int = 4) -> list[dict[str, object]]:
    names = {"staffing": "Personal", "organisation": "Organisation", "services": "Tjänster"}
    return [
        {"Skattningsdatum": day, "Område": names[section], "Punkt": int(key[1:]), "Poäng": score}
        for key, (section, _) in FIDELITY_ITEMS.items()
    ]


def study_rows() -> dict[str, dict[str, object]]:
    """source key -> {"headers": [...], "rows": [{header: value}]}; a fresh deep copy each call."""
    data: dict[str, dict[str, object]] = {
        "referrals": {
            "headers": _REFERRAL_HEADERS,
            "rows": [
                _ref(
                    "A0314M27",
                    "Södermalm",
                    D("2023-03-01"),
                    D("2023-03-05"),
                    "Tillräcklig",
                    D("2023-03-06"),
                    D("2023-03-08"),
                    D("2023-03-10"),
                ),
                _ref(
                    "B0320K11",
                    "Järva",
                    D("2023-03-02"),
                    D("2023-03-06"),
                    "Tillräcklig",
                    D("2023-03-07"),
                    D("2023-03-09"),
                    D("2023-03-15"),
                ),
                _ref(
                    "A0401M33",
                    "Södermalm",
                    D("2023-03-20"),
                    D("2023-03-25"),
                    "Tillräcklig",
                    D("2023-03-26"),
                    D("2023-03-28"),
                    D("2023-04-01"),
                ),
                _ref(
                    "C0410M44",
                    "Enheten för hemlösa",
                    D("2023-04-01"),
                    D("2023-04-10"),
                    "Otillräcklig",
                    stage="Informationsmöte",
                    reason="Otillräcklig motivation",
                ),
                _ref(
                    "D0801M55",
                    "Järva",
                    D("2023-08-01"),
                    D("2023-08-05"),
                    "Tillräcklig",
                    D("2023-08-06"),
                    D("2023-08-10"),
                    D("2023-08-15"),
                    prev="C0410M44",
                ),
            ],
        },
        "randomisations": {
            "headers": ["Studiekod", "Randomiseringsdatum", "Grupp", "Stratum"],
            "rows": [
                {
                    "Studiekod": "A0314M27",
                    "Randomiseringsdatum": D("2023-03-14"),
                    "Grupp": "IPS+TAU",
                    "Stratum": "Södermalm",
                },
                {
                    "Studiekod": "B0320K11",
                    "Randomiseringsdatum": D("2023-03-20"),
                    "Grupp": "TVR+TAU",
                    "Stratum": "Järva",
                },
                {
                    "Studiekod": "A0401M33",
                    "Randomiseringsdatum": D("2023-04-05"),
                    "Grupp": "IPS+TAU",
                    "Stratum": "Södermalm",
                },
                {
                    "Studiekod": "D0801M55",
                    "Randomiseringsdatum": D("2023-08-20"),
                    "Grupp": "TVR+TAU",
                    "Stratum": "Järva",
                },
            ],
        },
        "baseline": {
            "headers": ["Studiekod", "Baslinjedatum", "Kön", "Födelseår", "Född i Sverige", "Utbildning", "Boende"],
            "rows": [
                {
                    "Studiekod": "A0314M27",
                    "Baslinjedatum": D("2023-03-10"),
                    "Kön": "Man",
                    "Födelseår": 1981,
                    "Född i Sverige": "Ja",
                    "Utbildning": "Gymnasium",
                    "Boende": "Egen bostad",
                },
                {
                    "Studiekod": "B0320K11",
                    "Baslinjedatum": D("2023-03-15"),
                    "Kön": "Kvinna",
                    "Födelseår": 1975,
                    "Född i Sverige": "Nej",
                    "Utbildning": "Grundskola",
                    "Boende": "Andrahandskontrakt",
                },
                {
                    "Studiekod": "A0401M33",
                    "Baslinjedatum": D("2023-04-01"),
                    "Kön": "Man",
                    "Födelseår": 1990,
                    "Född i Sverige": "J",
                    "Utbildning": None,
                    "Boende": None,
                },
                {
                    "Studiekod": "D0801M55",
                    "Baslinjedatum": D("2023-08-15"),
                    "Kön": "M",
                    "Födelseår": 1968,
                    "Född i Sverige": "x",
                    "Utbildning": None,
                    "Boende": None,
                },
            ],
        },
        "followups": {
            "headers": ["Studiekod", "Tidpunkt", "Status", "Datum", "Enhet"],
            "rows": [
                {
                    "Studiekod": "A0314M27",
                    "Tidpunkt": 6,
                    "Status": "Genomförd",
                    "Datum": D("2023-09-14"),
                    "Enhet": "Vuxenenheten Södermalm",
                },
                {
                    "Studiekod": "B0320K11",
                    "Tidpunkt": 6,
                    "Status": "Missad",
                    "Datum": None,
                    "Enhet": "Vuxenenheten Järva",
                },
                {
                    "Studiekod": "A0314M27",
                    "Tidpunkt": 12,
                    "Status": "Genomförd",
                    "Datum": D("2024-03-20"),
                    "Enhet": "Vuxenenheten Södermalm",
                },
            ],
        },
        "events": {
            "headers": ["Studiekod", "Datum", "Händelse", "Orsak"],
            "rows": [
                {"Studiekod": "A0401M33", "Datum": D("2024-01-10"), "Händelse": "Avslutat IPS", "Orsak": "Återfall"},
                {
                    "Studiekod": "B0320K11",
                    "Datum": D("2024-02-01"),
                    "Händelse": "Lämnat studien",
                    "Orsak": "HVB-placering",
                },
            ],
        },
        "specialists": {
            "headers": ["Kod", "Namn", "Stadsdelar", "Tjänstgöringsgrad", "Från", "Till"],
            "rows": [
                {
                    "Kod": "A",
                    "Namn": "Anna",
                    "Stadsdelar": "Södermalm",
                    "Tjänstgöringsgrad": 100,
                    "Från": D("2023-02-01"),
                    "Till": None,
                },
                {
                    "Kod": "B",
                    "Namn": "Bo",
                    "Stadsdelar": "Järva; Enheten för hemlösa",
                    "Tjänstgöringsgrad": "50 %",
                    "Från": D("2023-02-01"),
                    "Till": None,
                },
            ],
        },
        "assignments": {
            "headers": ["Studiekod", "Arbetsspecialist", "Från", "Till"],
            "rows": [
                {"Studiekod": "A0314M27", "Arbetsspecialist": "A", "Från": D("2023-03-15"), "Till": None},
                {"Studiekod": "A0401M33", "Arbetsspecialist": "A", "Från": D("2023-04-06"), "Till": D("2024-01-10")},
            ],
        },
        "fidelity": {
            "headers": ["Skattningsdatum", "Område", "Punkt", "Poäng"],
            "rows": _fidelity_rows(D("2024-05-02")),
        },
        "activity": {
            "headers": ["Studiekod", "Datum", "Aktivitet", "Slutdatum", "Omfattning", "Timmar per vecka"],
            "rows": [
                {
                    "Studiekod": "A0314M27",
                    "Datum": D("2023-04-01"),
                    "Aktivitet": "Arbetsgivarkontakt",
                    "Slutdatum": None,
                    "Omfattning": None,
                    "Timmar per vecka": None,
                },
                {
                    "Studiekod": "A0314M27",
                    "Datum": D("2023-06-01"),
                    "Aktivitet": "Anställning",
                    "Slutdatum": None,
                    "Omfattning": "Deltid",
                    "Timmar per vecka": 20,
                },
            ],
        },
        "employment": {
            "headers": ["Studiekod", "Tidpunkt", "Arbetat minst en dag", "Arbetade dagar", "Inkomst kr"],
            "rows": [
                {
                    "Studiekod": "A0314M27",
                    "Tidpunkt": 6,
                    "Arbetat minst en dag": "Ja",
                    "Arbetade dagar": 40,
                    "Inkomst kr": 52000,
                },
            ],
        },
    }
    return copy.deepcopy(data)


FILE_NAMES = {s.key: s.stems[0] for s in SOURCES}


def row_number(index: int, preamble: int = 0) -> int:
    """Excel row of data row `index` (0-based) when the header is on row 1 + preamble."""
    return preamble + 2 + index


def set_cell(rows: dict, key: str, index: int, header: str, value: object) -> dict:
    rows[key]["rows"][index][header] = value
    if header not in rows[key]["headers"]:
        rows[key]["headers"].append(header)
    return rows


def add_row(rows: dict, key: str, values: dict[str, object]) -> int:
    """Append a row (missing headers left blank); returns its 0-based index."""
    rows[key]["rows"].append(dict(values))
    for header in values:
        if header not in rows[key]["headers"]:
            rows[key]["headers"].append(header)
    return len(rows[key]["rows"]) - 1


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_csv(
    path: Path,
    headers: list[str],
    rows: list[dict[str, object]],
    sep: str = ";",
    encoding: str = "utf-8-sig",
    preamble: list[list[str]] | None = None,
) -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, delimiter=sep)
        for line in preamble or []:
            writer.writerow(line)
        writer.writerow(headers)
        for row in rows:
            writer.writerow([_text(row.get(h)) for h in headers])
    return path


def write_xlsx(
    path: Path,
    headers: list[str],
    rows: list[dict[str, object]],
    sheet: str = "Blad1",
    preamble: list[list[object]] | None = None,
    blank_after: set[int] | None = None,
    extra_sheets: dict[str, list[list[object]]] | None = None,
) -> Path:
    """Dates as real Excel date cells; `blank_after` = data indices followed by an empty row."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    for name, cells in (extra_sheets or {}).items():
        ws = wb.add_worksheet(name)
        for r, line in enumerate(cells):
            ws.write_row(r, 0, line)
    ws = wb.add_worksheet(sheet)
    r = 0
    for line in preamble or []:
        ws.write_row(r, 0, line)
        r += 1
    ws.write_row(r, 0, headers)
    r += 1
    for index, row in enumerate(rows):
        for c, header in enumerate(headers):
            value = row.get(header)
            if isinstance(value, date):
                ws.write_datetime(r, c, value, date_fmt)
            elif value is not None:
                ws.write(r, c, value)
        r += 1
        if blank_after and index in blank_after:
            r += 1
    wb.close()
    return path


def write_study(
    folder: Path, rows: dict | None = None, fmt: str = "csv", config_text: str | None = None, skip: tuple[str, ...] = ()
) -> Path:
    """Write the study (config + one file per source) into `folder`; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = rows if rows is not None else study_rows()
    (folder / "studie.toml").write_text(
        config_text if config_text is not None else CONFIG_PATH.read_text("utf-8"), "utf-8"
    )
    for key, spec in rows.items():
        if key in skip:
            continue
        path = folder / f"{FILE_NAMES[key]}.{fmt}"
        if fmt == "csv":
            write_csv(path, spec["headers"], spec["rows"])
        else:
            write_xlsx(path, spec["headers"], spec["rows"])
    return folder


def config() -> StudyConfig:
    return load_config(CONFIG_PATH)


def raw_tables(rows: dict | None = None, sheet: str | None = "Blad1") -> dict[str, RawTable]:
    """The study as RawTables (header on row 1, data from row 2), without files."""
    from openpyxl.utils import get_column_letter

    rows = rows if rows is not None else study_rows()
    tables = {}
    for key, spec in rows.items():
        src = next(s for s in SOURCES if s.key == key)
        hmap = header_map(src.model)
        columns = {h: hmap[normalize_token(h)] for h in spec["headers"] if normalize_token(h) in hmap}
        letters = {
            hmap[normalize_token(h)]: get_column_letter(i + 1)
            for i, h in enumerate(spec["headers"])
            if normalize_token(h) in hmap
        }
        table = RawTable(
            key,
            Path(f"{FILE_NAMES[key]}.xlsx"),
            sheet,
            headers={f: h for h, f in columns.items()},
            header_letters=letters,
        )
        for i, row in enumerate(spec["rows"]):
            table.rows.append(RawRow(i + 2, {f: row.get(h) for h, f in columns.items()}))
        tables[key] = table
    return tables
