"""Excel templates: one per source, drop-downs equal to what the loader accepts, filled rows validate."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils import get_column_letter, range_boundaries

from etl.template import (
    INSTRUCTIONS_SHEET,
    LISTS_SHEET,
    column_kinds,
    data_sheet_name,
    write_templates,
)
from ipsdash import cli
from schema import pnr, vocab
from schema.config import load_config
from schema.sources import SOURCES, ValidationContext, header_map, header_of, source
from schema.vocab import normalize_token

ROOT = Path(__file__).resolve().parent.parent
CONFIG = load_config(ROOT / "config" / "studie.toml")
CTX = {"study": ValidationContext(CONFIG)}
DISTRICT_NAMES = [d.name for d in CONFIG.districts]


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("mallar")
    paths = write_templates(out, CONFIG)
    return {p.stem: p for p in paths}


def list_validations(path: Path) -> dict[str, list[str]]:
    """Header -> the values of its drop-down, resolved from the hidden list sheet."""
    wb = openpyxl.load_workbook(path)
    ws, lists = wb.worksheets[1], wb[LISTS_SHEET]
    headers = {get_column_letter(c.column): c.value for c in ws[1]}
    out: dict[str, list[str]] = {}
    for dv in ws.data_validations.dataValidation:
        if dv.type != "list":
            continue
        sheet, _, ref = dv.formula1.lstrip("=").partition("!")
        assert sheet.strip("'") == LISTS_SHEET
        min_col, min_row, _, max_row = range_boundaries(ref.replace("$", ""))
        values = [lists.cell(row=r, column=min_col).value for r in range(min_row, max_row + 1)]
        for cell_range in str(dv.sqref).split():
            letter = "".join(ch for ch in cell_range.split(":")[0] if ch.isalpha())
            out[headers[letter]] = values
    return out


# Independent of the template code: which header takes which list, read off the contract.
EXPECTED_LISTS = [
    ("referrals", "Stadsdel", DISTRICT_NAMES),
    ("referrals", "Remitterande instans", list(vocab.REFERRAL_SOURCE.labels.values())),
    ("referrals", "Motivationsskattning", list(vocab.MOTIVATION.labels.values())),
    ("referrals", "Exkluderad vid", list(vocab.EXCLUSION_STAGES.labels.values())),
    ("referrals", "Exklusionsorsak", list(vocab.EXCLUSION_REASON.labels.values())),
    ("randomisations", "Orsak exklusion efter randomisering", list(vocab.EXCLUSION_REASON.labels.values())),
    ("randomisations", "Grupp", list(vocab.ARM.labels.values())),
    ("baseline", "Kön", list(vocab.GENDER.labels.values())),
    ("baseline", "Utbildning", list(vocab.EDUCATION.labels.values())),
    ("baseline", "Boende", list(vocab.HOUSING.labels.values())),
    ("baseline", "Inkomstkälla", list(vocab.INCOME.labels.values())),
    ("baseline", "Civilstånd", list(vocab.CIVIL_STATUS.labels.values())),
    *(
        ("baseline", h, ["Ja", "Nej"])
        for h in (
            "Född i Sverige",
            "Lönearbete tidigare",
            "Längsta arbete 5 år eller mer",
            "Använt narkotika",
            "Narkotika 30 dagar",
            "Alkohol 30 dagar",
            "Behandling missbruk",
            "Rättsliga problem 30 dagar",
            "Psykiatrisk diagnos",
            "Behandling psykisk ohälsa",
        )
    ),
    ("followups", "Status", list(vocab.FOLLOWUP_RESULT.labels.values())),
    ("events", "Händelse", list(vocab.EVENT_TYPE.labels.values())),
    ("events", "Orsak", list(vocab.EVENT_REASON.labels.values())),
    ("specialists", "Stadsdelar", DISTRICT_NAMES),
    ("fidelity", "Område", list(vocab.FIDELITY_SECTIONS.values())),
    ("activity", "Aktivitet", list(vocab.ACTIVITY_TYPE.labels.values())),
    ("activity", "Omfattning", list(vocab.EXTENT.labels.values())),
    ("employment", "Arbetat minst en dag", ["Ja", "Nej"]),
]


def test_template_every_source_gets_a_workbook(templates):
    assert sorted(templates) == sorted(s.stems[0] for s in SOURCES)
    for src in SOURCES:
        wb = openpyxl.load_workbook(templates[src.stems[0]])
        assert wb.sheetnames == [INSTRUCTIONS_SHEET, data_sheet_name(src), LISTS_SHEET]
        assert wb[LISTS_SHEET].sheet_state == "hidden"
        assert wb.active.title == INSTRUCTIONS_SHEET


def test_template_header_row_exact_bold_and_frozen(templates):
    for src in SOURCES:
        ws = openpyxl.load_workbook(templates[src.stems[0]])[data_sheet_name(src)]
        headers = [c.value for c in ws[1]]
        assert headers == [header_of(src.model, f) for f in src.model.model_fields]
        assert all(c.font.bold for c in ws[1])
        assert ws.freeze_panes == "A2"
        assert all(ws.column_dimensions[get_column_letter(i)].width >= len(h) for i, h in enumerate(headers, 1))


@pytest.mark.parametrize(("key", "header", "expected"), EXPECTED_LISTS, ids=[f"{k}-{h}" for k, h, _ in EXPECTED_LISTS])
def test_template_dropdown_equals_vocabulary_labels(templates, key, header, expected):
    assert list_validations(templates[source(key).stems[0]])[header] == expected


def test_template_every_vocabulary_column_has_exactly_its_dropdown(templates):
    listed = {(k, h) for k, h, _ in EXPECTED_LISTS}
    for src in SOURCES:
        lists = list_validations(templates[src.stems[0]])
        kinds = column_kinds(src.model, CONFIG)
        with_list = {
            header_of(src.model, f) for f, k in kinds.items() if k.kind in ("vocab", "district", "fidelity_section")
        }
        assert set(lists) == with_list
        assert {(src.key, h) for h in with_list} <= listed  # nothing offered that this test does not check
        for header, values in lists.items():
            field = header_map(src.model)[normalize_token(header)]
            for value in values:  # every offered value is accepted by the loader's model
                errors = _field_errors(src.model, field, value)
                assert errors == [], (src.key, header, value, errors)


def _field_errors(model, field, value):
    from pydantic import ValidationError

    try:
        model.model_validate({field: value}, context=CTX)
    except ValidationError as exc:
        return [e for e in exc.errors() if tuple(e["loc"]) == (field,)]
    return []


def test_template_dates_formatted_and_validated_and_scores_whole_numbers(templates):
    ws = openpyxl.load_workbook(templates["programtrohet"])["Programtrohet"]
    kinds = {str(dv.sqref)[0]: dv for dv in ws.data_validations.dataValidation}
    assert kinds["A"].type == "date"  # Skattningsdatum
    assert (kinds["C"].type, kinds["C"].formula1, kinds["C"].formula2) == ("whole", "1", "14")  # Punkt
    assert (kinds["D"].type, kinds["D"].formula1, kinds["D"].formula2) == ("whole", "1", "5")  # Poäng
    assert ws.column_dimensions["A"].number_format == "yyyy-mm-dd"
    fu = openpyxl.load_workbook(templates["uppfoljning"])["Uppföljning"]
    tp = next(dv for dv in fu.data_validations.dataValidation if str(dv.sqref).startswith("B"))
    assert (tp.type, tp.formula1, tp.formula2) == ("whole", "1", "120")


def test_template_instructions_explain_every_column_without_personnummer(templates):
    for src in SOURCES:
        ws = openpyxl.load_workbook(templates[src.stems[0]])[INSTRUCTIONS_SHEET]
        cells = [c.value for row in ws.iter_rows() for c in row if c.value is not None]
        text = "\n".join(str(c) for c in cells)
        assert src.model.title_sv in text and src.model.grain_sv in text
        assert f"{src.stems[0]}.xlsx" in text and "personnummer" in text
        for field, info in src.model.model_fields.items():
            assert header_of(src.model, field) in cells
            assert info.json_schema_extra["doc"] in cells
        assert not any(pnr.looks_like_pnr(c) for c in cells)


# A few valid rows per source, typed as a person would pick them in the template.
FILLED: dict[str, list[dict[str, object]]] = {
    "referrals": [
        {
            "study_code": "A0314M27",
            "district_id": "Södermalm",
            "referred_on": date(2023, 3, 1),
            "referral_source": "Prima Maria",
            "info_meeting_on": date(2023, 3, 5),
            "motivation": "Tillräcklig",
            "consent_on": date(2023, 3, 10),
            "enrolment_on": date(2023, 3, 14),
            "baseline_on": date(2023, 3, 14),
        },
        {
            "study_code": "B0401K11",
            "district_id": "Järva",
            "referred_on": date(2023, 4, 1),
            "referral_source": "Ekonomiskt bistånd + vuxenenhet",
            "info_meeting_on": date(2023, 4, 5),
            "motivation": "Otillräcklig",
            "excluded_stage": "Informationsmöte",
            "exclusion_reason": "Otillräcklig motivation",
        },
    ],
    "randomisations": [
        {"study_code": "A0314M27", "randomised_on": date(2023, 3, 20), "arm": "IPS+TAU", "stratum": "Södermalm"}
    ],
    "baseline": [
        {
            "study_code": "A0314M27",
            "baseline_on": date(2023, 3, 14),
            "gender": "Man",
            "birth_year": 1981,
            "born_in_sweden": "Ja",
            "education": "Gymnasium",
            "housing": "Egen bostad",
            "income_source": "Ekonomiskt bistånd",
            "civil_status": "Ensamstående",
            "worked_before": "Ja",
            "longest_job_5y": "Nej",
            "drugs_30d": "Nej",
            "alcohol_30d": "Ja",
        }
    ],
    "followups": [
        {
            "study_code": "A0314M27",
            "timepoint_months": 6,
            "result": "Genomförd",
            "done_on": date(2023, 9, 20),
            "unit": "Vuxenenheten Södermalm",
        },
        {"study_code": "A0314M27", "timepoint_months": 12, "result": "Missad"},
    ],
    "events": [
        {
            "study_code": "A0314M27",
            "event_on": date(2024, 1, 10),
            "event_type": "Lämnat studien",
            "reason": "HVB-placering",
        }
    ],
    "specialists": [
        {
            "specialist_id": "A",
            "name": "Anna",
            "district_ids": "Södermalm",
            "employment_pct": 50,
            "start_on": date(2023, 2, 1),
        },
        {
            "specialist_id": "B",
            "district_ids": "Järva; Enheten för hemlösa",
            "employment_pct": 100,
            "start_on": date(2023, 2, 1),
            "end_on": date(2025, 1, 31),
        },
    ],
    "assignments": [{"study_code": "A0314M27", "specialist_id": "A", "start_on": date(2023, 3, 20)}],
    "fidelity": [
        {"reviewed_on": date(2023, 10, 1), "section": "Personal", "item_number": 1, "score": 4},
        {"reviewed_on": date(2023, 10, 1), "section": "Tjänster", "item_number": 14, "score": 5},
    ],
    "activity": [
        {"study_code": "A0314M27", "activity_on": date(2023, 5, 2), "activity_type": "Arbetsgivarkontakt"},
        {
            "study_code": "A0314M27",
            "activity_on": date(2023, 6, 1),
            "activity_type": "Anställning",
            "end_on": date(2023, 12, 31),
            "extent": "Deltid",
            "hours_per_week": 20,
        },
    ],
    "employment": [
        {
            "study_code": "A0314M27",
            "timepoint_months": 6,
            "worked_any": "Ja",
            "days_worked": 30,
            "hours_worked": 400,
            "income_sek": 52000,
            "benefits_sek": 18000,
            "asi_employment": 0.4,
        }
    ],
}


def test_template_filled_in_validates_without_errors(templates, tmp_path):
    assert set(FILLED) == {s.key for s in SOURCES}
    for src in SOURCES:
        wb = openpyxl.load_workbook(templates[src.stems[0]])
        ws = wb[data_sheet_name(src)]
        column = {c.value: c.column for c in ws[1]}
        for r, row in enumerate(FILLED[src.key], start=2):
            for field, value in row.items():
                ws.cell(row=r, column=column[header_of(src.model, field)], value=value)
        filled = tmp_path / f"{src.stems[0]}.xlsx"
        wb.save(filled)

        # Read back as a loader would: skip the instructions, header on row 1.
        back = openpyxl.load_workbook(filled, data_only=True)
        sheet = next(back[n] for n in back.sheetnames if n not in (INSTRUCTIONS_SHEET, LISTS_SHEET))
        rows = list(sheet.iter_rows(values_only=True))
        fields = [header_map(src.model)[normalize_token(h)] for h in rows[0]]
        models = []
        for values in rows[1:]:
            if all(v is None for v in values):
                continue
            data = {f: (v.date() if isinstance(v, datetime) else v) for f, v in zip(fields, values, strict=True)}
            models.append(src.model.model_validate(data, context=CTX))
        assert len(models) == len(FILLED[src.key])


def test_template_cli_writes_all_templates(tmp_path):
    assert cli.main(["template", str(tmp_path / "mallar")]) == 0
    assert sorted(p.name for p in (tmp_path / "mallar").iterdir()) == sorted(f"{s.stems[0]}.xlsx" for s in SOURCES)


def test_every_vocabulary_is_listed_once_for_templates_and_contract():
    """The templates and docs/contract.md look lists up in `vocab.VOCABULARIES`: a list defined in
    the module but missing there would get no drop-down and no contract entry."""
    defined = [v for v in vars(vocab).values() if isinstance(v, vocab.Vocabulary)]
    assert sorted(v.name_sv for v in vocab.VOCABULARIES) == sorted(v.name_sv for v in defined)
    assert len({v.name_sv for v in vocab.VOCABULARIES}) == len(vocab.VOCABULARIES)
    for v in defined:
        assert vocab.vocabulary_named(v.name_sv) is v
        assert vocab.vocabulary_with_keys(tuple(v.keys)) is v
