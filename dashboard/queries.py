"""Every SQL the dashboard and the reports run, as named functions over the gate's views.

Functions take the `Gate` (who is asking, on which store) and plain filter values; they return
DataFrames. Results are cached per store file, role scope and arguments, so a new load or another
role never sees a cached answer that was not meant for it; outcome queries are never cached.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import TypeVar

import pandas as pd
import streamlit as st

from dashboard.access import Gate

F = TypeVar("F", bound=Callable[..., pd.DataFrame])


def gate_scope(gate: Gate) -> tuple:
    """Everything that changes what `gate` returns: the store version (its file), the role, the
    districts in scope and whether the study is closed. Caches hash a gate as this."""
    return (gate.store_id, gate.viewer.role, gate.districts, gate.state.closed)


def scope_digest(scope: tuple) -> bytes:
    """A cache key for `scope` (a tuple of strings, numbers, booleans, None and such tuples): SHA-256 of
    its repr, which names every part. Streamlit hashes a tuple item by item, ~1 ms per 400 districts
    per call, and a page makes dozens of cached calls; these 32 bytes stand for the same tuple."""
    return hashlib.sha256(repr(scope).encode()).digest()


def cached(fn: F) -> F:
    """Cache a query per store version, viewer scope (`gate_scope`) and arguments."""
    run = st.cache_data(
        max_entries=512, ttl=3600, show_spinner=False, hash_funcs={Gate: lambda g: scope_digest(gate_scope(g))}
    )(fn)

    @functools.wraps(fn)
    def wrapper(gate: Gate, *args, **kwargs):
        return run(gate, *args, **kwargs)

    wrapper.uncached = fn  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


# --- participants and recruitment -------------------------------------------------------------


@cached
def participants(gate: Gate, districts: tuple[str, ...]) -> pd.DataFrame:
    return gate.frame(
        "select * from participants where district_id in (select unnest($d::varchar[])) "
        "order by enrolment_rank",  # the allocation sequence, never the study code (issue 12)
        {"d": list(districts)},
    )


@cached
def recruitment_monthly(gate: Gate, districts: tuple[str, ...]) -> pd.DataFrame:
    return gate.frame(
        "select * from recruitment_monthly where district_id in (select unnest($d::varchar[])) "
        "order by district_id, month",
        {"d": list(districts)},
    )


@cached
def districts(gate: Gate) -> pd.DataFrame:
    return gate.frame("select * from districts order by start_on, name")


@cached
def arms(gate: Gate) -> pd.DataFrame:
    return gate.frame("select * from arms")


@cached
def referral_funnel(gate: Gate, districts: tuple[str, ...]) -> pd.DataFrame:
    return gate.frame(
        "select * from referral_funnel where district_id in (select unnest($d::varchar[])) "
        "order by referred_on, study_code",
        {"d": list(districts)},
    )


# --- follow-up, caseload, fidelity ------------------------------------------------------------


@cached
def followup_status(gate: Gate, districts: tuple[str, ...]) -> pd.DataFrame:
    return gate.frame(
        "select * from followup_status where district_id in (select unnest($d::varchar[])) order by due_on, study_code",
        {"d": list(districts)},
    )


@cached
def caseload_daily(gate: Gate, districts: tuple[str, ...]) -> pd.DataFrame:
    """Active caseload per specialist per day, counting only the chosen districts' participants."""
    return gate.frame(
        "select specialist_id, day, sum(active_n)::integer as active_n from caseload_daily "
        "where district_id in (select unnest($d::varchar[])) group by all order by specialist_id, day",
        {"d": list(districts)},
    )


@cached
def specialist_districts(gate: Gate, districts: tuple[str, ...]) -> pd.DataFrame:
    """Which specialists serve which of the chosen districts (from the roster), by period."""
    return gate.frame(
        "select distinct specialist_id, district_id from caseload_daily "
        "where district_id in (select unnest($d::varchar[])) order by all",
        {"d": list(districts)},
    )


@cached
def specialist_roster(gate: Gate, districts: tuple[str, ...]) -> pd.DataFrame:
    return gate.frame(
        "select * from specialist_roster where district_id in (select unnest($d::varchar[])) "
        "order by specialist_id, district_id, start_on",
        {"d": list(districts)},
    )


@cached
def fidelity_items(gate: Gate) -> pd.DataFrame:
    return gate.frame("select * from fidelity_items order by reviewed_on, section_key, item_number")


# --- data quality ---------------------------------------------------------------------------------


@cached
def loads(gate: Gate) -> pd.DataFrame:
    return gate.frame("select * from loads order by loaded_at desc")


@cached
def load_files(gate: Gate) -> pd.DataFrame:
    return gate.frame("select * from load_files order by load_id desc, file_name")


@cached
def allocation_checks(gate: Gate) -> pd.DataFrame:
    """Warnings on the randomisation log's löpnummer: duplicates, gaps, against date order (empty for
    a role without data-quality rights, or a store loaded before the check existed)."""
    if not gate.viewer.sees_data_quality:
        return pd.DataFrame(columns=["problem", "allocation_number", "study_codes", "message_sv"])
    return gate.frame("select problem, allocation_number, study_codes, message_sv from allocation_checks")


@cached
def rejected_rows(gate: Gate) -> pd.DataFrame:
    return gate.frame("select * from rejected_rows order by file_name, row_number")


