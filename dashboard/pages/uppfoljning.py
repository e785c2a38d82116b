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

# A role with small-cell suppression gets the follow-up figures of every district together, decided
# jointly with the attrition family (ui.followup_hidden): per district or per chosen units, tables suppressed on their own
# could be differenced against each other (docs/access.md).
rule = privacy.policy(ctx.viewer, config)
hidden = ui.followup_hidden(ctx)
if rule is not None and ui.scope(ctx) != privacy.SCOPE_ALL:
    st.info(
        "Uppföljningen visas för din roll för alla stadsdelar tillsammans, med varje enhet i tabellen per "
        "enhet. Välj alla stadsdelar i filtret.",
        icon="🔒",
    )
    st.stop()
units = sorted(followups["unit"].dropna().unique())
if rule is None:
    chosen = st.multiselect(
        "Enheter",
        units,
        default=units,
        key="followup_units",
        placeholder="Välj enheter",
        help="Enheten som gör uppföljningen (den som registrerat den, annars stadsdelens enhet).",
    )
else:
    chosen = units
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
    if rule is None:
        by_unit = followup.status_table(rows, ["Enhet", "timepoint_months"])
        by_unit.insert(1, "Tidpunkt", by_unit.pop("timepoint_months").map(followup.timepoint_label))
    else:  # over all timepoints (privacy.followup_masks says why)
        by_unit = followup.status_table(rows, ["Enhet"])
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


MONTHS_OF = {followup.timepoint_label(m): m for m in fu.timepoints_months}


def key_of(x: str):
    """A table's or chart's group value → the start of its figure's key (privacy.followup_masks)."""
    return (lambda v: ("tp", MONTHS_OF[v])) if x == "Tidpunkt" else (lambda v: ("unit", v))


def status_chart_data(rows, x: str):
    """The stacked chart's dataset, with the counts hidden in the tables empty."""
    long = followup.status_long(rows, x)
    if rule is None or long.empty:
        return long
    return followup.masked_long(long, x, key_of(x), hidden)


def masked(table, x: str):
    """A status table as this viewer may see it (the joint decision for a suppressed role)."""
    if rule is None:
        return table
    return followup.masked_status(table, x, key_of(x), hidden, rule.text)


def metric_count(key: tuple, value: int) -> str:
    return rule.text if rule is not None and key in hidden else count(value)


computed = ui.memo(ctx, "followup_page", _computed, chosen_key, followup.MAX_UNITS_CHARTED)
if note := followup.as_of_note(ctx.cutoff, ctx.extract):
    st.caption(note)

# --- headline -------------------------------------------------------------------------------------
completion = computed["completion"]
actions = computed["actions"]
c1, c2, c3, c4, c5 = st.columns(5)
share_hidden = rule is not None and bool({("done",), ("closed",)} & hidden)
c1.metric(
    "Andel genomförda",
    formats.pct(completion["done"], completion["eligible"]) if completion["eligible"] and not share_hidden else "–",
    help=f"{metric_count(('done',), completion['done'])} genomförda av "
    f"{metric_count(('closed',), completion['eligible'])} med stängt fönster",
)
c2.metric(
    "Aktuella", metric_count(("due",), completion["due"]), help="Fönstret är öppet och uppföljningen är inte gjord"
)
c3.metric(
    "Försenade",
    metric_count(("overdue",), completion["overdue"]),
    help=f"Fönstret har stängt, inte gjord, ännu inte {fu.missed_after_days} dagar efter fönstret",
)
c4.metric("Missade", metric_count(("missed",), computed["missed"]))
c5.metric(
    "Att göra nu",
    metric_count(("actions",), len(actions)),
    help=f"Aktuella, försenade och de som förfaller inom {fu.due_soon_days} dagar",
)
st.caption(
    "**Andel genomförda** = genomförda (i tid eller sent) / uppföljningar vars fönster har stängt "
    "(genomförda, försenade och missade). Uppföljningar som inte är aktuella än, som har öppet "
    "fönster utan resultat eller där deltagaren lämnade studien innan fönstret stängdes räknas inte."
)

# --- status per timepoint and unit ------------------------------------------------------------------
st.subheader("Status per tidpunkt")
by_timepoint = computed["by_timepoint"]
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
timepoint_shown = masked(by_timepoint, "Tidpunkt")
st.dataframe(
    timepoint_shown,
    hide_index=True,
    width="stretch",
    column_config=status_headers,
)
st.caption(
    f"*{followup.NOT_APPLICABLE_LABEL}*: deltagaren lämnade studien innan fönstret stängdes utan att "
    "uppföljningen gjordes – uppföljning görs bara medan deltagaren är kvar i studien. Visas i "
    "tabellen men inte i diagrammet."
)
ui.downloads(timepoint_shown, "Uppföljning per tidpunkt", "dl_fu_timepoint")

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
if rule is not None:
    st.caption("Per enhet över alla tidpunkter tillsammans för din roll.")
unit_shown = masked(by_unit, "Enhet")
ui.table(unit_shown, "followup_units", column_config=status_headers)
ui.downloads(unit_shown, "Uppföljning per enhet", "dl_fu_unit")

# --- completion over time -----------------------------------------------------------------------------
st.subheader("Andel genomförda över tid")
st.caption("Per kvartal för förfallodagen: genomförda / stängda fönster (samma definition som ovan).")
over_time = computed["over_time"]
if over_time.empty:
    ui.empty("Inga uppföljningar med stängt fönster än.")
else:
    shown = over_time if rule is None else followup.masked_quarters(over_time, hidden, rule.text)
    chart_data = privacy.numeric_counts(shown, ["Genomförda", "Stängda fönster", "Andel genomförda"], rule)
    ui.chart(ctx, "followup_completion", lambda: followup.completion_chart(chart_data), chosen_key)
    # Half up from the counts, on the server (never a client-side percent format); hidden with a
    # masked count.
    shown = shown.assign(
        **{
            "Andel genomförda": [
                (formats.percent(int(d), int(c)) if rule is None else formats.pct(int(d), int(c)))
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
