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

from bench import serve
from bench.serve import Dashboard
from dashboard import navigation
from tests import independent as ind
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts"
SHOTS = ARTIFACTS / "screenshots"
# (sidebar link text, url path, the page's heading) of every page the project lead sees, from the
# one page registry.
PAGES = [(p.title, p.url, p.title) for p in navigation.PAGES if "projektledare" in p.roles]


@pytest.fixture(scope="session")
def server(demo_db, tmp_path_factory):
    with Dashboard(demo_db, "projektledare", log=tmp_path_factory.mktemp("logs") / "streamlit.log") as s:
        yield s


@pytest.fixture(scope="session")
def unit_server(demo_db, tmp_path_factory):
    with Dashboard(demo_db, "enhetschef:Södermalm", log=tmp_path_factory.mktemp("logs") / "streamlit_unit.log") as s:
        yield s


def open_app(page, url: str) -> None:
    """Open `url` (the app's root or a page's own) in a fresh page load and wait until the app has
    finished its first run there with the sidebar's page links drawn. A fresh server's first run
    (cold imports, the store opened) can take many seconds on a busy machine: the wait is for the
    condition, with a generous deadline."""
    page.goto(url)
    serve.finished(page, links=True)


def visit(page, link: str, url: str) -> None:
    with serve.rerun(page):
        page.get_by_test_id("stSidebar").get_by_role("link", name=link, exact=True).click()
        page.wait_for_url(f"**/{url}" if url != "oversikt" else "**/*")


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


def test_browser_every_page_opens_without_error(tab, server):
    open_app(tab, server.url)
    assert link_names(tab) == [link for link, _, _ in PAGES]
    for link, url, heading in PAGES:
        visit(tab, link, url)
        no_exception(tab)
        if heading:
            assert tab.locator("h1").first.inner_text().strip().startswith(heading)
        screenshot(tab, url)


def test_browser_district_filter_changes_overview_numbers(tab, server, demo_dir):
    open_app(tab, server.url)
    randomised = ind.randomised(demo_dir)
    target = ind.config(demo_dir)["target_randomised"]
    assert metric_value(tab, "Randomiserade") == f"{len(randomised)} / {target}"
    box = tab.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect").filter(has_text="Stadsdelar")
    from playwright.sync_api import expect

    for name in ("Järva", "Enheten för hemlösa", "Enskede-Årsta-Vantör"):  # keep only Södermalm
        chip = box.get_by_role("button", name=f"Remove {name}", exact=True)
        # One click each. A click used to be lost when this was the first session of a server started
        # with plain `streamlit run`: its first run's widget ids (legacy pages/ mode) differed from the
        # rerun's, so the rerun reset the filter. The server now starts as `ipsdash serve` does.
        with serve.rerun(tab):
            chip.click()
        expect(chip).to_have_count(0)
    own = sum(1 for p in randomised.values() if p["district"] == "Södermalm")
    own_target = next(d["target"] for d in ind.config(demo_dir)["districts"] if d["name"] == "Södermalm")
    metric = tab.get_by_test_id("stMetric").filter(has=tab.get_by_text("Randomiserade", exact=True)).first
    expect(metric.get_by_test_id("stMetricValue")).to_have_text(f"{own} / {own_target}", timeout=30_000)
    no_exception(tab)


def test_browser_csv_download_matches_independent_count(tab, server, demo_dir):
    open_app(tab, server.url)
    with tab.expect_download() as info:
        tab.get_by_test_id("stDownloadButton").filter(has_text="CSV").first.click()
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


def test_browser_unit_manager_sees_only_own_district(tab, unit_server):
    others = ("Järva", "Rinkeby-Kista", "Enheten för hemlösa", "Enskede-Årsta-Vantör", "Spånga-Tensta")
    open_app(tab, unit_server.url)
    names = link_names(tab)
    assert "Översikt" in names and "Datakvalitet" not in names
    visited = []
    for link, url, _ in PAGES:
        if link not in names:
            continue
        visit(tab, link, url)
        no_exception(tab)
        body = tab.locator("body").inner_text()
        for other in others:
            assert other not in body, f"{other} på sidan {link}"
        screenshot(tab, f"enhetschef_{url}")
        visited.append(link)
    assert visited == names
