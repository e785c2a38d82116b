"""Every page renders without an exception on the demo store, an empty store and a store with
rejected rows."""

from __future__ import annotations

import pytest

from dashboard import navigation
from tests.conftest import PAGES, render


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_demo_store(demo_db, page):
    at = render(demo_db, page)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, "page has a heading"


@pytest.mark.parametrize("page", [p.key for p in navigation.PAGES if p.needs_store])
def test_page_explains_empty_store(empty_db, page):
    at = render(empty_db, page)
    assert not at.exception
    assert any("ingen inläst data" in i.value for i in at.info)


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_store_with_rejections(mistakes_db, page):
    at = render(mistakes_db, page)
    assert not at.exception, [e.value for e in at.exception]
