"""Belastning: each specialist's caseload against the cap and the fidelity scale's caseload bands,
staffing per district and specialists shared between districts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import caseload, formats, privacy, ui
from dashboard import queries as q

ctx = ui.page("belastning")
config = ctx.config
cap, need = config.caseload.cap, config.caseload.min_specialists_per_district
cutoff = config.data_cutoff

# The daily caseload stays in the store: the page reads per-specialist aggregates and the daily
# series of the charted specialists only.
first_day = q.caseload_first_day(ctx.gate, ctx.selected)["first_day"].iloc[0]
roster = q.specialist_roster(ctx.gate, ctx.selected)
if pd.isna(first_day) and roster.empty:
    ui.empty("Inga arbetsspecialister i urvalet.")
    st.stop()

st.markdown(
    f"En arbetsspecialist har högst **{cap} deltagare** samtidigt (taket i studiekonfigurationen). "
    "Programtrohetsskalans punkt 1 (*Klientgruppens storlek*) räknas per heltidstjänst: antal aktiva "
    f"delat med tjänstgöringsgraden; {caseload.bands_text()} "
    f"(källa: {caseload.SCALE.source})."
)
# A shared specialist whose other district is outside the selection (or the viewer's scope).
periods = roster.groupby(["specialist_id", "start_on"], dropna=False)
if len(roster) and (roster["n_districts"] > periods["district_id"].transform("nunique")).any():
    st.caption(
        "Räknar bara deltagare i valda stadsdelar: en specialist som delas med en annan stadsdel "
        "kan ha fler deltagare totalt."
    )

# --- date range -----------------------------------------------------------------------------------
first = pd.Timestamp(first_day).date() if pd.notna(first_day) else min(pd.to_datetime(roster["start_on"])).date()
suppressing = ctx.viewer.suppress_small_cells
if suppressing:  # no period choice for a suppressed role: two periods could be differenced
    period = (first, cutoff)
else:
    period = st.date_input(
        "Period", value=(first, cutoff), min_value=first, max_value=cutoff, format="YYYY-MM-DD", key="caseload_period"
    )
start, end = period if isinstance(period, tuple) and len(period) == 2 else (first, cutoff)

# --- headline -------------------------------------------------------------------------------------
aggregate = q.caseload_specialist_summary(ctx.gate, ctx.selected, cutoff, start, end, cap)
summary = ui.memo(
    ctx, "caseload_summary", lambda: caseload.caseload_summary_agg(aggregate, roster, cutoff), str(start), str(end)
)
short_now = caseload.districts_short_of_specialists(roster, config, ctx.selected)
in_service = summary[summary["Aktiva vid datauttaget"].notna()]
rule = privacy.policy(ctx.viewer, config)
shared = caseload.shared_specialists(roster, ctx.short_name)
split_all = q.caseload_by_district_on(ctx.gate, ctx.selected, cutoff)
# One decision for the per-specialist counts and the shared specialists' split (their sum), in every
# district scope this role can choose (privacy.caseload_hidden_scopes).
joint = ui.caseload_hidden(ctx)
c1, c2, c3, c4 = st.columns(4)
c1.metric(
    "Specialister i tjänst", len(in_service), help=f"Arbetsspecialister i tjänst vid datauttaget {cutoff.isoformat()}"
)
count = ui.counter(ctx)
highest = in_service["Aktiva vid datauttaget"].max() if len(in_service) else None
# The highest count names a hidden cell's value when that specialist's count is hidden.
highest_hidden = rule is not None and any(
    ("active", str(s)) in joint
    for s in in_service.loc[in_service["Aktiva vid datauttaget"] == highest, "Arbetsspecialist"]
)
c2.metric(
    "Högsta belastning nu",
    "–" if highest is None else (rule.text if highest_hidden else count(highest)),
    help=f"Flest aktiva deltagare hos en arbetsspecialist vid datauttaget (taket är {cap})",
)
c3.metric(
    "Över taket nu",
    int((in_service["Aktiva vid datauttaget"] > cap).sum()),
    help=f"Arbetsspecialister med fler än {cap} aktiva deltagare vid datauttaget",
)
c4.metric("Under minimum", len(short_now), help=f"Stadsdelar med färre än {need} arbetsspecialister vid datauttaget")

# --- per specialist ---------------------------------------------------------------------------------
st.subheader("Belastning per arbetsspecialist")
st.caption(
    f"Aktiva vid datauttaget {cutoff.isoformat()}; högsta antal och dagar över taket ({cap}) "
    f"under perioden {start.isoformat()} – {end.isoformat()}."
)
# Per full-time equivalent × the (public) employment rate gives the count back: hidden with it.
summary_shown = ui.suppress_table(ctx, summary, ["Högsta antal"], rows=False)
if rule is not None:
    # Active per specialist as decided jointly with the shared specialists' split (`joint`).
    summary_shown = privacy.mask_rows(
        summary_shown,
        [("active", str(s)) for s in summary["Arbetsspecialist"]],
        joint,
        ["Aktiva vid datauttaget", "Per heltid"],
        rule.text,
    )
    summary_shown["Aktiva vid datauttaget"] = [
        v if v == rule.text or pd.isna(v) else str(int(v)) for v in summary_shown["Aktiva vid datauttaget"]
    ]
if suppressing:
    # A masked "Per heltid" is text beside numbers: the whole column as Swedish text (one type for the
    # grid, which otherwise fails to convert the mixed column and falls back with an error in the log).
    summary_shown["Per heltid"] = [
        v if isinstance(v, str) else formats.number_text(v, 1) for v in summary_shown["Per heltid"]
    ]
# A specialist not in service at the date has no caseload, share or band there: "–", not the grid's
# "None" (dates as ISO text).
shown_summary = summary_shown.assign(
    **{
        "Dag med högsta antal": [
            formats.sv_date(d) if d is not None and d == d else "–" for d in summary_shown["Dag med högsta antal"]
        ]
    }
)
# Short headers: the tables fit a laptop's width beside the sidebar (downloads keep the full names).
headers = {
    "Arbetsspecialist": ("Specialist", "Arbetsspecialist (kod)"),
    "Aktiva vid datauttaget": ("Aktiva nu", f"Aktiva deltagare vid datauttaget {cutoff.isoformat()}"),
    "Tjänstgöringsgrad %": ("Tjänst %", "Tjänstgöringsgrad i procent av heltid"),
}
ui.table(formats.dash_missing(shown_summary), "caseload_summary", column_config=ui.short_headers(headers))
ui.downloads(summary_shown, "Belastning per arbetsspecialist", "dl_caseload_summary")

st.subheader("Belastning över tid")
in_range = aggregate[aggregate["peak"].notna()]
if suppressing:
    # Each step of a daily caseload curve is one participant starting or ending: not for this role.
    st.info(
        "Belastningen dag för dag visas inte för din roll: varje steg i kurvan är en enskild deltagare. "
        "Tabellen ovan visar antalen vid datauttaget.",
        icon="🔒",
    )
elif in_range.empty:
    ui.empty("Ingen belastning under vald period.")
else:
    specialists = sorted(in_range["specialist_id"])
    shown = specialists
    if len(specialists) > caseload.MAX_CHART_SPECIALISTS:
        peaks = in_range.set_index("specialist_id")["peak"].astype("int32").sort_index()
        busiest = peaks.sort_values(ascending=False).head(caseload.MAX_CHART_SPECIALISTS).index.tolist()
        shown = st.multiselect(
            "Arbetsspecialister i diagrammet",
            specialists,
            default=sorted(busiest),
            key="caseload_specialists",
            placeholder="Välj arbetsspecialister",
            help=f"Förvalt: de {caseload.MAX_CHART_SPECIALISTS} med högst belastning under perioden.",
        )
    chosen = tuple(sorted(shown))
    daily = q.caseload_series(ctx.gate, ctx.selected, chosen, start, end)
    data = caseload.attach_fte(daily, roster)
    per_fte = st.toggle("Räkna om till heltid (som programtrohetsskalan)", value=False, key="caseload_per_fte")
    series, weekly = caseload.chart_series(data)
    if series.empty:
        ui.empty("Ingen arbetsspecialist vald.")
    else:
        st.altair_chart(caseload.caseload_chart(series, cap, per_fte), width="stretch")
        if weekly:
            st.caption("Många dagar och specialister: diagrammet visar varje veckas högsta värde.")
        st.caption(
            f"Streckad linje: taket {cap} deltagare. Bakgrunden: programtrohetsskalans band per heltid"
            + (" (jämför med kurvorna när de är omräknade till heltid)." if not per_fte else ".")
        )
        export = series.assign(per_fte=[formats.rounded(v, 1) for v in series["per_fte"]]).rename(
            columns={"day": "Vecka" if weekly else "Datum", "active_n": "Aktiva", "per_fte": "Per heltid"}
        )
        ui.downloads(export, "Belastning över tid", "dl_caseload_series")

# --- staffing per district --------------------------------------------------------------------------
st.subheader("Bemanning per stadsdel")
if short_now:
    st.warning(
        f"Färre än {need} arbetsspecialister vid datauttaget: " + ", ".join(ctx.short_name(d) for d in short_now) + ".",
        icon="⚠️",
    )
else:
    st.success(f"Alla valda stadsdelar har minst {need} arbetsspecialister vid datauttaget.", icon="✅")


def _staffing_table() -> pd.DataFrame:
    active = roster[roster["is_active_at_cutoff"]]
    now = active.groupby("district_id")["specialist_id"].nunique()
    by_id = {d.id: d for d in config.districts}
    below = caseload.days_below_many(roster, {d: max(by_id[d].start, start) for d in ctx.selected}, end, need)
    return pd.DataFrame(
        [
            {
                "Stadsdel": by_id[district_id].display_name(),
                "Arbetsspecialister nu": int(now.get(district_id, 0)),
                "Minst": need,
                "Dagar under minimum": below[district_id],
            }
            for district_id in ctx.selected
        ]
    )


staffing_table = ui.memo(ctx, "staffing_table", _staffing_table, str(start), str(end))
ui.table(staffing_table, "staffing")
st.caption(f"Dagar under minimum räknas från stadsdelens start (eller periodens början) till {end.isoformat()}.")
ui.downloads(staffing_table, "Bemanning per stadsdel", "dl_staffing")
over_time = ui.memo(
    ctx,
    "staffing_over_time",
    lambda: caseload.staffing_over_time(roster, ctx.selected, start, end),
    str(start),
    str(end),
)
if not over_time.empty:
    over_time["Stadsdel"] = over_time["district_id"].map(ctx.short_name)
    if len(ctx.selected) > caseload.MAX_CHART_DISTRICTS:
        st.caption(
            f"Bemanningen över tid ritas för högst {caseload.MAX_CHART_DISTRICTS} stadsdelar: välj färre i "
            "sidomenyn. Tabellen ovan och nedladdningen har alla valda stadsdelar."
        )
    else:
        ui.chart(
            ctx,
            "staffing",
            lambda: caseload.staffing_chart(over_time, need),
            str(start),
            str(end),
        )
    ui.downloads(
        over_time[["Stadsdel", "day", "n"]].rename(columns={"day": "Från", "n": "Arbetsspecialister"}),
        "Bemanning över tid",
        "dl_staffing_time",
    )

# --- shared specialists -----------------------------------------------------------------------------
st.subheader("Arbetsspecialister som delas mellan stadsdelar")
if shared.empty:
    st.info("Ingen arbetsspecialist delar sin tjänst mellan stadsdelar i urvalet.", icon="ℹ️")
else:
    split = split_all[split_all["specialist_id"].isin(shared["Arbetsspecialist"])]

    def shown_split(specialist: str, district: str, n: int) -> str:
        if rule is not None and ("split", str(specialist), str(district)) in joint:
            return rule.text
        return str(int(n))

    text = (
        split.groupby("specialist_id").apply(
            lambda p: ", ".join(
                f"{ctx.short_name(d)} {shown_split(p.name, d, n)}"
                for d, n in zip(p["district_id"], p["active_n"], strict=True)
            ),
            include_groups=False,
        )
        if len(split)
        else pd.Series(dtype=str)
    )
    shared["Aktiva per stadsdel vid datauttaget"] = shared["Arbetsspecialist"].map(text).fillna("–")
    shared_headers = {
        **headers,
        "Aktiva per stadsdel vid datauttaget": ("Aktiva per stadsdel", "Aktiva deltagare per stadsdel vid datauttaget"),
    }
    # "Från" and "Till" are ISO text already, "tills vidare" for an open period: not date columns, which
    # drew that text as an invalid date (grey, flagged). The number of districts (the names' count) is
    # in the download only: the table then fits a laptop's width beside the sidebar.
    ui.table(
        shared,
        "shared",
        download=("Delade arbetsspecialister", "dl_shared"),
        column_config=ui.short_headers(shared_headers),
        column_order=[c for c in shared.columns if c != "Antal stadsdelar"],
    )
