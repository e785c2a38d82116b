"""Build the derived `mart` tables from the loaded `raw` tables by running `etl/sql/*.sql` in order.

Each SQL file builds one table named after the file (without its numeric prefix) and opens with a
comment stating its grain. Parameters come from the study configuration as named, bound values.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from schema import vocab
from schema.config import StudyConfig

SQL_DIR = Path(__file__).with_name("sql")


def sql_files() -> list[Path]:
    return sorted(SQL_DIR.glob("*.sql"))


def table_name(path: Path) -> str:
    stem = path.stem
    return stem.split("_", 1)[1] if stem[:2].isdigit() else stem


def parameters(config: StudyConfig, extract=None) -> dict[str, object]:
    """Named parameters every derived SQL file may use. `cutoff` is the date the figures describe
    (the as-of date), `extract` the extract's date (the same at load; later for an as-of view)."""
    fu = config.followup
    return {
        "cutoff": config.data_cutoff,
        "extract": extract or config.data_cutoff,
        "window_before": fu.window_before_days,
        "window_after": fu.window_after_days,
        "missed_after": fu.missed_after_days,
        "due_soon": fu.due_soon_days,
        "caseload_cap": config.caseload.cap,
        "target": config.target_randomised,
        "timepoints": list(fu.timepoints_months),
        "count_excluded_after": config.analysis.count_excluded_after_randomisation,
    }


def age_band_macro() -> str:
    """`age_band(age)` for the SQL files, built from `schema.vocab.AGE_BANDS` (the one definition;
    the balance page uses the same list in Python). Bounds and labels are the list's own constants."""
    whens = " ".join(
        f"WHEN age >= {low}" + ("" if high is None else f" AND age <= {high}") + f" THEN '{label}'"
        for low, high, label in vocab.AGE_BANDS
    )
    return f"CREATE OR REPLACE TEMP MACRO age_band(age) AS CASE {whens} END"


def derive(con: duckdb.DuckDBPyConnection, config: StudyConfig, extract=None) -> None:
    """Create every `mart` table. Runs inside the loader's transaction on the new store file; for an
    as-of view (`etl.asof`) on the censored copy, with `extract` the extract's own date."""
    con.execute("CREATE SCHEMA IF NOT EXISTS mart")
    con.execute(age_band_macro())
    params = parameters(config, extract)
    for path in sql_files():
        sql = path.read_text(encoding="utf-8")
        used = {k: v for k, v in params.items() if f"${k}" in sql}
        con.execute(f"CREATE OR REPLACE TABLE mart.{table_name(path)} AS {sql}", used)
