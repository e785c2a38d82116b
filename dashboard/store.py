"""Read-only access to the current store for the dashboard.

The store path is a link that a load swaps atomically to a new file. DuckDB caches databases per
path inside a process, so the cached connection is keyed on the *resolved* target: after a load
the next script run resolves a new target and opens it, while sessions mid-run keep the old one.
Each script run takes its own cursor (one connection shared by sessions fails under load).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import streamlit as st

from etl import paths


def current_target() -> Path | None:
    target = paths.current_target(paths.store_path())
    return target if target is not None and target.exists() else None


@st.cache_resource(max_entries=4, show_spinner=False)
def _connection(target: str) -> duckdb.DuckDBPyConnection:
    # Default configuration on purpose: DuckDB refuses a second connection to the same file in the
    # same process with a different configuration (tests, reports and tools open it plainly).
    return duckdb.connect(target, read_only=True)


def cursor() -> tuple[duckdb.DuckDBPyConnection, str] | None:
    """A fresh cursor on the current store and its target path, or None when nothing is loaded."""
    target = current_target()
    if target is None:
        return None
    return _connection(str(target)).cursor(), str(target)
