"""The input scan (`etl.scan`): a personnummer anywhere in a file, its name or an argument refuses
it, and the message names exactly what to fix with the number masked.

Workbooks are built with openpyxl and then edited as the zip they are, so every kind of place is
tested: cells (shared, inline, rich text, numeric, formula, hidden sheet), sheet names, defined
names, comments, threaded comments, document properties (core, app, custom), headers and footers.
"""

from __future__ import annotations

import random
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

from etl import scan
from etl.scan import PnrRefused
from etl.tables import SourceFileError
from schema.pnr import spans as pnr_spans
from tests.test_pnr import SEED, ZERO, has, hidden, make_pnr

RNG = random.Random(SEED + 7)
TEN = make_pnr(RNG)  # a valid number, generated (never typed)
DASHED = f"{TEN[:6]}-{TEN[6:]}"


def _digits_absent(text: str) -> None:
    has(text, TEN, False)
    has(text, TEN[:6], False)
    has(re.sub(r"rad \d+|cell \w+", "", text), TEN[6:], False)
    has(text, ZERO[0][1:], False)


def _book(path: Path, **changes) -> Path:
    """A workbook as Excel writes it (xlsxwriter: shared strings), with `changes` placed in it."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet(changes.get("sheet_name", "Data"))
    hidden = wb.add_worksheet("Dold")
    hidden.hide()
    ws.write_row(0, 0, ["Studiekod", "Stadsdel", "Anteckning", "Antal"])
    for i in range(6):
        ws.write_row(i + 1, 0, [f"A03{i}4M27", "Södermalm", "ring först", 45366 + i])
    hidden.write_row(0, 0, ["x", "y"])
    if "cell" in changes:
        ws.write("C5", changes["cell"])
    if "number" in changes:
        ws.write_number("D6", changes["number"])
    if "formula" in changes:
        ws.write_formula("B7", changes["formula"], None, "")
    if "hidden" in changes:
        hidden.write("B2", changes["hidden"])
    if "comment" in changes:
        ws.write_comment("C3", changes["comment"], {"author": "Anna"})
    if "header" in changes:
        ws.set_header("&C" + changes["header"])
    if "footer" in changes:
        ws.set_footer("&L" + changes["footer"])
    if "title" in changes:
        wb.set_properties({"title": changes["title"]})
    if "creator" in changes:
        wb.set_properties({"author": changes["creator"]})
    if "company" in changes:
        wb.set_properties({"company": changes["company"]})
    if "defined" in changes:
        wb.define_name("kontakt", changes["defined"])
    if "custom" in changes:
        wb.set_custom_property("Kontakt", changes["custom"])
    wb.close()
    return path


def _openpyxl_book(path: Path, value: object) -> Path:
    """openpyxl writes strings inline (`<is>`), not shared."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Data"
    ws.append(["Studiekod", "Anteckning"])
    ws.append(["A0314M27", "ok"])
    ws["B3"] = value
    wb.save(path)
    return path


def _edit_zip(path: Path, edit) -> Path:
    with zipfile.ZipFile(path) as zf:
        parts = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    edit(parts)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return path


def _refused(path: Path, shown: str | None = None) -> str:
    with pytest.raises(PnrRefused) as exc:
        scan.scan_file(path, shown)
    text = str(exc.value)
    _digits_absent(text)
    assert exc.value.hits
    has(text, "personnummer")
    return text


def test_scan_clean_workbook_passes(tmp_path):
    scan.scan_file(_book(tmp_path / "remisslogg.xlsx"))


