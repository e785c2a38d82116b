"""The one append-only audit trail: publish, roll back, refused uploads, sync, close-study, logins
and downloads, in one SQLite file beside the store link (`<db>.audit.sqlite`).

It outlives every store version: a load, a roll back or a close-study builds a new store file, the
trail stays where it is. Append-only is enforced by triggers (no UPDATE, no DELETE). Entries never
hold a cell value: refusals record the file and the place, never the number.

The outcome lock itself is read from the store (`meta.audit_log`, carried into every new version),
so the data and the closed state a page sees always come from the same immutable file; close-study
writes that state row and the trail entry (see `etl/close.py`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_LOG = logging.getLogger(__name__)

COLUMNS = ["at", "actor", "action", "detail", "store_file", "data"]
_SCHEMA = """
create table if not exists events (
    id integer primary key autoincrement,
    "at" text not null,          -- UTC, ISO 8601
    actor text not null,         -- e-mail, demo:<role>, sync, or the name given on the command line
    action text not null,        -- publish, rollback, refused_upload, sync_failed, close_study, login, download, ...
    detail text,
    store_file text              -- the store version the event concerned
);
create trigger if not exists events_no_update before update on events
    begin select raise(abort, 'audit log is append-only'); end;
create trigger if not exists events_no_delete before delete on events
    begin select raise(abort, 'audit log is append-only'); end;
"""


def audit_path(db: Path) -> Path:
    """`<db>.audit.sqlite` next to the store link (the store itself is never written by the app)."""
    db = Path(db)
    return db.with_name(db.name + ".audit.sqlite")


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=10, isolation_level=None)
    con.execute("pragma journal_mode=delete")  # no -wal file beside the trail
    con.executescript(_SCHEMA)
    columns = {r[1] for r in con.execute("pragma table_info(events)")}
    if "data" not in columns:  # trails written before structured entries existed
        con.execute("alter table events add column data text")
    return con


def record(
    db: Path,
    actor: str,
    action: str,
    detail: str = "",
    store_file: str = "",
    data: dict[str, Any] | None = None,
    *,
    strict: bool = False,
) -> bool:
    """Append one entry (one INSERT). `data` is stored as JSON (file names, SHA-256, row counts).
    Returns False on failure (logged), or raises when `strict` (acts that must not go unrecorded)."""
    try:
        path = audit_path(db)
        path.parent.mkdir(parents=True, exist_ok=True)
        con = _connect(path)
        try:
            con.execute(
                'insert into events ("at", actor, action, detail, store_file, data) values (?, ?, ?, ?, ?, ?)',
                (
                    datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
                    actor,
                    action,
                    detail,
                    Path(store_file).name if store_file else "",
                    json.dumps(data, ensure_ascii=False, default=str) if data is not None else None,
                ),
            )
        finally:
            con.close()
        return True
    except Exception:  # noqa: BLE001
        if strict:
            raise
        _LOG.exception("could not write the audit trail")
        return False


def entries(db: Path, action: str | None = None) -> list[dict[str, Any]]:
    """Every entry, newest first (optionally one action); `data` decoded."""
    path = audit_path(db)
    if not path.exists():
        return []
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        columns = {r[1] for r in con.execute("pragma table_info(events)")}
        data_col = "data" if "data" in columns else "null"
        sql = f'select "at", actor, action, detail, store_file, {data_col} from events'
        params: tuple[str, ...] = ()
        if action is not None:
            sql += " where action = ?"
            params = (action,)
        rows = con.execute(sql + " order by id desc", params).fetchall()
    finally:
        con.close()
    return [dict(zip(COLUMNS, (*r[:5], json.loads(r[5]) if r[5] else None), strict=True)) for r in rows]
