"""The kind of a column is declared beside the data (issue 10 §2 tests): every count column a
suppression function of `dashboard.privacy` is given is marked a count in the frame, the mark
travels into the Arrow tables Streamlit sends (pandas attrs → Arrow schema metadata), and the
payload test (tests/test_payload.py) checks every column so marked, whatever it is named. Here
without a browser: a table and an Altair chart drawn by Streamlit (AppTest), read from the element
protos the browser would get; and a download (CSV, Excel), whose declaration the server records
beside the file it built (`privacy.record_download`), since the file itself carries none.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
from streamlit.testing.v1 import AppTest

from dashboard import privacy
from dashboard.access import Viewer
from schema.config import load_config
from tests.payload import arrow_table, declared_counts, download_declarations, download_declared
from tests.test_payload import download_tables, small_counts

CONFIG = load_config(Path(__file__).resolve().parent.parent / "config" / "studie.toml")
RULE = privacy.policy(Viewer("styrgrupp"), CONFIG)
# A count column named like the axes the name rule exempts (`y`).
FRAME = pd.DataFrame({"x": ["a", "b", "c"], "y": [3, 10, 12], "andel %": [10, 40, 50]})


def _app() -> None:
    import altair as alt
    import streamlit as st

    from dashboard import privacy
    from tests.test_payload_kinds import FRAME

    frame = privacy.declare_counts(FRAME, ["y"])
    st.dataframe(frame)
    st.altair_chart(alt.Chart(frame).mark_bar().encode(x="x", y="y"))


def _sent() -> list[pa.Table]:
    """Every Arrow table of the app's table and chart elements, as sent."""
    at = AppTest.from_function(_app).run(timeout=30)
    assert not at.exception
    tables = [arrow_table(at.dataframe[0].proto.arrow_data.data)]
    chart = at.get("vega_lite_chart")[0].proto
    tables += [arrow_table(d.data.data) for d in chart.datasets]
    return [t for t in tables if t is not None]


def _rows(table: pa.Table) -> tuple[list[str], list[list[object]]]:
    return [str(n) for n in table.column_names], [list(r.values()) for r in table.to_pylist()]


def test_payload_kinds_a_declared_count_is_checked_whatever_its_name():
    tables = _sent()
    assert len(tables) == 2  # the table and the chart's dataset
    for sent in tables:
        assert declared_counts(sent) == {"y"}
        header, rows = _rows(sent)
        assert small_counts(header, rows, RULE.threshold) == []  # by its name alone, `y` slips past
        assert small_counts(header, rows, RULE.threshold, declared_counts(sent)) == ["y=3"]
    untouched = privacy.COLUMN_KINDS not in FRAME.attrs
    assert untouched


def test_payload_kinds_every_suppression_declares_its_count_columns():
    frames = [
        privacy.suppress_frame(FRAME, ["y"], RULE),
        privacy.suppress_frame(FRAME.iloc[:0], ["y"], RULE),
        privacy.chart_frame(Viewer("styrgrupp"), CONFIG, FRAME, ["y"]),
    ]
    for frame in frames:
        assert frame.attrs[privacy.COLUMN_KINDS] == {"y": "count"}
    unsuppressed = [  # a role under no rule: the frame as it was
        privacy.suppress_frame(FRAME, ["y"], None),
        privacy.chart_frame(Viewer("projektledare"), CONFIG, FRAME, ["y"]),
    ]
    assert all(frame is FRAME for frame in unsuppressed)
    masked = frames[0]
    small = [v for v in masked["y"] if v not in (RULE.text, None) and 0 < int(v) <= RULE.threshold]
    assert small == []


def test_payload_kinds_a_download_records_the_declaration_of_its_count_columns(tmp_path, monkeypatch):
    """The CSV and Excel file `ui.downloads` offers styrgrupp are each recorded with the count
    columns declared on the frame they were built from; the check then reads a count column by its
    declaration, whatever it is named (`y`, exempt by name, is checked). Nothing is recorded, and
    the files are the same bytes, when the variable is unset."""
    from dashboard import exports, ui

    record = tmp_path / "nedladdningar.jsonl"
    frame = FRAME.rename(columns={"y": "y2"})  # a fresh frame: not in ui's file cache from elsewhere
    unset = ui.download_bytes(Viewer("styrgrupp"), CONFIG, frame, "Typer", ["y2"])
    assert not record.exists()
    monkeypatch.setenv(privacy.DOWNLOAD_DECLARATIONS, str(record))
    files = ui.download_bytes(Viewer("styrgrupp"), CONFIG, frame, "Typer", ["y2"])
    assert files == unset  # the files users get do not change
    declarations = download_declarations(record)
    assert [download_declared(body, declarations) for body in files] == [frozenset({"y2"})] * 2
    for body in files:  # masked as served: no small count even in the declared column
        for header, rows in download_tables(body):
            assert small_counts(header, rows, RULE.threshold, download_declared(body, declarations)) == []
    # The same frame unmasked, declared and recorded as a download would be: the declared column is
    # checked whatever its name, which by name alone slips past.
    raw = privacy.declare_counts(frame, ["y2"])
    leaked = [exports.csv_bytes(raw), exports.xlsx_bytes(raw, "Typer", "not")]
    privacy.record_download(raw, leaked)
    declarations = download_declarations(record)
    for body in leaked:
        (header, rows), *_ = download_tables(body)
        assert small_counts(header, rows, RULE.threshold) == []
        assert small_counts(header, rows, RULE.threshold, download_declared(body, declarations)) == ["y2=3"]
