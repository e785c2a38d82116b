"""`ipsdash report styrgrupp|projektgrupp --out FILE`: the meeting outputs, written from the current
store, each leaving a snapshot (cut-off + figures as JSON) in `meta.report_snapshots`.

The report is built read-only through a `Gate` for the receiving group's role (styrgrupp: small
cells suppressed; projektgrupp: full figures), exactly as the pages are. The snapshot is then
written into a new store version (copy + atomic link swap, `store.write_new_version`), so a running
dashboard is never disturbed and later loads carry the snapshots over.

Exit status: 0 written; 2 refused (no store, wrong file type, an error; no snapshot written).
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

import duckdb

from etl import store
from etl.asof import open_as_of
from etl.paths import current_target, store_path

SUFFIX = {"styrgrupp": ".pdf", "projektgrupp": ".xlsx"}


def build_report(db: Path, kind: str, as_of: date | None = None) -> tuple[bytes, str, Any]:
    """(file bytes, snapshot JSON, as-of date) of report `kind` from the current store, as of the
    extract date or, with `as_of`, as of that earlier date (censored on demand, etl/asof.py)."""
    from dashboard import reports
    from dashboard.access import Gate, Viewer, read_config

    target = current_target(Path(db))
    if target is None or not target.exists():
        raise FileNotFoundError(f"Det finns ingen databas vid {db}; läs in studien först.")
    if as_of is None:
        con = duckdb.connect(str(target), read_only=True)  # as the app opens it
        store_id = str(target)
    else:
        con = open_as_of(target, as_of)
        store_id = f"{target}@{as_of.isoformat()}"
    try:
        cur = con.cursor()
        config = read_config(cur)
        data = reports.build_bytes(cur, kind, store_id)
        gate = Gate(cur, Viewer(kind, user="ipsdash report"), store_id=store_id)
        snapshot = (
            reports.snapshot_json(reports.steering_figures(gate, config))
            if kind == reports.STEERING
            else reports.project_snapshot_json(gate, config)
        )
    finally:
        con.close()
    return data, snapshot, config.data_cutoff


def write_snapshot(db: Path, kind: str, payload: str, cutoff) -> Path:
    """Append one row to meta.report_snapshots in a new store version; returns the new file."""
    now = datetime.now(UTC).replace(tzinfo=None)

    def insert(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            "insert into meta.report_snapshots (report, created_at, data_cutoff, payload) values (?, ?, ?, ?)",
            [kind, now, cutoff, payload],
        )

    return store.write_new_version(Path(db), insert, f"report-{kind}")


def run_report(
    db: Path,
    kind: str,
    out: Path,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    as_of: date | None = None,
) -> int:
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    out = Path(out)
    if out.suffix.lower() != SUFFIX[kind]:
        print(f"Rapporten {kind} skrivs som {SUFFIX[kind]}; ange --out med den filändelsen.", file=stderr)
        return 2
    # Query caching is for the app; outside a Streamlit server it only warns (once per function).
    import streamlit.logger

    streamlit.logger.set_log_level("error")
    try:
        data, payload, cutoff = build_report(db, kind, as_of)
    except (FileNotFoundError, ValueError) as exc:
        print(str(exc), file=stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    try:
        version = write_snapshot(db, kind, payload, cutoff)
    except (RuntimeError, OSError, duckdb.Error) as exc:
        print(
            f"Rapporten skrevs till {out}, men ögonblicksbilden kunde inte sparas ({exc}); "
            "nästa rapport kan då inte jämföras med den här.",
            file=stderr,
        )
        return 2
    print(
        f"Rapporten ({kind}, per {cutoff}) skrevs till {out}; ögonblicksbilden sparades ({version.name}).",
        file=stdout,
    )
    return 0


def run_report_command(args: Any) -> int:
    return run_report(
        store_path(getattr(args, "db", None)), args.kind, Path(args.out), as_of=getattr(args, "as_of", None)
    )
