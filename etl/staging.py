"""The monthly loop without a terminal: stage uploaded files, check them (a dry run that writes
nothing), publish them (the same atomic load as `ipsdash load`), roll back to the previous set.

Folders (all configurable, see docs/access.md):

- the **source folder** (`IPSDASH_SOURCES`, default `<store folder>/sources`): the current source
  files, the study configuration included; the folder `ipsdash sync` loads;
- the **previous set** beside it (`<source folder>.previous`), kept as the store keeps versions;
- the **staging root** (`IPSDASH_STAGING`, default `<temp>/ipsdash-staging-<uid>`), mode 0700 and
  outside the web root: one folder per upload session holding `uploads/` (the bytes as sent) and
  `staged/` (the set a check and a publish use). Abandoned sessions are deleted after
  `IPSDASH_STAGING_TTL` seconds (default 3600).

Every uploaded file is scanned for personnummer before it is kept; a file with one is deleted at
once and the refusal is audited without the number.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from etl import audit, read, scan
from etl.load import LoadRefused, newest_date, prepare
from etl.paths import current_target
from etl.tables import SourceFileError
from etl.validate import Rejection, SourceResult
from schema import pnr
from schema.config import StudyConfig
from schema.sources import CONFIG_STEMS, SOURCES

SOURCES_ENV = "IPSDASH_SOURCES"
STAGING_ENV = "IPSDASH_STAGING"
TTL_ENV = "IPSDASH_STAGING_TTL"
DEFAULT_TTL = 3600
UPLOAD_SUFFIXES = (".xlsx", ".csv", ".toml")
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


# --- where things live -------------------------------------------------------------------------


def sources_dir(db: Path, value: str | os.PathLike[str] | None = None) -> Path:
    """The configured source folder: `value`, else $IPSDASH_SOURCES, else `<store folder>/sources`."""
    if value:
        return Path(value)
    env = os.environ.get(SOURCES_ENV)
    return Path(env) if env else Path(db).parent / "sources"


def previous_dir(sources: Path) -> Path:
    return sources.with_name(sources.name + ".previous")


def staging_path(value: str | os.PathLike[str] | None = None) -> Path:
    """Where the staging folder is configured to be (not created)."""
    return Path(value or os.environ.get(STAGING_ENV) or Path(tempfile.gettempdir()) / f"ipsdash-staging-{os.getuid()}")


def staging_root(value: str | os.PathLike[str] | None = None) -> Path:
    """The private staging folder (created with mode 0700; the mode is re-applied every time)."""
    root = staging_path(value)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    if root.is_symlink() or root.stat().st_uid != os.getuid():
        # Someone else made the folder (e.g. in a shared /tmp): never put uploads there.
        raise PermissionError(f"uppladdningsmappen {root} tillhör inte tjänstens användare")
    os.chmod(root, 0o700)
    return root


def ttl_seconds() -> int:
    try:
        return max(60, int(os.environ.get(TTL_ENV, DEFAULT_TTL)))
    except ValueError:
        return DEFAULT_TTL


# --- the dry run -------------------------------------------------------------------------------


@dataclass
class FileCheck:
    name: str  # as shown (redcap files as redcap/<name>)
    source_key: str | None
    sha256: str | None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    unchanged: bool = False  # same name and SHA-256 as in the data published now


@dataclass
class Diff:
    """What a publish would change against the data published now (both sides counted the same
    way: accepted rows only)."""

    randomised: dict[str, tuple[int, int]] = field(default_factory=dict)  # district id -> (now, after)
    new_leavers: int = 0
    new_followups: int = 0
    new_fidelity_reviews: list[date] = field(default_factory=list)
    unchanged_files: list[str] = field(default_factory=list)
    has_published: bool = False

    @property
    def randomised_added(self) -> dict[str, int]:
        return {d: after - now for d, (now, after) in self.randomised.items()}


@dataclass
class Check:
    """The outcome of a dry run: status 0 all accepted, 1 some rejected, 2 refused (`refused`
    holds the Swedish messages, already masked)."""

    folder: Path
    status: int
    refused: list[str] = field(default_factory=list)
    files: list[FileCheck] = field(default_factory=list)
    results: dict[str, SourceResult] = field(default_factory=dict)
    grids: dict[str, read.Grid] = field(default_factory=dict)  # cells kept by a reader, else read again
    config: StudyConfig | None = None
    notes: list[str] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    diff: Diff | None = None
    extract_date: date | None = None  # the date rows were checked against (dates after it rejected)

    @property
    def rejections(self) -> list[Rejection]:
        return [r for s in SOURCES if s.key in self.results for r in self.results[s.key].rejected]

    @property
    def newest_date(self) -> date | None:
        """The newest date in the accepted rows (the load's own rule): the default extract date."""
        return newest_date(self.results) if self.results else None


def check_folder(folder: Path, db: Path | None = None, extract_date: date | None = None) -> Check:
    """Read, scan and validate `folder` exactly as a load with `extract_date` would, writing nothing
    anywhere; with `db`, also compare against the data published there."""
    folder = Path(folder)
    try:
        prepared = prepare(folder, extract_date=extract_date)  # the loader's own dry run
    except LoadRefused as exc:
        return Check(folder, 2, refused=list(exc.messages))
    except SourceFileError as exc:
        return Check(folder, 2, refused=[str(exc)])
    inputs, results = prepared.inputs, prepared.results
    check = Check(
        folder,
        prepared.exit_code,
        results=results,
        config=prepared.config,
        notes=prepared.notes,
        hashes=prepared.hashes,
        extract_date=prepared.extract,
    )
    published = _published_hashes(db) if db is not None else {}
    for src in SOURCES:
        res = results.get(src.key)
        if res is None:
            continue
        name = _shown_name(folder, res.table.path)
        sha = inputs.hashes.get(name)
        check.files.append(
            FileCheck(
                name,
                src.key,
                sha,
                res.rows_read,
                res.rows_loaded,
                res.rows_rejected,
                unchanged=sha is not None and published.get(name) == sha,
            )
        )
    listed = {f.name for f in check.files}
    for name, sha in sorted(inputs.hashes.items()):
        if name not in listed:  # REDCap dictionary/mapping, unmatched files
            check.files.append(FileCheck(name, None, sha, unchanged=published.get(name) == sha))
    config_name = inputs.config_path.name
    check.files.append(
        FileCheck(
            config_name,
            None,
            read.sha256_file(inputs.config_path),
            unchanged=published.get(config_name) == read.sha256_file(inputs.config_path),
        )
    )
    if db is not None:
        check.diff = diff_against_store(db, check)
    return check


def _shown_name(folder: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return path.name


def _published_hashes(db: Path) -> dict[str, str]:
    """File name -> SHA-256 of the files behind the data published now (empty when none). The
    configuration's hash is not in the store's file list; the audit trail's last publish has it."""
    target = current_target(Path(db))
    if target is None or not target.exists():
        return {}
    con = duckdb.connect(str(target), read_only=True)
    try:
        rows = con.execute(
            "select file_name, sha256 from meta.load_files "
            "where load_id = (select max(load_id) from meta.loads) and sha256 is not null"
        ).fetchall()
    finally:
        con.close()
    out = {str(name): str(sha) for name, sha in rows}
    for entry in audit.entries(db):
        if entry["action"] in ("publish", "rollback") and entry["data"] and entry["store_file"] == target.name:
            out.update({f["name"]: f["sha256"] for f in entry["data"].get("files", []) if f.get("sha256")})
            break
    return out


# --- diff against the published data -----------------------------------------------------------


def _staged_keys(check: Check) -> dict[str, Any]:
    res = check.results

    def frame(key: str) -> pl.DataFrame | None:
        return res[key].frame if key in res else None

    ref, rand, events, fu, fid = (frame(k) for k in ("referrals", "randomisations", "events", "followups", "fidelity"))
    randomised: dict[str, set[str]] = {}
    if ref is not None and rand is not None:
        joined = rand.select("study_code").join(ref.select("study_code", "district_id"), on="study_code")
        for code, district in joined.iter_rows():
            randomised.setdefault(district, set()).add(code)
    leavers = (
        set(events.filter(pl.col("event_type") == "left_study")["study_code"].to_list())
        if events is not None
        else set()
    )
    followups = set(fu.select("study_code", "timepoint_months").iter_rows()) if fu is not None else set()
    reviews = set(fid["reviewed_on"].to_list()) if fid is not None else set()
    return {"randomised": randomised, "leavers": leavers, "followups": followups, "reviews": reviews}


def _store_keys(db: Path) -> dict[str, Any] | None:
    target = current_target(Path(db))
    if target is None or not target.exists():
        return None
    con = duckdb.connect(str(target), read_only=True)
    try:
        randomised: dict[str, set[str]] = {}
        for d, code in con.execute(
            "select f.district_id, r.study_code from raw.randomisations r join raw.referrals f using (study_code)"
        ).fetchall():
            randomised.setdefault(d, set()).add(code)
        leavers = {
            r[0] for r in con.execute("select study_code from raw.events where event_type = 'left_study'").fetchall()
        }
        followups = {
            (r[0], r[1]) for r in con.execute("select study_code, timepoint_months from raw.followups").fetchall()
        }
        reviews = {r[0] for r in con.execute("select distinct reviewed_on from raw.fidelity").fetchall()}
    finally:
        con.close()
    return {"randomised": randomised, "leavers": leavers, "followups": followups, "reviews": reviews}


def diff_against_store(db: Path, check: Check) -> Diff:
    """Randomised per district now and after, new leavers, new follow-up rows, new fidelity
    reviews and the files whose bytes are unchanged. Reads the store read-only."""
    staged = _staged_keys(check)
    now = _store_keys(db)
    diff = Diff(has_published=now is not None, unchanged_files=[f.name for f in check.files if f.unchanged])
    now = now or {"randomised": {}, "leavers": set(), "followups": set(), "reviews": set()}
    order = [d.id for d in check.config.districts] if check.config else []
    for d in [*order, *sorted(set(staged["randomised"]) | set(now["randomised"]) - set(order))]:
        before, after = len(now["randomised"].get(d, ())), len(staged["randomised"].get(d, ()))
        if before or after:
            diff.randomised[d] = (before, after)
    diff.new_leavers = len(staged["leavers"] - now["leavers"])
    diff.new_followups = len(staged["followups"] - now["followups"])
    diff.new_fidelity_reviews = sorted(staged["reviews"] - now["reviews"])
    return diff


# --- upload sessions ---------------------------------------------------------------------------


class UploadRefused(Exception):
    """An uploaded file was refused whole (personnummer, wrong kind); its bytes are gone. The
    message is Swedish and never holds the number."""


@dataclass
class Session:
    root: Path

    @property
    def token(self) -> str:
        return self.root.name

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def staged(self) -> Path:
        return self.root / "staged"

    def touch(self) -> None:
        os.utime(self.root)

    def uploaded(self) -> list[str]:
        """Uploaded files as shown (REDCap files as redcap/<name>)."""
        if not self.uploads.is_dir():
            return []
        return sorted(p.relative_to(self.uploads).as_posix() for p in self.uploads.rglob("*") if p.is_file())


def new_session(root: Path) -> Session:
    path = Path(root) / secrets.token_hex(16)
    path.mkdir(mode=0o700)
    (path / "uploads").mkdir(mode=0o700)
    return Session(path)


def open_session(root: Path, token: str | None) -> Session | None:
    """The session behind `token`, or None (unknown, expired or malformed: never a path outside)."""
    if not token or not _TOKEN.match(token):
        return None
    path = Path(root) / token
    return Session(path) if path.is_dir() else None


def cancel(session: Session) -> None:
    """Remove everything uploaded or staged in the session."""
    shutil.rmtree(session.root, ignore_errors=True)


def sweep(root: Path, ttl: int | None = None, now: float | None = None) -> list[str]:
    """Delete sessions untouched for `ttl` seconds (the browser went away); returns their tokens."""
    ttl = ttl_seconds() if ttl is None else ttl
    now = time.time() if now is None else now
    removed = []
    for path in Path(root).iterdir() if Path(root).is_dir() else []:
        if path.is_dir() and _TOKEN.match(path.name):
            with contextlib.suppress(FileNotFoundError):
                if now - path.stat().st_mtime > ttl:
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path.name)
    return removed


def _safe_name(name: str) -> str:
    base = Path(str(name).replace("\\", "/")).name.strip()
    if not base or base.startswith(".") or Path(base).suffix.lower() not in UPLOAD_SUFFIXES:
        raise UploadRefused(f"{base or 'filen'}: bara .xlsx, .csv och studie.toml kan läsas in")
    if pnr.looks_like_pnr(base):
        raise UploadRefused("filnamnet innehåller något som liknar ett personnummer; filen har inte sparats")
    return base


def scan_upload(path: Path, shown: str) -> list[scan.Hit]:
    """One file scanned for personnummer (`etl.scan.scan_file`: name, bytes, every xlsx part)."""
    try:
        scan.scan_file(path, shown)
    except scan.PnrRefused as exc:
        return exc.hits
    return []


def add_upload(
    session: Session, name: str, data: bytes, *, redcap: bool = False, db: Path | None = None, actor: str = ""
) -> str:
    """Keep one uploaded file in the session (mode 0600), scanned first: a file holding a
    personnummer is deleted at once, the refusal audited (file and place, never the number) and
    UploadRefused raised with the masked message. Returns the name as shown."""
    base = _safe_name(name)
    folder = session.uploads / "redcap" if redcap else session.uploads
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    shown = f"redcap/{base}" if redcap else base
    path = folder / base
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        hits = scan_upload(path, shown)
    except SourceFileError as exc:
        path.unlink(missing_ok=True)
        raise UploadRefused(str(exc)) from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if hits:
        path.unlink(missing_ok=True)
        if db is not None:
            audit.record(
                db,
                actor or "okänd",
                "refused_upload",
                f"{shown}: personnummer eller samordningsnummer, filen raderades",
                "",
                {"file": shown, "places": [h.place for h in hits[:20]], "hits": len(hits)},
            )
        shown_hits = [h.message_sv() for h in hits[:5]]
        more = f" (och {len(hits) - 5} till)" if len(hits) > 5 else ""
        raise UploadRefused("Filen innehåller personnummer och har raderats: " + "; ".join(shown_hits) + more)
    session.touch()
    return shown


def remove_upload(session: Session, shown: str) -> None:
    target = (session.uploads / shown).resolve()
    if session.uploads.resolve() in target.parents:
        target.unlink(missing_ok=True)


def _source_of(path: Path) -> str | None:
    stem = path.stem.strip().lower()
    if path.suffix.lower() == ".toml":
        return "config" if stem in CONFIG_STEMS else None
    src = next((s for s in SOURCES if stem in s.stems), None)
    return src.key if src else None


def assemble(session: Session, sources: Path) -> Path:
    """The set to check and publish, in `session.staged`: the current source folder, with every
    uploaded file replacing the file of the same source (or the same REDCap file); REDCap uploads
    replace the REDCap export file of the same name."""
    staged = session.staged
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(mode=0o700)
    uploads = [p for p in session.uploads.iterdir() if p.is_file()] if session.uploads.is_dir() else []
    replaced = {_source_of(p) for p in uploads} - {None}
    upload_names = {p.name.lower() for p in uploads}
    if sources.is_dir():
        for path in sorted(sources.iterdir()):
            if not path.is_file() or path.name.startswith((".", "~$")):
                continue
            if _source_of(path) in replaced or path.name.lower() in upload_names:
                continue
            shutil.copy2(path, staged / path.name)
        if (sources / "redcap").is_dir():
            shutil.copytree(sources / "redcap", staged / "redcap")
    for path in uploads:
        shutil.copy2(path, staged / path.name)
    redcap_uploads = session.uploads / "redcap"
    if redcap_uploads.is_dir():
        target = staged / "redcap"
        target.mkdir(exist_ok=True)
        for path in sorted(p for p in redcap_uploads.iterdir() if p.is_file()):
            # An uploaded export file replaces the current one of the same name or the same kind
            # (records, dictionary, event mapping), whatever REDCap named the download.
            kind = _redcap_kind(path)
            for old in list(target.iterdir()):
                if old.is_file() and (old.name.lower() == path.name.lower() or (kind and _redcap_kind(old) == kind)):
                    old.unlink()
            shutil.copy2(path, target / path.name)
    session.touch()
    return staged


def _redcap_kind(path: Path) -> str | None:
    from etl.redcap import export_kind

    if path.suffix.lower() != ".csv":
        return None
    kind = export_kind(path)
    return "records" if kind in ("raw", "labels") else kind


def redcap_configured() -> bool:
    """Are REDCap's URL and token configured (environment or secrets)? Never returns the token."""
    from etl.redcap import RedcapApiError, credentials

    try:
        credentials()
    except RedcapApiError:
        return False
    return True


def pull_redcap(session: Session, db: Path | None = None, actor: str = "") -> list[str]:
    """'Hämta från REDCap': the configured API (token from secrets or the environment only) into
    the session's REDCap uploads, each file scanned like an upload."""
    from etl.redcap import credentials, pull

    url, token = credentials()
    with tempfile.TemporaryDirectory(dir=session.root) as tmp:
        paths = pull(Path(tmp), url, token)
        return [add_upload(session, p.name, p.read_bytes(), redcap=True, db=db, actor=actor) for p in paths]


# --- publishing and rolling back ---------------------------------------------------------------


class PublishRefused(Exception):
    """Nothing was published; the message is Swedish and names no data."""


@dataclass
class Published:
    status: int  # the load's exit status (0 or 1)
    store_file: str
    check: Check
    output: str


@contextlib.contextmanager
def folder_lock(sources: Path) -> Iterator[None]:
    """One publish, roll back or sync at a time on a source folder (dies with the process). The
    lock is an flock on the folder that holds the source folder: that directory is never renamed
    (the source folder itself is, on publish), and taking the lock writes no file."""
    parent = Path(sources).absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PublishRefused(
                "en annan publicering eller synkronisering pågår just nu; försök igen om en stund"
            ) from None
        yield
    finally:
        os.close(fd)


def _run_load(folder: Path, db: Path, extract_date: date | None) -> tuple[int, str, str]:
    from etl.load import load

    out, err = io.StringIO(), io.StringIO()
    code = load(folder, db, out, err, extract_date=extract_date)
    return code, out.getvalue(), err.getvalue()


def file_entries(check: Check) -> list[dict[str, Any]]:
    return [
        {
            "name": f.name,
            "sha256": f.sha256,
            "rows_read": f.rows_read,
            "rows_accepted": f.rows_accepted,
            "rows_rejected": f.rows_rejected,
        }
        for f in check.files
    ]


def install_set(new: Path, sources: Path, db: Path, extract_date: date | None = None) -> tuple[int, str, str]:
    """Make `new` the source folder (the current one becomes the previous set) and load it; on a
    refused load put every folder back as it was. Caller holds `folder_lock`."""
    previous = previous_dir(sources)
    incoming = sources.with_name(sources.name + ".incoming")
    retired = sources.with_name(sources.name + ".retired")
    for leftover in (incoming, retired):
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.copytree(new, incoming)
    had_sources, had_previous = sources.is_dir(), previous.is_dir()
    if had_previous:
        os.rename(previous, retired)
    if had_sources:
        os.rename(sources, previous)
    os.rename(incoming, sources)
    try:
        code, out, err = _run_load(sources, db, extract_date)
    except BaseException:
        code, out, err = 2, "", "Inläsningen avbröts av ett oväntat fel."
    if code >= 2:
        shutil.rmtree(sources, ignore_errors=True)
        if had_sources:
            os.rename(previous, sources)
        if had_previous:
            os.rename(retired, previous)
    else:
        shutil.rmtree(retired, ignore_errors=True)
    return code, out, err


def publish(session: Session, sources: Path, db: Path, actor: str, extract_date: date | None = None) -> Published:
    """Check the staged set again, move it into the source folder and load it (new store version,
    atomic swap); audit who, when, every file's name, SHA-256, row counts and rejections. The
    session is deleted afterwards. Raises PublishRefused (nothing changed) when the set would be
    refused or the load fails."""
    if not session.staged.is_dir():
        raise PublishRefused("kontrollera filerna innan de publiceras")
    if not session.uploaded():
        # Publishing the folder as it is would only make the previous set a copy of the current one.
        raise PublishRefused("inga uppladdade filer att publicera")
    with folder_lock(sources):
        check = check_folder(session.staged, db, extract_date)
        if check.status >= 2:
            raise PublishRefused("filerna kan inte läsas in: " + "; ".join(check.refused[:3]))
        code, out, err = install_set(session.staged, sources, db, extract_date)
        published = _installed(
            db,
            actor,
            "publish",
            f"{len(check.files)} filer, {sum(f.rows_rejected for f in check.files)} avvisade rader",
            check,
            (code, out, err),
            extract_date=extract_date,
        )
    cancel(session)
    return published


def can_roll_back(sources: Path) -> bool:
    return previous_dir(sources).is_dir()


def roll_back(sources: Path, db: Path, actor: str) -> Published:
    """Publish the previous source set again as a NEW store version (the audit trail, the
    close-study state and report snapshots are carried into it like in any load); the set it
    replaces becomes the previous one. Audited. Raises PublishRefused when no previous set is kept."""
    previous = previous_dir(sources)
    if not previous.is_dir():
        raise PublishRefused("det finns ingen föregående version att återställa")
    with folder_lock(sources):
        check = check_folder(previous, db)
        if check.status >= 2:
            raise PublishRefused("den föregående versionen kan inte läsas in: " + "; ".join(check.refused[:3]))
        with tempfile.TemporaryDirectory(dir=sources.parent) as tmp:
            copy = Path(tmp) / "set"
            shutil.copytree(previous, copy)
            installed = install_set(copy, sources, db)
        return _installed(
            db, actor, "rollback", f"föregående version återställd: {len(check.files)} filer", check, installed
        )


def _installed(
    db: Path, actor: str, kind: str, text: str, check: Check, installed: tuple[int, str, str], **details: Any
) -> Published:
    """After `install_set`: refuse with its first error line, or record the publish or rollback in
    the audit trail (strictly: no unaudited version) and describe the new version."""
    code, out, err = installed
    if code >= 2:
        raise PublishRefused(first_line(err))
    target = current_target(db)
    entry = {"files": file_entries(check), "rejected": len(check.rejections), **details, "status": code}
    audit.record(db, actor, kind, text, str(target or ""), entry, strict=True)
    return Published(code, target.name if target else "", check, out)


def first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and ln.strip() != "Inget har lästs in."]
    if not lines:
        return "inläsningen misslyckades"
    more = f" (och {len(lines) - 1} fel till)" if len(lines) > 1 else ""
    return lines[0] + more


__all__ = [
    "Check",
    "Diff",
    "Published",
    "PublishRefused",
    "Session",
    "UploadRefused",
    "add_upload",
    "assemble",
    "can_roll_back",
    "cancel",
    "check_folder",
    "new_session",
    "open_session",
    "publish",
    "roll_back",
    "sweep",
]
