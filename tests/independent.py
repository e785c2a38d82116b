"""Plain readers of the demo's source files, for counting figures independently of the loader,
the store and the SQL: csv + openpyxl + tomllib only."""

from __future__ import annotations

import csv
import tomllib
from datetime import date, datetime
from pathlib import Path

import openpyxl


def rows(folder: Path, stem: str) -> list[dict]:
    """Rows of `<stem>.csv` or `<stem>.xlsx` as dicts keyed by the header; dates as `date`."""
    csv_path, xlsx_path = folder / f"{stem}.csv", folder / f"{stem}.xlsx"
    if csv_path.exists():
        with open(csv_path, encoding="utf-8-sig", newline="") as fh:
            out = list(csv.DictReader(fh, delimiter=";"))
        for row in out:
            for k, v in row.items():
                if isinstance(v, str) and len(v) == 10 and v[4] == "-" and v[7] == "-":
                    try:
                        row[k] = date.fromisoformat(v)
                    except ValueError:
                        pass
        return out
    wb = openpyxl.load_workbook(xlsx_path, read_only=True, data_only=True)
    sheet = wb.worksheets[0]
    it = sheet.iter_rows(values_only=True)
    header = [str(h) if h is not None else "" for h in next(it)]
    out = []
    for values in it:
        if all(v in (None, "") for v in values):
            continue
        row = {}
        for h, v in zip(header, values, strict=False):
            row[h] = v.date() if isinstance(v, datetime) else ("" if v is None else v)
        out.append(row)
    return out


def config(folder: Path) -> dict:
    with open(folder / "studie.toml", "rb") as fh:
        return tomllib.load(fh)


def district_of_name(folder: Path) -> dict[str, str]:
    """Every name a district is written under (current, former, alias, id) → current name."""
    out = {}
    for d in config(folder)["districts"]:
        names = [d["name"], d["id"], *d.get("aliases", []), *(f["name"] for f in d.get("former_names", []))]
        for n in names:
            out[n.strip().lower()] = d["name"]
    return out


def randomised(folder: Path) -> dict[str, dict]:
    """code → {"district", "arm", "randomised_on"} for every randomised participant."""
    names = district_of_name(folder)
    district = {r["Studiekod"]: names[str(r["Stadsdel"]).strip().lower()] for r in rows(folder, "remisslogg")}
    out = {}
    for r in rows(folder, "randomisering"):
        out[r["Studiekod"]] = {
            "district": district[r["Studiekod"]],
            "arm": r["Grupp"],
            "randomised_on": r["Randomiseringsdatum"],
        }
    return out


def left_study(folder: Path) -> dict[str, tuple[date, str]]:
    """code → (date, reason) of the first 'Lämnat studien' event."""
    out: dict[str, tuple[date, str]] = {}
    for r in sorted(rows(folder, "avslut"), key=lambda r: r["Datum"]):
        if r["Händelse"] == "Lämnat studien" and r["Studiekod"] not in out:
            out[r["Studiekod"]] = (r["Datum"], r["Orsak"])
    return out
