"""REDCap export reader, mapping checks, API pull on loopback and the export writer round trip."""

from __future__ import annotations

import json
import random
import threading
import urllib.parse
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import ValidationError

from etl.redcap import (
    DEFAULT_MAPPING,
    RedcapApiError,
    credentials,
    pull,
    read_redcap_dir,
)
from etl.redcap_export import write_redcap_export
from etl.tables import RawTable, SourceFileError
from ipsdash import cli
from schema import vocab
from schema.config import load_config
from schema.sources import BaselineRow, FollowUpRow, ValidationContext

ROOT = Path(__file__).resolve().parent.parent
CONFIG = load_config(ROOT / "config" / "studie.toml")
CTX = {"study": ValidationContext(CONFIG)}
TOKEN = "0123456789ABCDEF0123456789ABCDEF"

# A small longitudinal project written the way REDCap writes it: API-style dictionary header,
# record id = study code, a survey timestamp as baseline date, age instead of birth year, a
# checkbox for drugs/alcohol, a notes field with a line break, a repeating contact log.
DICTIONARY = """field_name,form_name,section_header,field_type,field_label,select_choices_or_calculations,field_note,text_validation_type_or_show_slider_number,text_validation_min,text_validation_max,identifier,branching_logic,required_field,custom_alignment,question_number,matrix_group_name,matrix_ranking,field_annotation
record_id,screening,,text,Record ID,,,,,,,,,,,,,
anteckning,screening,,notes,Anteckning,,,,,,,,,,,,,
kon,bakgrund,,radio,<b>Kön</b>,"1, Man | 2, Kvinna | 3, Annat",,,,,,,,,,,,
alder,bakgrund,,text,Ålder,,,integer,,,,,,,,,,
fodd_sverige,bakgrund,,yesno,Född i Sverige,,,,,,,,,,,,,
utb,bakgrund,,dropdown,Utbildning,"1, Ej avslutad grundskola | 2, Grundskola | 3, Gymnasium | 4, Högskola | 9, Vill ej svara",,,,,,,,,,,,
substans,bakgrund,,checkbox,Använt senaste 30 dagarna,"1, Narkotika | 2, Alkohol",,,,,,,,,,,,
asi_datum,asi,,text,Datum,,,date_ymd,,,,,,,,,,
asi_ej_gjord,asi,,radio,Status,"1, Genomförd | 2, Kunde inte genomföras",,,,,,,,,,,,
kontakt,kontaktlogg,,text,Kontakt,,,,,,,,,,,,,
"""
EVENT_MAPPING = """arm_num,unique_event_name,form
1,baseline_arm_1,screening
1,baseline_arm_1,bakgrund
1,baseline_arm_1,kontaktlogg
1,6_man_arm_1,asi
1,6_man_arm_1,kontaktlogg
1,12_man_arm_1,asi
1,18_man_arm_1,asi
"""
RECORDS = """record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,redcap_data_access_group,anteckning,screening_complete,bakgrund_timestamp,kon,alder,fodd_sverige,utb,substans___1,substans___2,bakgrund_complete,asi_timestamp,asi_datum,asi_ej_gjord,asi_complete,kontakt,kontaktlogg_complete
A0314M27,baseline_arm_1,,,sodermalm,"rad ett
rad två",2,2023-03-14 10:22:33,1,42,1,4,1,0,2,,,,,,
A0314M27,baseline_arm_1,kontaktlogg,1,sodermalm,,,,,,,,,,,,,,,ringt,2
A0314M27,6_man_arm_1,,,sodermalm,,,,,,,,,,,2023-09-20 09:00:00,2023-09-19,1,2,,
A0314M27,12_man_arm_1,,,sodermalm,,,,,,,,,,,,,2,0,,
B0402K11,baseline_arm_1,,,jarva,,2,2023-04-02 11:00:00,2,33,-99,9,0,1,2,,,,,,
B0402K11,6_man_arm_1,,,jarva,,,,,,,,,,,,2023-10-01,,1,,
B0402K11,12_man_arm_1,,,jarva,,,,,,,,,,,,,,0,,
C0501M33,baseline_arm_1,,,jarva,,2,,1,50,,,0,0,1,,,,,,
C0501M33,6_man_arm_1,,,jarva,,,,,,,,,,,2023-11-01 08:00:00,,,2,,
"""
MAPPING = """[project]
study_code = "record_id"
missing_codes = ["-99"]

[events]
baseline = "baseline_arm_1"

[events.followups]
"6" = "6_man_arm_1"
"12" = "12_man_arm_1"
"18" = "18_man_arm_1"

[baseline]
form = "bakgrund"
date = "timestamp"

[baseline.fields]
gender = { field = "kon" }
birth_year = { field = "alder", kind = "age" }
born_in_sweden = { field = "fodd_sverige" }
education = { field = "utb", codes = { "4" = "university", "9" = "" } }
drugs_30d = { field = "substans", checkbox = "1" }
alcohol_30d = { field = "substans", checkbox = "2" }

[followup]
form = "asi"
date = ["asi_datum", "timestamp"]
missed = { field = "asi_ej_gjord", codes = ["2"] }

[dags.sodermalm]
district = "Södermalm"
unit = "Vuxenenheten Södermalm"

[dags.jarva]
district = "jarva"
unit = "Vuxenenheten Järva"
"""