@cached
def balance_checkpoints_frozen(gate: Gate) -> pd.DataFrame:
    """One row per frozen balance checkpoint (number, date reached, payload with its size)."""
    return gate.frame('select * from balance_checkpoints order by "checkpoint"')


@cached
def balance_checkpoint_rows(gate: Gate, districts: tuple[str, ...]) -> pd.DataFrame:
    """The participant rows frozen at every balance checkpoint, limited to the chosen districts
    (column `checkpoint` tells which)."""
    return gate.frame(
        "select * from balance_checkpoint_rows where district_id in (select unnest($d::varchar[])) "
        'order by "checkpoint", enrolment_rank',
        {"d": list(districts)},
    )


# --- caseload split by district (belastning) -------------------------------------------------------


@cached
def caseload_by_district_on(gate: Gate, districts: tuple[str, ...], day) -> pd.DataFrame:
    """Active caseload per specialist per participant district on one day (shared specialists)."""
    return gate.frame(
        "select specialist_id, district_id, sum(active_n)::integer as active_n from caseload_daily "
        "where district_id in (select unnest($d::varchar[])) and day = $day::date "
        "group by all order by all",
        {"d": list(districts), "day": day},
    )


# --- caseload aggregated in the store (belastning) --------------------------------------------------

_CASELOAD = (
    "select specialist_id, day, sum(active_n)::integer as active_n from caseload_daily "
    "where district_id in (select unnest($d::varchar[])) group by all"
)


@cached
def caseload_first_day(gate: Gate, districts: tuple[str, ...]) -> pd.DataFrame:
    """The first day with a caseload row in the chosen districts (one row; `first_day` null if none)."""
    return gate.frame(f"select min(day) as first_day from ({_CASELOAD})", {"d": list(districts)})


@cached
def caseload_specialist_summary(gate: Gate, districts: tuple[str, ...], cutoff, start, end, cap: int) -> pd.DataFrame:
    """Per specialist with any caseload row in the chosen districts: the caseload on `cutoff`
    (`active_at` null when there is no row that day), and between `start` and `end` the highest
    caseload (`peak`), the first day it was reached (`peak_day`) and the days above `cap` (`over_n`)."""
    return gate.frame(
        f"with c as ({_CASELOAD}), "
        "r as (select *, max(active_n) over (partition by specialist_id) as peak from c "
        "      where day between $lo::date and $hi::date) "
        "select s.specialist_id, s.active_at, p.peak, p.peak_day, coalesce(p.over_n, 0) as over_n "
        "from (select specialist_id, sum(active_n) filter (where day = $cut::date) as active_at "
        "      from c group by specialist_id) s "
        "left join (select specialist_id, any_value(peak) as peak, min(day) filter (where active_n = peak) as peak_day, "
        "           count(*) filter (where active_n > $cap) as over_n from r group by specialist_id) p "
        "using (specialist_id) order by s.specialist_id",
        {"d": list(districts), "cut": cutoff, "lo": start, "hi": end, "cap": cap},
    )


@cached
def caseload_series(gate: Gate, districts: tuple[str, ...], specialists: tuple[str, ...], start, end) -> pd.DataFrame:
    """The daily caseload of the given specialists between `start` and `end` (chosen districts only)."""
    return gate.frame(
        f"select * from ({_CASELOAD}) where specialist_id in (select unnest($s::varchar[])) "
        "and day between $lo::date and $hi::date order by specialist_id, day",
        {"d": list(districts), "s": list(specialists), "lo": start, "hi": end},
    )


# --- outcomes (never cached: a close must show at once, a lock never be served from a cache) ----------


def outcome_rows(gate: Gate, districts: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Participants, activity and employment rows of the chosen districts (refused while locked)."""
    gate.require_outcomes()
    params = {"d": list(districts)}
    people = gate.frame(
        "select study_code, district_id, arm, randomised_on, left_on from participants "
        "where district_id in (select unnest($d::varchar[])) order by study_code",
        params,
    )
    activity = gate.frame(
        "select study_code, activity_on, activity_type, end_on, extent, hours_per_week from outcome_activity "
        f"where {_IN_DISTRICTS} order by study_code, activity_on",
        params,
    )
    employment = gate.frame(
        "select study_code, timepoint_months, worked_any, days_worked, hours_worked, income_sek, "
        f"benefits_sek, asi_employment from outcome_employment where {_IN_DISTRICTS} "
        "order by study_code, timepoint_months",
        params,
    )
    return people, activity, employment


_IN_DISTRICTS = (
    "study_code in (select study_code from participants where district_id in (select unnest($d::varchar[])))"
)


# --- reports and the run's frame -------------------------------------------------------------------


def report_snapshot(gate: Gate, report: str) -> pd.DataFrame:
    """The newest snapshot of `report` left by the CLI (at most one row; never cached: the CLI
    writes a new store version with it)."""
    return gate.frame(
        "select created_at, data_cutoff, payload from report_snapshots where report = $r "
        "order by created_at desc limit 1",
        {"r": report},
    )


@cached
def last_loaded_at(gate: Gate) -> pd.DataFrame:
    """When the current store was loaded (`loaded_at`, one row)."""
    return gate.frame("select max(loaded_at) as loaded_at from loads where status <> 'refused'")
