"""Programtrohet: IPS fidelity reviews — totals with their band, section subtotals, the item heat
map, the weakest items, the change since the previous review and when the next one is due."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import fidelity, ui
from dashboard import queries as q
from dashboard.contract import vocab

ctx = ui.page("programtrohet")
cutoff = ctx.config.data_cutoff

items = q.fidelity_items(ctx.gate)
if items.empty:
    ui.empty("Ingen programtrohetsskattning är inläst än.")
    st.stop()
reviews = fidelity.review_table(items)
newest = reviews.iloc[-1]
newest_on = pd.Timestamp(items["reviewed_on"].max()).date()
rules = ctx.config.fidelity
next_due = fidelity.next_review_due(newest_on, int(newest["Totalt"]), rules)
interval = rules.interval_after(int(newest["Totalt"]))

st.markdown(
    "Skalan har 25 punkter (Personal 3, Organisation 8, Tjänster 14) som skattas 1–5; totalt 25–125 poäng. "
    + " · ".join(
        f"**{fidelity.BAND_TEXT[key]}**: {label[0].lower() + label[1:]}" for _, key, label in vocab.FIDELITY_BANDS
    )
    + "."
)

SHORT_BAND = {"exemplary": "Mycket bra", "good": "Bra", "fair": "Delvis", "not_ips": "Inte IPS"}
band_text = newest["Nivå"][0].lower() + newest["Nivå"][1:]
c1, c2, c3 = st.columns(3)
delta = None
if len(reviews) > 1:
    change = int(newest["Totalt"]) - int(reviews.iloc[-2]["Totalt"])
    delta = f"{change:+d} sedan {reviews.iloc[-2]['Skattning']}"
c1.metric(
    "Totalpoäng",
    f"{int(newest['Totalt'])} av 125",
    delta=delta,
    help=f"Senaste skattning {newest['Skattning']}: summan av de 25 punkterna",
)
c2.metric("Nivå", SHORT_BAND[newest["band"]], help=newest["Nivå"])
c3.metric(
    "Nästa skattning senast",
    next_due.isoformat(),
    delta="försenad" if next_due < cutoff else None,
    delta_color="inverse",
)
shorter = (
    f", och var {rules.interval_below_good_months}:e månad så länge nivån är under *bra* (100 poäng)"
    if rules.interval_below_good_months
    else ""
)
st.caption(
    f"Senaste skattning **{newest['Skattning']}**: {band_text}. Enligt studiekonfigurationen görs skattningen "
    f"var {rules.review_interval_months}:e månad{shorter} – därför nästa skattning inom {interval} månader."
)
incomplete = reviews[~reviews["complete"]]
for _, row in incomplete.iterrows():
    st.warning(
        f"Skattningen {row['Skattning']} har bara {row['Punkter']} punkter: totalen och nivån är "
        "inte jämförbara med en fullständig skattning.",
        icon="⚠️",
    )
# Remarks kept with their review in the fidelity file (column Kommentar), shown with that review.
for reviewed_on, comment in fidelity.review_comments(items).items():
    st.info(f"Kommentar till skattningen {reviewed_on.isoformat()}: {comment}", icon="ℹ️")

# --- totals and sections ------------------------------------------------------------------------------
st.subheader("Totalpoäng och delsummor per skattning")
table = reviews.drop(columns=["band", "complete"])
st.altair_chart(fidelity.totals_chart(reviews[["Skattning", "Totalt", "Nivå"]]), width="stretch")
st.dataframe(table, hide_index=True, width="stretch")
ui.downloads(table, "Programtrohet per skattning", "dl_fid_reviews")

# --- heat map ---------------------------------------------------------------------------------------
st.subheader("Poäng per punkt")
frame = fidelity.item_frame(items)
st.altair_chart(fidelity.heatmap_chart(frame[["Punkt", "Skattning", "Poäng", "order"]]), width="stretch")
wide = frame.pivot_table(index=["order", "Punkt"], columns="Skattning", values="Poäng", aggfunc="first")
wide = wide.reset_index().drop(columns="order")
wide.columns.name = None
ui.downloads(wide, "Programtrohet per punkt", "dl_fid_items")

# --- weakest and change -----------------------------------------------------------------------------
st.subheader(f"Svagaste punkterna {newest['Skattning']}")
weakest = fidelity.weakest_items(items)
st.dataframe(weakest, hide_index=True, width="stretch")
ui.downloads(weakest, "Svagaste punkterna", "dl_fid_weakest")

st.subheader("Förändring sedan förra skattningen")
change_table = fidelity.review_change(items)
if change_table.empty:
    st.info("Bara en skattning finns – förändringen visas efter nästa skattning.", icon="ℹ️")
else:
    changed = change_table[change_table["Förändring"] != 0].sort_values("Förändring", kind="stable")
    unchanged = len(change_table) - len(changed)
    if changed.empty:
        st.info("Ingen punkt har ändrats.", icon="ℹ️")
    else:
        st.dataframe(
            changed,
            hide_index=True,
            width="stretch",
            column_config={"Förändring": st.column_config.NumberColumn("Förändring", format="%+d")},
        )
    st.caption(f"{unchanged} punkter oförändrade. Nedladdningen innehåller alla punkter.")
    ui.downloads(change_table, "Förändring programtrohet", "dl_fid_change")
