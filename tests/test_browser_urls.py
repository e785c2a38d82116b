"""Issue 12, point 8: every page's URL works when bookmarked, the first page included (it opened
an English "Page not found" dialog), in the real server and Chromium; no English reaches a user."""

from __future__ import annotations

import pytest

from bench.serve import Dashboard
from tests.test_browser import PAGES, no_exception, open_app

pytestmark = pytest.mark.slow

ENGLISH = ("Page not found", "You have requested page", "None", "NaN", "<NA>")


@pytest.fixture(scope="module")
def url_server(demo_db, tmp_path_factory):
    """A server of its own, so that a bookmarked URL is the first request a fresh server answers."""
    with Dashboard(demo_db, "projektledare", log=tmp_path_factory.mktemp("logs") / "streamlit_urls.log") as s:
        yield s


@pytest.mark.parametrize(("link", "url"), [(link, url) for link, url, _ in PAGES], ids=[u for _, u, _ in PAGES])
def test_bookmarked_url_opens_its_page_without_dialog(tab, url_server, link, url):
    open_app(tab, f"{url_server.url}/{url}")
    no_exception(tab)
    body = tab.locator("body").inner_text()
    assert "Page not found" not in body and "Sidan finns inte" not in body
    assert tab.get_by_role("dialog").count() == 0
    assert tab.url.rstrip("/").endswith(f"/{url}")
    heading = tab.locator("h1").first.inner_text().strip()
    assert heading.startswith(link.split(" (")[0]), heading
    for word in ENGLISH:
        assert word not in body, (url, word)
