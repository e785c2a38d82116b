"""The one page registry: every page file exists, every role it names exists, and navigation,
access rules and page checks agree with it."""

from __future__ import annotations

import pytest

from dashboard import access, navigation
from tests.conftest import ROOT, render


def test_registry_names_existing_files_and_roles():
    for p in navigation.PAGES:
        assert (ROOT / "dashboard" / p.file).is_file(), p.file
        assert p.roles <= set(access.ROLES), p.key
        assert p.title and p.question and p.icon
    keys = [p.key for p in navigation.PAGES]
    assert len(keys) == len(set(keys))
    assert navigation.DEFAULT in keys


def test_access_rules_are_the_registry():
    assert access.ALL_PAGES == tuple(p.key for p in navigation.PAGES)
    for role in access.ROLES:
        assert access.PAGES_BY_ROLE[role] == tuple(p.key for p in navigation.PAGES if role in p.roles)
    # The blinded research lead never gets the caseload page; data quality is the project lead's.
    assert "belastning" not in access.PAGES_BY_ROLE["forskare"]
    assert set(p for p in access.ALL_PAGES if "datakvalitet" == p) <= set(access.PAGES_BY_ROLE["projektledare"])
    assert "datakvalitet" not in access.PAGES_BY_ROLE["styrgrupp"]


@pytest.mark.parametrize("role", ["projektledare", "styrgrupp", "forskare"])
def test_navigation_offers_exactly_the_registry_pages(demo_db, role):
    at = render(demo_db, None, role)
    assert not at.exception
    for p in navigation.PAGES:
        if role in p.roles:
            at.switch_page(p.file).run()
            assert not at.exception, (role, p.key)
            assert at.title[0].value == p.title
        else:
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                render(demo_db, p.key, role)
