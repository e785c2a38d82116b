"""The monthly loop below the page: check (a dry run that writes nothing), the diff against the
published data (counted independently from the files), upload sessions (private folder,
personnummer refusal, cancel, expiry), publish and roll back with the one audit trail."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from datetime import date
from pathlib import Path

import duckdb
import pytest

from etl import audit, staging, store
from etl.close import close_study
from etl.paths import current_target
from tests import independent as ind
from tests import monthly
from tests.conftest import load_quietly

UNTIL = date(2024, 6, 30)
PNR = "19121212-1212"  # the Tax Agency's test number: valid checksum and date


def tree_digest(*folders: Path) -> dict[str, str]:
    """Every file under the folders (links as their target) with its SHA-256."""
    out = {}
    for folder in folders:
        if not folder.exists():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_symlink():
                out[str(path)] = "->" + os.readlink(path)
            elif path.is_file():
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def months(demo_dir, tmp_path_factory) -> tuple[Path, Path]:
    """(last month's folder, this month's folder)."""
    base = tmp_path_factory.mktemp("months")
    return monthly.earlier_set(demo_dir, base / "old", UNTIL), demo_dir


@pytest.fixture()
def published(months, tmp_path) -> tuple[Path, Path]:
    """A store with last month published through the source folder: (db, sources)."""
    old, _ = months
    db = tmp_path / "data" / "ips.duckdb"
    sources = staging.sources_dir(db)
    shutil.copytree(old, sources)
    assert load_quietly(sources, db) == 1  # the earlier set rejects rows of people randomised later
    return db, sources


@pytest.fixture()
def root(tmp_path) -> Path:
    return staging.staging_root(tmp_path / "staging")


def upload_month(session: staging.Session, folder: Path, names: list[str]) -> None:
    for name in names:
        staging.add_upload(session, name, (folder / name).read_bytes())


# --- check ---------------------------------------------------------------------------------------


def test_check_writes_nothing_to_store_or_folders(published, months, tmp_path):
    db, sources = published
    before = tree_digest(db.parent)
    check = staging.check_folder(months[1], db)
    assert check.status == 0 and check.diff is not None
    assert tree_digest(db.parent) == before
    fresh = tmp_path / "fresh" / "ips.duckdb"
    assert staging.check_folder(months[1], fresh).status == 0
    assert not fresh.parent.exists()


def test_check_counts_per_file_match_the_files(mistakes_dir):
    check = staging.check_folder(mistakes_dir)
    assert check.status == 1
    by_name = {f.name: f for f in check.files}
    assert by_name["randomisering.csv"].rows_read == len(ind.rows(mistakes_dir, "randomisering"))
    assert by_name["uppfoljning.csv"].rows_read == len(ind.rows(mistakes_dir, "uppfoljning"))
    for f in check.files:
        assert f.rows_accepted + f.rows_rejected == f.rows_read
    assert sum(f.rows_rejected for f in check.files) == len({(r.file_name, r.row_number) for r in check.rejections})


def test_diff_figures_match_counts_from_the_files(published, months):
    db, _ = published
    old, new = months
    diff = staging.check_folder(new, db).diff
    names = {d["id"]: d["name"] for d in ind.config(new)["districts"]}
    before, after = monthly.per_district(old), monthly.per_district(new)
    assert {names[d]: n for d, n in diff.randomised_added.items()} == {d: after[d] - before.get(d, 0) for d in after}
    assert {names[d]: v for d, v in diff.randomised.items()} == {d: (before.get(d, 0), after[d]) for d in after}
    assert sum(diff.randomised_added.values()) > 0
    assert diff.new_leavers == len(set(ind.left_study(new)) - set(ind.left_study(old))) > 0
    assert diff.new_followups == len(monthly.followup_keys(new) - monthly.followup_keys(old)) > 0
    assert set(diff.new_fidelity_reviews) == monthly.review_days(new) - monthly.review_days(old) != set()
    same = {
        p.name
        for p in new.iterdir()
        if p.is_file() and p.suffix != ".toml" and (old / p.name).read_bytes() == p.read_bytes()
    }
    assert set(diff.unchanged_files) == same and "randomisering.csv" not in same


def test_check_refuses_personnummer_with_masked_message(demo_dir, tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(demo_dir, folder)
    path = folder / "randomisering.csv"
    path.write_bytes(path.read_bytes().replace(b"B0206M45", PNR.encode(), 1))
    check = staging.check_folder(folder)
    assert check.status == 2 and check.refused
    assert PNR not in " ".join(check.refused) and "19121212" not in " ".join(check.refused)
    assert "randomisering.csv" in check.refused[0]


# --- upload sessions -------------------------------------------------------------------------------


def test_session_folder_is_private_and_files_are_0600(root, demo_dir):
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    session = staging.new_session(root)
    assert stat.S_IMODE(session.root.stat().st_mode) == 0o700
    staging.add_upload(session, "randomisering.csv", (demo_dir / "randomisering.csv").read_bytes())
    assert stat.S_IMODE((session.uploads / "randomisering.csv").stat().st_mode) == 0o600
    assert session.uploaded() == ["randomisering.csv"]


def test_upload_with_personnummer_is_deleted_at_once_and_audited_without_the_number(root, demo_dir, tmp_path):
    db = tmp_path / "data" / "ips.duckdb"
    session = staging.new_session(root)
    data = (demo_dir / "randomisering.csv").read_bytes().replace(b"B0212K29", PNR.encode(), 1)
    with pytest.raises(staging.UploadRefused) as refused:
        staging.add_upload(session, "randomisering.csv", data, db=db, actor="pl@stad.se")
    message = str(refused.value)
    assert "randomisering.csv" in message and "rad 3" in message and "19121212" not in message
    assert session.uploaded() == [] and not any(session.root.rglob("*.csv"))
    entry = audit.entries(db)[0]
    assert entry["action"] == "refused_upload" and entry["actor"] == "pl@stad.se"
    trail = audit.audit_path(db).read_bytes()
    assert b"19121212" not in trail and b"1212-1212" not in trail and b"121212" not in trail


@pytest.mark.parametrize("name", ["../../etc/passwd.csv", "x.exe", ".hidden.csv", "19121212-1212.csv"])
def test_upload_names_cannot_escape_or_carry_numbers(root, name):
    session = staging.new_session(root)
    try:
        shown = staging.add_upload(session, name, b"Studiekod;Randomiseringsdatum\n")
    except staging.UploadRefused as exc:
        assert "19121212" not in str(exc)
        return
    assert "/" not in shown and (session.uploads / shown).is_file()


def test_cancel_and_expiry_remove_uploaded_bytes(root, demo_dir):
    kept, cancelled, abandoned = (staging.new_session(root) for _ in range(3))
    for s in (kept, cancelled, abandoned):
        upload_month(s, demo_dir, ["uppfoljning.csv"])
    staging.cancel(cancelled)
    assert not cancelled.root.exists()
    old = abandoned.root.stat().st_mtime - 7200
    os.utime(abandoned.root, (old, old))
    assert staging.sweep(root, ttl=3600) == [abandoned.token]
    assert kept.root.exists() and not abandoned.root.exists()
    assert staging.open_session(root, "../" + kept.token) is None
    assert staging.open_session(root, kept.token).root == kept.root


def test_assemble_replaces_files_of_the_same_source_and_keeps_the_rest(root, published, months):
    _, sources = published
    session = staging.new_session(root)
    new = months[1]
    staging.add_upload(session, "Randomisering.CSV", (new / "randomisering.csv").read_bytes())
    staged = staging.assemble(session, sources)
    names = sorted(p.name for p in staged.iterdir())
    assert "Randomisering.CSV" in names and "randomisering.csv" not in names
    assert (staged / "Randomisering.CSV").read_bytes() == (new / "randomisering.csv").read_bytes()
    assert (staged / "avslut.xlsx").read_bytes() == (sources / "avslut.xlsx").read_bytes()


# --- publish and roll back ---------------------------------------------------------------------------


def _randomised(db: Path) -> int:
    con = duckdb.connect(str(current_target(db)), read_only=True)
    try:
        return con.execute("select count(*) from mart.participants").fetchone()[0]
    finally:
        con.close()


def test_publish_then_roll_back_carries_audit_close_state_and_snapshots(published, months, root, capsys):
    db, sources = published
    old, new = months
    first = current_target(db)
    session = staging.new_session(root)
    upload_month(session, new, [name for name, _ in monthly.DATED])
    staging.assemble(session, sources)
    done = staging.publish(session, sources, db, "pl@stad.se")
    assert done.status == 0 and current_target(db) != first
    assert _randomised(db) == len(ind.randomised(new))
    assert not session.root.exists()
    assert (staging.previous_dir(sources) / "randomisering.csv").read_bytes() == (
        old / "randomisering.csv"
    ).read_bytes()
    assert (sources / "randomisering.csv").read_bytes() == (new / "randomisering.csv").read_bytes()
    entry = audit.entries(db, "publish")[0]
    files = {f["name"]: f for f in entry["data"]["files"]}
    assert entry["actor"] == "pl@stad.se" and entry["store_file"] == current_target(db).name
    assert files["randomisering.csv"]["sha256"] == hashlib.sha256((new / "randomisering.csv").read_bytes()).hexdigest()
    assert files["randomisering.csv"]["rows_read"] == len(ind.rows(new, "randomisering"))
    assert entry["data"]["rejected"] == 0

    # Things that happen after the publish must survive the roll back.
    assert close_study(db, "Projektledaren", "Styrgruppsbeslut") == 0
    store.write_new_version(
        db,
        lambda con: con.execute(
            "insert into meta.report_snapshots values ('styrgrupp', now(), date '2024-09-30', '{}')"
        ),
        "report",
    )
    snapshots = 1
    back = staging.roll_back(sources, db, "admin@stad.se")
    assert back.status == 1
    assert _randomised(db) == len(ind.randomised(old))
    con = duckdb.connect(str(current_target(db)), read_only=True)
    closed = con.execute("select actor, action from meta.audit_log").fetchall()
    assert con.execute("select count(*) from meta.report_snapshots").fetchone()[0] == snapshots
    con.close()
    assert closed == [("Projektledaren", "close_study")]
    actions = [e["action"] for e in audit.entries(db)]
    assert actions[:3] == ["rollback", "close_study", "publish"]
    # The set replaced by the roll back is now the previous one: rolling back again re-applies it.
    assert (staging.previous_dir(sources) / "randomisering.csv").read_bytes() == (
        new / "randomisering.csv"
    ).read_bytes()


def test_roll_back_needs_a_previous_set(published):
    db, sources = published
    with pytest.raises(staging.PublishRefused):
        staging.roll_back(sources, db, "admin@stad.se")


def test_publish_refused_set_changes_nothing(published, root, demo_dir):
    db, sources = published
    before = tree_digest(db.parent)
    session = staging.new_session(root)
    staging.add_upload(session, "studie.toml", b"[study]\nname = 1\n")
    staging.assemble(session, sources)
    assert staging.check_folder(session.staged, db).status == 2
    with pytest.raises(staging.PublishRefused):
        staging.publish(session, sources, db, "pl@stad.se")
    assert tree_digest(db.parent) == before


def test_a_second_publish_waits_for_the_lock(published, root):
    db, sources = published
    with staging.folder_lock(sources), pytest.raises(staging.PublishRefused):
        with staging.folder_lock(sources):
            pass


def test_assemble_replaces_redcap_export_files_by_kind(root, tmp_path):
    from etl.demo import generate

    sources = tmp_path / "sources"
    generate(sources, seed=42, scale=1, redcap=True)
    records = (sources / "redcap" / "records.csv").read_bytes()
    session = staging.new_session(root)
    # REDCap names its downloads after the project and the date: the kind decides, not the name.
    shown = staging.add_upload(session, "IPSADAS_DATA_2024-10-01_0915.csv", records, redcap=True)
    assert shown == "redcap/IPSADAS_DATA_2024-10-01_0915.csv"
    staged = staging.assemble(session, sources)
    names = sorted(p.name for p in (staged / "redcap").iterdir())
    assert "records.csv" not in names and "IPSADAS_DATA_2024-10-01_0915.csv" in names
    assert "dictionary.csv" in names and "event_mapping.csv" in names
    assert staging.check_folder(staged).status == 0


def test_staging_root_refuses_a_link_planted_in_its_place(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "staging").symlink_to(elsewhere)
    with pytest.raises(PermissionError):
        staging.staging_root(tmp_path / "staging")
