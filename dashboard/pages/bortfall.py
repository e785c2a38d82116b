"""Bortfall: who leaves the study, when and why; stopping IPS kept apart; enough left to analyse?"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import attrition as at
from dashboard import balance, formats, privacy, ui
from dashboard import queries as q
from dashboard.contract import vocab

ctx = ui.page("bortfall")
config = ctx.config
count = ui.counter(ctx)
rules = config.attrition
people = q.participants(ctx.gate, ctx.selected)
if people.empty:
    ui.empty()
    st.stop()

whole_study = set(ctx.selected) == {d.id for d in config.districts}
target = config.target_randomised if whole_study else sum(config.district(d).target for d in ctx.selected)
horizon_months = max(config.followup.timepoints_months)
horizon_days = horizon_months * formats.DAYS_PER_MONTH
names = {d: ctx.short_name(d) for d in ctx.selected}
suppressing = ctx.viewer.suppress_small_cells
# The attrition figures hidden in this scope: one decision with Översikt, CONSORT's arm boxes and the
# steering report, and with every other scope this role can choose (privacy.attrition_hidden_scopes).
hidden = ui.attrition_hidden(ctx)
mask_text = config.privacy.small_cell_text


def shown_count(key: tuple, n: int) -> str:
    """A count of the attrition family as this role may see it."""
    return mask_text if key in hidden else count(int(n))


expected_range = f"{formats.percent(rules.expected_low, 1)}–{formats.percent(rules.expected_high, 1)} %"


def pct(x: float | None) -> str:
    return "–" if x is None or pd.isna(x) else formats.pct(x, 1)


def cohort_for_suppressed_role(table: pd.DataFrame) -> pd.DataFrame:
    """The cohort table for a suppressed role: each "left" count (and its share) as the joint
    decision has it (`hidden`). The cohorts are nested (the first third inside the first two thirds
    inside all randomised; those randomised 12 months ago inside those 6 months ago inside all), so
    that decision also keeps every shown count apart from the next larger shown one by 0 or more
    than the threshold (two counts would differ by the few who left in between). The "left when the
    checkpoint was reached" column would differ from "left by the cut-off" the same way: not shown."""
    rule = privacy.policy(ctx.viewer, config)
    out = table.drop(columns=["Lämnat när kontrollpunkten nåddes"]).copy()
    total_row = len(out) - 1  # "Alla randomiserade"
    keys = [("left",) if i == total_row else ("cohort_left", str(out.loc[i, "Kohort"])) for i in range(len(out))]
    for column in ("Lämnat t.o.m. datauttaget", "Andel lämnat"):
        out[column] = [rule.text if pd.notna(v) and k in hidden else v for k, v in zip(keys, out[column], strict=True)]
    return out


def readable(frame: pd.DataFrame, shares: list[str]) -> pd.DataFrame:
    """For display and download: shares as whole per cent, missing cells as a dash."""
    out = frame.copy()
    for column in shares:
        # Object cells: a whole per cent stays an int beside a missing one (as floats it showed "41.0").
        out[column] = pd.Series(
            [
                v if isinstance(v, str) else (None if v is None or pd.isna(v) else formats.percent(float(v), 1))
                for v in out[column]
            ],
            index=out.index,
            dtype=object,
        )
    out = out.rename(columns={c: f"{c} (%)" for c in shares})
    return out.astype(object).where(out.notna(), "–")


# --- headline ----------------------------------------------------------------------------------------
left_n = int(people["is_left"].sum())
share_left = left_n / len(people)
stopped = at.stopped_ips_counts(people)
projection = ui.memo(ctx, "evaluable", lambda: at.project_evaluable(people, target, horizon_days), target, horizon_days)
coded = ctx.gate.coded  # arms coded: nothing only the IPS arm can have is shown (see docs/access.md)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Randomiserade", count(len(people)))
left_text = shown_count(("left",), left_n)
c2.metric(
    "Har lämnat studien",
    left_text if left_text != str(left_n) else f"{left_n} ({formats.pct(left_n, len(people))})",
    delta=f"larmnivå {formats.pct(rules.alert_level, 1)}",
    delta_color="off",
    delta_arrow="off",
    help=f"Förväntat bortfall {expected_range}. "
    "Andelen av alla randomiserade hittills; nyligen randomiserade har ännu inte hunnit lämna.",
)
if not coded:
    c3.metric(
        "Avslutat IPS, kvar i studien",
        shown_count(("stopped_still_in",), stopped["still_in"]),
        help="Deltagare i interventionsgruppen som slutat med IPS men fortfarande följs upp i studien.",
    )
