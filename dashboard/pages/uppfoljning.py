"""Uppföljning (ASI): follow-up status per timepoint and unit, completion over time and the unit
manager's list of participants (by study code) due soon or overdue."""

from __future__ import annotations

import streamlit as st

from dashboard import followup, formats, privacy, ui
from dashboard import queries as q

ctx = ui.page("uppfoljning")
config = ctx.config
fu = config.followup
count = ui.counter(ctx)
st.markdown(
    f"Uppföljning vid **{', '.join(str(m) for m in fu.timepoints_months)} månader** efter randomiseringen; "
    f"{followup.window_text(fu)}."
)

followups = q.followup_status(ctx.gate, ctx.selected)
if followups.empty:
    ui.empty("Inga uppföljningar i urvalet.")
    st.stop()

units = sorted(followups["unit"].dropna().unique())
chosen = st.multiselect(
    "Enheter",
    units,
    default=units,
    key="followup_units",
    help="Enheten som gör uppföljningen (den som registrerat den, annars stadsdelens enhet).",
)
if not chosen:
    ui.empty("Ingen enhet vald.")
    st.stop()
followups = followups[followups["unit"].isin(chosen)].copy()
followups["Tidpunkt"] = followups["timepoint_months"].map(followup.timepoint_label)

# --- headline -------------------------------------------------------------------------------------
completion = followup.completion(followups)
actions = followup.action_list(followups, config.data_cutoff, fu.due_soon_days)
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric(
    "Andel genomförda",
    formats.pct(completion["done"], completion["eligible"]) if completion["eligible"] else "–",
    help=f"{count(completion['done'])} genomförda av {count(completion['eligible'])} med stängt fönster",
)
c2.metric("Aktuella", count(completion["due"]), help="Fönstret är öppet och uppföljningen är inte gjord")
c3.metric(
    "Försenade",
    count(completion["overdue"]),
    help=f"Fönstret har stängt, inte gjord, ännu inte {fu.missed_after_days} dagar efter fönstret",
)
c4.metric("Missade", count(int((followups["status"] == "missed").sum())))
c5.metric(
    "Att göra nu", count(len(actions)), help=f"Aktuella, försenade och de som förfaller inom {fu.due_soon_days} dagar"
)
st.caption(
    "**Andel genomförda** = genomförda (i tid eller sent) / uppföljningar vars fönster har stängt "
    "(genomförda, försenade och missade). Uppföljningar som inte är aktuella än, som har öppet "
    "fönster utan resultat eller där deltagaren lämnade studien innan fönstret stängdes räknas inte."
)

# --- status per timepoint and unit ------------------------------------------------------------------
st.subheader("Status per tidpunkt")
by_timepoint = followup.status_table(followups.sort_values("timepoint_months"), ["Tidpunkt"])
by_timepoint = (
    by_timepoint.set_index("Tidpunkt")
    .reindex([followup.timepoint_label(m) for m in sorted(followups["timepoint_months"].unique())])
    .reset_index()
)
count_columns = [c for c in by_timepoint.columns if c != "Tidpunkt"]
order = [followup.timepoint_label(m) for m in sorted(followups["timepoint_months"].unique())]


def status_chart_data(x: str):
    """The stacked chart's dataset, suppressed like the tables (per bar and per status)."""
    long = followup.status_long(followups, x)
    if not ctx.viewer.suppress_small_cells or long.empty:
        return long
    wide = long.pivot_table(index=x, columns="Status", values="Antal", aggfunc="sum", fill_value=0)
    shown = privacy.chart_frame(ctx.viewer, ctx.config, wide.reset_index(), list(wide.columns))
    back = shown.melt(id_vars=[x], var_name="Status", value_name="Antal")
    return back.merge(long[[x, "Status", "order"]], on=[x, "Status"], how="inner")


st.altair_chart(
    followup.stacked_status_chart(status_chart_data("Tidpunkt"), "Tidpunkt", "Tidpunkt", order),
    width="stretch",
)
st.dataframe(ui.suppress_table(ctx, by_timepoint, count_columns), hide_index=True, width="stretch")
st.caption(
    f"*{followup.NOT_APPLICABLE_LABEL}*: deltagaren lämnade studien innan fönstret stängdes utan att "
    "uppföljningen gjordes – uppföljning görs bara medan deltagaren är kvar i studien. Visas i "
    "tabellen men inte i diagrammet."
)
ui.downloads(ui.suppress_table(ctx, by_timepoint, count_columns), "Uppföljning per tidpunkt", "dl_fu_timepoint")

st.subheader("Status per enhet")
followups["Enhet"] = followups["unit"]
by_unit = followup.status_table(followups, ["Enhet", "timepoint_months"])
by_unit.insert(1, "Tidpunkt", by_unit.pop("timepoint_months").map(followup.timepoint_label))
st.altair_chart(
    followup.stacked_status_chart(status_chart_data("Enhet"), "Enhet", "Enhet", sorted(chosen)),
    width="stretch",
)
st.dataframe(ui.suppress_table(ctx, by_unit, count_columns), hide_index=True, width="stretch")
ui.downloads(ui.suppress_table(ctx, by_unit, count_columns), "Uppföljning per enhet", "dl_fu_unit")

# --- completion over time -----------------------------------------------------------------------------
st.subheader("Andel genomförda över tid")
st.caption("Per kvartal för förfallodagen: genomförda / stängda fönster (samma definition som ovan).")
over_time = followup.completion_by_quarter(followups)
if over_time.empty:
    ui.empty("Inga uppföljningar med stängt fönster än.")
else:
    chart_data = privacy.chart_frame(
        ctx.viewer, ctx.config, over_time, ["Genomförda", "Stängda fönster"], shares=["Andel genomförda"]
    )
    st.altair_chart(followup.completion_chart(chart_data), width="stretch")
    shown = ui.suppress_table(ctx, over_time, ["Genomförda", "Stängda fönster"])
    # Half up from the counts, on the server (never a client-side percent format); hidden with a
    # masked count.
    shown = shown.assign(
        **{
            "Andel genomförda": [
                formats.percent(int(d), int(c))
                if str(d).isdigit() and str(c).isdigit()
                else ctx.config.privacy.small_cell_text
                for d, c in zip(shown["Genomförda"], shown["Stängda fönster"], strict=True)
            ]
        }
    )
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_config=None
        if ctx.viewer.suppress_small_cells
        else {"Andel genomförda": st.column_config.NumberColumn("Andel genomförda", format="%d %%")},
    )
    ui.downloads(shown, "Andel genomförda per kvartal", "dl_fu_quarter")

# --- the action list --------------------------------------------------------------------------------
st.subheader(f"Att göra: aktuella, försenade och de som förfaller inom {fu.due_soon_days} dagar")
if ctx.viewer.suppress_small_cells:
    st.info("Listan över enskilda deltagare visas inte för din roll.", icon="🔒")
elif actions.empty:
    st.success("Inga uppföljningar att göra just nu i valda enheter.", icon="✅")
else:
    st.caption(
        f"Endast studiekod. Sorterad med mest försenade först. {followup.window_text(fu).capitalize()}. "
        "Uppföljningar som redan räknas som missade finns inte i listan."
    )
    st.dataframe(
        actions,
        hide_index=True,
        width="stretch",
        column_config={
            "Förfallodag": st.column_config.DateColumn("Förfallodag", format="YYYY-MM-DD"),
            "Dagar försenad": st.column_config.NumberColumn("Dagar försenad", format="%d"),
        },
    )
    ui.downloads(actions, "Uppföljningar att göra", "dl_fu_actions")
