"""Issue 10 §5: every failure to read a file names the file and says what to do, in Swedish; none
ends as "Inläsningen avbröts av ett oväntat fel". Each read path is tried through the loader (exit 2,
nothing written) and, where the readers are used alone (REDCap, upload check), through them too.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest

from etl.load import load
from etl.staging import check_folder
from etl.tables import SourceFileError
from tests import fixtures as fx

ADVICE = ("spara", "rätta", "exportera", "kontrollera", "öppna")


def _events_csv(folder: Path, data: bytes) -> str:
    (folder / "avslut.xlsx").unlink(missing_ok=True)
    (folder / "avslut.csv").write_bytes(data)
    return "avslut.csv"


def _long_cell(folder: Path) -> str:
    text = "Studiekod;Datum;Händelse;Orsak\n" + "A0314M27;2024-05-02;Avslutat IPS;" + "x" * 200_000 + "\n"
    return _events_csv(folder, text.encode("utf-8"))


def _long_cell_first_line(folder: Path) -> str:
    return _events_csv(folder, ("Anteckning " + "y" * 140_000 + "\nStudiekod;Datum\n").encode("utf-8"))


def _empty_csv(folder: Path) -> str:
    return _events_csv(folder, b"")


def _utf16_csv(folder: Path) -> str:
    return _events_csv(folder, "Studiekod;Datum;Händelse;Orsak\nA0314M27;2024-05-02;x;y\n".encode("utf-16"))


def _nul_csv(folder: Path) -> str:
    return _events_csv(folder, b"Studiekod;Datum;H\x00ndelse;Orsak\nA0314M27;2024-05-02;x;y\n")


def _xlsx(folder: Path, data: bytes) -> str:
    (folder / "avslut.xlsx").write_bytes(data)
    return "avslut.xlsx"


def _not_zip(folder: Path) -> str:
    return _xlsx(folder, b"Studiekod;Datum\nA0314M27;2024-05-02\n")


def _empty_xlsx(folder: Path) -> str:
    return _xlsx(folder, b"")


def _password_xlsx(folder: Path) -> str:
    return _xlsx(folder, bytes.fromhex("d0cf11e0a1b11ae1") + bytes(2048))


def _truncated_xlsx(folder: Path) -> str:
    data = (folder / "avslut.xlsx").read_bytes()
    return _xlsx(folder, data[: len(data) // 2])


def _zip_not_workbook(folder: Path) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("word/document.xml", "<w:document xmlns:w='x'/>")
    return _xlsx(folder, buf.getvalue())


def _broken_sheet_xml(folder: Path) -> str:
    path = folder / "avslut.xlsx"
    with zipfile.ZipFile(path) as zf:
        parts = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"][:200]
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return "avslut.xlsx"


def _toml_syntax(folder: Path) -> str:
    text = (folder / "studie.toml").read_text("utf-8")
    (folder / "studie.toml").write_text(text + "\n[arms\nkey = 1\n", "utf-8")
    return "studie.toml"


def _toml_cp1252(folder: Path) -> str:
    text = (folder / "studie.toml").read_text("utf-8")
    (folder / "studie.toml").write_bytes((text + "\n# Södermalm\n").encode("cp1252"))
    return "studie.toml"


CASES = {
    "csv long cell": _long_cell,
    "csv long first line": _long_cell_first_line,
    "csv empty": _empty_csv,
    "csv utf-16": _utf16_csv,
    "csv nul": _nul_csv,
    "xlsx not a zip": _not_zip,
    "xlsx empty": _empty_xlsx,
    "xlsx password": _password_xlsx,
    "xlsx truncated": _truncated_xlsx,
    "xlsx zip but no workbook": _zip_not_workbook,
    "xlsx broken sheet": _broken_sheet_xml,
    "toml syntax": _toml_syntax,
    "toml not utf-8": _toml_cp1252,
}


def _assert_named(text: str, name: str) -> None:
    assert "oväntat fel" not in text, text
    assert f"{name}:" in text, text
    line = next(ln for ln in text.splitlines() if f"{name}:" in ln)
    assert any(word in line.lower() for word in ADVICE), line


@pytest.mark.parametrize("case", list(CASES))
def test_read_error_names_file_and_what_to_do(tmp_path, case):
    folder = fx.write_study(tmp_path / "in", fmt="xlsx")
    name = CASES[case](folder)
    db = tmp_path / "store" / "ips.duckdb"
    out, err = io.StringIO(), io.StringIO()
    assert load(folder, db, out, err) == 2
    _assert_named(err.getvalue(), name)
    assert not db.parent.exists() or not any(db.parent.iterdir())
    check = check_folder(folder)  # the Inläsning page's dry run
    assert check.status == 2
    _assert_named("\n".join(check.refused), name)


def _redcap_folder(tmp_path: Path) -> Path:
    from tests.test_redcap import make_export

    folder = fx.write_study(tmp_path / "in", fmt="csv")
    make_export(folder / "redcap")
    return folder


def test_read_error_redcap_long_field_names_file(tmp_path):
    folder = _redcap_folder(tmp_path)
    path = folder / "redcap" / "IPSADAS_DATA_2024-09-30_1200.csv"
    path.write_text(path.read_text("utf-8-sig").replace("B0402K11", "B0402K11" + "z" * 200_000, 1), "utf-8")
    err = io.StringIO()
    assert load(folder, tmp_path / "db" / "ips.duckdb", io.StringIO(), err) == 2
    _assert_named(err.getvalue(), "IPSADAS_DATA_2024-09-30_1200.csv")


def test_read_error_redcap_mapping_toml_in_swedish(tmp_path):
    folder = _redcap_folder(tmp_path)
    (folder / "redcap" / "mapping.toml").write_text("[baseline\nform = 1\n", "utf-8")
    err = io.StringIO()
    assert load(folder, tmp_path / "db" / "ips.duckdb", io.StringIO(), err) == 2
    _assert_named(err.getvalue(), "mapping.toml")
    assert "rad 1" in err.getvalue() and "Expected" not in err.getvalue() and "line" not in err.getvalue()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without permission")
def test_read_error_unreadable_file_names_it(tmp_path):
    folder = fx.write_study(tmp_path / "in", fmt="csv")
    (folder / "avslut.csv").chmod(0)
    err = io.StringIO()
    assert load(folder, tmp_path / "db" / "ips.duckdb", io.StringIO(), err) == 2
    _assert_named(err.getvalue(), "avslut.csv")


def test_read_error_reader_alone_names_file(tmp_path):
    from etl import read

    path = tmp_path / "avslut.csv"
    path.write_bytes(b"Studiekod;Orsak\nA;" + b"x" * 200_000 + b"\n")
    with pytest.raises(SourceFileError) as exc:
        read.read_grid(path)
    _assert_named(str(exc.value), "avslut.csv")
