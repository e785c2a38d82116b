"""Figures as of a date other than the extract's: the same derived SQL, run on censored inputs.

A load describes its extract date (`meta.loads.data_cutoff`). A quarterly report is made as of the
quarter's last day, usually from an extract taken days later: steps dated after the as-of date have
not happened yet (censored), they are not errors. `open_as_of` builds an in-memory store that looks
exactly like the loaded one (schemas raw, sealed, meta, mart) but whose raw rows are cut at the
as-of date, and whose marts are built by `etl.derive` with `$cutoff` = the as-of date. Pages and
reports read it through the same gate as the loaded store; the configuration in it carries the
as-of date as its cut-off and `meta.loads` still carries the extract date, so every output can
state both.

Censoring rules (one per source, a row or a date is dropped when it lies after the as-of date):
- referrals: referred after → dropped; each later step dated after → blank. An exclusion has no
  date of its own: it counts from the row's last dated step, i.e. it stays only when every date on
  the row is on or before the as-of date (an approximation: the exclusion may have come later).
- randomisations, baseline, events, fidelity, specialists, assignments, activity: rows dated
  after → dropped; an exclusion after randomisation dated after → blank.
- followups: done after → dropped. A recorded "missed" has no date: at an earlier as-of date it
  counts only once its window had closed by then (until then the follow-up is open: due, not due,
  on the to-do list), at the extract date as recorded (`30_followup_status.sql`, `$extract`).
Both approximations are written in docs/store.md and stated on the pages that show them.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb

from schema.config import StudyConfig

MISSED_RULE_SV = (
    "En uppföljning som registrerats som missad har inget datum: per ett tidigare datum än datauttaget "
    "räknas den som missad först när dess fönster hade stängt det datumet, dessförinnan som öppen."
)
EXCLUSION_RULE_SV = (
    "En exklusion i remissloggen har inget eget datum: per ett tidigare datum än datauttaget räknas den "
    "från radens sista daterade steg (alla datum på raden på eller före datumet)."
)

_STEPS = ("info_meeting_on", "consent_on", "enrolment_on", "baseline_on")


def _censored_sources(store: str) -> dict[str, str]:
    """Source table -> select over the attached store, cut at `$asof`."""
    steps = ", ".join(f"case when {s} <= $asof then {s} end as {s}" for s in _STEPS)
    all_known = " and ".join(f"({s} is null or {s} <= $asof)" for s in _STEPS)
    return {
        "raw.referrals": (
            f"select * replace ({steps}, "
            f"case when {all_known} then excluded_stage end as excluded_stage, "
            f"case when {all_known} then exclusion_reason end as exclusion_reason) "
            f"from {store}.raw.referrals where referred_on <= $asof"
        ),
        "raw.randomisations": (
            "select * replace (case when excluded_after_on <= $asof then excluded_after_on end as excluded_after_on, "
            "case when excluded_after_on <= $asof then excluded_after_reason end as excluded_after_reason) "
            f"from {store}.raw.randomisations where randomised_on <= $asof"
        ),
        "raw.baseline": f"select * from {store}.raw.baseline where baseline_on <= $asof",
        "raw.followups": f"select * from {store}.raw.followups where done_on is null or done_on <= $asof",
        "raw.events": f"select * from {store}.raw.events where event_on <= $asof",
        "raw.specialists": f"select * from {store}.raw.specialists where start_on <= $asof",
        "raw.assignments": f"select * from {store}.raw.assignments where start_on <= $asof",
        "raw.fidelity": f"select * from {store}.raw.fidelity where reviewed_on <= $asof",
        "sealed.activity": f"select * from {store}.sealed.activity where activity_on <= $asof",
        "sealed.employment": f"select * from {store}.sealed.employment",
    }


def extract_date(con: duckdb.DuckDBPyConnection) -> date | None:
    """The extract date of the load that built this store (None for an empty store)."""
    row = con.execute("select data_cutoff from meta.loads order by load_id desc limit 1").fetchone()
    return row[0] if row else None


def open_as_of(target: Path | str, as_of: date) -> duckdb.DuckDBPyConnection:
    """An in-memory store as of `as_of`, built from the store file `target` (opened read-only).

    Raises ValueError (Swedish) when `as_of` lies after the extract date: nothing is known then."""
    from etl.derive import derive

    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH '{str(target).replace(chr(39), chr(39) * 2)}' AS store (READ_ONLY)")
        row = con.execute("select data_cutoff from store.meta.loads order by load_id desc limit 1").fetchone()
        extract = row[0] if row else None
        if extract is not None and as_of > extract:
            raise ValueError(f"datumet {as_of.isoformat()} ligger efter datauttaget {extract.isoformat()}")
        for schema in ("raw", "sealed", "meta", "mart"):
            con.execute(f"create schema {schema}")
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'store'"
        ).fetchall()
        censored = _censored_sources("store")
        for schema, table in tables:
            name = f"{schema}.{table}"
            if schema == "mart":
                continue
            if name in censored:
                con.execute(
                    f"create table {name} as {censored[name]}", {"asof": as_of} if "$asof" in censored[name] else {}
                )
            elif name == "meta.balance_checkpoints":
                con.execute(
                    f"create table {name} as select * from store.{name} where reached_on <= $asof", {"asof": as_of}
                )
            elif name == "meta.balance_checkpoint_rows":
                con.execute(
                    f'create table {name} as select * from store.{name} where "checkpoint" in '
                    '(select "checkpoint" from store.meta.balance_checkpoints where reached_on <= $asof)',
                    {"asof": as_of},
                )
            else:
                con.execute(f"create table {name} as select * from store.{name}")
        config = StudyConfig.model_validate(
            json.loads(con.execute("select config from meta.study_config").fetchone()[0])
        )
        config = config.model_copy(update={"data_cutoff": as_of})
        con.execute(
            "update meta.study_config set config = ?", [json.dumps(config.model_dump(mode="json"), ensure_ascii=False)]
        )
        derive(con, config, extract=extract)
        con.execute("DETACH store")
    except BaseException:
        con.close()
        raise
    return con


def as_of_text(as_of: date | None, extract: date | None) -> str:
    """'per 2024-09-30', or 'per 2024-03-31 (datauttag 2024-09-30)' when the two differ: every page
    and output states its as-of date, and its extract date when they differ."""
    if as_of is None:
        return "per –"
    if extract is None or extract == as_of:
        return f"per {as_of.isoformat()}"
    return f"per {as_of.isoformat()} (datauttag {extract.isoformat()})"
