"""No English reaches a user where the app can avoid it (issue 12, point 8): every page rendered for
every role with AppTest, on the demo store (locked) and on a closed store (the outcome page), and
everything a person can read scanned for English tokens: text elements, metrics, tab and widget
labels and options, dataframe column names and cells, and the charts' titles, axis/legend titles
and tooltip labels (Altair writes a field's own name when a title is missing).

Streamlit's own widget chrome (the file uploader's "Drag and drop file here", "Browse files") has
no public API to translate and is not rendered by AppTest; it is not scanned.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from dashboard import navigation
from dashboard.access import ROLES
from tests.conftest import render

# Whole-word English tokens that must never be shown (case-sensitive where Swedish has the word).
MISSING = ["None", "nan", "NaN", "NaT", "<NA>", "null", "True", "False", "undefined", "Infinity"]
WORDS = [
    "the",
    "and",
    "of",
    "not",
    "Error",
    "error",
    "Total",
    "Count",
    "count",
    "Value",
    "value",
    "index",
    "level_0",
    "group",
    "day",
    "month",
    "share",
    "Unknown",
    "unknown",
    "Page not found",
    "retention",
    "at_risk",
    "events",
    "Date",
    "Week",
    "Sum",
    "Mean",
    "mean",
    "variable",
    "arm",
    "status",
    "Yes",
    "No",
]
TOKEN = re.compile(r"(?<![\w./:#-])(" + "|".join(re.escape(t) for t in MISSING + WORDS) + r")(?![\w-])")
CHANNELS = {"x", "y", "x2", "y2", "color", "fill", "size", "shape", "opacity", "theta", "column", "row", "facet"}


def _role_views() -> list[tuple[str, str]]:
    out = []
    for role in ROLES:
        viewer = "enhetschef:Södermalm" if role == "enhetschef" else role
        for key in navigation.keys_for(role):
            out.append((viewer, key))
    return out


def _chart_texts(spec) -> list[str]:
    """What a chart shows in words: titles, axis and legend titles, tooltip labels; a channel or
    tooltip without a title shows its field name (Altair's default)."""
    out: list[str] = []

    def walk(node, parent_key=None):
        if isinstance(node, dict):
            if "title" in node and isinstance(node["title"], str | list):
                out.extend([node["title"]] if isinstance(node["title"], str) else [str(t) for t in node["title"]])
            encoding = node.get("encoding")
            if isinstance(encoding, dict):
                for channel, enc in encoding.items():
                    items = enc if isinstance(enc, list) else [enc]
                    for item in items:
                        if not isinstance(item, dict) or "field" not in item or "title" in item:
                            continue
                        hidden = item.get("axis", {}) is None or item.get("legend", {}) is None
                        if channel == "tooltip" or (channel in CHANNELS and not hidden):
                            out.append(str(item["field"]))
            for k, v in node.items():
                if k != "datasets" and k != "data":
                    walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, parent_key)

    walk(spec)
    return out


def shown_texts(at) -> list[tuple[str, str]]:
    """(where, text) for everything a person can read on the rendered page."""
    out: list[tuple[str, str]] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success", "text"):
        for el in at.get(kind):
            out.append((kind, str(el.value)))
    for el in at.get("expander"):
        out.append(("expander", str(el.label)))
    for tab in at.tabs:
        out.append(("tab", str(tab.label)))
    for m in at.metric:
        out += [("metric", str(m.label)), ("metric", str(m.value)), ("metric", str(m.delta or ""))]
    for kind in ("selectbox", "multiselect", "radio", "date_input", "checkbox", "toggle", "text_input", "button"):
        for w in at.get(kind):
            out.append((kind, str(getattr(w, "label", ""))))
            for option in getattr(w, "options", []) or []:
                out.append((f"{kind} option", str(option)))
    for i, df in enumerate(at.dataframe):
        frame = df.value
        out += [(f"table {i} column", str(c)) for c in frame.columns]
        for column in frame.columns:
            for v in frame[column].tolist():
                if v is None or (not isinstance(v, str) and pd.isna(v)):
                    # a missing cell: the grid shows "None"/"NaN"/"NaT"/empty depending on dtype
                    out.append((f"table {i} cell {column}", "None"))
                elif isinstance(v, bool):
                    out.append((f"table {i} cell {column}", str(v)))
                else:
                    out.append((f"table {i} cell {column}", str(v)))
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        out += [("chart", t) for t in _chart_texts(spec)]
    return out


