"""Files as staff really keep them: Excel templates filled in by hand, and logs with title rows,
blank rows, notes columns, header variants, J/N/x and dates as text or real Excel dates. Each is
loaded through the real loader, and the figures on the pages are checked against the files."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import date, datetime
from pathlib import Path

import duckdb
import openpyxl
import pytest

from etl.load import load
from etl.template import data_sheet_name, write_templates
from schema.config import load_config
from schema.sources import SOURCES
from tests import independent as ind
from tests.conftest import ROOT, render

D = date.fromisoformat

# A small study typed into the templates: three referrals (one excluded), two randomised.
FILLED: dict[str, list[dict]] = {
    "referrals": [
        {
            "Studiekod": "A0314M27",
            "Stadsdel": "Södermalm",
            "Remissdatum": D("2023-03-14"),
            "Remitterande instans": "Ekonomiskt bistånd + vuxenenhet",
            "Informationsmöte": D("2023-03-20"),
            "Motivationsskattning": "Tillräcklig",
            "Samtycke": D("2023-03-22"),
            "Inskrivningssamtal": D("2023-03-25"),
            "Baslinje": D("2023-03-28"),
        },
        {
            "Studiekod": "A0320K11",
            "Stadsdel": "Södermalm",
            "Remissdatum": D("2023-03-15"),
            "Remitterande instans": "Prima Maria",
            "Informationsmöte": D("2023-03-21"),
            "Motivationsskattning": "Tillräcklig",
            "Samtycke": D("2023-03-23"),
            "Inskrivningssamtal": D("2023-03-26"),
            "Baslinje": D("2023-03-29"),
        },
        {
            "Studiekod": "A0401M05",
            "Stadsdel": "Södermalm",
            "Remissdatum": D("2023-04-01"),
            "Remitterande instans": "Ekonomiskt bistånd + Beroendecentrum",
            "Informationsmöte": D("2023-04-05"),
            "Motivationsskattning": "Otillräcklig",
            "Exkluderad vid": "Informationsmöte",
            "Exklusionsorsak": "Otillräcklig motivation",
        },
    ],
    "randomisations": [
        {"Studiekod": "A0314M27", "Randomiseringsdatum": D("2023-04-03"), "Grupp": "IPS+TAU", "Stratum": "Södermalm"},
        {"Studiekod": "A0320K11", "Randomiseringsdatum": D("2023-04-03"), "Grupp": "TVR+TAU", "Stratum": "Södermalm"},
    ],
    "baseline": [
        {
            "Studiekod": "A0314M27",
            "Baslinjedatum": D("2023-03-28"),
            "Kön": "Man",
            "Födelseår": 1980,
            "Född i Sverige": "Ja",
        },
        {
            "Studiekod": "A0320K11",
            "Baslinjedatum": D("2023-03-29"),
            "Kön": "Kvinna",
            "Födelseår": 1990,
            "Född i Sverige": "Nej",
        },
    ],
    "followups": [
        {
            "Studiekod": "A0314M27",
            "Tidpunkt": 6,
            "Status": "Genomförd",
            "Datum": D("2023-10-05"),
            "Enhet": "Vuxenenheten Södermalm",
        },
    ],
    "events": [
        {"Studiekod": "A0320K11", "Datum": D("2024-01-10"), "Händelse": "Lämnat studien", "Orsak": "Återfall"},
    ],
    "specialists": [
        {"Kod": "A", "Namn": "Anna", "Stadsdelar": "Södermalm", "Tjänstgöringsgrad": 100, "Från": D("2023-01-01")},
    ],
    "assignments": [{"Studiekod": "A0314M27", "Arbetsspecialist": "A", "Från": D("2023-04-03")}],
    "fidelity": [
        {"Skattningsdatum": D("2023-09-15"), "Område": section, "Punkt": n, "Poäng": 4}
        for section, count in (("Personal", 3), ("Organisation", 8), ("Tjänster", 14))
        for n in range(1, count + 1)
    ],
    "activity": [{"Studiekod": "A0314M27", "Datum": D("2023-05-01"), "Aktivitet": "Arbetsgivarkontakt"}],
    "employment": [{"Studiekod": "A0314M27", "Tidpunkt": 6, "Arbetat minst en dag": "Nej"}],
}


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("templates")
    shutil.copy(ROOT / "config" / "studie.toml", folder / "studie.toml")
    config = load_config(folder / "studie.toml")
    write_templates(folder, config)
    for src in SOURCES:
        path = folder / f"{src.stems[0]}.xlsx"
        wb = openpyxl.load_workbook(path)
        ws = wb[data_sheet_name(src)]
        headers = [c.value for c in ws[1]]
        for r, row in enumerate(FILLED[src.key], start=2):
            for header, value in row.items():
                ws.cell(row=r, column=headers.index(header) + 1, value=value)
        wb.save(path)
    return folder


def test_filled_templates_load_without_rejections(filled, tmp_path):
    out, err = io.StringIO(), io.StringIO()
    assert load(filled, tmp_path / "ips.duckdb", out, err) == 0, out.getvalue() + err.getvalue()
    with duckdb.connect(str(tmp_path / "ips.duckdb"), read_only=True) as con:
        for src in SOURCES:
            schema = "sealed" if src.sealed else "raw"
            n = con.execute(f"select count(*) from {schema}.{src.key}").fetchone()[0]
            assert n == len(FILLED[src.key]), src.key
        assert con.execute("select count(*) from meta.rejected_rows").fetchone()[0] == 0


def test_filled_templates_figures_on_pages(filled, tmp_path):
    db = tmp_path / "ips.duckdb"
    load(filled, db, io.StringIO(), io.StringIO())
    at = render(db, "rekrytering")
    assert not at.exception
    funnel = next(df.value for df in at.dataframe if "Steg" in df.value.columns)
    counts = dict(zip(funnel["Steg"], funnel["Antal"], strict=True))
    referrals = FILLED["referrals"]
    assert counts["Remiss"] == len(referrals)
    assert counts["Informationsmöte"] == sum(1 for r in referrals if r.get("Informationsmöte"))
    assert counts["Randomiserad"] == len(FILLED["randomisations"])
    at = render(db, "programtrohet")
    assert not at.exception
    assert any(m.value.startswith(str(4 * 25)) for m in at.metric)


# --- quirky staff files --------------------------------------------------------------------------

VARIANT_HEADERS = {
    "Remissdatum": "Datum för remiss",
    "Stadsdel": " stadsdel ",
    "Informationsmöte": "Datum informationsmöte",
    "Samtycke": "samtyckesdatum",
    "Baslinje": "Baslinjedatum ",
}


def _quirky_referral_log(rows: list[dict], path: Path) -> None:
    """Title and a note above the header, variant headers, a notes column, blank rows, and every
    other date typed as ISO text instead of an Excel date."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Blad1"
    ws.append(["Remisslogg IPS – uppdateras varje fredag"])
    ws.append([])
    headers = list(rows[0])
    ws.append([VARIANT_HEADERS.get(h, h) for h in headers] + ["Anteckningar"])
    for i, row in enumerate(rows):
        values = []
        for h in headers:
            v = row[h]
            if isinstance(v, date) and i % 2:
                v = v.isoformat()
            elif isinstance(v, date):
                v = datetime(v.year, v.month, v.day)
            values.append(v)
        ws.append(values + ["ringt två gånger" if i % 7 == 0 else None])
        if i % 25 == 0:
            ws.append([])
    wb.save(path)