c4.metric(
    "Utvärderingsbara (prognos)",
    formats.number_text(projection.expected),
    delta=f"behövs {rules.evaluable_needed}" if whole_study else None,
    delta_color="off",
    delta_arrow="off",
    help="Förväntat antal utvärderingsbara vid studiens slut: kvar i studien "
    f"{horizon_months} månader efter randomisering; se metoden längre ned.",
)
if share_left > rules.alert_level:
    st.warning(
        ("Bortfallet" if left_text != str(left_n) else f"Bortfallet ({formats.pct(left_n, len(people))})")
        + f" är över larmnivån {formats.pct(rules.alert_level, 1)}: "
        "överväg överrekrytering.",
        icon="⚠️",
    )

# --- retention over time -----------------------------------------------------------------------------
st.header("Kvar i studien över tid")
st.caption(
    "Kaplan–Meier: andelen som är kvar i studien efter så många dagar sedan randomisering. Den som "
    "fortfarande är med vid datauttaget räknas som kvar fram till dess (censurerad). Att avsluta IPS "
    "räknas inte som bortfall."
)
groupings = {"Alla": None, "Stadsdel": "district", "Kön": "gender_label", "Åldersgrupp": "age_band", "Grupp": "arm"}
if suppressing:
    # The counts per gender and age band would join the attrition family with the baseline table's
    # (Balans): not offered to a suppressed role (docs/access.md).
    groupings = {"Alla": None, "Stadsdel": "district", "Grupp": "arm"}
elif not coded:
    # Only the IPS arm has specialists: grouping by specialist next to coded arms would unblind.
    groupings["Arbetsspecialist"] = "specialist"
choice = st.selectbox("Dela upp efter", list(groupings), key="km_group")
column = groupings[choice]
km_input = people.assign(
    district=people["district_id"].map(names),
    gender_label=people["gender"].map(lambda g: vocab.GENDER.label(g) if isinstance(g, str) else None),
    specialist=people["specialist_id"].fillna("Ingen arbetsspecialist"),
)
if suppressing:
    # Each step of a Kaplan–Meier curve is one person leaving (and each change in the number at risk
    # one person): no curve, no steps, no risk table for this role.
    st.info(
        "Kurvan visas inte för din roll: varje steg i den är en enskild person som lämnat studien. "
        "Tabellen nedan visar antalen per grupp.",
        icon="🔒",
    )
else:
    curve = ui.memo(ctx, "km", lambda: at.kaplan_meier(km_input, column), column)
    risk = ui.memo(
        ctx,
        "km_risk",
        lambda: at.at_risk(km_input, column, at.at_risk_days(float(km_input["days_in_study"].max()))),
        column,
    )
    ui.chart(ctx, "km", lambda: at.retention_chart(curve, choice, risk), column)
    st.caption(
        "Under tidsaxeln: antal i risk, dvs. deltagare som fortfarande följs så många dagar efter randomisering."
    )
    ui.downloads(
        curve.assign(retention=[formats.percent(v, 1, 1) for v in curve["retention"]]).rename(
            columns={
                "group": choice,
                "day": "Dag",
                "at_risk": "I risk",
                "events": "Lämnade",
                "censored": "Censurerade",
                "retention": "Andel kvar (%)",
            }
        ),
        "Bortfall Kaplan-Meier",
        "dl_km",
    )
months = sorted(set(config.followup.timepoints_months))
summary = ui.memo(ctx, "retention_summary", lambda: at.retention_summary(km_input, column, months), column, months)
summary = summary.rename(columns={"Grupp": choice})
if suppressing:
    # Retention at 6, 12, 18 months differs by the few who left in between: counts only.
    summary = summary.drop(columns=[f"Kvar {m} mån" for m in months])
    id_of = {v: k for k, v in names.items()}
    keys = [
        ("left",) if column is None else ("left_d", id_of.get(g, g)) if column == "district" else ("left", str(g))
        for g in summary[choice]
    ]
    summary["Randomiserade"] = [count(int(n)) for n in summary["Randomiserade"]]
    summary["Lämnat studien"] = [shown_count(k, n) for k, n in zip(keys, summary["Lämnat studien"], strict=True)]
    shown = privacy.declare_counts(readable(summary, []), ["Randomiserade", "Lämnat studien"])
