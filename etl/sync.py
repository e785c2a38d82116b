"""`ipsdash sync`: the unattended run for cron or a systemd timer.

Pulls the REDCap export when REDCap is configured (URL and token from the environment or
`.streamlit/secrets.toml`, never the command line), then loads the configured source folder with
the same atomic load as `ipsdash load`. Safe to run often:

- one instance at a time (an flock on `<source folder>.lock`, shared with publish on the page);
- a run that finds nothing new (same files, same configuration, same code as the published store)
  writes nothing: no store version, no audit entry, no file;
- on failure it prints one Swedish line and exits non-zero; the previous store stays current.

Exit status: 0 loaded or nothing new; 1 loaded, some rows rejected; 2 failed (nothing changed);
3 another publish or sync is running (nothing done).
"""

from __future__ import annotations

import hashlib
import io
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO

from etl import audit, staging, store
from etl.load import LoadRefused, collect_inputs
from etl.paths import current_target, store_path

ACTOR = "sync"


class SyncFailed(Exception):
    """One Swedish line, safe to print (names no cell value)."""


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pull_changes(sources: Path, work: Path) -> Path | None:
    """Fetch the REDCap export; when any file differs from the source folder's, return a full new
    set (the source folder with the fresh export) in `work`, else None."""
    from etl.redcap import RedcapApiError, credentials, pull

    token = ""
    try:
        url, token = credentials()
        fetched = pull(work / "pulled", url, token)
    except RedcapApiError as exc:
        raise SyncFailed(f"REDCap kunde inte hämtas: {str(exc).replace(token, '***') if token else exc}") from None
    current = sources / "redcap"
    if all((current / p.name).is_file() and _sha(current / p.name) == _sha(p) for p in fetched):
        return None
    for path in fetched:  # the same scan as an upload: a personnummer refuses the export
        hits = staging.scan_upload(path, f"redcap/{path.name}")
        if hits:
            raise SyncFailed("REDCap-exporten innehåller personnummer och lästes inte in: " + hits[0].message_sv())
    new = work / "set"
    shutil.copytree(sources, new)
    (new / "redcap").mkdir(exist_ok=True)
    for path in fetched:
        shutil.copy2(path, new / "redcap" / path.name)
    return new


def _fingerprints(files_fingerprint: str, db: Path) -> set[str]:
    """The fingerprints the current store would have if built from these files: as a plain load, or
    with the extract date the current store was published with (a page publish passes one)."""
    out = {files_fingerprint}
    con = store.open_store_readonly(db)
    try:
        row = con.execute("select data_cutoff from meta.loads order by load_id desc limit 1").fetchone()
    finally:
        con.close()
    if row and row[0] is not None:
        # The load's own rule for folding the extract date into the fingerprint (etl/load.py).
        from etl.load import with_extract

        out.add(with_extract(files_fingerprint, row[0]))
    return out


def sync(db: Path, sources: Path, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    db, sources = Path(db), Path(sources)
    try:
        with staging.folder_lock(sources):
            code, message = _sync_locked(db, sources)
    except staging.PublishRefused as exc:
        print(f"Synkroniseringen gjordes inte: {exc}.", file=err)
        return 3
    except SyncFailed as exc:
        audit.record(db, ACTOR, "sync_failed", str(exc))
        print(f"Synkroniseringen misslyckades: {exc}. Den tidigare databasen gäller.", file=err)
        return 2
    except Exception as exc:  # noqa: BLE001 - never a traceback that could quote a cell
        print(
            f"Synkroniseringen misslyckades av ett oväntat fel ({type(exc).__name__}). Den tidigare databasen gäller.",
            file=err,
        )
        return 2
    print(message, file=out)
    return code


def _sync_locked(db: Path, sources: Path) -> tuple[int, str]:
    if not sources.is_dir():
        raise SyncFailed(f"källmappen {sources} finns inte")
    if staging.staging_path().is_dir():
        staging.sweep(staging.staging_path())  # abandoned uploads go even when nobody opens the page
    with tempfile.TemporaryDirectory(prefix=".sync-", dir=sources.parent) as tmp:
        candidate = _pull_changes(sources, Path(tmp)) if staging.redcap_configured() else None
        folder = candidate or sources
        try:
            inputs = collect_inputs(folder)
        except LoadRefused as exc:
            raise SyncFailed(exc.messages[0]) from None
        last = store.last_load(db)
        if last is not None and last["fingerprint"] in _fingerprints(inputs.fingerprint, db):
            return 0, f"Inget nytt att läsa in (senast inläst {last['loaded_at']:%Y-%m-%d %H:%M} UTC)."
        check = staging.check_folder(folder, db)
        if check.status >= 2:
            more = f" (och {len(check.refused) - 1} fel till)" if len(check.refused) > 1 else ""
            raise SyncFailed(check.refused[0] + more)
        if candidate is not None:
            code, _, errors = staging.install_set(candidate, sources, db)
        else:
            from etl.load import load

            buf, errbuf = io.StringIO(), io.StringIO()
            code = load(sources, db, buf, errbuf)
            errors = errbuf.getvalue()
        if code >= 2:
            raise SyncFailed(staging.first_line(errors))
    target = current_target(db)
    rejected = len(check.rejections)
    audit.record(
        db,
        ACTOR,
        "publish",
        f"synkronisering: {len(check.files)} filer, {rejected} avvisade rader",
        str(target or ""),
        {"files": staging.file_entries(check), "rejected": rejected, "status": code},
    )
    note = f", {rejected} rader avvisades (se Datakvalitet eller ipsdash check)" if rejected else ""
    return code, f"Inläst: {target.name if target else db}{note}."


def run_sync_command(args: Any) -> int:
    db = store_path(getattr(args, "db", None))
    return sync(db, staging.sources_dir(db, getattr(args, "sources", None)))