def _yes_no_variants(folder: Path) -> None:
    """baslinje.csv as staff type yes/no: J/N, x for yes, mixed case, stray spaces."""
    path = folder / "baslinje.csv"
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    swap = {"Ja": ["J", "x", " ja "], "Nej": ["N", "nej", "NEJ "]}
    for r, row in enumerate(rows[1:]):
        for c, value in enumerate(row):
            if value in swap:
                row[c] = swap[value][(r + c) % 3]
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh, delimiter=";").writerows(rows)


@pytest.fixture(scope="module")
def quirky(demo_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("quirky")
    for path in demo_dir.iterdir():
        if path.is_file():
            shutil.copy(path, folder / path.name)
    (folder / "remisslogg.xlsx").unlink()
    _quirky_referral_log(ind.rows(demo_dir, "remisslogg"), folder / "remisslogg.xlsx")
    _yes_no_variants(folder)
    return folder


@pytest.mark.parametrize("table", ["mart.participants", "mart.referral_funnel", "mart.followup_status"])
def test_quirky_files_give_the_same_store_as_clean_ones(quirky, demo_db, tmp_path_factory, table):
    db = tmp_path_factory.getbasetemp() / "quirky_store" / "ips.duckdb"
    if not db.exists():
        out = io.StringIO()
        assert load(quirky, db, out, io.StringIO()) == 0, out.getvalue()
    frames = []
    for path in (demo_db, db):
        with duckdb.connect(str(path), read_only=True) as con:
            frames.append(con.execute(f"select * from {table} order by all").df())
    assert frames[0].equals(frames[1])


def test_quirky_referral_log_funnel_on_page_matches_file(quirky, tmp_path):
    db = tmp_path / "ips.duckdb"
    assert load(quirky, db, io.StringIO(), io.StringIO()) == 0
    at = render(db, "rekrytering")
    funnel = next(df.value for df in at.dataframe if "Steg" in df.value.columns)
    counts = dict(zip(funnel["Steg"], funnel["Antal"], strict=True))
    wb = openpyxl.load_workbook(quirky / "remisslogg.xlsx", read_only=True)
    data = [r for r in wb.active.iter_rows(min_row=4, values_only=True) if any(v is not None for v in r)]
    assert counts["Remiss"] == len(data)
    women = sum(1 for r in ind.rows(quirky, "baslinje") if r["Kön"] == "Kvinna")
    at = render(db, "balans")
    assert not at.exception
    shown = next(m for m in at.metric if m.label.startswith("Andel kvinnor, alla"))
    assert shown.value == f"{round(100 * women / len(ind.rows(quirky, 'baslinje')))} %"