else:
    shown = readable(summary, [f"Kvar {m} mån" for m in months])
st.dataframe(ui.grid(shown), hide_index=True, width="stretch")
st.caption(
    "Kvar X mån = skattad andel kvar i studien X månader efter randomisering (tomt om ingen i gruppen "
    "har följts så länge)."
)
ui.downloads(shown, "Bortfall kvar över tid", "dl_km_summary")

# --- left the study ----------------------------------------------------------------------------------
st.header("Lämnat studien (båda grupperna)")
st.caption("Deltagaren följs inte längre upp: bortfall i analysen. Första registrerade orsak.")
left = people[people["is_left"]]
if left.empty:
    st.info("Ingen i urvalet har lämnat studien.", icon="✅")
else:
    reasons = ui.memo(ctx, "left_reasons", lambda: at.reason_counts(left, "left_reason", by="arm"))
    shown = reasons
    if suppressing:  # each cell as the joint decision has it: ("reason", r) and ("reason", r, arm)
        shown = reasons.astype(object)
        for column in [c for c in reasons.columns if c != "Orsak"]:
            shown[column] = [
                shown_count(("reason", r) if column == "Antal" else ("reason", r, column), n)
                for r, n in zip(reasons["Orsak"], reasons[column], strict=True)
            ]
    c1, c2 = st.columns([2, 3])
    if suppressing:  # declared counts of people (checked by the payload test whatever their names)
        shown = privacy.declare_counts(shown, [c for c in shown.columns if c != "Orsak"])
    c1.dataframe(shown, hide_index=True, width="stretch")
    if suppressing:
        c2.caption("Diagrammet visas inte för din roll eftersom små antal maskeras.")
    else:
        with c2:
            ui.chart(ctx, "left_reasons", lambda: at.reason_chart(reasons[["Orsak", "Antal"]]))
    ui.downloads(shown, "Bortfall orsaker", "dl_left_reasons")

# --- stopped IPS -------------------------------------------------------------------------------------
st.header("Avslutat IPS (interventionsgruppen)")
st.caption(
    "Deltagaren har slutat med IPS-insatsen men är **kvar i studien** och följs upp som alla andra. "
    "Det är inte bortfall. Bara interventionsgruppen kan avsluta IPS."
)
if coded:
    st.caption(
        "🔒 Din roll ser grupperna kodade: avslutad IPS visas inte förrän studien stängs, eftersom "
        "bara IPS-gruppen kan avsluta IPS och antalen då skulle avslöja vilken kod som är IPS."
    )
else:
    c1, c2, c3 = st.columns(3)
    c1.metric("Avslutat IPS, kvar i studien", shown_count(("stopped_still_in",), stopped["still_in"]))
    c2.metric(
        "Avslutat IPS och sedan lämnat studien",
        shown_count(("stopped_then_left",), stopped["then_left"]),
        help="Räknas också under ”Lämnat studien” ovan.",
    )
    c3.metric("Avslutat IPS totalt", shown_count(("stopped",), stopped["stopped"]))
stopped_rows = people[people["is_stopped_ips"].astype(bool)] if not coded else people.iloc[0:0]
if not stopped_rows.empty:
    still = at.reason_counts(stopped_rows[~stopped_rows["is_left"]], "stopped_ips_reason").rename(
        columns={"Antal": "Kvar i studien"}
    )
    total = at.reason_counts(stopped_rows, "stopped_ips_reason").rename(columns={"Antal": "Totalt"})
    stop_table = total.merge(still, on="Orsak", how="left").fillna({"Kvar i studien": 0})
    stop_table["Kvar i studien"] = stop_table["Kvar i studien"].astype(int)
    stop_table = stop_table[["Orsak", "Kvar i studien", "Totalt"]]
    shown = stop_table
    if suppressing:
        shown = stop_table.astype(object)
        shown["Kvar i studien"] = [
            shown_count(("stopped_reason_still", r), n)
            for r, n in zip(stop_table["Orsak"], stop_table["Kvar i studien"], strict=True)
        ]
        shown["Totalt"] = [
            shown_count(("stopped_reason", r), n)
            for r, n in zip(stop_table["Orsak"], stop_table["Totalt"], strict=True)
        ]
    if suppressing:
        shown = privacy.declare_counts(shown, ["Kvar i studien", "Totalt"])
    st.dataframe(ui.grid(shown), hide_index=True, width="stretch")
    ui.downloads(shown, "Avslutat IPS orsaker", "dl_stopped")

