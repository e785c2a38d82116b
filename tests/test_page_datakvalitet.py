"""Datakvalitet shows the load log and every rejected row, checked against the demo's own files."""

from __future__ import annotations

import hashlib
import re

import pytest

from tests.conftest import render


def test_datakvalitet_lists_files_with_their_sha256(demo_db, demo_dir):
    at = render(demo_db, "datakvalitet")
    assert not at.exception
    files = at.dataframe[0].value
    for _, row in files.iterrows():
        digest = hashlib.sha256((demo_dir / row["Fil"]).read_bytes()).hexdigest()
        assert digest.startswith(row["SHA-256 (början)"])
    assert set(files["Fil"]) == {p.name for p in demo_dir.iterdir() if p.suffix in (".csv", ".xlsx")}


def test_datakvalitet_shows_each_injected_mistake(mistakes_db):
    at = render(mistakes_db, "datakvalitet")
    assert not at.exception
    overview = at.dataframe[2].value
    text = overview.to_csv(index=False)
    for expected in [
        "Södermalmm",
        "2023-02-30",
        "8/12/2023",
        "Sjukhusvistelse",
        "redan randomiserad",
        "ligger efter datauttagets datum",
        "inte 6",
        "värde saknas",
        "inte (giltigt) randomiserad",
    ]:
        assert expected in text, expected
    # the 24 rows of the incomplete fidelity review are one line, not 24
    assert overview["Cell"].str.contains(r"\(24 rader\)").sum() == 1
    assert not re.search(r"\bnan\b", text.lower())


@pytest.mark.parametrize("role", ["styrgrupp", "projektgrupp", "enhetschef:Södermalm", "forskare"])
def test_datakvalitet_is_not_a_page_for_roles_without_data_quality(demo_db, role):
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        render(demo_db, "datakvalitet", role=role)