def make_export(
    folder: Path,
    records: str = RECORDS,
    dictionary: str = DICTIONARY,
    mapping: str | None = MAPPING,
    event_mapping: str = EVENT_MAPPING,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    # REDCap's download names, not ours: files are recognised by their header.
    (folder / "IPSADAS_DATA_2024-09-30_1200.csv").write_text(records, encoding="utf-8-sig")
    (folder / "IPSADAS_DataDictionary_2024-09-30.csv").write_text(dictionary, encoding="utf-8")
    (folder / "IPSADAS_InstrumentDesignations_2024-09-30.csv").write_text(event_mapping, encoding="utf-8")
    if mapping is not None:
        (folder / "mapping.toml").write_text(mapping, encoding="utf-8")
    return folder


def tables(folder: Path, mapping_path: Path | None = None) -> dict[str, RawTable]:
    return {t.source_key: t for t in read_redcap_dir(folder, CONFIG, mapping_path)}


def validated(table: RawTable, model) -> list:
    return [model.model_validate(r.values, context=CTX) for r in table.rows]


# --- reading a raw export -----------------------------------------------------------------------


def test_redcap_raw_export_gives_baseline_rows_in_file_reader_form(tmp_path):
    base = tables(make_export(tmp_path))["baseline"]
    by_code = {r.values["study_code"]: r for r in base.rows}
    assert set(by_code) == {"A0314M27", "B0402K11"}  # C's baseline form is not Complete
    a = by_code["A0314M27"].values
    assert a["baseline_on"] == date(2023, 3, 14)  # from bakgrund_timestamp
    assert a["gender"] == "Man" and a["birth_year"] == 1981  # 2023 - age 42
    assert a["born_in_sweden"] == "Ja" and a["education"] == "Högskola/universitet"
    assert (a["drugs_30d"], a["alcohol_30d"]) == ("Ja", "Nej")
    b = by_code["B0402K11"].values
    assert b["born_in_sweden"] is None  # missing-data code -99
    assert b["education"] is None  # code 9 mapped to blank
    assert (b["drugs_30d"], b["alcohol_30d"]) == ("Nej", "Ja")
    rows = {m.study_code: m for m in validated(base, BaselineRow)}
    assert rows["A0314M27"].education == "university" and rows["B0402K11"].gender == "woman"


def test_redcap_raw_export_gives_followups_done_and_missed(tmp_path):
    fu = tables(make_export(tmp_path))["followups"]
    got = sorted(
        (
            r.values["study_code"],
            r.values["timepoint_months"],
            r.values["result"],
            r.values["done_on"],
            r.values["unit"],
        )
        for r in fu.rows
    )
    assert got == [
        ("A0314M27", 6, "Genomförd", date(2023, 9, 19), "Vuxenenheten Södermalm"),
        ("A0314M27", 12, "Missad", None, "Vuxenenheten Södermalm"),
        # B: 6 months Unverified and 12 months Incomplete without the flag give no row.
        ("C0501M33", 6, "Genomförd", date(2023, 11, 1), "Vuxenenheten Järva"),  # timestamp fallback
    ]
    assert [m.result for m in validated(fu, FollowUpRow)].count("missed") == 1


def test_redcap_row_number_is_line_in_records_csv_and_headers_are_field_names(tmp_path):
    t = tables(make_export(tmp_path))
    lines = {
        (r.values["study_code"], r.values.get("timepoint_months")): r.row_number for tab in t.values() for r in tab.rows
    }
    # A's baseline row spans lines 2–3 (line break in a notes field); the repeat row is line 4.
    assert lines[("A0314M27", None)] == 2
    assert lines[("A0314M27", 6)] == 5 and lines[("A0314M27", 12)] == 6
    assert lines[("B0402K11", None)] == 7 and lines[("C0501M33", 6)] == 11
    assert t["baseline"].headers["birth_year"] == "alder"
    assert t["baseline"].headers["drugs_30d"] == "substans___1"
    assert t["baseline"].headers["baseline_on"] == "bakgrund_timestamp"
    assert t["followups"].headers["result"] == "asi_complete"
    assert t["baseline"].cell_ref("gender", 7) == "rad 7"


def test_redcap_data_code_not_in_dictionary_is_rejected_by_validator(tmp_path):
    records = RECORDS.replace("2023-04-02 11:00:00,2,33", "2023-04-02 11:00:00,7,33")
    base = tables(make_export(tmp_path, records=records))["baseline"]
    row = next(r for r in base.rows if r.values["study_code"] == "B0402K11")
    with pytest.raises(ValidationError) as exc:
        BaselineRow.model_validate(row.values, context=CTX)
    err = exc.value.errors()[0]
    assert err["loc"] == ("gender",) and err["type"] == "not_in_list"
    assert "REDCap-fältet kon" in err["msg"]


def test_redcap_record_without_randomisation_is_passed_through(tmp_path):
    # No randomisation form at all in this project: rows go on to the cross-file validator.
    base = tables(make_export(tmp_path))["baseline"]
    assert len(base.rows) == 2


def test_redcap_personnummer_in_study_code_refuses_the_export(tmp_path):
    # Issue 10 §4: a personnummer anywhere refuses the whole input (it used to be masked and read).
    from etl.scan import PnrRefused

    records = RECORDS.replace("B0402K11", "19811218-9876")
    with pytest.raises(PnrRefused) as exc:
        tables(make_export(tmp_path, records=records))
    assert "IPSADAS_DATA_2024-09-30_1200.csv, rad" in str(exc.value) and "9876" not in str(exc.value)


def test_redcap_mapping_defaults_to_folder_then_config(tmp_path):
    folder = make_export(tmp_path / "export")
    assert len(tables(folder)["baseline"].rows) == 2  # folder/mapping.toml
    (folder / "mapping.toml").unlink()
    with pytest.raises(SourceFileError) as exc:  # config/redcap_mapping.toml names other fields
        tables(folder)
    assert exc.value.file_name == DEFAULT_MAPPING.name
    explicit = tmp_path / "egen.toml"
    explicit.write_text(MAPPING, encoding="utf-8")
    assert len(tables(folder, explicit)["followups"].rows) == 3


# --- mapping and export errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "file_name", "words"),
    [
        (
            lambda m, r: (m.replace('field = "alder"', 'field = "alder_ar"'), r),
            "mapping.toml",
            ["alder_ar", "datalexikon"],
        ),
        (
            lambda m, r: (m.replace('"18_man_arm_1"', '"24_man_arm_1"'), r),
            "mapping.toml",
            ["24_man_arm_1", "händelser"],
        ),
        (lambda m, r: (m.replace('"9" = ""', '"8" = ""'), r), "mapping.toml", ["svarskoden ”8”", "utb"]),
        (lambda m, r: (m.replace('"4" = "university"', '"4" = "doktor"'), r), "mapping.toml", ["doktor", "utbildning"]),
        (
            lambda m, r: (m.replace('district = "jarva"', 'district = "Kungsholmen"'), r),
            "mapping.toml",
            ["Kungsholmen", "stadsdel"],
        ),
        (
            lambda m, r: (m.replace('checkbox = "2"', 'checkbox = "5"'), r),
            "mapping.toml",
            ["svarskoden ”5”", "substans"],
        ),
        (
            lambda m, r: (m, r.replace("C0501M33,6_man_arm_1", "C0501M33,24_man_arm_1")),
            "IPSADAS_DATA_2024-09-30_1200.csv",
            ["24_man_arm_1", "rad 11"],
        ),
        (
            lambda m, r: (m, r.replace("B0402K11,12_man_arm_1,,,jarva", "B0402K11,12_man_arm_1,,,spanga")),
            "IPSADAS_DATA_2024-09-30_1200.csv",
            ["spanga", "dataåtkomstgrupp"],
        ),
        (lambda m, r: (m.replace('form = "asi"', 'form = "asi_ny"'), r), "mapping.toml", ["asi_ny", "instrument"]),
    ],
    ids=[
        "field_missing",
        "event_unknown",
        "code_missing",
        "code_target_not_in_list",
        "district_unknown",
        "checkbox_code_missing",
        "export_event_unknown",
        "export_dag_unknown",
        "form_missing",
    ],
)
def test_redcap_mapping_error_is_swedish_and_names_the_culprit(tmp_path, change, file_name, words):
    mapping, records = change(MAPPING, RECORDS)
    with pytest.raises(SourceFileError) as exc:
        tables(make_export(tmp_path, records=records, mapping=mapping))
    assert exc.value.file_name == file_name
    for word in words:
        assert word in exc.value.message_sv


