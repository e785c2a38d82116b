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
    placeholder="Välj enheter",
    help="Enheten som gör uppföljningen (den som registrerat den, annars stadsdelens enhet).",
)
if not chosen:
    ui.empty("Ingen enhet vald.")
    st.stop()
chosen_key = tuple(sorted(chosen))


def _computed() -> dict:
    """Everything the page derives from the chosen units' follow-ups: one pass over the rows, cached per
    store version, viewer scope, district selection and chosen units (the rows are 13 000 at scale 100)."""
    rows = followups[followups["unit"].isin(chosen)].copy()
    rows["Tidpunkt"] = rows["timepoint_months"].map(followup.timepoint_label)
    order = [followup.timepoint_label(m) for m in sorted(rows["timepoint_months"].unique())]
    by_timepoint = followup.status_table(rows.sort_values("timepoint_months"), ["Tidpunkt"])
    by_timepoint = by_timepoint.set_index("Tidpunkt").reindex(order).reset_index()
    rows["Enhet"] = rows["unit"]
    by_unit = followup.status_table(rows, ["Enhet", "timepoint_months"])
    by_unit.insert(1, "Tidpunkt", by_unit.pop("timepoint_months").map(followup.timepoint_label))
    return {
        "completion": followup.completion(rows),
        "missed": int((rows["status"] == "missed").sum()),
        "actions": followup.action_list(rows, config.data_cutoff, fu.due_soon_days),
        "order": order,
        "by_timepoint": by_timepoint,
        "by_unit": by_unit,
        "long_timepoint": status_chart_data(rows, "Tidpunkt"),
        "long_unit": status_chart_data(rows, "Enhet") if len(chosen) <= followup.MAX_UNITS_CHARTED else None,
        "over_time": followup.completion_by_quarter(rows),
    }


def status_chart_data(rows, x: str):
    """The stacked chart's dataset, suppressed like the tables (per bar and per status)."""
    long = followup.status_long(rows, x)
    if not ctx.viewer.suppress_small_cells or long.empty:
        return long
    wide = long.pivot_table(index=x, columns="Status", values="Antal", aggfunc="sum", fill_value=0)
    shown = privacy.chart_frame(ctx.viewer, ctx.config, wide.reset_index(), list(wide.columns))
    back = shown.melt(id_vars=[x], var_name="Status", value_name="Antal")
    return back.merge(long[[x, "Status", "order"]], on=[x, "Status"], how="inner")


computed = ui.memo(ctx, "followup_page", _computed, chosen_key, followup.MAX_UNITS_CHARTED)
if note := followup.as_of_note(ctx.cutoff, ctx.extract):
    st.caption(note)

# --- headline -------------------------------------------------------------------------------------
completion = computed["completion"]
actions = computed["actions"]
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
c4.metric("Missade", count(computed["missed"]))
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
by_timepoint = computed["by_timepoint"]
count_columns = [c for c in by_timepoint.columns if c != "Tidpunkt"]
order = computed["order"]
ui.chart(
    ctx,
    "followup_timepoint",
    lambda: followup.stacked_status_chart(computed["long_timepoint"], "Tidpunkt", "Tidpunkt", order),
    chosen_key,
)
# Short headers for the longest statuses, in both tables: the table per unit fits a laptop's width
# beside the sidebar with the units' full names (the downloads keep the full status names).
status_headers = ui.short_headers(
    {
        followup.STATUS_LABEL[key]: (short, followup.STATUS_LABEL[key])
        for key, short in [
            ("not_due", "Ej aktuell"),
            ("due", "Aktuell"),
            ("done_on_time", "Genomf. i tid"),
            ("done_late", "Genomf. sent"),
        ]
    }
)
st.dataframe(
    ui.suppress_table(ctx, by_timepoint, count_columns),
    hide_index=True,
    width="stretch",
    column_config=status_headers,
)
st.caption(
    f"*{followup.NOT_APPLICABLE_LABEL}*: deltagaren lämnade studien innan fönstret stängdes utan att "
    "uppföljningen gjordes – uppföljning görs bara medan deltagaren är kvar i studien. Visas i "
    "tabellen men inte i diagrammet."
)
ui.downloads(ui.suppress_table(ctx, by_timepoint, count_columns), "Uppföljning per tidpunkt", "dl_fu_timepoint")

st.subheader("Status per enhet")
by_unit = computed["by_unit"]
if computed["long_unit"] is None:
    st.caption(
        f"{len(chosen)} enheter valda: diagrammet visas för högst {followup.MAX_UNITS_CHARTED}. Välj färre enheter ovan för "
        "att se dem i diagrammet; tabellen visar alla."
    )
else:
    ui.chart(
        ctx,
        "followup_unit",
        lambda: followup.stacked_status_chart(computed["long_unit"], "Enhet", "Enhet", sorted(chosen)),
        chosen_key,
    )
ui.table(ui.suppress_table(ctx, by_unit, count_columns), "followup_units", column_config=status_headers)
ui.downloads(ui.suppress_table(ctx, by_unit, count_columns), "Uppföljning per enhet", "dl_fu_unit")

# --- completion over time -----------------------------------------------------------------------------
st.subheader("Andel genomförda över tid")
st.caption("Per kvartal för förfallodagen: genomförda / stängda fönster (samma definition som ovan).")
over_time = computed["over_time"]
if over_time.empty:
    ui.empty("Inga uppföljningar med stängt fönster än.")
else:
    chart_data = privacy.chart_frame(
        ctx.viewer, ctx.config, over_time, ["Genomförda", "Stängda fönster"], shares=["Andel genomförda"]
    )
    ui.chart(ctx, "followup_completion", lambda: followup.completion_chart(chart_data), chosen_key)
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
    ui.table(
        actions,
        "followup_actions",
        dates=("Förfallodag",),
        download=("Uppföljningar att göra", "dl_fu_actions"),
        column_config={"Dagar försenad": st.column_config.NumberColumn("Dagar försenad", format="%d")},
    )