@pytest.mark.parametrize(
    ("changes", "place"),
    [
        ({"cell": f"pnr {DASHED} enl. soc"}, "remisslogg.xlsx, blad ”Data”, cell C5"),
        ({"cell": f"pnr{TEN}"}, "blad ”Data”, cell C5"),
        ({"cell": f"{TEN[:6]}\u2013{TEN[6:]}"}, "blad ”Data”, cell C5"),
        ({"cell": f"{TEN[:6]} {TEN[6:]}"}, "blad ”Data”, cell C5"),
        ({"number": int(TEN)}, "blad ”Data”, cell D6"),
        ({"number": int(ZERO[0])}, "blad ”Data”, cell D6"),  # lost its leading zero
        ({"number": int("19" + TEN)}, "blad ”Data”, cell D6"),
        ({"formula": f'=CONCATENATE("Pnr ","{DASHED}")'}, "formel i cell B7"),
        ({"hidden": DASHED}, "blad ”Dold”, cell B2"),
        ({"sheet_name": f"Data {DASHED}"}, "remisslogg.xlsx, bladnamn"),
        ({"comment": f"Kolla {DASHED}"}, "remisslogg.xlsx, kommentar till Data!C3"),
        ({"header": f"Utskrift {DASHED}"}, "remisslogg.xlsx, sidhuvud/sidfot på Data"),
        ({"footer": f"{DASHED}"}, "remisslogg.xlsx, sidhuvud/sidfot på Data"),
        ({"title": f"Lista {DASHED}"}, "remisslogg.xlsx, dokumentegenskap ”title”"),
        ({"creator": f"{TEN}"}, "remisslogg.xlsx, dokumentegenskap ”creator”"),
        ({"company": f"AB {DASHED}"}, "remisslogg.xlsx, dokumentegenskap ”Company”"),
        ({"defined": f'"{DASHED}"'}, "remisslogg.xlsx, definierat namn"),
        ({"custom": f"{DASHED}"}, "remisslogg.xlsx, anpassad dokumentegenskap ”Kontakt”"),
        # issue 10: separators inside the date, numbers assembled in a formula from short literals
        ({"cell": f"19{TEN[:2]}-{TEN[2:4]}-{TEN[4:6]}-{TEN[6:]}"}, "blad ”Data”, cell C5"),
        ({"cell": f"{TEN[:2]} {TEN[2:4]} {TEN[4:6]}-{TEN[6:]}"}, "blad ”Data”, cell C5"),
        ({"formula": f'="{TEN[:6]}"&"-{TEN[6:]}"'}, "formel i cell B7"),
        ({"formula": f'="{TEN[:2]}"&"{TEN[2:4]}"&"{TEN[4:6]}"&"-"&"{TEN[6:]}"'}, "formel i cell B7"),
        ({"formula": f'=CONCATENATE("{TEN[:3]}","{TEN[3:6]}","-",{TEN[6:]})'}, "formel i cell B7"),
        ({"defined": f'="{TEN[:3]}"&"{TEN[3:6]}-{TEN[6:]}"'}, "remisslogg.xlsx, definierat namn"),
    ],
)
def test_scan_xlsx_refuses_every_place_and_names_it(tmp_path, changes, place):
    text = _refused(_book(tmp_path / "remisslogg.xlsx", **changes))
    has(text, place)
    has(text, "XXXX")


def test_scan_xlsx_shared_string_maps_to_every_cell_using_it(tmp_path):
    path = _book(tmp_path / "remisslogg.xlsx", cell=DASHED, hidden=DASHED)
    text = _refused(path)
    has(text, "blad ”Data”, cell C5")
    has(text, "blad ”Dold”, cell B2")


FULLWIDTH = "".join(chr(0xFF10 + int(c)) for c in TEN)  # digits other than ASCII (`\\d` matches them)


@pytest.mark.parametrize(
    "value", [DASHED, f"x{TEN}", int(TEN), int(ZERO[0]), f"={TEN}+1", f"Söder {FULLWIDTH}"], ids=hidden
)
def test_scan_xlsx_inline_strings_and_openpyxl_books(tmp_path, value):
    has(_refused(_openpyxl_book(tmp_path / "a.xlsx", value)), "blad ”Data”, ")


def test_scan_xlsx_rich_text_runs_and_inline_strings_and_char_refs(tmp_path):
    path = _book(tmp_path / "remisslogg.xlsx", cell="PLATS")

    def rich(parts):
        ss = parts["xl/sharedStrings.xml"].decode()
        ss = ss.replace("<t>PLATS</t>", f"<r><t>{TEN[:4]}</t></r><r><rPr><b/></rPr><t>{TEN[4:]}</t></r>")
        parts["xl/sharedStrings.xml"] = ss.encode()

    _edit_zip(path, rich)
    has(_refused(path), "blad ”Data”, cell C5")

    path2 = _book(tmp_path / "avslut.xlsx")

    def inline(parts):
        sheet = parts["xl/worksheets/sheet1.xml"].decode()
        cell = f'<c r="E3" t="inlineStr"><is><r><t>{TEN[:3]}</t></r><r><t>{TEN[3:]}</t></r></is></c>'
        row3 = sheet.index('<row r="3"')
        end = sheet.index("</row>", row3)
        parts["xl/worksheets/sheet1.xml"] = (sheet[:end] + cell + sheet[end:]).encode()

    _edit_zip(path2, inline)
    has(_refused(path2), "cell E3")

    path3 = _book(tmp_path / "x.xlsx", cell="PLATS")

    def charref(parts):
        ss = parts["xl/sharedStrings.xml"].decode()
        coded = "".join(f"&#{ord(c)};" for c in DASHED)
        parts["xl/sharedStrings.xml"] = ss.replace("<t>PLATS</t>", f"<t>{coded}</t>").encode()

    _edit_zip(path3, charref)
    has(_refused(path3), "cell C5")


