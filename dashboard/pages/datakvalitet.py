"""Datakvalitet: which files were loaded, what was rejected and why — for the project lead to act on."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import queries as q
from dashboard import ui
from dashboard.contract import SOURCES, group_rejections, refs_text

ctx = ui.page("datakvalitet")

loads = q.loads(ctx.gate)
files = q.load_files(ctx.gate)
rejected = q.rejected_rows(ctx.gate)
latest = loads.iloc[0]
titles = {s.key: s.title_sv for s in SOURCES}

# --- latest load -----------------------------------------------------------------------------------
st.subheader("Senaste inläsningen")
c1, c2, c3, c4 = st.columns(4)
# The date as the figure and the time under it: date and time together do not fit a quarter of a laptop's width.
loaded_at = pd.Timestamp(latest["loaded_at"])
c1.metric("Inläst", f"{loaded_at:%Y-%m-%d}", delta=f"kl. {loaded_at:%H:%M}", delta_color="off", delta_arrow="off")
c2.metric("Rader inlästa", f"{int(latest['rows_loaded'])} av {int(latest['rows_read'])}")
c3.metric("Avvisade rader", int(latest["rows_rejected"]))
c4.metric("Datauttag", pd.Timestamp(latest["data_cutoff"]).strftime("%Y-%m-%d"))
if int(latest["rows_rejected"]):
    st.warning(
        "Några rader avvisades och finns **inte** med i siffrorna. Rätta dem i källfilen (cellen anges "
        "som i Excel, t.ex. *Remisser!C17*) och läs in mappen igen. En avvisad rad syns här tills en "
        "rättad fil ersätter den.",
        icon="⚠️",
    )
else:
    st.success("Alla rader i senaste inläsningen godkändes.", icon="✅")

current = files[files["load_id"] == latest["load_id"]].copy()
current["Källa"] = current["source_key"].map(titles)
current["SHA-256 (början)"] = current["sha256"].fillna("").str[:12]
table = current[
    ["Källa", "file_name", "status", "rows_read", "rows_loaded", "rows_rejected", "SHA-256 (början)"]
].rename(
    columns={
        "file_name": "Fil",
        "status": "Status",
        "rows_read": "Rader",
        "rows_loaded": "Inlästa",
        "rows_rejected": "Avvisade",
    }
)
st.dataframe(table, hide_index=True, width="stretch")
ui.downloads(table, "Inlästa filer", "dl_files")

# --- rejected rows ---------------------------------------------------------------------------------
st.subheader("Avvisade rader")
if rejected.empty:
    st.info("Inga avvisade rader.", icon="✅")
else:
    summary = (
        rejected.groupby("file_name").size().reset_index(name="Avvisade rader").rename(columns={"file_name": "Fil"})
    )
    st.dataframe(summary, hide_index=True, width="stretch")
    chosen = st.multiselect(
        "Visa filer", sorted(rejected["file_name"].unique()), key="dq_files", placeholder="Alla filer"
    )
    shown = rejected[rejected["file_name"].isin(chosen)] if chosen else rejected
    # One line per file and reason: an incomplete fidelity review rejects all its 25 rows at once.
    groups = group_rejections(list(zip(shown["file_name"], shown["reason"], shown["cell_ref"], strict=True)))
    first = shown.drop_duplicates(["file_name", "reason"]).set_index(["file_name", "reason"])
    overview = pd.DataFrame(
        [
            {
                "Fil": f,
                "Cell": refs_text(refs),
                "Kolumn": first.loc[(f, reason), "column_header"],
                "Värde": ""
                if len(refs) > 1 or pd.isna(first.loc[(f, reason), "value"])
                else first.loc[(f, reason), "value"],
                "Varför raden avvisades": reason,
            }
            for f, reason, refs in groups
        ]
    )
    st.dataframe(
        overview,
        hide_index=True,
        width="stretch",
        column_config={"Varför raden avvisades": st.column_config.TextColumn(width="large")},
    )
    detail = (
        shown[["file_name", "cell_ref", "row_number", "column_header", "value", "reason"]]
        .fillna("")
        .rename(
            columns={
                "file_name": "Fil",
                "cell_ref": "Cell",
                "row_number": "Rad",
                "column_header": "Kolumn",
                "value": "Värde",
                "reason": "Varför raden avvisades",
            }
        )
    )
    st.caption(
        f"{len(groups)} olika fel i {shown['file_name'].nunique()} filer; nedladdningen har en rad per avvisad rad."
    )
    ui.downloads(detail, "Avvisade rader", "dl_rejected")

# --- warnings on the allocation sequence (issue 12) ------------------------------------------------------
checks = q.allocation_checks(ctx.gate)
if len(checks):
    st.subheader("Varningar om löpnumret i randomiseringsloggen")
    st.warning(
        "Löpnumret avgör vem som randomiserades först samma dag (och därmed vilka som hör till en "
        "kontrollpunkt). Raderna är inlästa, men löpnumret behöver rättas:",
        icon="⚠️",
    )
    shown_checks = checks.rename(
        columns={"message_sv": "Varning", "allocation_number": "Löpnummer", "study_codes": "Studiekoder"}
    )[["Varning", "Löpnummer", "Studiekoder"]]
    st.dataframe(shown_checks, hide_index=True, width="stretch")
    ui.downloads(shown_checks, "Varningar om löpnummer", "dl_allocation_checks")

# --- history -----------------------------------------------------------------------------------------
st.subheader("Inläsningshistorik")
history = loads[
    ["load_id", "loaded_at", "status", "data_cutoff", "rows_read", "rows_loaded", "rows_rejected", "seconds"]
].rename(
    columns={
        "load_id": "Nr",
        "loaded_at": "Inläst",
        "status": "Status",
        "data_cutoff": "Datauttag",
        "rows_read": "Rader",
        "rows_loaded": "Inlästa",
        "rows_rejected": "Avvisade",
        "seconds": "Sekunder",
    }
)
history["Status"] = (
    history["Status"]
    .map({"loaded": "Inläst", "loaded_with_rejections": "Inläst med avvisade rader"})
    .fillna(history["Status"])
)
ui.table(history, "history", dates=("Datauttag",), times=("Inläst",), download=("Inläsningshistorik", "dl_history"))