# --- attrition by cohort -----------------------------------------------------------------------------
st.header("Bortfall vid varje tredjedel av rekryteringen")
sizes = balance.checkpoint_sizes(config.target_randomised, config.balance.checkpoints)
checkpoints = q.balance_checkpoints_frozen(ctx.gate)
reached_on = {int(r["checkpoint"]): pd.Timestamp(r["reached_on"]).date() for _, r in checkpoints.iterrows()}
sees_whole_study = len(ctx.gate.districts) == len(config.districts)
study_total = len(q.participants(ctx.gate, ctx.gate.districts)) if sees_whole_study else None
cohorts = ui.memo(
    ctx,
    "cohorts",
    lambda: at.cohort_attrition(people, sizes, reached_on, ctx.cutoff),
    tuple(sorted(reached_on.items())),
)
cohorts["Bedömning"] = [
    at.alert_text(s, rules.alert_level, rules.expected_low, rules.expected_high) for s in cohorts["Andel lämnat"]
]
st.caption(
    f"Kohorterna är de första n randomiserade i hela studien (i valda stadsdelar). Jämförs med larmnivån "
    f"{formats.pct(rules.alert_level, 1)} och det förväntade bortfallet {expected_range}. Andelen för alla randomiserade underskattar det slutliga bortfallet "
    "eftersom de senast randomiserade inte hunnit lämna; kohorterna randomiserade för minst 6 och 12 månader "
    "sedan ger en rättvisare bild."
)
reached_rows = cohorts[cohorts["Randomiserade"].notna()]
chart_data = reached_rows.dropna(subset=["Andel lämnat"])
if not chart_data.empty and not suppressing:
    ui.chart(
        ctx,
        "cohorts",
        lambda: at.cohort_chart(chart_data, rules.alert_level, rules.expected_low, rules.expected_high),
        tuple(sorted(reached_on.items())),
    )
    st.caption("Streckad linje: larmnivån. Skuggat: förväntat bortfall.")
cohort_table = cohorts.copy()
for k, size in enumerate(sizes, start=1):
    if k not in reached_on:
        more = f" ({size - study_total} till behövs)" if study_total and study_total < size else ""
        cohort_table.loc[k - 1, "Bedömning"] = "ej nådd" + more
cohort_table["Nådd"] = cohort_table["Nådd"].map(lambda d: d.isoformat() if d is not None and not pd.isna(d) else None)
if suppressing:
    shown = privacy.declare_counts(
        readable(cohort_for_suppressed_role(cohort_table), ["Andel lämnat"]), ["Lämnat t.o.m. datauttaget"]
    )
else:
    shown = readable(cohort_table, ["Andel lämnat"])
# Short headers: the table fits a laptop's width beside the sidebar (the download keeps the full names).
cohort_headers = ui.short_headers(
    {
        "Randomiserade": ("Antal", "Randomiserade i kohorten"),
        "Lämnat när kontrollpunkten nåddes": ("Lämnat då", "Lämnat studien när kontrollpunkten nåddes"),
        "Lämnat t.o.m. datauttaget": ("Lämnat hittills", "Lämnat studien t.o.m. datauttaget"),
        "Andel lämnat (%)": ("Andel lämnat", "Andel lämnat (%) t.o.m. datauttaget"),
    }
)
st.dataframe(ui.grid(shown), hide_index=True, width="stretch", column_config=cohort_headers)
ui.downloads(shown, "Bortfall per kohort", "dl_cohorts")

# --- projection ---------------------------------------------------------------------------------------
st.header("Prognos: utvärderingsbara vid studiens slut")
r = projection.retention
interval = (
    f" (95 % intervall {formats.number_text(projection.low)}–{formats.number_text(projection.high)})"
    if projection.low is not None and projection.high is not None
    else ""
)
need_text = ""
if whole_study:
    verdict = "räcker" if projection.expected >= rules.evaluable_needed else "räcker **inte**"
    if projection.low is not None and projection.low < rules.evaluable_needed <= projection.expected:
        verdict += " (men intervallets nedre gräns ligger under)"
    need_text = f" Analysen behöver {rules.evaluable_needed}: prognosen {verdict}."
