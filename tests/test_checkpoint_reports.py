"""Frozen balance checkpoints in the reports and with exclusions after randomisation (issue 12):

- the steering PDF and the project workbook state, for every snapshot, the date the checkpoint was
  reached and which extract it froze (cut-off and load time), as the Balans tab does;
- a person found ineligible after randomisation is counted in a frozen snapshot the way the study
  configuration decides for Table 1 (`count_excluded_after_randomisation`), as in the live tab.

Expected figures come from the files written here (csv/openpyxl via tests/independent.py); the load
time exists only in the store, so it is read from `meta.balance_checkpoints`.
"""

from __future__ import annotations

import io
import subprocess
from datetime import date, timedelta

import duckdb
import openpyxl
import pytest

from etl.paths import current_target
from ipsdash import report as cli_report
from tests import fixtures as fx
from tests import independent as ind
from tests.conftest import load_quietly, render
from tests.small_study import rows_with

TARGET = 12  # checkpoints after 4, 8 and 12 randomised
EXCLUDED_LABEL = "Uppfyller ej inklusionskriterierna"


def _order(folder) -> list[dict]:
    """The randomisation log in allocation order: date, then löpnummer if any, then row order."""
    log = ind.rows(folder, "randomisering")

    def key(i):
        number = log[i].get("Löpnummer")
        return (log[i]["Randomiseringsdatum"], int(number) if number not in (None, "") else 10**9, i)

    return [log[i] for i in sorted(range(len(log)), key=key)]


def _study(tmp_path, counted: bool):
    rows = rows_with(["Kvinna", "Man", "Man", "Kvinna", "Man", "Man", "Man", "Man"])
    config = (
        fx.CONFIG_PATH.read_text("utf-8")
        .replace("target_randomised = 240", f"target_randomised = {TARGET}")
        .replace(
            "count_excluded_after_randomisation = false",
            f"count_excluded_after_randomisation = {str(counted).lower()}",
        )
    )
    # Exclude the second person in allocation order (inside the first checkpoint) after randomisation.
    folder = fx.write_study(tmp_path / "probe", rows, config_text=config)
    second = _order(folder)[1]
    index = next(i for i, r in enumerate(rows["randomisations"]["rows"]) if r["Studiekod"] == second["Studiekod"])
    fx.set_cell(
        rows,
        "randomisations",
        index,
        "Exkluderad efter randomisering",
        second["Randomiseringsdatum"] + timedelta(days=20),
    )
    fx.set_cell(rows, "randomisations", index, "Orsak exklusion efter randomisering", EXCLUDED_LABEL)
    folder = fx.write_study(tmp_path / "in", rows, config_text=config)
    db = tmp_path / "ips.duckdb"
    assert load_quietly(folder, db) in (0, 1)
    return folder, db


def _expected(folder, counted: bool) -> dict:
    order = _order(folder)
    size = -(-TARGET // 3)
    first = order[:size]
    excluded = [r for r in first if r.get("Exkluderad efter randomisering")]
    extract = ind.config(folder)["data_cutoff"]
    return {
        "size": size,
        "reached": first[-1]["Randomiseringsdatum"],
        "excluded": len(excluded),
        "shown": size if counted else size - len(excluded),
        "extract": extract,
    }


def _loaded_at(db) -> str:
    con = duckdb.connect(str(current_target(db)), read_only=True)
    try:
        at = con.execute('select frozen_at from meta.balance_checkpoints where "checkpoint" = 1').fetchone()[0]
    finally:
        con.close()
    return f"{at:%Y-%m-%d %H:%M}"


@pytest.fixture(scope="module", params=[False, True], ids=["not-counted", "counted"])
def study(request, tmp_path_factory):
    folder, db = _study(tmp_path_factory.mktemp("cp"), request.param)
    return request.param, folder, db


def test_frozen_tab_counts_exclusion_after_randomisation_as_configured(study):
    counted, folder, db = study
    want = _expected(folder, counted)
    assert want["excluded"] == 1
    at = render(db, "balans")
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.tabs[1].metric}
    assert metrics["Deltagare"] == str(want["shown"])
    captions = " ".join(c.value for c in at.tabs[1].caption)
    assert ("exkluderats efter randomiseringen räknas inte" in captions) is (not counted)
    # The live tab follows the same rule.
    live = {m.label: m.value for m in at.tabs[0].metric}
    everyone = len(ind.rows(folder, "randomisering"))
    assert live["Deltagare"] == str(everyone if counted else everyone - 1)


def test_reports_state_reached_date_and_the_extract_each_snapshot_froze(study, tmp_path):
    counted, folder, db = study
    want = _expected(folder, counted)
    source = f"datauttaget {want['extract'].isoformat()} (inläst {_loaded_at(db)} UTC)"

    xlsx = tmp_path / "projektgrupp.xlsx"
    assert cli_report.run_report(db, "projektgrupp", xlsx, io.StringIO(), io.StringIO()) == 0
    sheet = openpyxl.load_workbook(xlsx, data_only=True)["Balans"]
    header = [c.value for c in sheet[3]]
    rows = [dict(zip(header, [c.value for c in r], strict=False)) for r in sheet.iter_rows(min_row=4)]
    first = next(r for r in rows if r["Tidpunkt"] == "Kontrollpunkt 1 (fryst)")
    assert first["Nådd"] == want["reached"].isoformat()
    assert first["Fryst ur"] == source
    assert str(first["Randomiserade"]) == str(want["shown"])
    assert str(first["Exkluderade efter randomisering"]) == str(want["excluded"])  # counted or not

    pdf = tmp_path / "styrgrupp.pdf"
    assert cli_report.run_report(db, "styrgrupp", pdf, io.StringIO(), io.StringIO()) == 0
    text = subprocess.run(["pdftotext", "-raw", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    flat = " ".join(text.split())
    assert "Fryst ur" in flat
    assert f"Kontrollpunkt 1 (fryst) {want['reached'].isoformat()}" in flat
    assert want["extract"].isoformat() in flat and f"{_loaded_at(db)} UTC" in flat
    # styrgrupp's copy counts everyone randomised (intention to treat): the analysed number beside the
    # checkpoint's size would give the excluded (1) back, which is a small count (docs/access.md).
    assert "Exkl. efter rand." not in flat and "intention att behandla" in flat
    row = flat.split(f"Kontrollpunkt 1 (fryst) {want['reached'].isoformat()}")[1].split("UTC)")[1].split()
    assert row[0] == str(want["size"]), row[:3]  # a plain randomisation count, shown whatever its size


def test_checkpoint_rows_of_a_study_without_exclusions_are_untouched():
    import pandas as pd

    from dashboard import balance

    rows = pd.DataFrame({"study_code": ["A", "B"], "checkpoint": [1, 1]})
    people = pd.DataFrame({"study_code": ["A", "B"], "is_analysed": [True, True]})
    kept, excluded = balance.analysed_rows(rows, people)
    assert list(kept["study_code"]) == ["A", "B"] and excluded == 0
    assert date(2024, 1, 1)  # (dates in the helper are plain dates)
