"""Balans page: renders for every role, and its key figures match counts made directly from the
demo's source files (csv/openpyxl, not the store or the project's reader)."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import statistics
import tomllib
from pathlib import Path

import duckdb
import openpyxl
import pytest

from dashboard import queries as q
from dashboard.access import Gate, Viewer
from tests.conftest import page_text, render

DISTRICT_OF = {"Rinkeby-Kista": "Järva"}  # the referral log keeps the name in use on the day


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


def read_xlsx(path: Path) -> list[dict]:
    rows = list(openpyxl.load_workbook(path, read_only=True).active.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def source_people(folder: Path) -> list[dict]:
    """One dict per randomised participant, in randomisation order: date, then the row order of the
    log (issue 12: never the study code). Age at the baseline date (issue 12), from the birth year."""
    base = {r["Studiekod"]: r for r in read_csv(folder / "baslinje.csv")}
    district = {
        r["Studiekod"]: DISTRICT_OF.get(r["Stadsdel"], r["Stadsdel"]) for r in read_xlsx(folder / "remisslogg.xlsx")
    }
    people = []
    for row, r in enumerate(read_csv(folder / "randomisering.csv")):
        b = base[r["Studiekod"]]
        people.append(
            {
                "code": r["Studiekod"],
                "on": r["Randomiseringsdatum"],
                "arm": r["Grupp"],
                "district": district[r["Studiekod"]],
                "gender": b["Kön"],
                "age": int(b["Baslinjedatum"][:4]) - int(b["Födelseår"]),
                "row": row,
                "born_se": b["Född i Sverige"],
                "civil": b["Civilstånd"],
                "number": int(r["Löpnummer"]) if r.get("Löpnummer") else None,
                "excluded_after": bool(r.get("Exkluderad efter randomisering")),
            }
        )
    # Issue 12: the löpnummer decides the order on a day when the log has one (the demo's does).
    return sorted(people, key=lambda p: (p["on"], p["number"] if p["number"] is not None else 10**9, p["row"]))


def analysed(folder: Path, people: list[dict]) -> list[dict]:
    """Table 1's N per the study configuration: people excluded after randomisation count only when
    `[analysis] count_excluded_after_randomisation` is true (the demo's has false, as the report)."""
    config = tomllib.loads((folder / "studie.toml").read_text(encoding="utf-8"))
    if config.get("analysis", {}).get("count_excluded_after_randomisation", False):
        return people
    return [p for p in people if not p["excluded_after"]]


def smd_binary(a: list[bool], b: list[bool]) -> float:
    p1, p2 = sum(a) / len(a), sum(b) / len(b)
    return abs(p1 - p2) / math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)


def smd_age(a: list[int], b: list[int]) -> float:
    return abs(statistics.mean(a) - statistics.mean(b)) / math.sqrt(
        (statistics.variance(a) + statistics.variance(b)) / 2
    )


def frame_with(tab, column: str):
    return next(df.value for df in tab.dataframe if column in df.value.columns)


def table_one(tab):
    return next(df.value for df in tab.dataframe if "Nivå" in df.value.columns)


def cell(table, feature: str, level: str, column_start: str):
    row = table[table["Egenskap"].str.startswith(feature) & (table["Nivå"] == level)]
    column = next(c for c in table.columns if c.startswith(column_start) and c.endswith("· n"))
    return row[column].item()


@pytest.fixture(scope="module")
def everyone(demo_dir):
    return source_people(demo_dir)


@pytest.fixture(scope="module")
def people(demo_dir, everyone):
    """The analysis population (the demo has one person excluded after randomisation; issue 12)."""
    return analysed(demo_dir, everyone)


@pytest.fixture(scope="module")
def page(demo_db):
    at = render(demo_db, "balans")
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_balans_renders_headings_and_tabs(page):
    assert page.title[0].value == "Balans"
    assert [t.label for t in page.tabs] == [
        "Nuläge",
        "Kontrollpunkt 1 (80)",
        "Kontrollpunkt 2 (160)",
        "Kontrollpunkt 3 (240)",
    ]
    text = page_text(page)
    assert "Vad är en kontrollpunkt?" in text and "fryses" in text
    assert "Bakgrundsfaktorer per grupp" in text


def test_balans_current_smd_matches_source(page, people):
    ips = [p for p in people if p["arm"] == "IPS+TAU"]
    tvr = [p for p in people if p["arm"] == "TVR+TAU"]
    assert {p["gender"] for p in people} <= {"Man", "Kvinna"}  # two levels: the binary formula applies
    smd = frame_with(page.tabs[0], "SMD").set_index("Egenskap")["SMD"]
    expected_gender = smd_binary([p["gender"] == "Kvinna" for p in ips], [p["gender"] == "Kvinna" for p in tvr])
    expected_age = smd_age([p["age"] for p in ips], [p["age"] for p in tvr])
    assert smd["Kön"] == pytest.approx(expected_gender, abs=5e-4)
    assert smd["Ålder vid baslinjen (år)"] == pytest.approx(expected_age, abs=5e-4)  # issue 12: at baseline
    flags = frame_with(page.tabs[0], "Bedömning").set_index("Egenskap")["Bedömning"]
    assert flags["Kön"].startswith("⚠") == (expected_gender > 0.1)


