"""Issue 14: the per-district recruitment projections (a seeded simulation each) are work that changes
only when the data change: simulated once per store version and viewer's scope for each district,
whatever the filter or the table page asks for, and never answered from another scope's cache."""

from __future__ import annotations

from collections import Counter

import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import recruitment
from tests import independent as ind
from tests.conftest import APP, environment, render


def rekrytering(db, chosen: list[str]) -> AppTest:
    """Rekrytering as the project lead in a new session whose district filter holds `chosen`."""
    with environment({"IPSDASH_DB": str(db), "IPSDASH_DEMO_ROLE": "projektledare"}):
        at = AppTest.from_file(APP, default_timeout=60)
        at.session_state["district_filter"] = chosen
        at.run()
        at.switch_page("pages/rekrytering.py").run()
    assert not at.exception
    return at


def table(at):
    return next(df.value for df in at.dataframe if df.value.columns[0] == "Stadsdel")


def test_district_projection_simulated_once_per_store_version_and_scope(demo_db, demo_dir, monkeypatch):
    calls: list[str] = []
    real = recruitment.district_projection

    def counted(participants, config, district_id):
        calls.append(district_id)
        return real(participants, config, district_id)

    monkeypatch.setattr(recruitment, "district_projection", counted)
    st.cache_data.clear()
    at = render(demo_db, "rekrytering")
    assert not at.exception
    every = sorted(calls)
    assert len(every) == len(set(every)) == len(ind.config(demo_dir)["districts"])  # each simulated once
    # Other filters (sessions of the same viewer) show other tables, and simulate no district again.
    for chosen in (every[:1], every[1:3], every):
        assert len(table(rekrytering(demo_db, chosen))) == len(chosen)
    assert Counter(calls) == Counter(every)
    # Another viewer's scope never takes these answers: a unit manager's district is simulated anew.
    calls.clear()
    unit = render(demo_db, "rekrytering", role="enhetschef:Södermalm")
    assert not unit.exception and calls == ["sodermalm"]
