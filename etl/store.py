"""The versioned DuckDB store behind the link `<db>` (see docs/store.md).

A load builds a new file `<db>.d/ips-<UTC time>-<fingerprint[:8]>.duckdb` (written as
`….duckdb.building` and renamed when complete), carries over the tables that outlive a load from
the current file (attached read-only), checkpoints and closes it, then swaps the link atomically.
Nothing here ever opens the current file for writing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from etl.columns import field_specs
from etl.paths import current_target, versions_dir
from etl.validate import empty_frame
from schema.config import StudyConfig
from schema.sources import SOURCES

KEEP_VERSIONS = 5
BUILDING = ".building"
PAUSE_ENV = "IPSDASH_TEST_PAUSE"

CARRIED_SCHEMAS = {
    "audit_log": '"at" TIMESTAMP, actor VARCHAR, action VARCHAR, detail VARCHAR, data_cutoff DATE',
    "balance_checkpoints": '"checkpoint" INTEGER, reached_on DATE, frozen_at TIMESTAMP, payload JSON',
    "report_snapshots": "report VARCHAR, created_at TIMESTAMP, data_cutoff DATE, payload JSON",
}
LOADS_SCHEMA = (
    "load_id INTEGER, loaded_at TIMESTAMP, status VARCHAR, fingerprint VARCHAR, input_dir VARCHAR, db_file VARCHAR, "
    "data_cutoff DATE, exit_code INTEGER, rows_read INTEGER, rows_loaded INTEGER, "
    "rows_rejected INTEGER, seconds DOUBLE"
)
LOAD_FILES_SCHEMA = (
    "load_id INTEGER, loaded_at TIMESTAMP, source_key VARCHAR, file_name VARCHAR, sha256 VARCHAR, "
    "status VARCHAR, rows_read INTEGER, rows_loaded INTEGER, rows_rejected INTEGER"
)
REJECTED_SCHEMA = (
    "load_id INTEGER, source_key VARCHAR, file_name VARCHAR, sheet VARCHAR, row_number INTEGER, "
    "column_header VARCHAR, cell_ref VARCHAR, value VARCHAR, reason VARCHAR, rule VARCHAR"
)


def pause(phase: str) -> None:
    """Test hook: with IPSDASH_TEST_PAUSE=<phase>, print a marker and wait to be killed."""
    if os.environ.get(PAUSE_ENV) == phase:
        import sys
        import time

        print(f"IPSDASH_PAUSE {phase}", flush=True)
        sys.stdout.flush()
        time.sleep(120)


# --- reading the current store ------------------------------------------------------------------


def open_store_readonly(db: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the file the link points at now."""
    target = current_target(Path(db))
    if target is None:
        raise FileNotFoundError(f"ingen databas vid {db}")
    return duckdb.connect(str(target), read_only=True)


