"""Inläsning with AppTest: the page's states (empty, checked, refused, published, rolled back) and
roles that must not reach it. Figures on screen are checked against counts from the files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from etl import audit, staging
from etl.paths import current_target
from tests import independent as ind
from tests import monthly
from tests.conftest import APP, load_quietly, page_text
from tests.test_staging import PNR, UNTIL

MIME = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@pytest.fixture(scope="module")
def months(demo_dir, tmp_path_factory) -> tuple[Path, Path]:
    return monthly.earlier_set(demo_dir, tmp_path_factory.mktemp("months") / "old", UNTIL), demo_dir


@pytest.fixture()
def place(tmp_path, monkeypatch):
    db = tmp_path / "data" / "ips.duckdb"
    monkeypatch.setenv("IPSDASH_DB", str(db))
    monkeypatch.setenv("IPSDASH_STAGING", str(tmp_path / "staging"))
    monkeypatch.delenv("IPSDASH_SOURCES", raising=False)
    for name in ("IPSDASH_REDCAP_URL", "IPSDASH_REDCAP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return db, staging.sources_dir(db), tmp_path / "staging"


def open_page(role: str, monkeypatch) -> AppTest:
    monkeypatch.setenv("IPSDASH_DEMO_ROLE", role)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/inlasning.py").run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, key: str):
    return next(b for b in at.button if b.key == key)


def upload(at: AppTest, folder: Path, names: list[str], data: dict[str, bytes] | None = None) -> AppTest:
    files = [(n, (data or {}).get(n) or (folder / n).read_bytes(), MIME[n.rsplit(".", 1)[1]]) for n in names]
    at.file_uploader[0].set_value(files)
    at.run()
    assert not at.exception, at.exception
    return at


def publish_last_month(place, old: Path) -> None:
    db, sources, _ = place
    shutil.copytree(old, sources)
    assert load_quietly(sources, db) == 1


def test_empty_state_offers_upload_only(place, monkeypatch):
    at = open_page("projektledare", monkeypatch)
    text = page_text(at)
    assert "Källmappen" in text and "är tom" in text
    assert len(at.file_uploader) == 2
    assert not [b for b in at.button if b.key in ("inl_publish", "inl_rollback")]


def test_checked_state_shows_counts_rejections_and_diff(place, months, monkeypatch):
    old, new = months
    publish_last_month(place, old)
    db = place[0]
    before = current_target(db)
    # This month's files, one follow-up status typed wrong.
    data = (new / "uppfoljning.csv").read_bytes().replace(b";Genomf\xc3\xb6rd;", b";Kanske;", 1)
    at = open_page("projektledare", monkeypatch)
    upload(
        at,
        new,
        ["randomisering.csv", "avslut.xlsx", "uppfoljning.csv", "programtrohet.xlsx"],
        {"uppfoljning.csv": data},
    )
    button(at, "inl_check").click().run()
    assert not at.exception, at.exception
    assert current_target(db) == before  # a check writes nothing
    metrics = {m.label: m.value for m in at.metric}
    rows_read = sum(
        len(ind.rows(new, stem))
        for stem in (
            "remisslogg",
            "randomisering",
            "baslinje",
            "uppfoljning",
            "avslut",
            "arbetsspecialister",
            "tilldelning",
            "programtrohet",
            "ips_aktivitet",
            "sysselsattning",
        )
    )
    assert metrics["Rader lästa"] == str(rows_read) and metrics["Avvisade"] == "1"
    added = sum(monthly.per_district(new).values()) - sum(monthly.per_district(old).values())
    assert metrics["Nya randomiserade"] == f"+{added}"
    assert metrics["Nya som lämnat studien"] == f"+{len(set(ind.left_study(new)) - set(ind.left_study(old)))}"
    # The mistyped row is an old follow-up (the file's first): it is not new either way.
    assert metrics["Nya uppföljningar"] == f"+{len(monthly.followup_keys(new) - monthly.followup_keys(old))}"
    assert metrics["Nya programtrohetsskattningar"] == f"+{len(monthly.review_days(new) - monthly.review_days(old))}"
    rejected = next(t.value for t in [*at.dataframe, *at.get("table")] if "Varför raden avvisades" in t.value.columns)
    assert list(rejected["Värde"]) == ["Kanske"] and list(rejected["Fil"]) == ["uppfoljning.csv"]
    diff = next(df.value for df in at.dataframe if "Förändring" in df.value.columns)
    after = monthly.per_district(new)
    assert dict(zip(diff["Stadsdel"], diff["Efter publicering"], strict=True)) == after


def test_refused_upload_leaves_no_file_and_audits_without_the_number(place, months, monkeypatch):
    db, sources, staging_dir = place
    old, new = months
    publish_last_month(place, old)
    data = (new / "randomisering.csv").read_bytes().replace(b"B0212K29", PNR.encode(), 1)
    at = open_page("projektledare", monkeypatch)
    upload(at, new, ["randomisering.csv"], {"randomisering.csv": data})
    errors = " ".join(e.value for e in at.error)
    assert "personnummer" in errors and "randomisering.csv" in errors and "19121212" not in errors
    assert not [p for p in staging_dir.rglob("*") if p.is_file()]
    assert at.file_uploader[0].value in (None, [])  # a fresh uploader: the bytes left the widget too
    entry = audit.entries(db)[0]
    assert entry["action"] == "refused_upload"
    for path in [*db.parent.rglob("*"), *staging_dir.rglob("*")]:
        if path.is_file():
            assert b"19121212" not in path.read_bytes() and b"1212-1212" not in path.read_bytes()


def test_published_state_and_roll_back(place, months, monkeypatch):
    db, sources, staging_dir = place
    old, new = months
    publish_last_month(place, old)
    at = open_page("admin", monkeypatch)
    upload(at, new, ["randomisering.csv", "avslut.xlsx", "uppfoljning.csv", "programtrohet.xlsx"])
    button(at, "inl_check").click().run()
    button(at, "inl_publish").click().run()
    assert not at.exception, at.exception
    assert any("Publicerat" in s.value for s in at.success)
    assert not [p for p in staging_dir.rglob("*") if p.is_file()]
    assert (sources / "randomisering.csv").read_bytes() == (new / "randomisering.csv").read_bytes()
    entry = audit.entries(db, "publish")[0]
    assert entry["actor"] == "demo:admin" and entry["store_file"] == current_target(db).name
    at.checkbox(key="inl_rollback_sure").check().run()
    button(at, "inl_rollback").click().run()
    assert any("återställd" in s.value for s in at.success)
    assert (sources / "randomisering.csv").read_bytes() == (old / "randomisering.csv").read_bytes()
    assert audit.entries(db)[0]["action"] == "rollback"


def test_project_lead_has_no_roll_back(place, months, monkeypatch):
    old, _ = months
    publish_last_month(place, old)
    at = open_page("projektledare", monkeypatch)
    assert not [b for b in at.button if b.key == "inl_rollback"]


OTHER_ROLES = ["enhetschef:Södermalm", "styrgrupp", "forskare", "projektgrupp"]


@pytest.mark.parametrize("role", OTHER_ROLES)
def test_other_roles_have_no_inlasning_in_navigation(place, months, role, monkeypatch):
    old, _ = months
    publish_last_month(place, old)
    monkeypatch.setenv("IPSDASH_DEMO_ROLE", role)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/inlasning.py")


@pytest.mark.parametrize("role", OTHER_ROLES)
def test_other_roles_running_the_page_itself_get_no_widget(place, months, role, monkeypatch):
    """The page file run directly (as a URL in Streamlit's legacy pages/ mode would): it refuses
    before drawing any widget, so there is nothing to upload to or press."""
    db, sources, staging_dir = place
    old, _ = months
    publish_last_month(place, old)
    monkeypatch.setenv("IPSDASH_DEMO_ROLE", role)
    at = AppTest.from_file(str(Path(APP).parent / "pages" / "inlasning.py"), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert "behörighet" in " ".join(e.value for e in at.error)
    assert len(at.file_uploader) == 0 and not [b for b in at.button if (b.key or "").startswith("inl_")]
    assert "Källmappen" not in page_text(at)
    assert not staging_dir.exists() or not any(staging_dir.iterdir())


@pytest.mark.parametrize("role", ["projektgrupp", "styrgrupp"])
def test_actions_refuse_other_roles_on_the_server(place, months, role, tmp_path):
    """Even called directly (a replayed request reaching the code), publish and roll back check
    the role before touching a file."""
    from dashboard import inlasning as inl
    from dashboard.access import AccessDenied, Viewer

    db, sources, staging_dir = place
    old, new = months
    publish_last_month(place, old)
    before = current_target(db)
    session = staging.new_session(staging.staging_root())
    staging.add_upload(session, "randomisering.csv", (new / "randomisering.csv").read_bytes())
    staging.assemble(session, sources)
    with pytest.raises(AccessDenied):
        inl.publish(Viewer(role), session, sources, db, role, None)
    with pytest.raises(AccessDenied):
        inl.roll_back(Viewer("projektledare"), sources, db, "pl")
    assert current_target(db) == before and not staging.can_roll_back(sources)


def test_pull_from_redcap_then_cancel_removes_the_files(tmp_path, monkeypatch):
    """'Hämta från REDCap' with the token from the environment (never typed on the page), then
    'Avbryt' deletes what was fetched."""
    from etl.demo import generate
    from tests.test_redcap import TOKEN, FakeRedcap

    db = tmp_path / "data" / "ips.duckdb"
    monkeypatch.setenv("IPSDASH_DB", str(db))
    monkeypatch.setenv("IPSDASH_STAGING", str(tmp_path / "staging"))
    monkeypatch.delenv("IPSDASH_SOURCES", raising=False)
    sources = staging.sources_dir(db)
    generate(sources, seed=42, scale=1, redcap=True)
    assert load_quietly(sources, db) == 0
    with FakeRedcap(sources / "redcap") as api:
        monkeypatch.setenv("IPSDASH_REDCAP_URL", api.url)
        monkeypatch.setenv("IPSDASH_REDCAP_TOKEN", TOKEN)
        at = open_page("projektledare", monkeypatch)
        button(at, "inl_pull").click().run()
        assert not at.exception, at.exception
    assert "redcap/records.csv" in page_text(at)
    assert TOKEN not in page_text(at)
    fetched = [p for p in (tmp_path / "staging").rglob("*.csv")]
    assert {p.name for p in fetched} == {"records.csv", "dictionary.csv", "event_mapping.csv"}
    button(at, "inl_check").click().run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Nya randomiserade"] == "+0" and metrics["Avvisade"] == "0"
    button(at, "inl_cancel").click().run()
    assert not [p for p in (tmp_path / "staging").rglob("*") if p.is_file()]
    assert "Uppladdade filer:" not in page_text(at)


def test_sealed_rejected_values_are_masked_on_the_page_while_locked(place, months, monkeypatch):
    old, new = months
    publish_last_month(place, old)
    data = (new / "ips_aktivitet.csv").read_bytes()
    lines = data.decode("utf-8-sig").splitlines()
    header, first = lines[0].split(";"), lines[1].split(";")
    first[header.index("Datum")] = "2031-13-45"  # an impossible date: the row is rejected
    lines[1] = ";".join(first)
    at = open_page("projektledare", monkeypatch)
    upload(at, new, ["ips_aktivitet.csv"], {"ips_aktivitet.csv": ("\ufeff" + "\n".join(lines) + "\n").encode()})
    button(at, "inl_check").click().run()
    assert not at.exception, at.exception
    table = next(t.value for t in [*at.dataframe, *at.get("table")] if "Varför raden avvisades" in t.value.columns)
    row = table[table["Fil"] == "ips_aktivitet.csv"].iloc[0]
    assert row["Kolumn"] == "Datum" and "dolt" in row["Värde"]
    assert "2031-13-45" not in page_text(at)


def test_extract_date_defaults_to_newest_date_and_is_passed_to_the_load(place, months, monkeypatch):
    from datetime import date

    import duckdb

    db, sources, _ = place
    old, new = months
    publish_last_month(place, old)
    at = open_page("projektledare", monkeypatch)
    upload(at, new, ["randomisering.csv"])
    button(at, "inl_check").click().run()
    newest = max(r["Randomiseringsdatum"] for r in ind.rows(new, "randomisering"))
    shown = at.date_input(key="inl_extract").value
    assert shown >= newest and str(shown) <= ind.config(new)["data_cutoff"].isoformat()
    assert {m.label: m.value for m in at.metric}["Avvisade"] == "0"
    at.date_input(key="inl_extract").set_value(date(2024, 8, 31)).run()
    assert not at.exception, at.exception
    later = sum(1 for r in ind.rows(new, "randomisering") if r["Randomiseringsdatum"] > date(2024, 8, 31))
    assert later > 0 and int({m.label: m.value for m in at.metric}["Avvisade"]) >= later
    assert "2024-08-31" in page_text(at)
    button(at, "inl_publish").click().run()
    con = duckdb.connect(str(db.resolve()), read_only=True)
    try:
        assert con.execute("select data_cutoff from meta.loads order by load_id desc limit 1").fetchone()[0] == date(
            2024, 8, 31
        )
    finally:
        con.close()
