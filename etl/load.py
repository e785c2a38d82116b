"""`ipsdash load DIR`: read, check and store the study team's files as one new store version.

Exit status: 0 every row accepted; 1 some rows rejected (the valid rows are loaded and the
rejected ones listed in `meta.rejected_rows`); 2 nothing loaded (personnummer found, study
configuration missing or invalid, a required source missing, a file unreadable or without a
required column). A load whose input equals the current store's input builds nothing and exits
with that load's status.

Privacy: every file (every cell, header cells included) and the configuration text is scanned for
personnummer before anything is parsed further or written. Until that scan has passed, messages
name exception types only, never their text.
"""

from __future__ import annotations

import hashlib
import sys
import time
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

import polars as pl
from pydantic import ValidationError

from etl import read, scan, store
from etl.paths import current_target, store_path
from etl.tables import RawTable, SourceFileError
from etl.validate import (
    SourceResult,
    group_rejections,
    reason_sv,
    refs_text,
    validate_tables,
    value_text,
)
from schema.config import StudyConfig
from schema.sources import SOURCES, cutoff_checked_fields

MAX_LISTED = 20


class LoadRefused(Exception):
    """Nothing can be loaded; `messages` are Swedish and safe to show."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass
class Inputs:
    folder: Path
    config_path: Path
    config_text: str
    files: list[Path]  # .csv/.xlsx directly in the folder
    redcap_files: list[Path] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)  # display name -> SHA-256

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.hashes, self.config_text)


def _code_version() -> str:
    """SHA-256 over the code that decides what lands in the store: the contract, validation and
    the derived tables. Part of the fingerprint, so reloading the same files after an upgrade
    rebuilds the store instead of keeping tables derived by the old rules."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    files = sorted(
        [
            *(root / "etl" / "sql").glob("*.sql"),
            *(root / "schema").glob("*.py"),
            root / "etl" / "validate.py",
            root / "etl" / "scan.py",
            root / "etl" / "checkpoints.py",
            root / "etl" / "store.py",
        ]
    )
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def fingerprint(hashes: dict[str, str], config_text: str) -> str:
    """SHA-256 over the sorted file names with their SHA-256, the configuration text and the
    version of the loading code."""
    digest = hashlib.sha256()
    for name in sorted(hashes):
        digest.update(f"{name}\0{hashes[name]}\n".encode())
    digest.update(b"\0config\0")
    digest.update(config_text.encode("utf-8"))
    digest.update(b"\0code\0" + _code_version().encode())
    return digest.hexdigest()


def collect_inputs(folder: Path) -> Inputs:
    if not folder.is_dir():
        raise LoadRefused([f"mappen {folder} finns inte"])
    config_path = read.find_config(folder)
    if config_path is None:
        raise LoadRefused([f"studiekonfigurationen studie.toml saknas i {folder}"])
    try:
        raw = config_path.read_bytes()
    except OSError as exc:
        raise LoadRefused(
            [f"{config_path.name}: filen kan inte läsas ({type(exc).__name__}); kontrollera att du har behörighet"]
        ) from None
    try:
        config_text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LoadRefused(
            [f"{config_path.name}: filen ska vara sparad som UTF-8; spara den igen med kodningen UTF-8"]
        ) from None
    files = read.data_files(folder)
    redcap = folder / "redcap"
    redcap_files = sorted(p for p in redcap.rglob("*") if p.is_file()) if redcap.is_dir() else []
    try:
        hashes = {p.name: read.sha256_file(p) for p in files}
        hashes.update({p.relative_to(folder).as_posix(): read.sha256_file(p) for p in redcap_files})
    except SourceFileError as exc:
        raise LoadRefused([str(exc)]) from None
    return Inputs(folder, config_path, config_text, files, redcap_files, hashes)


# --- personnummer -------------------------------------------------------------------------------


