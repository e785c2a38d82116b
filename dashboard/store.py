"""Read-only access to the current store for the dashboard.

The store path is a link that a load swaps atomically to a new file. DuckDB caches databases per
path inside a process, so the cached connection is keyed on the *resolved* target: after a load
the next script run resolves a new target and opens it, while sessions mid-run keep the old one.
Each script run takes its own cursor (one connection shared by sessions fails under load).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import streamlit as st

from etl import asof, paths


def current_target() -> Path | None:
    target = paths.current_target(paths.store_path())
    return target if target is not None and target.exists() else None


@st.cache_resource(max_entries=4, show_spinner=False)
def _connection(target: str) -> duckdb.DuckDBPyConnection:
    # Default configuration on purpose: DuckDB refuses a second connection to the same file in the
    # same process with a different configuration (tests, reports and tools open it plainly).
    return duckdb.connect(target, read_only=True)


@st.cache_resource(max_entries=4, show_spinner="Räknar om per valt datum …")
def _as_of_connection(target: str, as_of: date) -> duckdb.DuckDBPyConnection:
    """The store as of an earlier date: the same derived SQL on inputs censored at `as_of`
    (etl/asof.py), built once per store version and date and kept (a few at a time)."""
    return asof.open_as_of(target, as_of)


def as_of_cursor(target: str, as_of: date) -> tuple[duckdb.DuckDBPyConnection, str]:
    """A fresh cursor on the store as of `as_of`, and an id for cache keys (store version + date)."""
    return _as_of_connection(target, as_of).cursor(), f"{target}@{as_of.isoformat()}"


def cursor() -> tuple[duckdb.DuckDBPyConnection, str] | None:
    """A fresh cursor on the current store and its target path, or None when nothing is loaded."""
    target = current_target()
    if target is None:
        return None
    return _connection(str(target)).cursor(), str(target)