def last_load(db: Path) -> dict[str, Any] | None:
    """Fingerprint and exit code of the load that built the current store, or None."""
    target = current_target(Path(db))
    if target is None or not target.exists():
        return None
    con = duckdb.connect(str(target), read_only=True)
    try:
        row = con.execute(
            "SELECT fingerprint, exit_code, loaded_at FROM meta.loads ORDER BY load_id DESC LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    if row is None:
        return None
    return {"fingerprint": row[0], "exit_code": row[1], "loaded_at": row[2]}


# --- locking and housekeeping -------------------------------------------------------------------


@contextlib.contextmanager
def load_lock(db: Path) -> Iterator[None]:
    """One loader at a time per store (the lock dies with the process)."""
    vdir = versions_dir(db)
    vdir.mkdir(parents=True, exist_ok=True)
    with open(vdir / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError("en annan inläsning pågår redan mot samma databas") from None
        yield


def clean_leftovers(db: Path) -> list[Path]:
    """Remove what a killed load left behind: unfinished files and temporary links."""
    removed = []
    vdir = versions_dir(db)
    candidates = list(vdir.glob(f"*{BUILDING}*")) if vdir.exists() else []
    if db.parent.exists():
        candidates += list(db.parent.glob(f".{db.name}.tmp-*"))
    for path in candidates:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def prune_versions(db: Path, keep: int = KEEP_VERSIONS) -> list[Path]:
    """Delete all but the newest `keep` versions; never the current one."""
    vdir = versions_dir(db)
    current = current_target(db)
    files = sorted(vdir.glob("ips-*.duckdb"), key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
    removed = []
    for path in files[keep:]:
        if current is not None and path.resolve() == current:
            continue
        for victim in (path, Path(str(path) + ".wal")):
            with contextlib.suppress(FileNotFoundError):
                victim.unlink()
        removed.append(path)
    return removed


def version_name(fingerprint: str, now: datetime) -> str:
    return f"ips-{now.strftime('%Y%m%dT%H%M%S')}-{fingerprint[:8]}.duckdb"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def swap_link(db: Path, target: Path) -> None:
    """Point `db` at `target` atomically (temporary symlink + os.replace), relative target."""
    if db.exists() and not db.is_symlink():
        raise RuntimeError(f"{db} finns men är ingen länk; flytta den först")
    tmp = db.with_name(f".{db.name}.tmp-{secrets.token_hex(4)}")
    os.symlink(os.path.relpath(target, db.parent), tmp)
    try:
        os.replace(tmp, db)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync(db.parent)


# --- building -----------------------------------------------------------------------------------


def _store_type(dtype: pl.DataType) -> pl.DataType:
    """The store's column type for a checked column: whole numbers are INTEGER."""
    return pl.Int32 if dtype == pl.Int64 else dtype


class ArrowStream:
    """A polars frame offered to DuckDB as an Arrow stream through the Arrow PyCapsule interface
    (https://arrow.apache.org/docs/format/CDataInterface/PyCapsuleInterface.html), which DuckDB
    scans natively since 1.1. Handing DuckDB the polars frame itself goes through
    `DataFrame.to_arrow()`, which imports pyarrow: about 70 MB of a load's peak memory (issue 11),
    for nothing the load needs. Each call gives a fresh stream, so DuckDB may ask more than once."""

    def __init__(self, frame: pl.DataFrame):
        # A column with no value at all has polars' Null type; its Arrow form carries no validity
        # bitmap, which DuckDB's stream scan refuses. As text it inserts as NULLs of any type.
        self.frame = frame.with_columns(pl.col(pl.Null).cast(pl.String))

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        return self.frame.__arrow_c_stream__(requested_schema)


def source_frame(key: str, frame: pl.DataFrame, file_name: str) -> pl.DataFrame:
    """Typed columns of one source's accepted rows (field names + source_file, source_row) in the
    store's types, straight from the checked polars columns."""
    model = next(s.model for s in SOURCES if s.key == key)
    fields = [(spec.name, _store_type(spec.dtype)) for spec in field_specs(model)]
    if key == "fidelity":
        fields += [("item_key", pl.String), ("section_key", pl.String)]
    return frame.select(
        *[pl.col(name).cast(dtype) for name, dtype in fields],
        pl.lit(file_name, dtype=pl.String).alias("source_file"),
        pl.col("__row").cast(pl.Int32).alias("source_row"),
    )


def _insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    con.register("_frame", ArrowStream(frame))
    try:
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM _frame")
    finally:
        con.unregister("_frame")


def _config_frames(config: StudyConfig) -> dict[str, pl.DataFrame]:
    """(Built with polars: building Arrow from Python lists would import pandas, a second of a
    small load, and pyarrow.)"""
    districts = pl.DataFrame(
        {
            "id": [d.id for d in config.districts],
            "district_id": [d.id for d in config.districts],
            "name": [d.name for d in config.districts],
            "display_name": [d.display_name() for d in config.districts],
            "start_on": [d.start for d in config.districts],
            "end_on": [d.end for d in config.districts],
            "target": [d.target for d in config.districts],
            "units": [list(d.units) for d in config.districts],
        },
        schema={
            "id": pl.String,
            "district_id": pl.String,
            "name": pl.String,
            "display_name": pl.String,
            "start_on": pl.Date,
            "end_on": pl.Date,
            "target": pl.Int32,
            "units": pl.List(pl.String),
        },
    )
    arms = pl.DataFrame(
        {
            "key": [a.key for a in config.arms],
            "label": [a.label for a in config.arms],
            "ratio": [a.ratio for a in config.arms],
            "blinded_label": [a.blinded_label for a in config.arms],
        },
        schema={"key": pl.String, "label": pl.String, "ratio": pl.Int32, "blinded_label": pl.String},
    )
    return {"meta.districts": districts, "meta.arms": arms}


def _carry_over(con: duckdb.DuckDBPyConnection, previous: Path | None) -> None:
    """Create the long-lived meta tables with a fixed schema and copy the previous rows."""
    for name, cols in CARRIED_SCHEMAS.items():
        con.execute(f"CREATE TABLE meta.{name} ({cols})")
    con.execute(f"CREATE TABLE meta.loads ({LOADS_SCHEMA})")
    con.execute(f"CREATE TABLE meta.load_files ({LOAD_FILES_SCHEMA})")
    if previous is None:
        return
    con.execute(f"ATTACH '{_sql_str(previous)}' AS prev (READ_ONLY)")
    try:
        present = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'prev' AND schema_name = 'meta'"
            ).fetchall()
        }
        for name in [*CARRIED_SCHEMAS, "loads", "load_files"]:
            if name in present:
                con.execute(f"INSERT INTO meta.{name} BY NAME SELECT * FROM prev.meta.{name}")
        # Frozen balance checkpoints keep the participant rows exactly as they were frozen.
        if "balance_checkpoint_rows" in present:
            con.execute("CREATE TABLE meta.balance_checkpoint_rows AS SELECT * FROM prev.meta.balance_checkpoint_rows")
    finally:
        con.execute("DETACH prev")


def _sql_str(path: Path) -> str:
    return str(path).replace("'", "''")


def build_store(
    db: Path,
    *,
    fingerprint: str,
    config: StudyConfig,
    frames: dict[str, pl.DataFrame],
    load_row: dict[str, Any],
    file_rows: list[dict[str, Any]],
    rejected_rows: list[dict[str, Any]],
    previous: Path | None,
) -> Path:
    """Build the new version file and return its final path (not yet behind the link)."""
    from etl.checkpoints import freeze as freeze_checkpoints
    from etl.derive import derive

    vdir = versions_dir(db)
    vdir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    final = vdir / version_name(fingerprint, now)
    while final.exists():
        final = vdir / final.name.replace(".duckdb", f"-{secrets.token_hex(2)}.duckdb")
    building = Path(str(final) + BUILDING)
    con = duckdb.connect(str(building))
    try:
        con.execute("SET enable_progress_bar = false")  # no progress bar drawn into the command's output
        for schema_name in ("raw", "sealed", "meta"):
            con.execute(f"CREATE SCHEMA {schema_name}")
        _carry_over(con, previous)
        load_id = con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM meta.loads").fetchall()[0][0]
        for src in SOURCES:
            frame = frames.pop(src.key, None)  # inserted once, then no longer held here
            if frame is None:
                frame = source_frame(src.key, empty_frame(src.key), "")
            _insert_frame(con, f"{'sealed' if src.sealed else 'raw'}.{src.key}", frame)
        pause("after_raw")
        load_row = {**load_row, "load_id": load_id, "db_file": final.name}
        _insert_rows(con, "meta.loads", LOADS_SCHEMA, [load_row])
        _insert_rows(con, "meta.load_files", LOAD_FILES_SCHEMA, [{**r, "load_id": load_id} for r in file_rows])
        con.execute(f"CREATE TABLE meta.rejected_rows ({REJECTED_SCHEMA})")
        _insert_rows(con, "meta.rejected_rows", REJECTED_SCHEMA, [{**r, "load_id": load_id} for r in rejected_rows])
        con.execute("CREATE TABLE meta.study_config (loaded_at TIMESTAMP, config JSON)")
        con.execute(
            "INSERT INTO meta.study_config VALUES (?, ?)",
            [load_row["loaded_at"], json.dumps(config.model_dump(mode="json"), ensure_ascii=False)],
        )
        for name, frame in _config_frames(config).items():
            _insert_frame(con, name, frame)
        derive(con, config)
        freeze_checkpoints(con, config)
        pause("after_derive")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    _seal(building, final)
    return final


def _seal(building: Path, final: Path) -> None:
    """Make a closed, checkpointed version file durable under its final name: no write-ahead log
    may remain, the bytes and the rename reach the disk before anybody is pointed at it."""
    if Path(str(building) + ".wal").exists():
        raise RuntimeError("databasfilen har kvar en .wal efter CHECKPOINT")
    _fsync(building)
    os.rename(building, final)
    _fsync(final.parent)


def _insert_rows(con: duckdb.DuckDBPyConnection, table: str, schema_sql: str, rows: list[dict[str, Any]]) -> None:
    names = [part.strip().split()[0].strip('"') for part in schema_sql.split(",")]
    if not rows:
        return
    frame = pl.DataFrame({n: [r.get(n) for r in rows] for n in names}, strict=False)
    con.register("_rows", ArrowStream(frame))
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
    finally:
        con.unregister("_rows")


# --- small administrative writes (report snapshots; the same pattern as close-study) -------------


def write_new_version(db: Path, mutate, tag: str) -> Path:
    """Copy the current store file to a new version, let `mutate(con)` write into the copy, then
    checkpoint, rename and swap the link, under the load lock. Readers keep the old file; nothing
    is written into a file anybody may have open. Returns the new file (`…-<tag>.duckdb`).

    `etl/close.py` does the same inline for the audit row; both can share this helper."""
    import shutil

    db = Path(db)
    previous = current_target(db)
    if previous is None or not previous.exists():
        raise FileNotFoundError(f"ingen databas vid {db}")
    with load_lock(db):
        clean_leftovers(db)
        if current_target(db) != previous:
            raise RuntimeError("databasen byttes ut under tiden; kör kommandot igen")
        con = duckdb.connect(str(previous), read_only=True)
        try:
            row = con.execute("SELECT fingerprint FROM meta.loads ORDER BY load_id DESC LIMIT 1").fetchone()
        finally:
            con.close()
        fingerprint = (row[0] if row else None) or "00000000"
        vdir = versions_dir(db)
        final = vdir / version_name(fingerprint, datetime.now(UTC)).replace(".duckdb", f"-{tag}.duckdb")
        while final.exists():
            final = vdir / final.name.replace(".duckdb", f"-{secrets.token_hex(2)}.duckdb")
        building = Path(str(final) + BUILDING)
        try:
            shutil.copyfile(previous, building)
            con = duckdb.connect(str(building))
            try:
                mutate(con)
                con.execute("CHECKPOINT")
            finally:
                con.close()
            _seal(building, final)
            swap_link(db, final)
        except BaseException:
            clean_leftovers(db)
            raise
        prune_versions(db)
    return final