else:
    need_text = f" Behovet {rules.evaluable_needed} gäller hela studien; välj alla stadsdelar för att jämföra."
st.markdown(
    f"**Omkring {formats.number_text(projection.expected)}** förväntas vara kvar i studien {horizon_months} månader efter "
    f"randomisering{interval}.{need_text}"
)
basis = (
    f"skattad andel kvar vid {horizon_months} mån"
    if not r.extrapolated
    else f"senast observerade andel kvar (dag {formats.number_text(r.observed_to)}; ingen har följts {horizon_months} mån än)"
)
st.markdown(
    f"**Metod.** Förväntat antal = (randomiserade hittills {count(projection.randomised)} + återstår till målet "
    f"{projection.remaining}) × {basis} = {projection.total} × {pct(r.retention)}. Andelen kvar är "
    f"Kaplan–Meier-skattningen för alla randomiserade i urvalet; intervallet är ett 95 % konfidensintervall "
    f"(Greenwood, log-log) för den andelen"
    + (f", baserat på {count(r.at_risk)} deltagare som följts så länge" if not r.extrapolated else "")
    + ". Antagandena: de som återstår att randomisera lämnar i samma takt som hittills, och alla som är kvar "
    "i studien räknas som utvärderingsbara (även de som avslutat IPS). Uteblivna uppföljningar är inte "
    "medräknade, så antalet med faktiska data kan bli lägre."
)
proj_table = pd.DataFrame(
    [
        {
            "Randomiserade hittills": projection.randomised,
            "Återstår till målet": projection.remaining,
            # Kaplan–Meier is a real-valued estimate (a product of ratios, computed in floats): each
            # figure is rounded half up from the decimal its float prints as (schema/rounding.py).
            "Andel kvar (%)": formats.percent(r.retention, 1, 1),
            "Andel kvar, nedre (%)": None if r.low is None else formats.percent(r.low, 1, 1),
            "Andel kvar, övre (%)": None if r.high is None else formats.percent(r.high, 1, 1),
            "Förväntat utvärderingsbara": formats.rounded(projection.expected, 1),
            "Nedre": formats.rounded(projection.low, 1),
            "Övre": formats.rounded(projection.high, 1),
            "Behövs (hela studien)": rules.evaluable_needed,
        }
    ]
)
ui.downloads(ui.suppress_table(ctx, proj_table, ["Randomiserade hittills"]), "Bortfall prognos", "dl_projection")

# --- per district ------------------------------------------------------------------------------------
st.header("Per stadsdel")
districts = ui.memo(ctx, "district_attrition", lambda: at.district_attrition(people, names, with_stopped=not coded))
districts["Bedömning"] = [
    at.alert_text(s, rules.alert_level, rules.expected_low, rules.expected_high) for s in districts["Andel lämnat"]
]
if suppressing:  # as the joint decision has it: ("left_d", d), ("still_in_d", d); the share with "left"
    id_of = {v: k for k, v in names.items()}
    ids = [id_of.get(n, n) for n in districts["Stadsdel"]]
    districts = districts.astype(object)
    hide_left = [("left_d", d) in hidden for d in ids]
    districts["Randomiserade"] = [count(int(n)) for n in districts["Randomiserade"]]
    districts["Lämnat studien"] = [
        mask_text if h else str(v) for h, v in zip(hide_left, districts["Lämnat studien"], strict=True)
    ]
    districts["Andel lämnat"] = [
        mask_text if h else v for h, v in zip(hide_left, districts["Andel lämnat"], strict=True)
    ]
    if "Avslutat IPS, kvar i studien" in districts.columns:
        districts["Avslutat IPS, kvar i studien"] = [
            shown_count(("still_in_d", d), n)
            for d, n in zip(ids, districts["Avslutat IPS, kvar i studien"], strict=True)
        ]
shown = readable(districts, ["Andel lämnat"])
if suppressing:
    shown = privacy.declare_counts(
        shown, [c for c in ("Randomiserade", "Lämnat studien", "Avslutat IPS, kvar i studien") if c in shown.columns]
    )
ui.table(shown, "attrition_districts")
st.caption("Andel av alla randomiserade i stadsdelen hittills; stadsdelar som startat senare har kortare uppföljning.")
ui.downloads(shown, "Bortfall per stadsdel", "dl_districts")