def test_balans_share_of_women_per_arm_matches_source(page, people):
    metrics = {m.label: m.value for m in page.tabs[0].metric}
    for arm in ("IPS+TAU", "TVR+TAU"):
        part = [p for p in people if p["arm"] == arm]
        women = sum(p["gender"] == "Kvinna" for p in part)
        assert metrics[f"{arm}: andel kvinnor"] == f"{100 * women / len(part):.0f} %"
    assert metrics["Deltagare"] == str(len(people))


def test_balans_table_one_counts_match_source(page, people):
    table = table_one(page.tabs[0])
    for arm in ("IPS+TAU", "TVR+TAU"):
        part = [p for p in people if p["arm"] == arm]
        assert f"{arm} (n={len(part)}) · n" in table.columns
        assert cell(table, "Kön", "Man", arm) == sum(p["gender"] == "Man" for p in part)
        assert cell(table, "Kön", "Kvinna", arm) == sum(p["gender"] == "Kvinna" for p in part)
        assert cell(table, "Född i Sverige", "Ja", arm) == sum(p["born_se"] == "Ja" for p in part)
        assert cell(table, "Civilstånd", "Ensamstående", arm) == sum(p["civil"] == "Ensamstående" for p in part)
    assert cell(table, "Kön", "Kvinna", "Totalt") == sum(p["gender"] == "Kvinna" for p in people)


def test_balans_first_checkpoint_is_first_third_of_target(page, everyone, demo_dir, demo_db):
    target = tomllib.loads((demo_dir / "studie.toml").read_text(encoding="utf-8"))["target_randomised"]
    n1 = math.ceil(target / 3)
    assert page.tabs[1].label == f"Kontrollpunkt 1 ({n1})"
    first = everyone[:n1]  # the first n1 randomised (by löpnummer), all frozen
    shown = analysed(demo_dir, first)  # Table 1's N in the snapshot, as in the live tab (issue 12)
    assert len(shown) < n1  # the demo's exclusion after randomisation is inside the first third
    table = table_one(page.tabs[1])
    assert f"Totalt (n={len(shown)}) · n" in table.columns
    assert cell(table, "Kön", "Kvinna", "Totalt") == sum(p["gender"] == "Kvinna" for p in shown)
    con = duckdb.connect(str(Path(demo_db).resolve()), read_only=True)  # as the app opens it
    try:
        gate = Gate(con.cursor(), Viewer("projektledare"))
        rows = q.balance_checkpoint_rows.uncached(gate, gate.districts)
    finally:
        con.close()
    assert list(rows.loc[rows["checkpoint"] == 1, "study_code"]) == [p["code"] for p in first]


def test_balans_unreached_checkpoint_says_how_many_more(page, everyone):
    text = " ".join(i.value for i in page.tabs[3].info)
    assert f"{240 - len(everyone)} till" in text  # randomised, excluded afterwards or not


def test_balans_frozen_checkpoint_keeps_old_values_after_reload(demo_dir, tmp_path):
    from etl.load import load

    first_files, second_files, db = tmp_path / "a", tmp_path / "b", tmp_path / "store" / "ips.duckdb"
    shutil.copytree(demo_dir, first_files)
    assert load(first_files, db, io.StringIO(), io.StringIO()) == 0
    people = source_people(first_files)
    changed = next(p for p in analysed(first_files, people[:80]) if p["born_se"] == "Ja")
    shutil.copytree(demo_dir, second_files)
    path = second_files / "baslinje.csv"
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    column = rows[0].index("Född i Sverige")
    for row in rows[1:]:
        if row[0] == changed["code"]:
            row[column] = "Nej"
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows(rows)
    assert load(second_files, db, io.StringIO(), io.StringIO()) == 0

    at = render(db, "balans")
    assert not at.exception, [e.value for e in at.exception]
    born_se_first = sum(p["born_se"] == "Ja" for p in analysed(first_files, people[:80]))
    born_se_all = sum(p["born_se"] == "Ja" for p in analysed(first_files, people))
    assert cell(table_one(at.tabs[1]), "Född i Sverige", "Ja", "Totalt") == born_se_first  # frozen: unchanged
    assert cell(table_one(at.tabs[0]), "Född i Sverige", "Ja", "Totalt") == born_se_all - 1  # current: new value


def test_balans_unit_manager_sees_only_own_district(demo_db, demo_dir, people, everyone):
    at = render(demo_db, "balans", role="enhetschef:Södermalm")
    assert not at.exception, [e.value for e in at.exception]
    own = [p for p in people if p["district"] == "Södermalm"]
    assert {m.label: m.value for m in at.tabs[0].metric}["Deltagare"] == str(len(own))
    table = table_one(at.tabs[0])
    assert f"Totalt (n={len(own)}) · n" in table.columns
    assert cell(table, "Kön", "Kvinna", "Totalt") == sum(p["gender"] == "Kvinna" for p in own)
    frozen = [p for p in analysed(demo_dir, everyone[:80]) if p["district"] == "Södermalm"]
    assert f"Totalt (n={len(frozen)}) · n" in table_one(at.tabs[1]).columns


