"""Översikt: the steering group's one screen — accrual, retention, follow-up, fidelity and alerts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import attrition, fidelity, followup, formats, privacy, recruitment, reports, ui
from dashboard import queries as q

ctx = ui.page("oversikt")
config = ctx.config
people = q.participants(ctx.gate, ctx.selected)
all_districts = len(ctx.selected) == len(config.districts)
target = config.target_randomised if all_districts else sum(config.district(d).target for d in ctx.selected)
start = min(config.district(d).start for d in ctx.selected)
projection = ui.memo(
    ctx,
    "projection",
    lambda: recruitment.project_accrual(people["randomised_on"], target, config.data_cutoff, start),
    target,
    start,
)
followups = q.followup_status(ctx.gate, ctx.selected)
completion = followup.completion(followups)
attr = attrition.overall(people)
fidelity = fidelity.reviews(q.fidelity_items(ctx.gate))
count = ui.counter(ctx)
# The attrition figures hidden in this scope, decided with Bortfall, CONSORT and the steering report
# and with every other scope this role can choose (empty for roles without suppression).
hidden = ui.attrition_hidden(ctx)
mask_text = config.privacy.small_cell_text

c1, c2, c3, c4, c5 = st.columns(5)
c1.metric("Randomiserade", f"{count(len(people))} / {target}", help="Randomiserade mot målet i valda stadsdelar")
if projection.reached_on:
    c2.metric("Målet nåddes", projection.reached_on.isoformat())
elif projection.median:
    c2.metric(
        "Målet nås (prognos)",
        formats.month_label(projection.median),
        help=f"80 % prognosintervall {formats.month_label(projection.low)} – {formats.month_label(projection.high)}",
    )
else:
    c2.metric("Målet nås (prognos)", "–", help="Ingen rekrytering de senaste 12 månaderna")
c3.metric(
    "Bortfall",
    "–" if ("left",) in hidden else formats.pct(attr["left"], attr["randomised"]),
    delta=f"larmnivå {formats.pct(config.attrition.alert_level, 1)}",
    delta_color="off",
    delta_arrow="off",
)
# The share gives its two counts back: hidden with either (the follow-up family's joint decision).
fu_scope = ui.scope(ctx)
fu_keys = (
    {("done",), ("closed",)}
    if fu_scope == privacy.SCOPE_ALL
    else {("district", fu_scope, k) for k in ("done", "closed")}
)
c4.metric(
    "Uppföljning genomförd",
    formats.pct(completion["done"], completion["eligible"])
    if completion["eligible"] and not fu_keys & ui.followup_hidden(ctx)
    else "–",
    help="Andel genomförda av de uppföljningar vars fönster har stängt",
)
if len(fidelity):
    newest = fidelity.iloc[-1]
    c5.metric(
        "Programtrohet",
        f"{newest['Totalt']} p",
        delta=newest["Nivå"].replace(" överens med IPS", ""),
        delta_color="off",
        delta_arrow="off",
        help=f"Senaste skattning {pd.Timestamp(newest['reviewed_on']):%Y-%m-%d}",
    )
else:
    c5.metric("Programtrohet", "–")

if projection.median:
    st.caption(
        f"Målet {target} randomiserade nås troligen {formats.month_label(projection.median)} "
        f"(80 % prognosintervall {formats.month_label(projection.low)} – {formats.month_label(projection.high)}); "
        f"planerat slut på rekryteringen {config.planned_recruitment_end.isoformat()}."
    )

# --- active participants per arm ------------------------------------------------------------------
st.subheader("Aktiva deltagare per grupp")
active = people[~people["is_left"]]
per_arm = active.groupby("arm").size().reindex(sorted(people["arm"].dropna().unique()), fill_value=0)
coded = ctx.gate.coded
cols = st.columns(max(len(per_arm), 1) + (0 if coded else 1))
for col, (arm, n) in zip(cols, per_arm.items(), strict=False):  # one column more, for stopped IPS
    col.metric(str(arm), mask_text if ("active", str(arm)) in hidden else count(int(n)))
if not coded:  # only the IPS arm can stop IPS: beside coded arms it would tell which code is IPS
    still_in = int((active["is_stopped_ips"]).sum())
    cols[-1].metric(
        "Har avslutat IPS (kvar i studien)", mask_text if ("stopped_still_in",) in hidden else count(still_in)
    )

# --- per district -----------------------------------------------------------------------------------
st.subheader("Per stadsdel")
rows = []
# One pass over the participants, not one per district (hundreds of districts at full scale).
per_district = people.groupby("district_id")["is_left"].agg(["size", "sum"])
by_id = {d.id: d for d in config.districts}
for district_id in ctx.selected:
    d = by_id[district_id]
    n = int(per_district["size"].get(district_id, 0))
    n_left = int(per_district["sum"].get(district_id, 0))
    shown = count(n)
    masked = shown != str(n)  # a masked count must not be backed out of its share
    # nor a few who left out of the dropout share (decided jointly, see `hidden`)
    left_masked = count(n_left) != str(n_left) or ("left_d", district_id) in hidden
    rows.append(
        {
            "Stadsdel": d.display_name(),
            "Randomiserade": shown,
            "Mål": d.target,
            "Andel av mål (%)": None if masked or not d.target else formats.percent(n, d.target),
            "Bortfall": "–" if masked or left_masked else formats.pct(n_left, n),
        }
    )
table = pd.DataFrame(rows)
ui.table(table, "overview", column_config=ui.SHARE_OF_TARGET)
ui.downloads(table, "Översikt per stadsdel", "dl_overview")

# --- alerts -----------------------------------------------------------------------------------------
st.subheader("Att uppmärksamma")
alerts = ui.alerts(ctx, people, followups)
if not alerts:
    st.success("Inga larm just nu.", icon="✅")
for text, page, icon in alerts:
    col_text, col_link = st.columns([5, 1])
    col_text.warning(text, icon=icon)
    if page in ui.allowed_pages(ctx):
        col_link.page_link(f"pages/{page}.py", label="Öppna", icon="➡️")

# --- meeting reports ----------------------------------------------------------------------------------
may_steer = ctx.viewer.role in reports.STEERING_ROLES
may_pack = ctx.viewer.role in reports.PROJECT_ROLES
if may_steer or may_pack:
    st.subheader("Rapporter")
    st.caption(
        "Rapporterna byggs från hela studien för mottagarens roll (styrgruppens med små tal maskerade), "
        "oberoende av stadsdelsfiltret. Nedladdning här sparar **ingen** ögonblicksbild i databasen: "
        "jämförelsen ”sedan förra rapporten” utgår från den senaste rapport som projektledaren skrev med "
        "`ipsdash report styrgrupp --out FIL.pdf`."
    )
    stamp = ctx.cutoff.isoformat() if ctx.cutoff else "tom"
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    offered = [
        (
            may_steer,
            "⬇ Styrgruppsrapport (PDF)",
            reports.STEERING,
            "styrgruppsrapport",
            "pdf",
            "application/pdf",
            "steering",
        ),
        (may_pack, "⬇ Månadspaket (Excel)", reports.PROJECT, "projektgrupp", "xlsx", xlsx, "pack"),
    ]
    for column, (may, label, report, stem, kind, mime, key) in zip(st.columns([1, 1, 1]), offered, strict=False):
        if may:
            column.download_button(
                label,
                reports.app_download(report),
                f"ips_{stem}_{stamp}.{kind}",
                mime,
                key=f"dl_report_{key}",
                on_click="ignore",
            )
