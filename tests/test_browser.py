"""The dashboard in a real browser (Debian's Chromium driven by Playwright): every page through the
sidebar, the district filter, a CSV download, the steering PDF, and a unit manager's scope.

Marked slow, run by the normal suite all the same. A missing Chromium fails these tests (CI installs
it with scripts/setup.sh --test); nothing here is skipped silently. Full-page screenshots of every
page go to test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bench.serve import DONE, Dashboard
from dashboard import navigation
from tests import independent as ind
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts"
SHOTS = ARTIFACTS / "screenshots"
# (sidebar link text, url path, the page's heading) of every page the project lead sees, from the
# one page registry.
PAGES = [(p.title, p.url, p.title) for p in navigation.PAGES if "projektledare" in p.roles]
IDLE = DONE


class Server(Dashboard):
    """The dashboard on a free loopback port in demo mode as `role`, with no login configured, its
    output in `log`, started as `ipsdash serve` starts it (bench/serve.py) and stopped by its PID.
    Plain `streamlit run` is not how the dashboard is served: there a fresh server's first session runs
    its first script run in Streamlit's legacy `pages/` mode, whose widget ids differ from every later
    run's, so the first widget change in that session is lost (see dashboard/launch.py)."""

    def __init__(self, db: Path, role: str, log: Path, module: str = "dashboard.launch", wait_s: float = 45):
        super().__init__(db, role, log=log, wait_s=wait_s, module=module)


@pytest.fixture(scope="session")
def server(demo_db, tmp_path_factory):
    ARTIFACTS.mkdir(exist_ok=True)
    s = Server(demo_db, "projektledare", tmp_path_factory.mktemp("logs") / "streamlit.log")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def unit_server(demo_db, tmp_path_factory):
    s = Server(demo_db, "enhetschef:Södermalm", tmp_path_factory.mktemp("logs") / "streamlit_unit.log")
    yield s
    s.stop()


@pytest.fixture()
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True, locale="sv-SE")
    p = context.new_page()
    p.set_default_timeout(30_000)
    yield p
    context.close()


def wait_idle(page) -> None:
    """Wait until the script run has finished and the page has settled."""
    page.wait_for_timeout(300)  # let a rerun triggered just now start
    page.wait_for_selector(IDLE, timeout=30_000)
    page.wait_for_load_state("networkidle")


def open_app(page, server) -> None:
    page.goto(server.url)
    page.get_by_test_id("stSidebar").wait_for()
    wait_idle(page)


def visit(page, link: str, url: str) -> None:
    page.get_by_test_id("stSidebar").get_by_role("link", name=link, exact=True).click()
    page.wait_for_url(f"**/{url}" if url != "oversikt" else "**/*")
    wait_idle(page)


def no_exception(page) -> None:
    """No Python exception box, and no chart that failed in the browser (Vega errors are drawn as
    text inside the chart element, not as stException)."""
    boxes = page.locator('[data-testid="stException"]')
    assert boxes.count() == 0, boxes.first.inner_text()
    body = page.locator("body").inner_text()
    for marker in ("TypeError", "ReferenceError", "Error: "):
        assert marker not in body, body[body.index(marker) : body.index(marker) + 200]


def screenshot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside stMain, so grow the viewport to its height first."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = page.evaluate("() => document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), 16000)})
    page.wait_for_timeout(250)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)


def link_names(page) -> list[str]:
    links = page.get_by_test_id("stSidebar").get_by_role("link")
    return [links.nth(i).inner_text().strip().splitlines()[-1].strip() for i in range(links.count())]


def metric_value(page, label: str) -> str:
    metric = page.get_by_test_id("stMetric").filter(has=page.get_by_text(label, exact=True)).first
    return metric.get_by_test_id("stMetricValue").inner_text().strip()


# --- tests ------------------------------------------------------------------------------------------


