"""A 'last month' and a 'this month' of the demo study, for the upload/check/publish tests: the
earlier set is the demo's files with every row dated after a day removed (plain csv + openpyxl,
not the loader), so the difference between the two sets is known from the files alone."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import date, datetime
from pathlib import Path

import openpyxl

from tests import independent as ind

# (file, date column) of the rows that move the study forward in time.
DATED = [
    ("randomisering.csv", "Randomiseringsdatum"),
    ("avslut.xlsx", "Datum"),
    ("uppfoljning.csv", "Datum"),
    ("programtrohet.xlsx", "Skattningsdatum"),
]


def _as_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _filter_csv(path: Path, keep) -> None:
    text = path.read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    header, body = rows[0], rows[1:]
    kept = [r for r in body if keep(dict(zip(header, r, strict=False)))]
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=";", lineterminator="\n")
    writer.writerow(header)
    writer.writerows(kept)
    path.write_bytes(("\ufeff" + buf.getvalue()).encode("utf-8"))


def _filter_xlsx(path: Path, keep) -> None:
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    header = [c.value for c in ws[1]]
    for r in range(ws.max_row, 1, -1):
        values = [c.value for c in ws[r]]
        if all(v is None for v in values):
            continue
        if not keep(dict(zip(header, values, strict=False))):
            ws.delete_rows(r)
    wb.save(path)


def earlier_set(full: Path, out: Path, until: date) -> Path:
    """The demo folder as it was on `until`: randomisations, events, follow-ups and fidelity
    reviews dated later removed, and follow-ups of people not yet randomised then."""
    shutil.copytree(full, out)
    randomised = {c for c, r in ind.randomised(full).items() if r["randomised_on"] <= until}
    for name, column in DATED:
        path = out / name

        def keep(row: dict, column=column, name=name) -> bool:
            day = _as_date(row.get(column))
            if day is not None and day > until:
                return False
            code = row.get("Studiekod")
            return code is None or code in randomised or name != "uppfoljning.csv"

        (_filter_csv if name.endswith(".csv") else _filter_xlsx)(path, keep)
    return out


def per_district(folder: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in ind.randomised(folder).values():
        out[r["district"]] = out.get(r["district"], 0) + 1
    return out


def followup_keys(folder: Path) -> set[tuple[str, int]]:
    return {(r["Studiekod"], int(str(r["Tidpunkt"]).split()[0])) for r in ind.rows(folder, "uppfoljning")}


def review_days(folder: Path) -> set[date]:
    return {_as_date(r["Skattningsdatum"]) for r in ind.rows(folder, "programtrohet")}
