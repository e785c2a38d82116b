"""The CSV/Excel reader: staff quirks, encodings, header detection, row numbers and cell refs."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from etl import read
from etl.scan import PnrRefused
from etl.tables import SourceFileError
from etl.validate import validate_table, validate_tables
from schema.sources import ValidationContext, source
from tests import fixtures as fx

D = date.fromisoformat
REF = source("referrals")


def _referral_file(tmp_path, fmt="xlsx", headers=None, **kw):
    spec = fx.study_rows()["referrals"]
    rows = spec["rows"]
    if headers is not None:
        rows = [{headers.get(h, h): v for h, v in r.items()} for r in rows]
        hdrs = [headers.get(h, h) for h in spec["headers"]]
    else:
        hdrs = spec["headers"]
    path = tmp_path / f"remisslogg.{fmt}"
    if fmt == "xlsx":
        fx.write_xlsx(path, hdrs, rows, **kw)
    else:
        fx.write_csv(path, hdrs, rows, **kw)
    return path


@pytest.mark.parametrize(
    "variant", ["Remissdatum", "Datum för remiss", "remiss datum ", "REMISSDATUM", " Remiss_datum"]
)
def test_read_header_variant_maps_to_field(tmp_path, variant):
    table = read.read_source(_referral_file(tmp_path, headers={"Remissdatum": variant}), REF)
    assert table.headers["referred_on"] == variant.strip()
    assert table.rows[0].values["referred_on"] == datetime(2023, 3, 1)
    assert table.header_letters["referred_on"] == "C"


def test_read_title_rows_blank_rows_and_notes_column(tmp_path):
    spec = fx.study_rows()["referrals"]
    rows = [dict(r, Anteckningar="ring tisdag") for r in spec["rows"]]
    path = tmp_path / "Remisslogg.xlsx"
    fx.write_xlsx(
        path,
        [*spec["headers"], "Anteckningar"],
        rows,
        preamble=[["Remisslogg IPS-studien, Södermalm"], ["uppdaterad av AB"]],
        blank_after={0, 2},
    )
    table = read.read_source(path, REF)
    # header on Excel row 3, data from row 4; blank rows after data 0 and 2 are skipped but counted
    assert [r.row_number for r in table.rows] == [4, 6, 7, 9, 10]
    assert "Anteckningar" not in table.headers.values()
    assert table.cell_ref("referred_on", 6) == "Blad1!C6"


def test_read_sheet_found_by_name_or_header_after_instruction_sheet(tmp_path):
    spec = fx.study_rows()["referrals"]
    path = tmp_path / "remisslogg.xlsx"
    fx.write_xlsx(
        path,
        spec["headers"],
        spec["rows"],
        sheet="Data",
        extra_sheets={"Instruktioner": [["Fyll i en rad per remiss"], ["Inga personnummer!"]]},
    )
    table = read.read_source(path, REF)
    assert table.sheet == "Data"
    assert len(table.rows) == 5


@pytest.mark.parametrize(
    ("sep", "encoding"), [(";", "utf-8-sig"), (";", "utf-8"), (",", "utf-8"), ("\t", "utf-8"), (";", "cp1252")]
)
def test_read_csv_separator_and_encoding(tmp_path, sep, encoding):
    path = _referral_file(tmp_path, fmt="csv", sep=sep, encoding=encoding, preamble=[["Remisslogg Södermalm"]])
    table = read.read_source(path, REF)
    assert table.sheet is None
    assert [r.row_number for r in table.rows][:2] == [3, 4]
    assert table.rows[0].values["district_id"] == "Södermalm"
    assert table.rows[3].values["district_id"] == "Enheten för hemlösa"
    assert table.cell_ref("referred_on", 3) == "rad 3"


def test_read_excel_dates_stay_dates_and_iso_text_is_accepted(tmp_path):
    rows = fx.study_rows()
    fx.set_cell(rows, "referrals", 1, "Remissdatum", "2023-03-02")  # typed as text
    path = tmp_path / "remisslogg.xlsx"
    fx.write_xlsx(path, rows["referrals"]["headers"], rows["referrals"]["rows"])
    table = read.read_source(path, REF)
    assert isinstance(table.rows[0].values["referred_on"], datetime)
    assert table.rows[1].values["referred_on"] == "2023-03-02"
    result = validate_tables({"referrals": table}, fx.config())["referrals"]
    assert [a.row.referred_on for a in result.accepted][:2] == [D("2023-03-01"), D("2023-03-02")]


def test_read_ambiguous_text_date_rejected_with_cell_ref(tmp_path):
    rows = fx.study_rows()
    fx.set_cell(rows, "referrals", 2, "Remissdatum", "03/04/2023")
    path = tmp_path / "remisslogg.xlsx"
    fx.write_xlsx(path, rows["referrals"]["headers"], rows["referrals"]["rows"], preamble=[["Remisslogg"]])
    table = read.read_source(path, REF)
    result = validate_tables({"referrals": table}, fx.config())["referrals"]
    [rej] = [r for r in result.rejected if r.rule == "date_ambiguous"]
    assert rej.cell_ref == "Blad1!C5"  # title row 1, header row 2, data row index 2 -> row 5
    assert rej.column == "Remissdatum"
    assert rej.value == "03/04/2023"
    assert "kan läsas på två sätt" in rej.reason and "ÅÅÅÅ-MM-DD" in rej.reason


def test_read_yes_no_variants(tmp_path):
    rows = fx.study_rows()
    for i, typed in enumerate(["Ja", "N", "x", "J"]):
        fx.set_cell(rows, "baseline", i, "Född i Sverige", typed)
    path = tmp_path / "baslinje.csv"
    fx.write_csv(path, rows["baseline"]["headers"], rows["baseline"]["rows"])
    table = read.read_source(path, source("baseline"))
    result = validate_table(table, ValidationContext(fx.config()))  # row rules only
    assert [a.row.born_in_sweden for a in result.accepted] == ["yes", "no", "yes", "yes"]


def test_read_missing_required_column_names_file_column_and_found_headers(tmp_path):
    spec = fx.study_rows()["referrals"]
    headers = [h for h in spec["headers"] if h != "Remissdatum"]
    path = tmp_path / "remisslogg.xlsx"
    fx.write_xlsx(path, headers, spec["rows"])
    with pytest.raises(SourceFileError) as info:
        read.read_source(path, REF)
    text = str(info.value)
    assert text.startswith("remisslogg.xlsx:")
    assert "obligatorisk kolumn saknas: ”Remissdatum”" in text
    assert "”Studiekod”" in text and "”Stadsdel”" in text  # headers that were found


def test_read_no_header_row_is_file_error(tmp_path):
    path = tmp_path / "remisslogg.csv"
    path.write_text("bara\ntext\n", encoding="utf-8")
    with pytest.raises(SourceFileError, match="hittar ingen rubrikrad"):
        read.read_source(path, REF)


def test_read_broken_xlsx_is_file_error(tmp_path):
    path = tmp_path / "remisslogg.xlsx"
    path.write_bytes(b"not a zip")
    with pytest.raises(SourceFileError, match="kan inte läsas som Excel-fil"):
        read.read_source(path, REF)


def test_read_match_sources_by_stem_case_insensitive_and_duplicates(tmp_path):
    for name in ["REMISSLOGG.xlsx", "Screening.csv", "Lottning.CSV", "anteckningar.xlsx", "~$remisslogg.xlsx"]:
        (tmp_path / name).write_bytes(b"x")
    found, errors, unmatched = read.match_sources(read.data_files(tmp_path))
    assert found == {"randomisations": tmp_path / "Lottning.CSV"}
    assert len(errors) == 1 and "flera filer för samma källa" in errors[0].message_sv
    assert [p.name for p in unmatched] == ["anteckningar.xlsx"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a;b;c\n1;2,5;3\n", ";"),
        ("a,b,c\n1,2,3\n", ","),
        ("a\tb\tc\n1\t2\t3\n", "\t"),
        ("Titel, med komma\na;b;c\n1;2;3\n4;5;6\n", ";"),
    ],
)
def test_read_sniff_separator(text, expected):
    assert read.sniff_separator(text) == expected


def test_read_pnr_scan_masks_and_locates(tmp_path):
    spec = fx.study_rows()["referrals"]
    rows = [dict(r) for r in spec["rows"]]
    rows[1]["Anteckning"] = "pnr 811218-9876 enl. soc"
    path = tmp_path / "remisslogg.xlsx"
    fx.write_xlsx(path, [*spec["headers"], "Anteckning"], rows)
    with pytest.raises(PnrRefused) as exc:  # read_grid scans the file before it reads it
        read.read_grid(path)
    [hit] = exc.value.hits
    assert hit.place == "remisslogg.xlsx, blad ”Blad1”, cell M3 (rad 3, kolumn ”M (Anteckning)”)"
    assert "XXXXXX-XXXX" in hit.masked and "8112" not in hit.message_sv()