def test_browser_every_page_opens_without_error(page, server):
    open_app(page, server)
    assert link_names(page) == [link for link, _, _ in PAGES]
    for link, url, heading in PAGES:
        visit(page, link, url)
        no_exception(page)
        if heading:
            assert page.locator("h1").first.inner_text().strip().startswith(heading)
        screenshot(page, url)


def test_browser_district_filter_changes_overview_numbers(page, server, demo_dir):
    open_app(page, server)
    randomised = ind.randomised(demo_dir)
    target = ind.config(demo_dir)["target_randomised"]
    assert metric_value(page, "Randomiserade") == f"{len(randomised)} / {target}"
    box = page.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect").filter(has_text="Stadsdelar")
    from playwright.sync_api import expect

    for name in ("Järva", "Enheten för hemlösa", "Enskede-Årsta-Vantör"):  # keep only Södermalm
        chip = box.get_by_role("button", name=f"Remove {name}", exact=True)
        # One click each. A click used to be lost when this was the first session of a server started
        # with plain `streamlit run`: its first run's widget ids (legacy pages/ mode) differed from the
        # rerun's, so the rerun reset the filter. The server now starts as `ipsdash serve` does.
        chip.click()
        wait_idle(page)
        expect(chip).to_have_count(0)
    own = sum(1 for p in randomised.values() if p["district"] == "Södermalm")
    own_target = next(d["target"] for d in ind.config(demo_dir)["districts"] if d["name"] == "Södermalm")
    metric = page.get_by_test_id("stMetric").filter(has=page.get_by_text("Randomiserade", exact=True)).first
    expect(metric.get_by_test_id("stMetricValue")).to_have_text(f"{own} / {own_target}", timeout=30_000)
    no_exception(page)


def test_browser_csv_download_matches_independent_count(page, server, demo_dir):
    open_app(page, server)
    with page.expect_download() as info:
        page.get_by_test_id("stDownloadButton").filter(has_text="CSV").first.click()
    path = info.value.path()
    text = Path(path).read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    shown = {r["Stadsdel"].split(" (f.d.")[0]: int(r["Randomiserade"]) for r in rows}
    assert shown == dict(Counter(p["district"] for p in ind.randomised(demo_dir).values()))


def test_browser_steering_pdf_from_cli_matches_source_files(demo_db, demo_dir, tmp_path):
    db = tmp_path / "store" / "ips.duckdb"
    # The CLI writes a snapshot: not into demo_db. SQLite's journal of the audit trail comes and goes
    # while the shared server writes it; it is no part of the store to copy.
    shutil.copytree(demo_db.parent, db.parent, symlinks=True, ignore=shutil.ignore_patterns("*-journal"))
    out = ARTIFACTS / "styrgruppsrapport.pdf"
    ARTIFACTS.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "ipsdash.cli", "report", "styrgrupp", "--out", str(out), "--db", str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    lines = [line.strip() for line in text.splitlines()]
    randomised = ind.randomised(demo_dir)
    assert any(line.split()[:2] == ["Randomiserade", str(len(randomised))] for line in lines if line)
    for name, n in Counter(p["district"] for p in randomised.values()).items():
        assert any(line.startswith(name) and f" {n} " in line for line in lines), name
    for old in ARTIFACTS.glob("styrgruppsrapport-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "70", "-png", str(out), str(ARTIFACTS / "styrgruppsrapport")], check=True)
    assert list(ARTIFACTS.glob("styrgruppsrapport-*.png"))


def test_browser_unit_manager_sees_only_own_district(page, unit_server):
    others = ("Järva", "Rinkeby-Kista", "Enheten för hemlösa", "Enskede-Årsta-Vantör", "Spånga-Tensta")
    open_app(page, unit_server)
    names = link_names(page)
    assert "Översikt" in names and "Datakvalitet" not in names
    visited = []
    for link, url, _ in PAGES:
        if link not in names:
            continue
        visit(page, link, url)
        no_exception(page)
        body = page.locator("body").inner_text()
        for other in others:
            assert other not in body, f"{other} på sidan {link}"
        screenshot(page, f"enhetschef_{url}")
        visited.append(link)
    assert visited == names
