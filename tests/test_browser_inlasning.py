"""Inläsning in a real browser (Debian's Chromium via Playwright, against `streamlit run`): a project
lead uploads a month with bad rows, sees the rejections and the diff, publishes; a second browser
session shows the new numbers; an admin rolls back and the old numbers return. Other roles cannot
open the page or post to it; an upload with a personnummer leaves no file behind."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bench import serve
from bench.serve import Dashboard
from etl import audit, staging
from etl.paths import current_target
from tests import independent as ind
from tests import monthly
from tests.conftest import load_quietly
from tests.test_browser import link_names, metric_value, no_exception, open_app, screenshot
from tests.test_staging import PNR, UNTIL

pytestmark = pytest.mark.slow
MONTH = ["randomisering.csv", "avslut.xlsx", "uppfoljning.csv", "programtrohet.xlsx"]


@pytest.fixture()
def site(demo_dir, tmp_path):
    """Last month published through the source folder; this month's files (one bad row) to upload."""
    base = tmp_path
    old = monthly.earlier_set(demo_dir, base / "old", UNTIL)
    db = base / "data" / "ips.duckdb"
    sources = staging.sources_dir(db)
    shutil.copytree(old, sources)
    assert load_quietly(sources, db) == 1
    upload = base / "upload"
    upload.mkdir()
    for name in MONTH:
        shutil.copy2(demo_dir / name, upload / name)
    path = upload / "uppfoljning.csv"
    path.write_bytes(path.read_bytes().replace(";Genomf\u00f6rd;".encode(), b";Kanske;", 1))
    return {
        "db": db,
        "sources": sources,
        "staging": base / "staging",
        "old": old,
        "new": demo_dir,
        "upload": upload,
        "logs": base,
    }


def start(site, role: str) -> Dashboard:
    env = {"IPSDASH_STAGING": str(site["staging"]), "IPSDASH_SOURCES": str(site["sources"])}
    return Dashboard(site["db"], role, log=site["logs"] / f"streamlit-{role.split(':')[0]}.log", env=env)


