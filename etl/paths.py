"""Where the store lives: `--db`, else `$IPSDASH_DB`, else `data/ips.duckdb`.

The store path is a symbolic link to the current versioned database file in `<path>.d/`; a load
builds a new file there and swaps the link atomically, so open readers are never disturbed.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DB = Path("data/ips.duckdb")


def store_path(cli_value: str | os.PathLike[str] | None = None) -> Path:
    if cli_value:
        return Path(cli_value)
    env = os.environ.get("IPSDASH_DB")
    return Path(env) if env else DEFAULT_DB


def versions_dir(db: Path) -> Path:
    """Folder holding the versioned database files behind the link."""
    return db.with_name(db.name + ".d")


def current_target(db: Path) -> Path | None:
    """The database file the store link points at now, or None when nothing is loaded yet."""
    if not os.path.lexists(db):
        return None
    return db.resolve()
