"""`ipsdash close-study --by NAME --note TEXT`: the audited act that unlocks the outcomes.

Like a load, it never writes into the file readers have open: it copies the current store file to
a new version (`store.write_new_version`), appends one row to the append-only `meta.audit_log` (who,
when, why, data cut-off), checkpoints and closes it, renames it and swaps the link atomically.
Later loads carry the audit log over, so the study stays closed. The act is also appended to the
one audit trail (`etl/audit.py`), which outlives every store version.

Exit status: 0 closed; 1 already closed (nothing changed); 2 refused (no store, empty name or
note, a personnummer in the text, an error; nothing changed).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import duckdb

from etl import audit, scan, store
from etl.paths import current_target, store_path

ACTION = "close_study"


class AlreadyClosed(Exception):
    def __init__(self, at: datetime, by: str):
        super().__init__(f"closed {at} by {by}")
        self.at, self.by = at, by


def close_study(db: Path, by: str, note: str, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    db = Path(db)
    by, note = (by or "").strip(), (note or "").strip()
    if not by or not note:
        print("Ange vem som stänger studien (--by) och varför (--note).", file=err)
        return 2
    try:
        scan.scan_text(by, "--by")
        scan.scan_text(note, "--note")
    except scan.PnrRefused as exc:
        print(f"{exc}\nStudien har inte stängts; inget har ändrats.", file=err)
        return 2
    previous = current_target(db)
    if previous is None or not previous.exists():
        print(f"Det finns ingen databas vid {db}; läs in studien först.", file=err)
        return 2
    now = datetime.now(UTC)
    cutoff: list[Any] = []

    def append_audit_row(con: duckdb.DuckDBPyConnection) -> None:
        # Checked on the copy, under the load lock: two closes cannot both succeed.
        closed = con.execute(
            'select "at", actor from meta.audit_log where action = ? order by "at" limit 1', [ACTION]
        ).fetchone()
        if closed is not None:
            raise AlreadyClosed(*closed)
        config = json.loads(con.execute("select config from meta.study_config").fetchone()[0])
        cutoff.append(config["data_cutoff"])
        con.execute(
            'insert into meta.audit_log ("at", actor, action, detail, data_cutoff) values (?, ?, ?, ?, ?)',
            [now.replace(tzinfo=None), by, ACTION, note, config["data_cutoff"]],
        )

    try:
        final = store.write_new_version(db, append_audit_row, "closed")
    except AlreadyClosed as done:
        print(f"Studien är redan stängd ({done.at:%Y-%m-%d %H:%M} UTC av {done.by}); inget har ändrats.", file=err)
        return 1
    except RuntimeError as exc:
        print(f"Studien kunde inte stängas: {exc}. Inget har ändrats.", file=err)
        return 2
    except Exception as exc:  # noqa: BLE001
        print(f"Studien kunde inte stängas ({type(exc).__name__}). Inget har ändrats.", file=err)
        return 2
    # The one audit trail gets the act too; the lock itself is the store's row written above.
    if not audit.record(db, by, ACTION, note, str(final), {"data_cutoff": cutoff[0]}):
        print("Varning: händelsen kunde inte skrivas till granskningsloggen (se serverns logg).", file=err)
    print(
        f"Studien är stängd {now:%Y-%m-%d %H:%M} UTC av {by} (datauttag {cutoff[0]}). "
        f"Utfallen visas nu i dashboarden ({final.name}).",
        file=out,
    )
    return 0


def run_close_command(args: Any) -> int:
    return close_study(store_path(getattr(args, "db", None)), args.by, args.note)
