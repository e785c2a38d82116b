"""Issue 12, point 8: every page's URL works when bookmarked, the first page included (it opened
an English "Page not found" dialog), in the real server and Chromium; no English reaches a user."""

from __future__ import annotations

import pytest

from tests.test_browser import PAGES, Server, no_exception, wait_idle

pytestmark = pytest.mark.slow

ENGLISH = ("Page not found", "You have requested page", "None", "NaN", "<NA>")


@pytest.fixture(scope="module")
def url_server(demo_db, tmp_path_factory):
    s = Server(demo_db, "projektledare", tmp_path_factory.mktemp("logs") / "streamlit_urls.log")
    yield s
    s.stop()


@pytest.fixture()
def fresh_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="sv-SE")
    p = context.new_page()
    p.set_default_timeout(30_000)
    yield p
    context.close()


@pytest.mark.parametrize(("link", "url"), [(link, url) for link, url, _ in PAGES], ids=[u for _, u, _ in PAGES])
def test_bookmarked_url_opens_its_page_without_dialog(fresh_page, url_server, link, url):
    fresh_page.goto(f"{url_server.url}/{url}")
    fresh_page.get_by_test_id("stSidebar").wait_for()
    wait_idle(fresh_page)
    no_exception(fresh_page)
    body = fresh_page.locator("body").inner_text()
    assert "Page not found" not in body and "Sidan finns inte" not in body
    assert fresh_page.get_by_role("dialog").count() == 0
    assert fresh_page.url.rstrip("/").endswith(f"/{url}")
    heading = fresh_page.locator("h1").first.inner_text().strip()
    assert heading.startswith(link.split(" (")[0]), heading
    for word in ENGLISH:
        assert word not in body, (url, word)