def test_redcap_form_not_designated_on_event_is_an_error(tmp_path):
    event_mapping = EVENT_MAPPING.replace("1,18_man_arm_1,asi\n", "1,18_man_arm_1,kontaktlogg\n")
    with pytest.raises(SourceFileError, match="asi.*inte kopplat till händelsen.*18_man_arm_1"):
        tables(make_export(tmp_path, event_mapping=event_mapping))


def test_redcap_missing_dictionary_is_an_error(tmp_path):
    folder = make_export(tmp_path)
    (folder / "IPSADAS_DataDictionary_2024-09-30.csv").unlink()
    with pytest.raises(SourceFileError, match="datalexikonet"):
        tables(folder)


def test_redcap_export_without_survey_timestamps_is_an_error(tmp_path):
    records = RECORDS.replace("bakgrund_timestamp", "bakgrund_tid")
    with pytest.raises(SourceFileError, match="bakgrund_timestamp.*Survey fields"):
        tables(make_export(tmp_path, records=records))


# --- the writer and the labels variant -----------------------------------------------------------


def demo_rows(n: int = 40, seed: int = 42):
    rng = random.Random(seed)
    baseline, followups, districts, randomised = [], [], {}, {}
    yes_no = list(vocab.YES_NO.labels.values()) + [None]
    for i in range(n):
        start = date(2023, 2, 1) + timedelta(days=rng.randrange(0, 300))
        gender = rng.choice(["Man", "Man", "Kvinna"])
        code = f"{'ABCD'[i % 4]}{start:%m%d}{gender[0]}{i:02d}"
        district = rng.choice(CONFIG.districts)
        districts[code] = district.name if i % 2 else district.id
        if i % 7 != 3:  # a few referred to baseline but never randomised
            randomised[code] = start + timedelta(days=5)
        row = {
            "study_code": code,
            "baseline_on": start if i % 3 else start.isoformat(),
            "gender": gender,
            "birth_year": rng.randrange(1960, 2000),
        }
        for name, voc in (
            ("education", vocab.EDUCATION),
            ("housing", vocab.HOUSING),
            ("income_source", vocab.INCOME),
            ("civil_status", vocab.CIVIL_STATUS),
        ):
            row[name] = rng.choice([*voc.labels.values(), None])
        for name in (
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
        ):
            row[name] = rng.choice(yes_no)
        baseline.append(row)
        for months in CONFIG.followup.timepoints_months:
            due = start + timedelta(days=30 * months)
            if due + timedelta(days=20) > CONFIG.data_cutoff or rng.random() < 0.2:
                continue
            done = rng.random() < 0.7
            followups.append(
                {
                    "study_code": code,
                    "timepoint_months": months,
                    "result": "Genomförd" if done else "Missad",
                    "done_on": due + timedelta(days=rng.randrange(0, 20)) if done else None,
                    "unit": district.units[0] if rng.random() < 0.8 else "Mottagningen",
                }
            )
    return baseline, followups, districts, randomised