def scan_inputs(inputs: Inputs) -> tuple[dict[Path, read.Grid], list[scan.Hit], list[SourceFileError]]:
    """Scan every input (the folder's name, each file's name and bytes, every part of a workbook:
    `etl.scan`), then, if nothing was found, read each data file once into a grid."""
    grids: dict[Path, read.Grid] = {}
    errors: list[SourceFileError] = []
    hits = scan.name_hits(inputs.folder.resolve().name, folder=True)
    targets = [
        (inputs.config_path, inputs.config_path.name),
        *((p, p.name) for p in inputs.files),
        *((p, p.relative_to(inputs.folder).as_posix()) for p in inputs.redcap_files),
    ]
    for path, shown in targets:
        try:
            scan.scan_file(path, shown)
        except scan.PnrRefused as exc:
            hits += exc.hits
        except SourceFileError as exc:
            errors.append(exc)
    if hits:
        return grids, hits, errors
    failed = {e.file_name for e in errors}
    for path in inputs.files:
        if path.name in failed:
            continue
        try:
            grids[path] = read.read_grid(path, scanned=True)
        except SourceFileError as exc:
            errors.append(exc)
    return grids, hits, errors


# --- configuration ------------------------------------------------------------------------------


def parse_config(inputs: Inputs) -> StudyConfig:
    name = inputs.config_path.name
    try:
        data = tomllib.loads(inputs.config_text)
    except tomllib.TOMLDecodeError as exc:
        raise LoadRefused(
            [f"{name}: filen är ingen giltig TOML ({read.toml_where(exc)}); rätta raden och spara filen igen"]
        ) from None
    try:
        return StudyConfig.model_validate(data)
    except ValidationError as exc:
        messages = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = ".".join(str(p) for p in err.get("loc", ())) or "(hela filen)"
            ctx_error = (err.get("ctx") or {}).get("error")
            reason = str(ctx_error) if err.get("type") == "value_error" and ctx_error else reason_sv(err)
            if err.get("type") == "extra_forbidden":
                reason = "okänd inställning"
            messages.append(f"{name}: {loc}: {reason}")
        raise LoadRefused(messages) from None


# --- reading sources ----------------------------------------------------------------------------


def read_tables(
    inputs: Inputs, grids: dict[Path, read.Grid], config: StudyConfig
) -> tuple[dict[str, RawTable], list[str]]:
    """Source key -> table; notes for the summary. Raises LoadRefused on file-level errors."""
    found, errors, unmatched = read.match_sources(inputs.files)
    notes = [f"{p.name}: okänt filnamn, läses inte" for p in unmatched]
    tables: dict[str, RawTable] = {}
    redcap_tables = _redcap_tables(inputs, config)
    for t in redcap_tables:
        tables[t.source_key] = t
    for key, path in found.items():
        if key in tables:
            notes.append(f"{path.name}: ersätts av REDCap-exporten")
            continue
        try:
            # Each grid is dropped once its table is built: the cells are not kept twice.
            tables[key] = read.table_from_grid(grids.pop(path), next(s for s in SOURCES if s.key == key))
        except SourceFileError as exc:
            errors.append(exc)
    for src in SOURCES:
        if src.required and src.key not in tables and not any(e for e in errors if _is_for(e, src.key, found)):
            errors.append(
                SourceFileError(
                    src.stems[0] + ".xlsx",
                    f"obligatorisk källfil saknas: {src.title_sv} (filnamn {', '.join(src.stems)}; .xlsx eller .csv)",
                )
            )
    if errors:
        raise LoadRefused([str(e) for e in errors])
    return tables, notes


def _is_for(err: SourceFileError, key: str, found: dict[str, Path]) -> bool:
    path = found.get(key)
    if path is not None and err.file_name == path.name:
        return True
    src = next(s for s in SOURCES if s.key == key)
    return Path(err.file_name).stem.lower() in src.stems


def _redcap_tables(inputs: Inputs, config: StudyConfig) -> list[RawTable]:
    folder = inputs.folder / "redcap"
    if not folder.is_dir():
        return []
    try:
        from etl.redcap import read_redcap_dir  # type: ignore[attr-defined]
    except ImportError:
        return []
    try:
        tables = list(read_redcap_dir(folder, config, scanned=True))  # scan_inputs scanned every file
    except scan.PnrRefused as exc:  # the mapping file outside the folder
        raise LoadRefused(exc.messages) from None
    except SourceFileError as exc:  # names the file and what to do
        raise LoadRefused([str(exc)]) from None
    return tables


