"""Freeze the balance checkpoints: after each third of the target, the randomised participants and
their baseline characteristics as they stood at the first load that reached it.

Frozen rows are carried from store to store and never recomputed, so corrections that arrive later
do not change what the project group saw at the first third. The current state is always shown
live next to them.
"""

from __future__ import annotations

import math

import duckdb

from schema.config import StudyConfig

ROW_COLUMNS = (
    "study_code, district_id, arm, randomised_on, enrolment_rank, age, gender, civil_status, "
    "born_in_sweden, education, housing, income_source, used_drugs_ever, drugs_30d, alcohol_30d, "
    "sud_treatment_ever, legal_problems_30d, psychiatric_diagnosis, mental_health_treatment, "
    "worked_before, longest_job_5y"
)

CREATE_CHECKPOINTS = """
create table if not exists meta.balance_checkpoints (
    "checkpoint" integer, reached_on date, frozen_at timestamp, payload json)
"""


def sizes(config: StudyConfig) -> list[int]:
    k = config.balance.checkpoints
    return [math.ceil(config.target_randomised * i / k) for i in range(1, k + 1)]


def freeze(con: duckdb.DuckDBPyConnection, config: StudyConfig) -> list[int]:
    """Freeze every checkpoint reached and not yet frozen; returns the ones frozen now."""
    con.execute(CREATE_CHECKPOINTS)
    con.execute(
        f"create table if not exists meta.balance_checkpoint_rows as "
        f'select 0::integer as "checkpoint", {ROW_COLUMNS} from mart.participants limit 0'
    )
    frozen = {r[0] for r in con.execute('select "checkpoint" from meta.balance_checkpoints').fetchall()}
    n = con.execute("select count(*) from mart.participants").fetchone()[0]
    new = []
    for index, size in enumerate(sizes(config), start=1):
        if index in frozen or n < size:
            continue
        reached_on = con.execute(
            "select randomised_on from mart.participants where enrolment_rank = $k", {"k": size}
        ).fetchone()[0]
        con.execute(
            f"insert into meta.balance_checkpoint_rows select $c, {ROW_COLUMNS} from mart.participants "
            "where enrolment_rank <= $k",
            {"c": index, "k": size},
        )
        con.execute(
            "insert into meta.balance_checkpoints values ($c, $reached, now()::timestamp, "
            "json_object('size', $k, 'data_cutoff', $cutoff::varchar))",
            {"c": index, "reached": reached_on, "k": size, "cutoff": config.data_cutoff},
        )
        new.append(index)
    return new