def test_scan_xlsx_threaded_comment_and_unknown_part(tmp_path):
    path = _book(tmp_path / "remisslogg.xlsx")

    def add(parts):
        parts["xl/threadedComments/threadedComment1.xml"] = (
            '<?xml version="1.0" encoding="UTF-8"?><ThreadedComments xmlns="http://schemas.microsoft.com/'
            'office/spreadsheetml/2018/threadedcomments"><threadedComment ref="D4" id="{1}" personId="{2}">'
            f"<text>Kontakt {DASHED}</text></threadedComment></ThreadedComments>"
        ).encode()
        rels = (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId9" Type="http://schemas.microsoft.com/office/'
            '2017/10/relationships/threadedComment" Target="../threadedComments/threadedComment1.xml"/>'
            "</Relationships>"
        )
        parts["xl/worksheets/_rels/sheet1.xml.rels"] = rels.encode()
        parts["customXml/item1.xml"] = f"<a><b>{TEN}</b></a>".encode()

    _edit_zip(path, add)
    text = _refused(path)
    has(text, "kommentar till Data!D4")
    has(text, "delen customXml/item1.xml")


def test_scan_file_and_folder_names(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    path = _book(folder / f"remisslogg {DASHED}.xlsx")
    has(_refused(path), "filnamnet")
    ok = _book(folder / "remisslogg.xlsx")
    has(_refused(ok, f"redcap-{TEN}/remisslogg.xlsx"), "mappnamnet")


# --- CSV and TOML ----------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
@pytest.mark.parametrize("sep", [";", ",", "\t"])
def test_scan_csv_names_line_and_column(tmp_path, encoding, sep):
    value = f"Ring {TEN[:6]}\u2013{TEN[6:]} först"
    lines = [
        "Remisslogg Södermalm",
        sep.join(["Studiekod", "Stadsdel", "Anteckning"]),
        sep.join(["A0314M27", "Södermalm", "ok"]),
        sep.join(["A0324M27", "Södermalm", value]),
    ]
    path = tmp_path / "remisslogg.csv"
    path.write_bytes("\r\n".join(lines).encode(encoding))
    text = _refused(path)
    has(text, "remisslogg.csv, rad 4, kolumn ”C (Anteckning)”")
    has(text, "Ring XXXXXX\u2013XXXX först")


def test_scan_csv_nine_digit_cell_and_quoted(tmp_path):
    path = tmp_path / "avslut.csv"
    path.write_text(f'Studiekod;Datum\nA0314M27;2024-01-02\n"{ZERO[0][1:]}";2024-01-03\n', "utf-8")
    has(_refused(path), "avslut.csv, rad 3, kolumn ”A (Studiekod)”")


def test_scan_csv_number_split_over_two_fields_names_both_columns(tmp_path):
    for sep, row in [
        (";", f"A0314M27;{TEN[:6]};{TEN[6:]};ok"),
        (";", f"A0314M27;19{TEN[:6]};{TEN[6:]};ok"),
        (",", f'A0314M27,"{TEN[:6]}","-{TEN[6:]}",ok'),
        ("\t", f"A0314M27\t{TEN[:6]}-\t{TEN[6:]}\tok"),
    ]:
        path = tmp_path / "remisslogg.csv"
        header = sep.join(["Studiekod", "Datum", "Nummer", "Anteckning"])
        path.write_text(f"{header}\n{sep.join(['A0324M27', '2024-03-15', '12', 'x'])}\n{row}\n", "utf-8")
        text = _refused(path)
        has(text, "remisslogg.csv, rad 3, kolumn ”B (Datum)” och ”C (Nummer)”")
        has(text, "XXXX")


@pytest.mark.parametrize(
    ("above", "below", "gap"),
    [
        (TEN[:6], TEN[6:], ""),
        (f"19{TEN[:6]}-", f"-{TEN[6:]}", ""),
        (f'"{TEN[:6]}"', f'"{TEN[6:]}"', ""),
        (TEN[:6], TEN[6:], "A0344M27;2024-03-16;;x\n\n"),  # an empty field and an empty line between
    ],
    ids=["plain", "dashes", "quoted", "gap"],
)
def test_scan_csv_number_split_over_two_lines_names_both(tmp_path, above, below, gap):
    path = tmp_path / "remisslogg.csv"
    path.write_text(
        "Studiekod;Datum;Nummer;Anteckning\nA0324M27;2024-03-15;12;x\n"
        f"A0334M27;2024-03-15;{above};x\n{gap}A0354M27;2024-03-17;{below};y\n",
        "utf-8",
    )
    text = _refused(path)
    last = 4 if not gap else 6
    has(text, f"remisslogg.csv, rad 3 och rad {last}, kolumn ”C (Nummer)”")
    has(text, "XXXXXX")


def test_scan_csv_fields_one_above_the_other_that_are_not_a_split_number_pass(tmp_path):
    wrong = TEN[:9] + str((int(TEN[9]) + 5) % 10)
    path = tmp_path / "uppfoljning.csv"
    path.write_text(
        f"Studiekod;Datum;Nr\nA0314M27;{TEN[:6]};1\nA0324M27;x;{TEN[6:]}\n"  # another column
        f"A0334M27;{TEN[:6]};2\nA0344M27;x;3\nA0354M27;{TEN[6:]};4\n"  # a non-empty field between
        f"A0364M27;{wrong[:6]};5\nA0374M27;{wrong[6:]};6\n"  # wrong check digit
        f"A0384M27;{_LAST[:6]};7\nA0394M27;{int(_LAST[6:])};8\n",  # CSV text is judged as typed
        "utf-8",
    )
    scan.scan_file(path)


def test_scan_csv_dotted_date_and_last_four(tmp_path):
    path = tmp_path / "avslut.csv"
    path.write_text(f"Studiekod;Anteckning\nA0314M27;ring {TEN[:2]}.{TEN[2:4]}.{TEN[4:6]}.{TEN[6:]}\n", "utf-8")
    has(_refused(path), "avslut.csv, rad 2, kolumn ”B (Anteckning)”")


def test_scan_stacked_csv_prefilter_keeps_every_line_the_naive_pairing_needs():
    """The polars prefilter for fields one above the other (`pnr.FIRST_FIELD`) only selects lines:
    on CSV text of every refused form and lookalike, shuffled into three columns, the scan finds
    exactly the pairs a naive pass finds (every line, every column, the next non-empty field below
    judged by `pnr.split_pair`)."""
    from schema import pnr
    from tests.test_pnr import DOTTED_FORMS, ISSUE10_FORMS, LOOKALIKES, POSITIVE

    values = [str(v) for v in POSITIVE + ISSUE10_FORMS + DOTTED_FORMS] + [
        x for group in LOOKALIKES.values() for v in group for x in (v if isinstance(v, tuple) else (v,))
    ]
    values = [str(v).replace(";", " ").replace("\r", " ").replace("\n", " ").replace('"', "") for v in values]
    wide = "".join(chr(0xFF10 + int(c)) for c in TEN)  # fullwidth digits: `\d` in both regex engines
    values += [TEN[:6], TEN[6:], "", f"19{TEN[:6]}", "", TEN[6:], wide[:6], wide[6:], TEN[:4] + wide[4:6], TEN[6:]] * 3
    rng = random.Random(SEED)
    rng.shuffle(values)
    lines = [";".join(values[i : i + 3]) for i in range(0, len(values), 3)]
    text = "Kod;Anteckning;Datum\n" + "\n".join(lines) + "\n"
    rows = [line.split(";") for line in text.split("\n")]
    naive = set()
    for n, row in enumerate(rows):
        for col, first in enumerate(row):
            if not pnr.is_first_half(first):
                continue
            below = next(
                ((k, rows[k][col]) for k in range(n + 1, len(rows)) if col < len(rows[k]) and rows[k][col].strip()),
                None,
            )
            if below and pnr.split_pair(first, below[1]):
                naive.add(f"rad {n + 1} och rad {below[0] + 1}, kolumn ”{scan.column_letter(col)}")
    hits = scan.scan_text_bytes(text.encode(), "f.csv")
    stacked = {re.sub(r"^f\.csv, ", "", h.place).split(" (")[0] for h in hits if " och rad " in h.place}
    assert len(naive) >= 3  # positive control
    same = stacked == naive
    assert same, (len(stacked), len(naive))


def test_scan_csv_separated_date(tmp_path):
    path = tmp_path / "avslut.csv"
    path.write_text(f"Studiekod;Anteckning\nA0314M27;ring 19{TEN[:2]}-{TEN[2:4]}-{TEN[4:6]}-{TEN[6:]}\n", "utf-8")
    has(_refused(path), "avslut.csv, rad 2, kolumn ”B (Anteckning)”")


def test_scan_csv_split_lookalikes_in_a_study_file_pass(tmp_path):
    """Neighbouring fields that fail the date or check-digit rule, and ordinary dates beside numbers."""
    wrong = TEN[:9] + str((int(TEN[9]) + 5) % 10)
    path = tmp_path / "uppfoljning.csv"
    path.write_text(
        f"Studiekod;Datum;Nr\nA0314M27;{wrong[:6]};{wrong[6:]}\nA0324M27;2024-03-15;1234\nA0334M27;991332;1234\n",
        "utf-8",
    )
    scan.scan_file(path)


def test_scan_roles_file_refused_masked_and_named(tmp_path):
    from dashboard.access import RoleFileError, load_roles

    path = tmp_path / "roles.toml"
    path.write_text(
        '[users."anna@stad.se"]\nrole = "styrgrupp"\n'
        f'[users."bo@stad.se"]\nrole = "projektgrupp"\nname = "Bo {TEN[:2]} {TEN[2:4]} {TEN[4:6]}-{TEN[6:]}"\n',
        "utf-8",
    )
    with pytest.raises(RoleFileError) as exc:
        load_roles(path)
    text = str(exc.value)
    has(text, "rollfilen roles.toml, rad 5, tecken")
    has(text, "XX XX XX-XXXX")
    _digits_absent(text)
    path.write_text('[users."anna@stad.se"]\nrole = "styrgrupp"\n', "utf-8")
    assert "anna@stad.se" in load_roles(path).users


def test_scan_secrets_file_fails_closed_masked_and_named(tmp_path, caplog):
    from streamlit import config

    from dashboard import auth

    path = tmp_path / "secrets.toml"
    path.write_text(
        f'[auth]\nredirect_uri = "http://x/oauth2callback"\n# kontakt 19{TEN[:2]}-{TEN[2:4]}-{TEN[4:6]}-{TEN[6:]}\n'
        'cookie_secret = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"\nclient_id = "a"\nclient_secret = "b"\n'
        'server_metadata_url = "http://x/.well-known/openid-configuration"\n',
        "utf-8",
    )
    before = config.get_option("secrets.files")
    config.set_option("secrets.files", [str(path)])
    # Only the scan is called on the clean file: parsing it through st.secrets would leave its
    # [auth] section cached for every later app test in this process.
    try:
        with caplog.at_level("ERROR"):
            mode = auth.login_mode()  # refused by the scan before st.secrets is read
        path.write_text(re.sub(r"# kontakt .*\n", "", path.read_text("utf-8")), "utf-8")
        auth.scan_secrets()  # the same file without the number passes
    finally:
        config.set_option("secrets.files", before)
    assert mode == "broken"
    logged = caplog.text
    has(logged, ".streamlit/secrets.toml, rad 3")
    has(logged, "XXXX-XX-XX-XXXX")
    _digits_absent(logged)


def test_scan_redcap_credentials_secrets_refused(tmp_path):
    from etl.redcap import RedcapApiError, credentials

    path = tmp_path / "secrets.toml"
    path.write_text(f'[redcap]\nurl = "https://r/api/"\ntoken = "{"A" * 32}"\n# {DASHED}\n', "utf-8")
    with pytest.raises(RedcapApiError) as exc:
        credentials({}, [path])
    has(str(exc.value), ".streamlit/secrets.toml, rad 4")
    _digits_absent(str(exc.value))


def test_scan_toml_names_line_and_character(tmp_path):
    path = tmp_path / "studie.toml"
    path.write_text(f'namn = "IPS"\n\n# kontakt: {DASHED}\n', "utf-8")
    has(_refused(path), "studie.toml, rad 3, tecken 12")


def test_scan_clean_csv_and_lookalikes_pass(tmp_path):
    path = tmp_path / "remisslogg.csv"
    path.write_text(
        "Studiekod;Datum;Telefon;Org\nA0314M27;2024-03-15;070-123 45 67;212000-0142\n"
        "A0324M27;20240315;08-123 456 78;556036-0793\n",
        "utf-8",
    )
    scan.scan_file(path)


def test_scan_text_and_args_mask(tmp_path):
    scan.scan_text("Styrgruppsbeslut 2024-03-15", "--note")
    with pytest.raises(PnrRefused) as exc:
        scan.scan_text(f"beslut, kontakt {TEN[:6]}\u2014{TEN[6:]}", "--note")
    has(str(exc.value), "--note")
    has(str(exc.value), "XXXXXX\u2014XXXX")
    _digits_absent(str(exc.value))
    with pytest.raises(PnrRefused) as exc:
        scan.scan_args(["load", f"in/{TEN}"])
    has(str(exc.value), "argument 2")
    _digits_absent(str(exc.value))


def test_scan_unreadable_xlsx_names_file_and_what_to_do(tmp_path):
    for name, data, words in [
        ("tom.xlsx", b"", "tom"),
        ("text.xlsx", b"Studiekod;Datum\n", "ingen .xlsx-arbetsbok"),
        ("krypterad.xlsx", bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 512, "lösenordsskyddad"),
        ("trasig.xlsx", b"PK\x03\x04" + b"\0" * 40, "spara den igen"),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(SourceFileError) as exc:
            scan.scan_file(path)
        assert str(exc.value).startswith(name + ":") and words in str(exc.value), str(exc.value)


def test_scan_sheet_skips_cell_positions_only_and_still_finds_numbers_past_row_100000():
    """From row 100 000 on every cell's position (`r="A100000"`) has six digits; those positions
    are skipped (at most 3 letters and 7 digits: the detector could never refuse one), but a value
    in a cell there, or an attribute that only looks like a position, is still judged."""
    number = make_pnr(random.Random(SEED))  # ten digits
    cells = "".join(
        f'<row r="{r}" spans="1:2"><c r="A{r}" t="n"><v>{r}</v></c><c r="B{r}"><v>3</v></c></row>'
        for r in range(100000, 100050)
    )
    plain = f"<worksheet><sheetData>{cells}</sheetData></worksheet>"
    assert scan._scan_sheet(plain.encode(), "f.xlsx", "Blad1") == []
    inside = plain.replace('<c r="B100007"><v>3</v>', f'<c r="B100007" t="str"><v>{number}</v>')
    hits = scan._scan_sheet(inside.encode(), "f.xlsx", "Blad1")
    assert len(hits) == 1 and "B100007" in hits[0].place
    bogus = plain.replace('r="B100009"', f'r="B{number}"')
    assert scan._scan_sheet(bogus.encode(), "f.xlsx", "Blad1") != [], "a 10-digit 'position' is judged"


# --- a number split over two neighbouring cells of a row (issue 10) ------------------------------


def _split_book(path: Path, cells: dict[str, object], rich: bool = False) -> Path:
    """A workbook with `cells` written (str as shared strings, numbers as numbers); `rich` adds a
    rich-text cell so the sheet goes through the careful (parsed) path."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Data")
    ws.write_row(0, 0, ["Studiekod", "Stadsdel", "Anteckning", "Antal", "Belopp"])
    for i in range(6):
        ws.write_row(i + 1, 0, [f"A03{i}4M27", "Södermalm", "ring först", 45366 + i])
    for ref, value in cells.items():
        ws.write(ref, value)
    if rich:
        ws.write_rich_string("A9", wb.add_format({"bold": True}), "fet", " text")
    wb.close()
    return path


@pytest.mark.parametrize(
    ("cells", "place"),
    [
        ({"C5": TEN[:6], "D5": TEN[6:]}, "cell C5 (rad 5, kolumn ”C (Anteckning)”) och cell D5 (kolumn ”D (Antal)”)"),
        ({"C5": f"19{TEN[:6]}", "D5": TEN[6:]}, "cell C5"),
        ({"C5": f"{TEN[:6]}-", "D5": TEN[6:]}, "och cell D5"),
        ({"C5": TEN[:6], "D5": f"-{TEN[6:]}"}, "och cell D5"),
        ({"C5": int(TEN[:6]), "D5": int(TEN[6:])}, "cell C5"),  # numeric cells
        ({"C5": float(f"19{TEN[:6]}"), "D5": TEN[6:]}, "cell C5"),
        ({"C8": TEN[:6], "E8": TEN[6:]}, "cell C8 (rad 8, kolumn ”C (Anteckning)”) och cell E8"),  # D8 empty
        ({"C8": TEN[:6], "D8": TEN[6:]}, "cell C8"),  # a row of its own
    ],
    ids=lambda v: hidden(v) if isinstance(v, str) else "cells",
)
@pytest.mark.parametrize("rich", [False, True], ids=["raw", "parsed"])
def test_scan_number_split_over_two_neighbouring_cells(tmp_path, cells, place, rich):
    text = _refused(_split_book(tmp_path / "remisslogg.xlsx", cells, rich))
    has(text, place)
    has(text, "XXXXXX")


def test_scan_number_split_over_two_inline_cells(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Data"
    ws.append(["Studiekod", "Datum", "Nummer"])
    ws.append(["A0314M27", TEN[:6], TEN[6:]])
    wb.save(tmp_path / "b.xlsx")
    has(_refused(tmp_path / "b.xlsx"), "cell B2 (rad 2, kolumn ”B (Datum)”) och cell C2 (kolumn ”C (Nummer)”)")


@pytest.mark.parametrize(
    "cells",
    [
        {"C8": TEN[:6], "D8": "x", "E8": TEN[6:]},  # a non-empty cell between: not neighbours
        {"C5": TEN[:6], "D6": TEN[6:]},  # diagonal: neither the same row nor the same column
        {"C4": TEN[:6], "C5": "x", "C6": TEN[6:]},  # a non-empty cell between, one above the other
        {"E5": TEN[:6], "E6": TEN[6:9] + str((int(TEN[9]) + 1) % 10)},  # stacked, wrong check digit
        {"C5": f"ring {TEN[:6]}", "D5": TEN[6:]},  # not a whole cell
        {"C5": TEN[:6], "D5": TEN[6:9] + str((int(TEN[9]) + 1) % 10)},  # wrong check digit
        {"C5": "070", "D5": "1234567"},
        {"C5": "2024-03-15", "D5": 1230},
    ],
    ids=lambda v: "cells",
)
def test_scan_cells_that_are_not_a_split_number_pass(tmp_path, cells):
    scan.scan_file(_split_book(tmp_path / "remisslogg.xlsx", cells))


# --- cells one above the other, number halves that lost their zeros (issue 10, last session) -------

_LAST = next(t for t in (make_pnr(RNG) for _ in range(400)) if t[6] == "0" and t[0] != "0")  # last four 0xxx
_YOUNG = next(t for t in ZERO if t[1] != "0")  # born 2001–2009: the date half as a number has 5 digits
STACKED = "cell E5 (rad 5, kolumn ”E (Belopp)”) och cell E6 (rad 6, kolumn ”E (Belopp)”)"


@pytest.mark.parametrize(
    ("cells", "place"),
    [
        ({"E5": TEN[:6], "E6": TEN[6:]}, STACKED),
        ({"C5": TEN[:6], "C6": TEN[6:]}, "cell C5 (rad 5, kolumn ”C (Anteckning)”) och cell C6 (rad 6, kolumn ”C"),
        ({"E5": f"19{TEN[:6]}-", "E6": f"-{TEN[6:]}"}, STACKED),
        ({"E5": int(TEN[:6]), "E6": int(TEN[6:])}, STACKED),
        ({"E5": TEN[:6], "E8": TEN[6:]}, "cell E5 (rad 5, kolumn ”E (Belopp)”) och cell E8 (rad 8"),  # E6, E7 empty
        ({"E5": _LAST[:6], "E6": int(_LAST[6:])}, STACKED),  # 0123 typed as a number: 123
        ({"C5": _LAST[:6], "D5": int(_LAST[6:])}, "cell C5 (rad 5, kolumn ”C (Anteckning)”) och cell D5"),
        ({"E8": int(_YOUNG[:6]), "F8": _YOUNG[6:]}, "cell E8 (rad 8, kolumn ”E (Belopp)”) och cell F8"),
        ({"E5": int(_YOUNG[:6]), "E6": float(int(_YOUNG[6:]))}, STACKED),
    ],
    ids=lambda v: hidden(v) if isinstance(v, str) else "cells",
)
@pytest.mark.parametrize("rich", [False, True], ids=["raw", "parsed"])
def test_scan_number_split_over_two_stacked_cells_or_with_lost_zeros(tmp_path, cells, place, rich):
    text = _refused(_split_book(tmp_path / "remisslogg.xlsx", cells, rich))
    has(text, place)
    has(text, "XX")
    has(text, _LAST[:6], False)
    has(text, _YOUNG[:6], False)


def test_scan_a_data_row_taken_for_the_header_never_names_a_column_by_a_half(tmp_path):
    """The header is guessed as the fullest of the first rows; when that is the very row holding a
    split number, its halves must not reappear as column names (`kolumn ”C (811218)”`)."""
    text = _refused(_split_book(tmp_path / "a.xlsx", {"C5": TEN[:6], "D5": TEN[6:], "E5": "x", "F5": "y"}))
    has(text, "cell C5 (rad 5, kolumn C) och cell D5 (kolumn D)")
    path = tmp_path / "b.csv"
    path.write_text(f"Studiekod;Datum;Nummer\nA0314M27;2024-03-15;1\nA0324M27;{TEN[:6]};{TEN[6:]};x;y\n", "utf-8")
    has(_refused(path), "b.csv, rad 3, kolumn ”B” och ”C”")


def _luhn_count(date_half: str) -> int:
    """A count of 1–999 that completes `date_half` as a valid number when padded to four digits."""
    from tests.test_pnr import luhn_digit

    return next(c for c in range(10, 1000, 10) if luhn_digit(date_half + f"{c:04d}"[:3]) == f"{c:04d}"[3])


def test_scan_date_cell_above_a_count_is_no_split_number(tmp_path):
    """An Excel date from 2009–2012 is a five-digit serial that reads as a date `0YMMDD` padded
    (40310, 12 May 2010 → 040310); a cell formatted as a date is a date, never a half. The same
    serial in a cell formatted as a plain number is judged (and refused here: the count below it
    is chosen to complete the check digit)."""
    import datetime

    import xlsxwriter

    serial = (datetime.date(2010, 5, 12) - datetime.date(1899, 12, 30)).days
    count = _luhn_count(f"{serial:06d}")
    for as_date, refused in ((True, False), (False, True)):
        path = tmp_path / f"uppfoljning{int(as_date)}.xlsx"
        wb = xlsxwriter.Workbook(str(path))
        ws = wb.add_worksheet("Data")
        ws.write_row(0, 0, ["Datum", "Antal", "Nr"])
        if as_date:
            ws.write_datetime(1, 0, datetime.datetime(2010, 5, 12), wb.add_format({"num_format": "yyyy-mm-dd"}))
            ws.write_datetime(1, 1, datetime.datetime(2010, 5, 12), wb.add_format({"num_format": 14}))
        else:
            ws.write_number(1, 0, serial)
            ws.write_number(1, 1, serial, wb.add_format({"num_format": "0"}))
        ws.write_number(2, 0, count)
        ws.write_number(1, 2, count)
        wb.close()
        if refused:
            has(_refused(path), "cell A2 (rad 2, kolumn ”A (Datum)”) och cell A3 (rad 3")
        else:
            scan.scan_file(path)


def test_scan_stacked_cells_without_positions_are_counted(tmp_path):
    """A writer may leave a cell's position implied (`<c>` without `r`): the parsed path counts
    them, so cells one above the other are still found and named."""
    path = _split_book(tmp_path / "remisslogg.xlsx", {"E5": TEN[:6], "E6": TEN[6:]})

    def implied(parts):
        sheet = parts["xl/worksheets/sheet1.xml"].decode()
        parts["xl/worksheets/sheet1.xml"] = re.sub(r'<c r="[A-Z]+\d+"', "<c", sheet).encode()

    _edit_zip(path, implied)
    has(_refused(path), "cell E5 (rad 5, kolumn ”E (Belopp)”) och cell E6 (rad 6")


def test_scan_formula_cached_value_is_judged(tmp_path):
    """A formula that assembles the number from other cells (`=C2&"-"&D2`): its cached value, the
    text Excel shows, holds the number."""
    import xlsxwriter

    path = tmp_path / "remisslogg.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Data")
    ws.write_row(0, 0, ["Studiekod", "Kontakt"])
    ws.write_formula("B2", '=Dold!A1&"-"&Dold!B1', None, DASHED)
    wb.close()
    has(_refused(path), "blad ”Data”, cell B2")


def test_scan_vectorised_prefilter_judges_exactly_as_the_detector():
    """The polars pass only selects lines: on CSV-like text of every refused form and every
    lookalike, `text_spans` finds exactly the spans `schema.pnr.spans` finds in the whole text."""
    from tests.test_pnr import DOTTED_FORMS, ISSUE10_FORMS, LOOKALIKES, POSITIVE

    values = [str(v) for v in POSITIVE + ISSUE10_FORMS + DOTTED_FORMS] + [
        v for group in LOOKALIKES.values() for v in group if isinstance(v, str)
    ]
    rng = random.Random(SEED)
    rng.shuffle(values)
    lines = [";".join(values[i : i + 3]) for i in range(0, len(values), 3)]
    for newline in ("\n", "\r\n"):
        text = "Kod;Anteckning;Datum" + newline + newline.join(lines) + newline
        found = scan.text_spans(text)
        same = found == list(pnr_spans(text))
        assert same
        assert len(found) > len(POSITIVE)  # positive control: the refused forms are found


def test_sheet_prefilter_ignores_the_row_and_cell_positions_of_a_big_sheet():
    """From row 100 000 on, a row's own number (`<row r="123456"`) and its cells' positions have six
    digits; they are positions, not data, and must not make every row a candidate (at scale 1000 the
    referral log's 190 000 rows past row 99 999 were all judged one by one: 15 s of a 29 s load). A
    row with six digits in a value is still a candidate."""
    rows = [
        f'<row r="{n}" spans="1:2"><c r="A{n}" t="s"><v>{n % 7}</v></c><c r="B{n}"><v>45000</v></c></row>'
        for n in range(99_998, 100_400)
    ]
    rows.append('<row r="100400" spans="1:2"><c r="A100400" t="inlineStr"><is><t>811218</t></is></c></row>')
    text = "<worksheet><sheetData>" + "".join(rows) + "</sheetData></worksheet>"
    windows = scan._sheet_windows(text, scan._Shared(None, []))
    assert [text[a:b].startswith(rows[-1].removeprefix("<row ")) for a, b in windows] == [True]
