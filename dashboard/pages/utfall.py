"""Utfall: locked until the study is closed (`ipsdash close-study`); then the outcomes by arm."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import outcomes, privacy, ui
from dashboard.access import OUTCOME_ROLES

ctx = ui.page("utfall")
state = ctx.state

PLANNED = [
    "Dagar från randomisering till första arbetsgivarkontakt",
    "Dagar från randomisering till anställning",
    "Andel som arbetat minst en dag (ej praktik)",
    "Arbetade dagar i relation till tid i studien",
    f"Kontinuerligt arbete (minst {outcomes.CONTINUOUS_DAYS} dagar i sträck)",
    "Antal anställningar och deras omfattning (heltid/deltid)",
    "Ekonomiskt bistånd och arbetsinkomst över tid",
    "Förändring i ASI:s delskala arbete/försörjning",
]

if not state.closed:
    st.warning(
        f"🔒 **Utfallen är låsta.** Studien är blindad: inga utfall visas – varken per grupp eller "
        f"sammanslaget – förrän studien har stängts. Planerad stängning: "
        f"**{ctx.config.planned_close.isoformat()}**.",
    )
    st.markdown("**Det här visas när studien har stängts**, per grupp och med datauttagets datum:")
    st.markdown("\n".join(f"- {item}" for item in PLANNED))
    st.caption(
        "Studien stängs av projektledaren med `ipsdash close-study --by NAMN --note TEXT`. "
        "Stängningen loggas (vem, när, varför, datauttag) och kan inte ångras."
    )
    st.stop()

if ctx.viewer.role not in OUTCOME_ROLES:
    st.info("Studien är stängd, men din roll visar inte utfall. Kontakta projektledaren.", icon="🔒")
    st.stop()

closed_at = pd.Timestamp(state.closed_at).strftime("%Y-%m-%d %H:%M") if state.closed_at is not None else "–"
cutoff = state.data_cutoff.isoformat() if state.data_cutoff else ctx.cutoff.isoformat()
st.success(
    f"Studien stängdes **{closed_at} UTC** av **{state.closed_by}** · datauttag **{cutoff}**"
    + (f" · ”{state.note}”" if state.note else ""),
    icon="🔓",
)

# A role with small-cell suppression gets the outcomes for all districts only: each district's table
# suppressed on its own could be differenced against the whole study's (docs/access.md).
rule = privacy.policy(ctx.viewer, ctx.config)
if rule is not None and ui.scope(ctx) != privacy.SCOPE_ALL:
    st.info("Utfallen visas för din roll för alla stadsdelar tillsammans. Välj alla stadsdelar i filtret.", icon="🔒")
    st.stop()

people, activity, employment = outcomes.load(ctx.gate, ctx.selected)
if "is_analysed" in people:  # the analysis population of the study configuration (issue 12)
    people = people[people["is_analysed"].astype(bool)]
if people.empty:
    ui.empty()
    st.stop()
pp = outcomes.per_participant(people, activity, employment, ctx.cutoff)

st.subheader("Primära och sekundära utfall per grupp")


def outcome_table(
    frame, counts: list[str], labels: dict[str, str], topic: str, key: str, attrition_hidden=frozenset()
) -> None:
    """An outcome table as this viewer may see it, with its downloads (the same cells masked)."""
    shown = frame
    if rule is not None:
        shown = outcomes.suppressed(frame, counts, rule, attrition_hidden=attrition_hidden)
    shown = shown.rename(columns=labels)
    st.dataframe(ui.grid(outcomes.readable(shown)), hide_index=True, width="stretch")
    ui.downloads(shown, topic, key, count_columns=[] if rule is not None else [labels[c] for c in counts])


# The analysed per arm is a figure of the attrition family (allocated minus excluded after
# randomisation): masked where that family's decision hides it.
outcome_table(
    outcomes.summary_by_arm(pp),
    outcomes.SUMMARY_COUNTS,
    outcomes.SUMMARY_LABELS,
    "Utfall per grupp",
    "dl_outcomes",
    attrition_hidden=ui.attrition_hidden(ctx) if rule is not None else frozenset(),
)

st.subheader("Per uppföljningstidpunkt")
timepoints = outcomes.by_timepoint(people, employment)
if timepoints.empty:
    st.info("Inga uppföljningar av sysselsättning är inlästa.")
else:
    outcome_table(
        timepoints, outcomes.TIMEPOINT_COUNTS, outcomes.TIMEPOINT_LABELS, "Utfall per tidpunkt", "dl_outcomes_tp"
    )

st.caption("Hälsoskattningarna (HADS, EQ-5D, WHO-5, MANSA m.fl.) finns inte i databasen och visas inte här.")
with st.expander("Så beräknas utfallen"):
    st.markdown(
        "- **Tid i studien**: från randomisering till avslut i studien, annars till datauttaget.\n"
        "- **Dagar till arbetsgivarkontakt / anställning**: första arbetsgivarkontakt respektive "
        "anställning på eller efter randomiseringsdagen (t.o.m. datauttaget).\n"
        "- **Arbetat minst en dag**: en anställning (praktik och studier räknas inte) eller "
        "”Arbetat minst en dag = Ja” vid någon uppföljning.\n"
        "- **Arbetade dagar / dagar i studien**: uppföljningarnas arbetade dagar summerade, "
        "delat med antalet dagar i studien.\n"
        f"- **Kontinuerligt arbete**: en anställning som varat minst {outcomes.CONTINUOUS_DAYS} dagar "
        "(till slutdatum, annars till slutet av tiden i studien).\n"
        "- **Inkomst och bistånd**: summerat över de uppföljningar som rapporterats; medel per "
        "deltagare med minst en rapport.\n"
        "- **ASI arbete**: senaste uppföljningens värde minus den första."
    )