def english(texts: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(where, text[:120]) for where, text in texts if TOKEN.search(text)]


@pytest.fixture
def offered(monkeypatch):
    """The frames every download on the page offers (`ui.download_frame`), recorded as they are built."""
    from dashboard import ui

    seen: list[pd.DataFrame] = []
    original = ui.download_frame

    def spy(viewer, config, frame, count_columns=None):
        made = original(viewer, config, frame, count_columns)
        if made is not None:
            seen.append(made)
        return made

    monkeypatch.setattr(ui, "download_frame", spy)
    return seen


def download_texts(frames: list[pd.DataFrame]) -> list[tuple[str, str]]:
    """Column names and text cells of the downloads (a missing cell is an empty CSV/Excel cell)."""
    out = []
    for frame in frames:
        out += [("download column", str(c)) for c in frame.columns]
        for column in frame.columns:
            out += [(f"download cell {column}", v) for v in frame[column].tolist() if isinstance(v, str)]
            out += [(f"download cell {column}", str(v)) for v in frame[column].tolist() if isinstance(v, bool)]
    return out


@pytest.mark.parametrize(("role", "page"), _role_views(), ids=lambda v: str(v))
def test_no_english_on_any_page_for_any_role(demo_db, role, page, offered):
    at = render(demo_db, page, role=role)
    assert not at.exception, [e.value for e in at.exception]
    found = english(shown_texts(at) + download_texts(offered))
    assert not found, f"{page} as {role}: {found[:15]}"


@pytest.mark.parametrize("role", [r for r in ROLES if "utfall" in navigation.keys_for(r)])
def test_no_english_on_the_closed_outcome_page(closed_demo_db, role):
    viewer = "enhetschef:Södermalm" if role == "enhetschef" else role
    at = render(closed_demo_db, "utfall", role=viewer)
    assert not at.exception, [e.value for e in at.exception]
    found = english(shown_texts(at))
    assert not found, f"utfall as {role}: {found[:15]}"


@pytest.mark.parametrize(
    "text", ["None", "nan", "NaT", "True", "Total", "retention", "count", "Page not found", "the value"]
)
def test_sweep_finds_english(text):
    assert english([("x", text)])


@pytest.mark.parametrize(
    "text",
    ["Andel kvar", "Totalt", "IPS+TAU", "2024-03-31", "Nej", "antal", "Uppfyller ej inklusionskriterierna", "12,5 %"],
)
def test_sweep_leaves_swedish_alone(text):
    assert not english([("x", text)])


@pytest.mark.parametrize("choice", ["Stadsdel", "Kön", "Åldersgrupp", "Grupp", "Arbetsspecialist"])
def test_no_english_in_each_attrition_grouping(demo_db, choice, offered):
    at = render(demo_db, "bortfall")
    at.selectbox(key="km_group").set_value(choice).run()
    assert not at.exception, [e.value for e in at.exception]
    found = english(shown_texts(at) + download_texts(offered))
    assert not found, f"bortfall by {choice}: {found[:15]}"


@pytest.mark.parametrize("page", ["oversikt", "rekrytering", "balans", "bortfall", "uppfoljning", "belastning"])
def test_no_english_as_of_an_earlier_date(demo_db, page):
    from datetime import date

    from tests.conftest import APP, environment

    with environment({"IPSDASH_DB": str(demo_db), "IPSDASH_DEMO_ROLE": "projektledare"}):
        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(APP, default_timeout=120)
        at.run()
        at.date_input(key="as_of").set_value(date(2023, 12, 31)).run()
        if page != "oversikt":
            at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    found = english(shown_texts(at))
    assert not found, f"{page} as of 2023-12-31: {found[:15]}"
