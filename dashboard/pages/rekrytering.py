"""Rekrytering: randomised against target per district, projection, referral funnel and waits."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import consort, formats, privacy, recruitment, ui
from dashboard import queries as q

ctx = ui.page("rekrytering")
config = ctx.config
people = q.participants(ctx.gate, ctx.selected)
referrals = q.referral_funnel(ctx.gate, ctx.selected)
target = sum(config.district(d).target for d in ctx.selected)
all_selected = set(ctx.selected) == set(ctx.gate.districts) and len(ctx.gate.districts) == len(config.districts)
if all_selected:
    target = config.target_randomised

# --- headline -------------------------------------------------------------------------------------
overall = ui.memo(
    ctx,
    "projection",
    lambda: recruitment.project_accrual(
        people["randomised_on"], target, config.data_cutoff, min(config.district(d).start for d in ctx.selected)
    ),
    target,
)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Randomiserade", f"{len(people)} av {target}", help="Mål enligt studiekonfigurationen")
c2.metric("Andel av målet", formats.pct(len(people), target))
c3.metric(
    "Per månad, senaste 12 mån",
    formats.number_text(overall.rate_per_month, 1) if overall.rate_per_month else "–",
)
c4.metric(
    "Målet nås (prognos)",
    recruitment.projection_text(overall) if not overall.median else formats.month_label(overall.median),
    help=None
    if not overall.median
    else f"80 % prognosintervall {formats.month_label(overall.low)}–{formats.month_label(overall.high)}",
)
if overall.median:
    st.caption(
        f"Prognos: målet {target} nås troligen **{formats.month_label(overall.median)}** "
        f"(80 % prognosintervall {formats.month_label(overall.low)} – {formats.month_label(overall.high)}). "
        f"Planerat slut på rekryteringen: {config.planned_recruitment_end.isoformat()}."
    )

# --- accrual against target -------------------------------------------------------------------------
st.subheader("Randomiserade över tid mot målet")
series = ui.memo(ctx, "cumulative", lambda: recruitment.cumulative_series(people, config, ctx.selected, overall=True))
plan_start = config.recruitment_start if all_selected else min(config.district(d).start for d in ctx.selected)
planned = recruitment.planned_path(plan_start, config.planned_recruitment_end, target)
projected = recruitment.projection_path(overall, config.data_cutoff)
ui.chart(
    ctx,
    "accrual",
    lambda: recruitment.accrual_chart(series, target, planned, projected, config.data_cutoff),
    target,
    plan_start,
)
st.caption(
    f"Blå: randomiserade. Grå streckad: planerad takt från start {plan_start.isoformat()} till planerat slut "
    f"{config.planned_recruitment_end.isoformat()} vid målet {target}. Orange: prognosen från datauttaget till "
    "målet; skuggat 80 % prognosintervall."
)
ui.downloads(
    series.rename(columns={"series": "Serie", "month": "Månad", "cumulative_n": "Kumulativt"}),
    "Rekrytering kumulativt",
    "dl_cum",
)
if len(ctx.selected) > 1:
    st.subheader("Varje stadsdel mot sin plan, på samma skala")
    shown_ids = ctx.selected[: recruitment.MAX_MULTIPLES]
    multiples = ui.memo(ctx, "multiples", lambda: recruitment.district_multiples(people, config, shown_ids))
    ui.chart(ctx, "multiples", lambda: recruitment.multiples_chart(multiples))
    st.caption(
        "Blå: randomiserade i stadsdelen. Grå streckad: planerad takt, från stadsdelens start till dess mål "
        "vid rekryteringens planerade slut."
    )
    if len(ctx.selected) > len(shown_ids):
        st.caption(
            f"De första {len(shown_ids)} av {len(ctx.selected)} valda stadsdelarna visas; välj färre i "
            "sidomenyn för att se andra."
        )
    ui.downloads(
        multiples.rename(columns={"day": "Datum", "n": "Antal"}), "Rekrytering per stadsdel över tid", "dl_multiples"
    )

st.subheader("Per stadsdel")
# A page of districts at a time. Each row's projection is a simulation of that district's own
# randomisations: simulated once per store version and scope for each district asked for (the rows
# shown; the download asks for the rest when clicked), whatever the filter or page.


def accrual_table(ids: tuple[str, ...]) -> pd.DataFrame:
    projections = ui.memo_each(
        ctx, "district_projection", ids, lambda d: recruitment.district_projection(people, config, d)
    )
    return ui.memo(
        ctx, "district_accrual", lambda: recruitment.district_accrual_table(people, config, ids, projections)[0], ids
    )


rows = ui.pager(len(ctx.selected), "district_table")
page_ids = ctx.selected[rows]
table = accrual_table(page_ids)
# Short headers: the table fits a laptop's width beside the sidebar (the download keeps the full names).
district_headers = ui.short_headers(
    {
        "Månader aktiv": ("Månader", "Månader sedan stadsdelen började rekrytera, till datauttaget"),
        "Prognos mål nås": ("Prognos mål nås", "Månaden då målet troligen nås (80 % prognosintervall)"),
    }
)
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={**ui.SHARE_OF_TARGET, **ui.date_columns("Start"), **district_headers},
)
ui.downloads(
    table,
    "Rekrytering per stadsdel",
    "dl_table",
    whole=None if len(page_ids) == len(ctx.selected) else lambda: accrual_table(ctx.selected),
)
with st.expander("Hur beräknas prognosen?"):
    st.markdown(
        "Prognosen antar att deltagare randomiseras i jämn takt (en Poissonprocess) med den takt som "
        "gällt **de senaste 12 månaderna** före datauttaget (eller sedan stadsdelen startade). "
        "Osäkerheten i takten (få deltagare ger stor osäkerhet) och slumpen i när de återstående "
        "deltagarna kommer räknas in genom 20 000 simuleringar (Gajewski m.fl. 2008). "
        "Intervallet är ett 80 %-prognosintervall: i 8 fall av 10 nås målet inom det. "
        "Om takten ändras – t.ex. en ny stadsdel ansluter – ändras prognosen."
    )

monthly = q.recruitment_monthly(ctx.gate, ctx.selected)
if not monthly.empty:
    st.subheader("Randomiserade per månad")
    monthly = monthly.assign(district=monthly["district_id"].map({d: ctx.short_name(d) for d in ctx.selected}))
    # The chart's dataset is sent to the browser whole: per district while a legend can tell them apart,
    # else the selection's total per month.
    ui.chart(
        ctx,
        "monthly",
        lambda: recruitment.monthly_chart(recruitment.monthly_frame(monthly, ctx.short_name)),
        recruitment.MAX_STACKED,
    )
    if len(ctx.selected) > recruitment.MAX_STACKED:
        st.caption(
            f"Summan för alla valda stadsdelar. Välj högst {recruitment.MAX_STACKED} stadsdelar i sidomenyn för "
            "att se dem var för sig; nedladdningen har varje stadsdel."
        )
    ui.downloads(
        monthly[["district", "month", "randomised_n", "cumulative_n"]].rename(
            columns={
                "district": "Stadsdel",
                "month": "Månad",
                "randomised_n": "Randomiserade",
                "cumulative_n": "Kumulativt",
            }
        ),
        "Rekrytering per månad",
        "dl_monthly",
    )

# --- funnel ------------------------------------------------------------------------------------------
st.subheader("Remissflödet")
if referrals.empty:
    ui.empty("Inga remisser i urvalet.")
    st.stop()
if note := recruitment.as_of_note(ctx.cutoff, ctx.extract):
    st.caption(note)
first, last = referrals["referred_on"].min(), referrals["referred_on"].max()
suppressing = ctx.viewer.suppress_small_cells
if suppressing:
    # No period choice for a suppressed role: two periods could be differenced into a few people.
    period = (first, last)
else:
    period = st.date_input(
        "Remisser inkomna mellan",
        value=(first, last),
        min_value=first,
        max_value=last,
        format="YYYY-MM-DD",
        key="funnel_period",
    )
if not suppressing and isinstance(period, tuple) and len(period) == 2:
    referrals = referrals[
        (referrals["referred_on"] >= pd.Timestamp(period[0])) & (referrals["referred_on"] <= pd.Timestamp(period[1]))
    ]
period_key = tuple(str(p) for p in period) if isinstance(period, tuple) else str(period)
stages = ui.memo(ctx, "funnel", lambda: recruitment.funnel_counts(referrals), period_key)
stage_parts = ["Exkluderade här", "Pågår (väntar på nästa steg)"]
rule = privacy.policy(ctx.viewer, config)
# One decision for every recruitment figure of every scope this role can choose (funnel, reasons,
# waits, CONSORT, and the steering report's CONSORT): a figure hidden in one display or scope cannot
# be backed out from another. (A suppressed role has no period choice: these are the whole period's.)
joint = ui.recruitment_hidden(ctx)
stages = privacy.funnel_masked(stages, "Antal", stage_parts, rule, joint)
chart_stages = stages.assign(Antal=pd.to_numeric(stages["Antal"], errors="coerce")) if suppressing else stages
left, right = st.columns(2)
with left:
    ui.chart(ctx, "funnel", lambda: recruitment.funnel_chart(chart_stages[["Steg", "Antal", "order"]]), period_key)
right.dataframe(
    stages[["Steg", "Antal", *stage_parts]],
    hide_index=True,
    width="stretch",
    column_config=ui.short_headers(
        {
            "Antal": ("Antal", "Remisser som nått steget"),
            "Exkluderade här": ("Exkluderade", "Exkluderade i detta steg"),
            "Pågår (väntar på nästa steg)": ("Pågår", "Pågår: väntar på nästa steg"),
        }
    ),
)
st.caption(
    "Räknat per remiss: en person som remitteras på nytt efter minst tre månader räknas två gånger "
    f"({rule.text if rule is not None and ('funnel', 'rereferrals') in joint else ui.counter(ctx)(int(referrals['is_rereferral'].sum()))} "
    "nya remisser i urvalet)."
)
ui.downloads(stages.drop(columns=["order", "stage"]), "Remissflöde", "dl_funnel")

reasons = ui.memo(ctx, "exclusions", lambda: recruitment.exclusions_by_reason(referrals), period_key)
# The reasons at one stage add up to the stage's exclusions: masked with the funnel (`joint`).
reasons = privacy.reasons_masked(reasons, rule, joint)
st.markdown("**Exkluderade per steg och orsak**")
st.dataframe(reasons, hide_index=True, width="stretch")
ui.downloads(reasons, "Exklusioner", "dl_excl")

# --- waiting times -----------------------------------------------------------------------------------
st.subheader("Väntetider")
st.caption(
    "Dagar. Median och kvartiler (Q1–Q3). Långa väntetider mellan baslinje och lottning uppstod när "
    "lottningen gjordes i block om 8."
)


waits = ui.memo(
    ctx, "waits", lambda: recruitment.waits_by_district(referrals, ctx.selected, ctx.short_name), period_key
)
# n = people who reached the step (an event): masked with the waits computed from them, as `joint`
# decided (per district they add up to the funnel's counts).
if rule is not None:
    waits_keys = [("waits", d, label) for d in ctx.selected for label in privacy.WAITS]
    waits = privacy.mask_rows(waits, waits_keys, joint, ["n", "Median", "Q1", "Q3"], rule.text)
ui.table(
    waits,
    "waits",
)
ui.downloads(waits, "Väntetider per stadsdel", "dl_waits")

over_time = ui.memo(ctx, "waits_by_quarter", lambda: recruitment.waits_by_quarter(referrals), period_key)
if not over_time.empty:
    st.markdown("**Baslinje → randomisering per kvartal (randomiseringsdatum)**")
    ui.chart(ctx, "waits_by_quarter", lambda: recruitment.waits_quarter_chart(over_time), period_key)
    ui.downloads(over_time, "Väntetid över tid", "dl_waits_time")

# --- CONSORT flow diagram --------------------------------------------------------------------------
st.subheader("Flödesschema (CONSORT)")
blinded = ctx.gate.coded
arm_order = ctx.gate.arm_labels(config)


def _flow() -> dict:
    flow_refs = q.referral_funnel(ctx.gate, ctx.selected)  # the whole period, not the funnel's date filter
    return consort.consort_counts(
        flow_refs,
        people,
        arms=[a for a in arm_order if a in set(people["arm"])],
        intervention_arm=None if blinded else next((a.label for a in config.arms if a.key == "ips"), None),
    )


flow = ui.memo(ctx, "consort", _flow, blinded)
if rule is not None:
    # The whole period's referrals: the same rows as the funnel's; the arm boxes as the attrition
    # family decided (with Översikt, Bortfall and the steering report, in every scope).
    flow = {**flow, "hidden": joint, "attrition_hidden": ui.attrition_hidden(ctx)}
mask = (
    (config.privacy.small_cell_threshold, config.privacy.small_cell_text) if ctx.viewer.suppress_small_cells else None
)
st.caption(
    "Från remiss till analys enligt CONSORT 2025 (punkt 22a). Bedömda = remisser (en ny remiss räknas "
    "igen); analyseras enligt intention-to-treat = alla randomiserade i sin grupp, varav de som lämnat studien saknar utfallsdata, **preliminärt – studien pågår**."
    + (" 🔒 Grupperna visas kodade: vilken grupp som fick IPS framgår inte." if blinded else "")
)
# 15 % larger than the diagram's grid: its text at about 13 px, still within a laptop's width (874 px).
ui.chart(ctx, "consort", lambda: consort.consort_chart(flow, mask, scale=1.15), blinded, width="content")
ui.downloads(consort.box_table(flow, mask), "Flödesschema CONSORT", "dl_consort")
