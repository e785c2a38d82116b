"""Issue 12, point 3: who was randomised first on a day follows the allocation sequence (the
löpnummer, else the row order of the log), never the study code; the löpnummer is checked for
duplicates, gaps and date order. Expected values are counted from the files written here."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from tests import fixtures as fx
from tests import independent
from tests.conftest import load_quietly

D = date.fromisoformat


def _same_day_study(numbers: dict[str, int] | None = None) -> dict:
    """A0314M27 and B0320K11 randomised on the same day, B0320K11's row first in the log."""
    rows = fx.study_rows()
    rand = rows["randomisations"]["rows"]
    a = next(r for r in rand if r["Studiekod"] == "A0314M27")
    b = next(r for r in rand if r["Studiekod"] == "B0320K11")
    a["Randomiseringsdatum"] = D("2023-03-20")
    rand.remove(b)
    rand.insert(0, b)
    if numbers:
        rows["randomisations"]["headers"].append("Löpnummer")
        for r in rand:
            r["Löpnummer"] = numbers.get(r["Studiekod"])
    return rows


def _config_text(target: int) -> str:
    text = fx.CONFIG_PATH.read_text("utf-8")
    return text.replace("target_randomised = 240", f"target_randomised = {target}")


def _expected_order(folder) -> list[str]:
    """Independent: sort the log's rows by date, then löpnummer (when given), then row order."""
    log = independent.rows(folder, "randomisering")

    def key(item):
        index, r = item
        number = r.get("Löpnummer")
        return (r["Randomiseringsdatum"], int(number) if number not in (None, "") else float("inf"), index)

    return [r["Studiekod"] for _, r in sorted(enumerate(log), key=key)]


def _load(tmp_path, rows, target=3):
    folder = fx.write_study(tmp_path / "in", rows, config_text=_config_text(target))
    db = tmp_path / "ips.duckdb"
    status = load_quietly(folder, db)
    assert status in (0, 1)
    return folder, db


def _frozen(db, checkpoint: int) -> set[str]:
    con = duckdb.connect(str(db.resolve()), read_only=True)
    try:
        rows = con.execute(
            'select study_code from meta.balance_checkpoint_rows where "checkpoint" = ?', [checkpoint]
        ).fetchall()
    finally:
        con.close()
    return {r[0] for r in rows}


@pytest.mark.parametrize(
    "numbers",
    [
        None,
        {"A0314M27": 2, "B0320K11": 1, "A0401M33": 3, "D0801M55": 4},
        {"A0314M27": 1, "B0320K11": 2, "A0401M33": 3, "D0801M55": 4},
    ],
    ids=["row-order", "lopnummer-agrees-with-rows", "lopnummer-against-rows"],
)
def test_checkpoint_membership_follows_allocation_sequence_not_code(tmp_path, numbers):
    folder, db = _load(tmp_path, _same_day_study(numbers), target=3)
    order = _expected_order(folder)
    # target 3, three checkpoints: the first 1, 2 and 3 randomised
    assert _frozen(db, 1) == set(order[:1])
    assert _frozen(db, 2) == set(order[:2])
    if numbers is None:
        assert order[0] == "B0320K11"  # the log's first row, although "A…" sorts first by code


def test_allocation_number_problems_are_data_quality_warnings(tmp_path):
    numbers = {"A0314M27": 1, "B0320K11": 1, "A0401M33": 4, "D0801M55": None}
    folder, db = _load(tmp_path, _same_day_study(numbers), target=240)
    log = independent.rows(folder, "randomisering")
    given = [int(r["Löpnummer"]) for r in log if r["Löpnummer"] not in (None, "")]
    duplicates = {n for n in given if given.count(n) > 1}
    gaps = set(range(min(given), max(given) + 1)) - set(given)
    con = duckdb.connect(str(db.resolve()), read_only=True)
    try:
        found = con.execute("select problem, allocation_number, message_sv from mart.allocation_checks").fetchall()
        loaded = con.execute("select count(*) from mart.participants").fetchone()[0]
    finally:
        con.close()
    assert {n for p, n, _ in found if p == "duplicate"} == duplicates == {1}
    assert {n for p, n, _ in found if p == "gap"} == gaps == {2, 3}
    assert any(p == "missing" for p, _, _ in found)
    assert all(m and "löpnummer" in m.lower() for _, _, m in found)
    assert loaded == len(log)  # warnings, not rejections