def new_page(browser):
    context = serve.new_context(browser, 1400, 1000, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    return context, page


def open_inlasning(page, server) -> None:
    open_app(page, server.url)
    with serve.rerun(page):
        page.get_by_test_id("stSidebar").get_by_role("link", name="Inläsning", exact=True).click()
        page.wait_for_url("**/inlasning")


def choose_role(page, label: str) -> None:
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").first.click()
    with serve.rerun(page):
        page.get_by_role("option", name=label, exact=True).click()


def randomised_shown(browser, server) -> str:
    context, page = new_page(browser)
    try:
        open_app(page, server.url)
        return metric_value(page, "Randomiserade").split(" / ")[0]
    finally:
        context.close()


def files_under(*folders: Path) -> list[Path]:
    return [p for f in folders if f.exists() for p in f.rglob("*") if p.is_file()]


def test_browser_lead_uploads_checks_publishes_and_admin_rolls_back(browser, site):
    server = start(site, "projektledare")
    try:
        old_n, new_n = len(ind.randomised(site["old"])), len(ind.randomised(site["new"]))
        assert randomised_shown(browser, server) == str(old_n)
        context, page = new_page(browser)
        open_inlasning(page, server)
        with serve.rerun(page):
            page.locator('input[type="file"]').first.set_input_files([str(site["upload"] / n) for n in MONTH])
        page.get_by_text("Uppladdade filer:").wait_for()
        with serve.rerun(page):
            page.get_by_role("button", name="Kontrollera", exact=True).click()
        no_exception(page)
        assert metric_value(page, "Avvisade") == "1"
        added = new_n - old_n
        assert metric_value(page, "Nya randomiserade") == f"+{added}"
        leavers = len(set(ind.left_study(site["new"])) - set(ind.left_study(site["old"])))
        assert metric_value(page, "Nya som lämnat studien") == f"+{leavers}"
        # The rejected rows are a data grid that fills its cells in after the script run is idle.
        page.get_by_text("Kanske", exact=True).first.wait_for(timeout=15_000)
        body = page.locator("body").inner_text()
        assert "Kanske" in body and "uppfoljning.csv" in body
        assert current_target(site["db"]) is not None and not staging.can_roll_back(site["sources"])
        screenshot(page, "inlasning_kontroll")
        with serve.rerun(page):
            page.get_by_role("button", name="Publicera", exact=True).click()
        page.get_by_text("Publicerat").first.wait_for()
        no_exception(page)
        # A second browser session sees the new numbers on its first run.
        assert randomised_shown(browser, server) == str(new_n)
        entry = audit.entries(site["db"], "publish")[0]
        assert entry["actor"] == "demo:projektledare" and entry["data"]["rejected"] == 1
        # The admin (demo role switch) rolls back; a fresh session shows the old numbers again.
        choose_role(page, "Administratör")
        with serve.rerun(page):
            page.get_by_text("Jag vill återställa föregående version").click()
        with serve.rerun(page):
            page.get_by_role("button", name="Återställ föregående version").click()
        page.get_by_text("Föregående version återställd").first.wait_for()
        no_exception(page)
        screenshot(page, "inlasning_aterstalld")
        assert randomised_shown(browser, server) == str(old_n)
        assert audit.entries(site["db"])[0]["action"] == "rollback"
        context.close()
    finally:
        server.stop()


def test_browser_personnummer_upload_leaves_no_file_behind(browser, site):
    bad = site["upload"] / "randomisering.csv"
    bad.write_bytes(bad.read_bytes().replace(b"B0212K29", PNR.encode(), 1))
    before = current_target(site["db"])
    server = start(site, "projektledare")
    try:
        context, page = new_page(browser)
        open_inlasning(page, server)
        with serve.rerun(page):
            page.locator('input[type="file"]').first.set_input_files(str(bad))
        page.get_by_text("personnummer", exact=False).first.wait_for()
        body = page.locator("body").inner_text()
        assert "randomisering.csv" in body and "19121212" not in body and "1212-1212" not in body
        context.close()
    finally:
        server.stop()
    assert files_under(site["staging"]) == []
    assert current_target(site["db"]) == before
    for path in files_under(site["db"].parent):
        data = path.read_bytes()
        assert b"19121212" not in data and b"1212-1212" not in data, path
    assert audit.entries(site["db"])[0]["action"] == "refused_upload"
    assert b"121212" not in audit.audit_path(site["db"]).read_bytes()
    log = (site["logs"] / "streamlit-projektledare.log").read_text(encoding="utf-8")
    assert "19121212" not in log


@pytest.mark.parametrize("role", ["enhetschef:Södermalm", "styrgrupp", "forskare"])
def test_browser_other_roles_cannot_open_or_post_to_the_page(browser, site, role):
    before = current_target(site["db"])
    server = start(site, role)
    try:
        context, page = new_page(browser)
        open_app(page, server.url)
        assert "Inläsning" not in link_names(page)
        open_app(page, f"{server.url}/inlasning")  # by URL
        body = page.locator("body").inner_text()
        assert "Källmappen" not in body and page.locator('input[type="file"]').count() == 0
        assert page.get_by_role("button", name="Publicera").count() == 0
        # A replayed upload request (Streamlit's upload endpoint, made-up session and file ids).
        request = urllib.request.Request(
            f"{server.url}/_stcore/upload_file/abc/def",
            method="PUT",
            data=b'--x\r\nContent-Disposition: form-data; name="file"; '
            b'filename="randomisering.csv"\r\n\r\nStudiekod\r\n--x--\r\n',
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                status = r.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status >= 400
        context.close()
    finally:
        server.stop()
    assert files_under(site["staging"]) == []
    assert current_target(site["db"]) == before and not staging.can_roll_back(site["sources"])
    assert [e for e in audit.entries(site["db"]) if e["action"] in ("publish", "rollback")] == []