def dumps(models) -> list[dict]:
    return sorted((m.model_dump() for m in models), key=lambda d: (d["study_code"], d.get("timepoint_months", 0)))


def test_redcap_round_trip_rows_export_read_same_values(tmp_path):
    baseline, followups, districts, randomised = demo_rows()
    paths = write_redcap_export(tmp_path, baseline, followups, districts, CONFIG, randomised)
    assert {p.name for p in paths} >= {"records.csv", "dictionary.csv", "event_mapping.csv", "mapping.toml"}
    t = tables(tmp_path)
    assert dumps(validated(t["baseline"], BaselineRow)) == dumps(
        BaselineRow.model_validate(r, context=CTX) for r in baseline
    )
    assert dumps(validated(t["followups"], FollowUpRow)) == dumps(
        FollowUpRow.model_validate(r, context=CTX) for r in followups
    )


def test_redcap_labels_export_is_detected_and_reads_like_raw(tmp_path):
    baseline, followups, districts, randomised = demo_rows(25, seed=7)
    write_redcap_export(tmp_path / "raw", baseline, followups, districts, CONFIG, randomised)
    write_redcap_export(tmp_path / "lab", baseline, followups, districts, CONFIG, randomised, labels=True)
    header = (tmp_path / "lab" / "records.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("Record ID,Event Name") and "Complete?" in header
    # Without [event_labels] the event labels are matched through events.csv.
    mapping = (tmp_path / "lab" / "mapping.toml").read_text(encoding="utf-8")
    start = mapping.index("[event_labels]")
    end = mapping.index("[baseline]")
    (tmp_path / "lab" / "mapping.toml").write_text(mapping[:start] + mapping[end:], encoding="utf-8")
    raw, lab = tables(tmp_path / "raw"), tables(tmp_path / "lab")
    for key in ("baseline", "followups"):
        assert [(r.row_number, r.values) for r in lab[key].rows] == [(r.row_number, r.values) for r in raw[key].rows]
    assert len(lab["followups"].rows) > 0


def test_redcap_labels_export_event_matched_by_unique_name_stem(tmp_path):
    baseline, followups, districts, randomised = demo_rows(10, seed=3)
    write_redcap_export(tmp_path, baseline, followups, districts, CONFIG, randomised, labels=True)
    (tmp_path / "events.csv").unlink()
    # "6 mån (Arm 1: Arm 1)" -> 6_man_arm_1 the way REDCap forms unique names; "Baslinje" is
    # still found through [event_labels] in the written mapping.
    assert len(tables(tmp_path)["followups"].rows) == len({(f["study_code"], f["timepoint_months"]) for f in followups})


def test_redcap_default_mapping_fits_the_written_project(tmp_path):
    baseline, followups, districts, randomised = demo_rows(12, seed=5)
    write_redcap_export(tmp_path, baseline, followups, districts, CONFIG, randomised)
    (tmp_path / "mapping.toml").unlink()
    t = tables(tmp_path)  # config/redcap_mapping.toml
    assert len(t["baseline"].rows) == 12


def test_redcap_writer_invalid_label_surfaces_as_rejected_row(tmp_path):
    baseline, followups, districts, randomised = demo_rows(3, seed=1)
    baseline[0]["housing"] = "Husbil"
    write_redcap_export(tmp_path, baseline, followups, districts, CONFIG, randomised)
    row = next(r for r in tables(tmp_path)["baseline"].rows if r.values["study_code"] == baseline[0]["study_code"])
    with pytest.raises(ValidationError, match="boende"):
        BaselineRow.model_validate(row.values, context=CTX)


# --- the API --------------------------------------------------------------------------------------


class FakeRedcap:
    """A loopback server that answers like REDCap's API from a recorded export."""

    def __init__(self, export: Path):
        self.export = export
        self.requests: list[dict[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                fake.requests.append(form)
                if form.get("token") != TOKEN:
                    return self._send(
                        403, "application/json", json.dumps({"error": "You do not have permissions to use the API"})
                    )
                files = {"record": "records.csv", "metadata": "dictionary.csv", "formEventMapping": "event_mapping.csv"}
                name = files.get(form.get("content", ""))
                if name is None:
                    return self._send(
                        400,
                        "application/json",
                        json.dumps({"error": 'The value of the parameter "content" is not valid'}),
                    )
                return self._send(200, "text/csv; charset=utf-8", (fake.export / name).read_text(encoding="utf-8"))

            def _send(self, status, ctype, body):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorded(tmp_path):
    baseline, followups, districts, randomised = demo_rows(15, seed=11)
    write_redcap_export(tmp_path / "recorded", baseline, followups, districts, CONFIG, randomised)
    return tmp_path / "recorded"


def test_redcap_pull_fetches_export_over_loopback(tmp_path, recorded):
    with FakeRedcap(recorded) as api:
        written = pull(tmp_path / "pulled", api.url, TOKEN)
    assert sorted(p.name for p in written) == ["dictionary.csv", "event_mapping.csv", "records.csv"]
    record_req = next(r for r in api.requests if r["content"] == "record")
    assert {
        k: record_req[k] for k in ("format", "type", "rawOrLabel", "exportDataAccessGroups", "exportSurveyFields")
    } == {
        "format": "csv",
        "type": "flat",
        "rawOrLabel": "raw",
        "exportDataAccessGroups": "true",
        "exportSurveyFields": "true",
    }
    assert {r["content"] for r in api.requests} == {"record", "metadata", "formEventMapping"}
    pulled = tables(tmp_path / "pulled", recorded / "mapping.toml")
    assert [r.values for r in pulled["baseline"].rows] == [r.values for r in tables(recorded)["baseline"].rows]


def test_redcap_pull_wrong_token_error_never_shows_token(tmp_path, recorded):
    wrong = "FEDCBA9876543210FEDCBA9876543210"
    with FakeRedcap(recorded) as api, pytest.raises(RedcapApiError) as exc:
        pull(tmp_path / "pulled", api.url, wrong)
    assert "403" in str(exc.value) and "permissions" in str(exc.value)
    assert wrong not in str(exc.value)
    assert not (tmp_path / "pulled" / "records.csv").exists()


def test_redcap_pull_refuses_plain_http_to_remote_host(tmp_path):
    with pytest.raises(RedcapApiError, match="https"):
        pull(tmp_path, "http://redcap.example.org/api/", TOKEN)


def test_redcap_pull_unreachable_server_error_masks_token(tmp_path):
    with pytest.raises(RedcapApiError) as exc:
        pull(tmp_path, f"http://127.0.0.1:9/api/?t={TOKEN}", TOKEN, timeout=2)
    assert TOKEN not in str(exc.value) and "kunde inte nå REDCap" in str(exc.value)


def test_redcap_credentials_from_env_then_secrets(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[redcap]\nurl = "https://redcap.example.org/api/"\ntoken = "{TOKEN}"\n', encoding="utf-8")
    assert credentials({}, [secrets]) == ("https://redcap.example.org/api/", TOKEN)
    env = {"IPSDASH_REDCAP_URL": "https://other.example.org/api/", "IPSDASH_REDCAP_TOKEN": "F" * 32}
    assert credentials(env, [secrets]) == ("https://other.example.org/api/", "F" * 32)
    with pytest.raises(RedcapApiError, match="IPSDASH_REDCAP_URL"):
        credentials({}, [tmp_path / "missing.toml"])


def test_redcap_cli_pull_takes_credentials_from_env_and_never_prints_token(tmp_path, recorded, monkeypatch, capsys):
    with FakeRedcap(recorded) as api:
        monkeypatch.setenv("IPSDASH_REDCAP_URL", api.url)
        monkeypatch.setenv("IPSDASH_REDCAP_TOKEN", TOKEN)
        assert cli.main(["pull-redcap", "--out", str(tmp_path / "ut")]) == 0
        monkeypatch.setenv("IPSDASH_REDCAP_TOKEN", "A" * 32)
        assert cli.main(["pull-redcap", "--out", str(tmp_path / "ut2")]) == 2
    out = capsys.readouterr()
    assert (tmp_path / "ut" / "records.csv").exists()
    assert TOKEN not in out.out + out.err and "A" * 32 not in out.out + out.err
    with pytest.raises(SystemExit):
        cli.main(["pull-redcap", "--out", str(tmp_path), "--token", TOKEN])
