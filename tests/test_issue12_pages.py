"""Issue 12 on the pages: half-up shares (1 of 8 is 12.5 % and shows as 13 %), the age label of
Table 1, the extract a frozen checkpoint came from, exclusion after randomisation in Table 1's N
and the CONSORT diagram, and the as-of date for the roles that prepare meetings. Every expected
figure is counted from the files written here or the demo's files."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pytest

from etl.paths import current_target
from tests import fixtures as fx
from tests import independent as ind
from tests.conftest import environment, load_quietly, page_text, render
from tests.small_study import rows_with

EXCLUDED_LABEL = "Uppfyller ej inklusionskriterierna"


def half_up(part: int, whole: int) -> str:
    """Independent: Decimal's ROUND_HALF_UP on the exact quotient of the two counts."""
    return str((Decimal(100 * part) / Decimal(whole)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _store(tmp_path, rows, config_text=None):
    folder = fx.write_study(tmp_path / "in", rows, config_text=config_text)
    db = tmp_path / "ips.duckdb"
    assert load_quietly(folder, db) in (0, 1)
    return folder, db


def _people(folder) -> list[dict]:
    """Randomised people from the files: code, arm, gender, excluded after randomisation?"""
    base = {r["Studiekod"]: r for r in ind.rows(folder, "baslinje")}
    genders = {"M": "Man", "Man": "Man", "K": "Kvinna", "Kvinna": "Kvinna"}
    return [
        {
            "code": r["Studiekod"],
            "arm": r["Grupp"],
            "gender": genders[str(base[r["Studiekod"]]["Kön"])],
            "excluded_after": bool(r.get("Exkluderad efter randomisering")),
        }
        for r in ind.rows(folder, "randomisering")
    ]


def _table_one(at):
    return next(
        df.value for df in at.tabs[0].dataframe if "Egenskap" in df.value.columns and "Nivå" in df.value.columns
    )


# --- point 2: half-up shares ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def eighths(tmp_path_factory):
    """16 randomised, 8 per arm, one woman in each arm: every share of women is 12.5 %."""
    return _store(tmp_path_factory.mktemp("eighths"), rows_with(["Kvinna"] + ["Man"] * 11))


def test_balans_shares_round_half_up_from_counts(eighths):
    folder, db = eighths
    people = _people(folder)
    at = render(db, "balans")
    assert not at.exception, [e.value for e in at.exception]
    women = sum(p["gender"] == "Kvinna" for p in people)
    assert (women, len(people)) == (2, 16)
    metrics = {m.label: m.value for m in at.tabs[0].metric}
    assert metrics["Andel kvinnor, alla"] == f"{half_up(women, len(people))} %" == "13 %"
    for arm in ("IPS+TAU", "TVR+TAU"):
        part = [p for p in people if p["arm"] == arm]
        n_women = sum(p["gender"] == "Kvinna" for p in part)
        assert metrics[f"{arm}: andel kvinnor"] == f"{half_up(n_women, len(part))} %"
    table = _table_one(at)
    row = table[(table["Egenskap"] == "Kön") & (table["Nivå"] == "Kvinna")].iloc[0]
    shares = {c.split(" (n=")[0]: row[c] for c in table.columns if c.endswith("· %")}
    assert shares["Totalt"] == half_up(women, len(people)) == "13"
    for arm in ("IPS+TAU", "TVR+TAU"):
        part = [p for p in people if p["arm"] == arm]
        assert shares[arm] == half_up(sum(p["gender"] == "Kvinna" for p in part), len(part)) == "13"


def test_balans_age_is_at_baseline_and_labelled_honestly(eighths):
    _, db = eighths
    at = render(db, "balans")
    table = _table_one(at)
    assert any(str(e).startswith("Ålder vid baslinjen (år)") for e in table["Egenskap"])
    text = page_text(at)
    assert "bara födelseåret är känt" in text and "ett år för hög" in text


# --- point 4: which extract a checkpoint froze -------------------------------------------------------------


def test_checkpoint_states_when_reached_and_which_extract_it_froze(demo_db, demo_dir):
    con = duckdb.connect(str(current_target(demo_db)), read_only=True)
    try:
        loaded_at = con.execute('select frozen_at from meta.balance_checkpoints where "checkpoint" = 1').fetchone()[0]
    finally:
        con.close()
    log = ind.rows(demo_dir, "randomisering")
    order = sorted(range(len(log)), key=lambda i: (log[i]["Randomiseringsdatum"], i))  # date, then row order
    size = -(-ind.config(demo_dir)["target_randomised"] // 3)
    reached = log[order[size - 1]]["Randomiseringsdatum"]
    extract = ind.config(demo_dir)["data_cutoff"]
    at = render(demo_db, "balans")
    captions = " ".join(c.value for c in at.tabs[1].caption)
    assert f"nåddes {reached.isoformat()}" in captions
    assert f"datauttaget {extract.isoformat()}" in captions
    assert f"inläst {loaded_at:%Y-%m-%d %H:%M} UTC" in captions


# --- point 10: exclusion after randomisation ----------------------------------------------------------------


def _with_exclusion() -> dict:
    rows = rows_with(["Kvinna"] + ["Man"] * 11)
    target = next(
        r for r in rows["randomisations"]["rows"] if r["Studiekod"].startswith("E") and r["Grupp"] == "TVR+TAU"
    )
    fx.set_cell(
        rows,
        "randomisations",
        rows["randomisations"]["rows"].index(target),
        "Exkluderad efter randomisering",
        date(2023, 9, 1),
    )
    fx.set_cell(
        rows,
        "randomisations",
        rows["randomisations"]["rows"].index(target),
        "Orsak exklusion efter randomisering",
        EXCLUDED_LABEL,
    )
    return rows


@pytest.mark.parametrize("counted", [False, True], ids=["not-counted", "counted"])
def test_exclusion_after_randomisation_in_table_one_and_consort(tmp_path, counted):
    config = fx.CONFIG_PATH.read_text("utf-8").replace(
        "count_excluded_after_randomisation = false", f"count_excluded_after_randomisation = {str(counted).lower()}"
    )
    folder, db = _store(tmp_path, _with_exclusion(), config)
    people = _people(folder)
    excluded = [p for p in people if p["excluded_after"]]
    assert len(excluded) == 1
    analysed = [p for p in people if counted or not p["excluded_after"]]
    at = render(db, "balans")
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.tabs[0].metric}
    assert metrics["Deltagare"] == str(len(analysed))
    # CONSORT: randomised includes everyone; the box and its reason are shown; analysed follows ITT
    # with the configured rule.
    at = render(db, "rekrytering")
    assert not at.exception, [e.value for e in at.exception]
    spec = next(s for s in (str(c.proto) for c in at.get("vega_lite_chart")) if "Analyseras n = " in s)
    assert "Exkluderad efter randomisering n = 1" in spec
    assert EXCLUDED_LABEL in spec
    per_arm = Counter(p["arm"] for p in analysed)
    for arm, n in per_arm.items():
        assert f"Analyseras n = {n}" in spec, arm
    assert f"Randomiserade n = {len(people)}" in spec


# --- point 9: as-of date in the dashboard ------------------------------------------------------------------


def test_as_of_date_in_sidebar_gives_the_earlier_counts(demo_db, demo_dir):
    as_of = date(2024, 3, 31)
    extract = ind.config(demo_dir)["data_cutoff"]
    with environment({"IPSDASH_DB": str(demo_db), "IPSDASH_DEMO_ROLE": "projektledare"}):
        from streamlit.testing.v1 import AppTest

        from tests.conftest import APP

        at = AppTest.from_file(APP, default_timeout=120)
        at.run()
        at.date_input(key="as_of").set_value(as_of).run()
    assert not at.exception, [e.value for e in at.exception]
    n = sum(1 for p in ind.randomised(demo_dir).values() if p["randomised_on"] <= as_of)
    target = ind.config(demo_dir)["target_randomised"]
    assert next(m for m in at.metric if m.label == "Randomiserade").value == f"{n} / {target}"
    text = page_text(at)
    assert f"per {as_of.isoformat()} (datauttag {extract.isoformat()})" in text


def test_steering_group_gets_no_as_of_choice(demo_db):
    at = render(demo_db, "oversikt", role="styrgrupp")
    assert not at.exception
    assert not [w for w in at.date_input if w.key == "as_of"]


# --- point 3: löpnummer warnings on the data-quality page -------------------------------------------------


def test_allocation_number_warnings_on_datakvalitet(tmp_path):
    rows = fx.study_rows()
    rows["randomisations"]["headers"].append("Löpnummer")
    for r, n in zip(rows["randomisations"]["rows"], [1, 1, 4, 5], strict=True):
        r["Löpnummer"] = n
    folder, db = _store(tmp_path, rows)
    given = [int(r["Löpnummer"]) for r in ind.rows(folder, "randomisering")]
    duplicates = {n for n in given if given.count(n) > 1}
    gaps = set(range(min(given), max(given) + 1)) - set(given)
    at = render(db, "datakvalitet")
    assert not at.exception, [e.value for e in at.exception]
    table = next(df.value for df in at.dataframe if "Varning" in df.value.columns)
    shown = {int(n) for n in table["Löpnummer"].dropna()}
    assert shown == duplicates | gaps == {1, 2, 3}
    # not for the project group (no data-quality rights)
    at = render(db, "oversikt", role="projektgrupp")
    assert "löpnummer" not in page_text(at).lower()
