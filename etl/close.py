"""`ipsdash close-study --by NAME --note TEXT`: the audited act that unlocks the outcomes.

Like a load, it never writes into the file readers have open: it copies the current store file to
a new version (`….duckdb.building`), appends one row to the append-only `meta.audit_log` (who,
when, why, data cut-off), checkpoints and closes it, renames it and swaps the link atomically.
Later loads carry the audit log over, so the study stays closed.

Exit status: 0 closed; 1 already closed (nothing changed); 2 refused (no store, empty name or
note, a personnummer in the text, an error; nothing changed).
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import duckdb

from etl import store
from etl.paths import current_target, store_path, versions_dir
from schema import pnr

ACTION = "close_study"


def _state(target: Path) -> tuple[tuple | None, str, Any]:
    """(existing close row or None, fingerprint of the last load, data cut-off)."""
    con = duckdb.connect(str(target), read_only=True)
    try:
        row = con.execute(
            "select \"at\", actor from meta.audit_log where action = ? order by \"at\" limit 1", [ACTION]
        ).fetchone()
        fingerprint = con.execute("select fingerprint from meta.loads order by load_id desc limit 1").fetchone()[0]
        config = json.loads(con.execute("select config from meta.study_config").fetchone()[0])
    finally:
        con.close()
    return row, fingerprint, config["data_cutoff"]


def close_study(db: Path, by: str, note: str, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    db = Path(db)
    by, note = (by or "").strip(), (note or "").strip()
    if not by or not note:
        print("Ange vem som stänger studien (--by) och varför (--note).", file=err)
        return 2
    if pnr.looks_like_pnr(by) or pnr.looks_like_pnr(note):
        print("Texten innehåller något som liknar ett personnummer; inget har ändrats.", file=err)
        return 2
    previous = current_target(db)
    if previous is None or not previous.exists():
        print(f"Det finns ingen databas vid {db}; läs in studien först.", file=err)
        return 2
    try:
        with store.load_lock(db):
            store.clean_leftovers(db)
            if current_target(db) != previous:
                print("Databasen byttes ut under tiden; kör kommandot igen.", file=err)
                return 2
            closed, fingerprint, cutoff = _state(previous)
            if closed is not None:
                print(f"Studien är redan stängd ({closed[0]:%Y-%m-%d %H:%M} UTC av {closed[1]}); inget har ändrats.",
                      file=err)
                return 1
            now = datetime.now(UTC)
            vdir = versions_dir(db)
            final = vdir / store.version_name(fingerprint, now).replace(".duckdb", "-closed.duckdb")
            while final.exists():
                final = vdir / final.name.replace(".duckdb", f"-{secrets.token_hex(2)}.duckdb")
            building = Path(str(final) + store.BUILDING)
            try:
                shutil.copyfile(previous, building)  # readers keep the old file; we write the copy
                con = duckdb.connect(str(building))
                try:
                    con.execute(
                        "insert into meta.audit_log (\"at\", actor, action, detail, data_cutoff) values (?, ?, ?, ?, ?)",
                        [now.replace(tzinfo=None), by, ACTION, note, cutoff],
                    )
                    con.execute("CHECKPOINT")
                finally:
                    con.close()
                if Path(str(building) + ".wal").exists():
                    raise RuntimeError("databasfilen har kvar en .wal efter CHECKPOINT")
                store._fsync(building)
                building.rename(final)
                store._fsync(vdir)
                store.swap_link(db, final)
            except BaseException:
                store.clean_leftovers(db)
                raise
            store.prune_versions(db)
    except RuntimeError as exc:
        print(f"Studien kunde inte stängas: {exc}. Inget har ändrats.", file=err)
        return 2
    except Exception as exc:  # noqa: BLE001
        print(f"Studien kunde inte stängas ({type(exc).__name__}). Inget har ändrats.", file=err)
        return 2
    print(f"Studien är stängd {now:%Y-%m-%d %H:%M} UTC av {by} (datauttag {cutoff}). "
          f"Utfallen visas nu i dashboarden ({final.name}).", file=out)
    return 0


def run_close_command(args: Any) -> int:
    return close_study(store_path(getattr(args, "db", None)), args.by, args.note)