# --- storing ------------------------------------------------------------------------------------


def _file_hash(inputs: Inputs, table: RawTable) -> str | None:
    path = Path(table.path)
    for name in (path.name, _relative(inputs.folder, path)):
        if name and name in inputs.hashes:
            return inputs.hashes[name]
    return read.sha256_file(path) if path.is_file() else None


def _relative(folder: Path, path: Path) -> str | None:
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return None


def build_meta(
    inputs: Inputs, results: dict[str, SourceResult], loaded_at: datetime | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    files = []
    rejected = []
    for src in SOURCES:
        res = results.get(src.key)
        if res is None:
            files.append(
                {
                    "loaded_at": loaded_at,
                    "source_key": src.key,
                    "file_name": src.stems[0],
                    "sha256": None,
                    "status": "saknas",
                    "rows_read": 0,
                    "rows_loaded": 0,
                    "rows_rejected": 0,
                }
            )
            continue
        files.append(
            {
                "loaded_at": loaded_at,
                "source_key": src.key,
                "file_name": res.table.file_name,
                "sha256": _file_hash(inputs, res.table),
                "status": "avvisade rader" if res.rejected else "inläst",
                "rows_read": res.rows_read,
                "rows_loaded": res.rows_loaded,
                "rows_rejected": res.rows_rejected,
            }
        )
        for r in res.rejected:
            rejected.append(
                {
                    "source_key": r.source_key,
                    "file_name": r.file_name,
                    "sheet": r.sheet,
                    "row_number": r.row_number,
                    "column_header": r.column,
                    "cell_ref": r.cell_ref,
                    "value": r.value,
                    "reason": r.reason,
                    "rule": r.rule,
                }
            )
    return files, rejected


def summary_lines(results: dict[str, SourceResult], notes: list[str]) -> list[str]:
    lines = []
    for src in SOURCES:
        res = results.get(src.key)
        if res is None:
            lines.append(f"{src.stems[0]}: saknas (frivillig källa)")
            continue
        name = res.table.file_name
        if res.table.path.parent.name == "redcap":
            name = f"redcap/{name} – {src.title_sv}"
        lines.append(f"{name}: {res.rows_read} rader, {res.rows_loaded} inlästa, {res.rows_rejected} avvisade")
    lines += notes
    rejections = [r for s in SOURCES if s.key in results for r in results[s.key].rejected]
    if rejections:
        lines.append("")
        lines.append(f"Avvisade rader ({len(rejections)} fel):")
        by_reason = {(r.file_name, r.reason): r for r in rejections}
        groups = group_rejections([(r.file_name, r.reason, r.cell_ref) for r in rejections])
        for file_name, reason, refs in groups[:MAX_LISTED]:
            if len(refs) == 1:
                lines.append("  " + by_reason[(file_name, reason)].line_sv())
            else:
                lines.append(f"  {file_name} {refs_text(refs)}: {reason}")
        if len(groups) > MAX_LISTED:
            lines.append(f"  … och {len(groups) - MAX_LISTED} fel till (se Datakvalitet i dashboarden)")
    return lines


def newest_date(results: dict[str, SourceResult]) -> date | None:
    """The newest date among the accepted rows' dates that may not lie after the extract."""
    newest: date | None = None
    for key, res in results.items():
        fields = cutoff_checked_fields(next(s.model for s in SOURCES if s.key == key))
        if not fields or res.frame.is_empty():
            continue
        value = res.frame.select(pl.max_horizontal(pl.col(f).max() for f in fields)).item()
        if value is not None and (newest is None or value > newest):
            newest = value
    return newest


def with_extract(fingerprint_: str, extract_date: date | None) -> str:
    """The same files loaded with another extract date are another store."""
    if extract_date is None:
        return fingerprint_
    return hashlib.sha256(f"{fingerprint_}\0extract\0{extract_date.isoformat()}".encode()).hexdigest()


@dataclass
class Prepared:
    """A checked load, nothing written yet (the dry run): what `publish` would store.

    `files` has one entry per source (file name, SHA-256, status, rows read/loaded/rejected) and
    `rejected` one per rejection (file, sheet, row, column header, cell reference, value as typed,
    Swedish reason, rule id), exactly the rows `meta.load_files` and `meta.rejected_rows` get.
    `config` carries the extract date as its cut-off (`extract`).
    """

    inputs: Inputs
    config: StudyConfig
    results: dict[str, SourceResult]
    notes: list[str]
    extract: date
    fingerprint: str
    started: float = field(default_factory=time.perf_counter)

    @property
    def exit_code(self) -> int:
        """0 when every row is accepted, 1 when some are rejected (the valid rows still load)."""
        return 1 if any(r.rejected for r in self.results.values()) else 0

    @property
    def files(self) -> list[dict[str, Any]]:
        return build_meta(self.inputs, self.results, None)[0]

    @property
    def rejected(self) -> list[dict[str, Any]]:
        return build_meta(self.inputs, self.results, None)[1]

    @property
    def hashes(self) -> dict[str, str]:
        """SHA-256 per input file (file name, or its path under the folder for REDCap files)."""
        return dict(self.inputs.hashes)

    def summary_lines(self) -> list[str]:
        return summary_lines(self.results, self.notes)


def already_loaded(inputs: Inputs, db: Path, extract_date: date | None = None) -> dict[str, Any] | None:
    """The current store's last load when it was built from exactly these files, extract date
    and code, else None. Raises LoadRefused when the current store cannot be read."""
    try:
        last = store.last_load(Path(db))
    except Exception as exc:  # noqa: BLE001
        raise LoadRefused(
            [
                f"den nuvarande databasen {current_target(Path(db))} kan inte läsas ({type(exc).__name__}); "
                "inget har ändrats"
            ]
        ) from None
    fingerprint_ = with_extract(inputs.fingerprint, extract_date)
    return last if last is not None and last["fingerprint"] == fingerprint_ else None


def prepare(folder: Path, inputs: Inputs | None = None, extract_date: date | None = None) -> Prepared:
    """Read, scan for personnummer and validate the folder's files; write nothing.

    `extract_date` (issue 12): the date of the extract; no date in the files may lie after it.
    Default: `data_cutoff` in studie.toml when set, else the newest date in the files (dates after
    the day of loading are errors).

    Raises LoadRefused (Swedish messages, safe to show: no cell value before the personnummer scan
    has passed) when nothing can be loaded."""
    started = time.perf_counter()
    scanned = False  # True once no personnummer was found: exception texts may be shown then
    try:
        inputs = inputs or collect_inputs(Path(folder))
        grids, hits, file_errors = scan_inputs(inputs)
        if hits:
            raise LoadRefused([h.message_sv() for h in hits])
        scanned = True
        config = parse_config(inputs)
        if file_errors:
            raise LoadRefused([str(e) for e in file_errors])
        tables, notes = read_tables(inputs, grids, config)
        results = validate_tables(tables, config, extract_date or config.data_cutoff)
        extract = extract_date or config.data_cutoff or newest_date(results) or datetime.now(UTC).date()
        config = config.model_copy(update={"data_cutoff": extract})
    except LoadRefused:
        raise
    except SourceFileError as exc:  # a reader's designed refusal (e.g. a REDCap DAG not mapped)
        raise LoadRefused([str(exc) if scanned else f"{exc.file_name}: filen kan inte läsas"]) from None
    except Exception as exc:  # noqa: BLE001 - never a traceback that could quote a cell
        detail = f": {exc}" if scanned else ""
        raise LoadRefused([f"Inläsningen avbröts av ett oväntat fel ({type(exc).__name__}){detail}."]) from None
    fingerprint_ = with_extract(inputs.fingerprint, extract_date)
    return Prepared(inputs, config, results, notes, extract, fingerprint_, started)


def publish(prepared: Prepared, db: Path, previous: Path | None | bool = False) -> Path:
    """Write `prepared` as a new store version at `db` and swap it in atomically; returns the new
    file. With `previous` (the store file the caller saw before preparing, None for no store),
    refuses when another load swapped the store in between. A failure leaves the store as it was."""
    db = Path(db)
    if previous is False:
        previous = current_target(db)
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    results = prepared.results
    file_rows, rejected_rows = build_meta(prepared.inputs, results, loaded_at)
    # Each source's accepted rows become Arrow once; the polars frames are released as they go.
    frames = {key: store.source_frame(key, res.release(), res.table.file_name) for key, res in results.items()}
    exit_code = prepared.exit_code
    load_row = {
        "loaded_at": loaded_at,
        "fingerprint": prepared.fingerprint,
        "input_dir": str(prepared.inputs.folder.resolve()),
        "data_cutoff": prepared.extract,
        "exit_code": exit_code,
        "status": "loaded_with_rejections" if exit_code else "loaded",
        "rows_read": sum(r.rows_read for r in results.values()),
        "rows_loaded": sum(r.rows_loaded for r in results.values()),
        "rows_rejected": sum(r.rows_rejected for r in results.values()),
        "seconds": round(time.perf_counter() - prepared.started, 3),
    }
    with store.load_lock(db):
        try:
            store.clean_leftovers(db)
            if current_target(db) != previous:
                raise LoadRefused(["databasen byttes ut under inläsningen; kör inläsningen igen"])
            new_file = store.build_store(
                db,
                fingerprint=prepared.fingerprint,
                config=prepared.config,
                frames=frames,
                load_row=load_row,
                file_rows=file_rows,
                rejected_rows=rejected_rows,
                previous=previous,
            )
            store.pause("before_swap")
            store.swap_link(db, new_file)
        except BaseException:
            store.clean_leftovers(db)
            raise
        store.pause("after_swap")
        store.prune_versions(db)
    return new_file


def load(
    folder: Path, db: Path, out: TextIO | None = None, err: TextIO | None = None, extract_date: date | None = None
) -> int:
    """Load the folder into the store at `db`; returns the exit status (0, 1 or 2).

    `extract_date`: see `prepare`. The stored configuration carries it as its cut-off.
    `prepare` (read, scan, validate) writes nothing; only `publish` (the build and the swap) takes
    the store's lock (and creates `<db>.d/`)."""
    out = out or sys.stdout
    err = err or sys.stderr
    db = Path(db)
    started = time.perf_counter()
    prepared: Prepared | None = None  # set once the personnummer scan has passed
    try:
        inputs = collect_inputs(Path(folder))
        previous = current_target(db)
        last = already_loaded(inputs, db, extract_date)
        if last is not None:
            print(f"Filerna är redan inlästa ({last['loaded_at']:%Y-%m-%d %H:%M} UTC); inget har ändrats.", file=out)
            return int(last["exit_code"])
        prepared = prepare(Path(folder), inputs, extract_date)
        prepared.started = started
        store.pause("after_read")
        new_file = publish(prepared, db, previous)
        for line in prepared.summary_lines():
            print(line, file=out)
        print(f"Datauttag {prepared.extract.isoformat()}.", file=out)
        print(f"Inläst till {db} ({new_file.name}) på {time.perf_counter() - started:.2f} s.", file=out)
        return prepared.exit_code
    except LoadRefused as exc:
        for message in exc.messages:
            print(message, file=err)
        print("Inget har lästs in.", file=err)
        return 2
    except Exception as exc:  # noqa: BLE001 - never a traceback that could quote a cell
        detail = f": {exc}" if prepared is not None else ""
        print(f"Inläsningen avbröts av ett oväntat fel ({type(exc).__name__}){detail}. Inget har ändrats.", file=err)
        return 2


def run_load_command(args: Any) -> int:
    """Entry point of `ipsdash load DIR [--db PATH] [--extract-date ÅÅÅÅ-MM-DD]`."""
    return load(Path(args.dir), store_path(getattr(args, "db", None)), extract_date=getattr(args, "extract_date", None))


__all__ = [
    "Prepared",
    "already_loaded",
    "fingerprint",
    "load",
    "prepare",
    "publish",
    "run_load_command",
    "value_text",
]