def test_balans_research_lead_sees_coded_arms_only(demo_db):
    at = render(demo_db, "balans", role="forskare")
    assert not at.exception, [e.value for e in at.exception]
    text = page_text(at)
    assert "IPS+TAU" not in text and "TVR+TAU" not in text
    assert "Grupp A" in text and "Grupp B" in text


def test_balans_steering_group_small_cells_masked(demo_db):
    at = render(demo_db, "balans", role="styrgrupp")
    assert not at.exception, [e.value for e in at.exception]
    table = table_one(at.tabs[0])
    counts = [c for c in table.columns if c.endswith("· n")]
    values = {str(v) for c in counts for v in table[c]}
    assert "<5" in values
    assert not any(v.isdigit() and 0 < int(v) <= 4 for v in values)


def test_balans_steering_group_smd_hidden_where_a_count_is_masked(demo_db):
    """With the group sizes and the total shown, a two-level characteristic's SMD gives its masked
    per-arm counts back: for styrgrupp it is "–" wherever a count of the characteristic is masked,
    in the table and the chart's dataset; the others keep their SMD."""
    from dashboard import balance
    from tests.test_trial_charts import datasets

    at = render(demo_db, "balans", role="styrgrupp")
    assert not at.exception, [e.value for e in at.exception]
    hidden_somewhere = shown_somewhere = 0
    for tab in at.tabs:
        table = next((df.value for df in tab.dataframe if "Nivå" in df.value.columns), None)
        smd = next((df.value for df in tab.dataframe if "Bedömning" in df.value.columns), None)
        if table is None or smd is None:
            continue
        counts = [c for c in table.columns if c.endswith("· n")]
        charted = {r.get("Egenskap") for spec, rows in datasets(tab) if "|SMD|" in json.dumps(spec) for r in rows} - {
            None
        }
        assert charted, tab.label  # the SMD chart's dataset was read
        for label, value in zip(smd["Egenskap"], smd["SMD"], strict=True):
            masked = (table.loc[balance.rows_of(table, label), counts].astype(str) == "<5").any(axis=None)
            if masked:
                assert value in (None, "–") or value != value, (tab.label, label, value)
                assert label not in charted, (tab.label, label)
                hidden_somewhere += 1
            else:
                shown_somewhere += value not in (None, "–") and value == value
    assert hidden_somewhere > 0 and shown_somewhere > 0


@pytest.mark.parametrize(
    "role, districts, fires",
    [("projektledare", ("jarva",), True), ("styrgrupp", ("jarva",), False), ("styrgrupp", None, True)],
)
def test_balans_imbalance_alert_for_styrgrupp_only_for_all_districts(demo_db, role, districts, fires):
    """The overview's imbalance flag (threshold lowered to 0 so it fires) speaks of masked per-arm
    counts in one district's scope: styrgrupp gets it for all districts only."""
    from dashboard import alerts
    from dashboard.access import parse_demo_role, read_config
    from dashboard.ui import _resolve_districts

    con = duckdb.connect(str(Path(demo_db).resolve()), read_only=True)
    try:
        config = read_config(con)
        viewer = parse_demo_role(role)
        viewer = type(viewer)(viewer.role, _resolve_districts(config, viewer.districts))
        gate = Gate(con.cursor(), viewer, store_id=f"balance-alert|{role}")
        selected = districts or gate.districts
        low = config.model_copy(update={"balance": config.balance.model_copy(update={"smd_threshold": 0.0})})
        got = alerts.collect(
            gate, low, selected, q.participants.uncached(gate, selected), q.followup_status.uncached(gate, selected)
        )
    finally:
        con.close()
    assert any(page == "balans" for _, page, _ in got) is fires


def test_balans_steering_group_counts_everyone_randomised(demo_db, demo_dir, everyone):
    """styrgrupp's Balans is over everyone randomised (intention to treat): over the analysed, its group
    sizes (which any complete block of Table 1 adds up to) would give back the count excluded after
    randomisation per arm, a figure the attrition family may hide. The project group keeps Table 1's N."""
    assert len(analysed(demo_dir, everyone)) < len(everyone)  # the demo has an exclusion after randomisation
    at = render(demo_db, "balans", role="styrgrupp")
    assert not at.exception, [e.value for e in at.exception]
    table = table_one(at.tabs[0])
    assert f"Totalt (n={len(everyone)}) · n" in table.columns
    for arm in ("IPS+TAU", "TVR+TAU"):
        assert f"{arm} (n={sum(p['arm'] == arm for p in everyone)}) · n" in table.columns
    text = page_text(at)
    assert "exkluderats efter randomiseringen räknas inte" not in text
    assert "intention att behandla" in text
