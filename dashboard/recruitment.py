"""Is recruitment on track? Funnel, waits, accrual per district and the projected date the
target is reached (with its 80 % interval), and the recruitment charts. No Streamlit, no SQL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import altair as alt
import numpy as np
import pandas as pd

from dashboard import charts, formats
from etl.asof import EXCLUSION_RULE_SV
from schema import rounding, vocab
from schema.config import StudyConfig

FUNNEL_ORDER = [
    ("referral", "Remiss", None),
    ("info_meeting", "Informationsmöte", "reached_info_meeting"),
    ("consent", "Samtycke", "reached_consent"),
    ("enrolment", "Inskrivningssamtal", "reached_enrolment"),
    ("baseline", "Baslinje", "reached_baseline"),
    ("randomised", "Randomiserad", "is_randomised"),
]


def funnel_counts(referrals: pd.DataFrame) -> pd.DataFrame:
    """Referrals reaching each stage, excluded at it, and still in progress after it."""
    rows = []
    for order, (key, label, column) in enumerate(FUNNEL_ORDER):
        reached = len(referrals) if column is None else int(referrals[column].sum())
        excluded = int((referrals["excluded_stage"] == key).sum())
        waiting = int(((referrals["furthest_stage"] == key) & referrals["is_in_progress"]).sum())
        rows.append(
            {
                "order": order,
                "stage": key,
                "Steg": label,
                "Antal": reached,
                "Exkluderade här": excluded,
                "Pågår (väntar på nästa steg)": waiting,
            }
        )
    return pd.DataFrame(rows)


def exclusions_by_reason(referrals: pd.DataFrame) -> pd.DataFrame:
    excluded = referrals[referrals["is_excluded"]]
    if excluded.empty:
        return pd.DataFrame(columns=["Steg", "Orsak", "Antal"])
    table = excluded.groupby(["excluded_stage", "exclusion_reason"]).size().reset_index(name="Antal")
    order = {k: i for i, (k, _, _) in enumerate(FUNNEL_ORDER)}
    table["o"] = table["excluded_stage"].map(order)
    table = table.sort_values(["o", "Antal"], ascending=[True, False])
    table["Steg"] = table["excluded_stage"].map(vocab.EXCLUSION_STAGES.label)
    table["Orsak"] = table["exclusion_reason"].map(vocab.EXCLUSION_REASON.label)
    return table[["Steg", "Orsak", "Antal"]].reset_index(drop=True)


def wait_summary(a: np.ndarray) -> dict[str, float | int | None]:
    """n, median and quartiles of the non-missing values `a` (numpy's median and linear quantile,
    which is what pandas computes)."""
    if len(a) == 0:
        return {"n": 0, "Median": None, "Q1": None, "Q3": None}
    # Whole days, rounded half up on the server (a median of 12.5 days shows as 13), not by a
    # client-side "%.0f". The quantiles of whole days are exact in binary (halves and quarters).
    return {
        "n": int(len(a)),
        "Median": rounding.round_int(float(np.median(a))),
        "Q1": rounding.round_int(float(np.quantile(a, 0.25))),
        "Q3": rounding.round_int(float(np.quantile(a, 0.75))),
    }


@dataclass(frozen=True)
class Projection:
    """When the target is expected to be reached, with an 80 % prediction interval."""

    n: int
    target: int
    rate_per_month: float | None
    window_start: date | None
    reached_on: date | None = None  # already reached
    median: date | None = None
    low: date | None = None  # 10th percentile
    high: date | None = None  # 90th percentile

    @property
    def remaining(self) -> int:
        return max(self.target - self.n, 0)


def project_accrual(
    randomised_on: pd.Series,
    target: int,
    cutoff: date,
    start: date,
    window_months: int = 12,
    draws: int = 20000,
    seed: int = 2024,
) -> Projection:
    """Predict the date the target is reached from a constant-rate Poisson accrual model.

    The rate is estimated from the last `window_months` before the cut-off (or since `start` if
    shorter), so a district added late or a change in inflow is reflected. Uncertainty in the rate
    (gamma posterior, n events over T days) and in the arrivals themselves (gamma waiting time for
    the remaining R participants) are both propagated by simulation (Gajewski, Simon & Carlson
    2008, "Predicting accrual in clinical trials with Bayesian posterior predictive
    distributions"). The simulation is seeded, so the same data always give the same dates.
    """
    # Whole days as numpy datetime64 (no Python object per participant: 400 districts at scale 100).
    days = pd.to_datetime(pd.Series(randomised_on)).to_numpy(dtype="datetime64[D]")
    days = days[~np.isnat(days)]
    n_total = len(days)
    if n_total >= target > 0:
        reached = np.partition(days, target - 1)[target - 1].astype(date)
        return Projection(n_total, target, None, None, reached_on=reached)
    window_start = max(start, cutoff - timedelta(days=rounding.round_int(window_months * formats.DAYS_PER_MONTH)))
    exposure = (cutoff - window_start).days + 1
    n_window = int(((days >= np.datetime64(window_start, "D")) & (days <= np.datetime64(cutoff, "D"))).sum())
    if n_window == 0 or exposure <= 0:
        return Projection(n_total, target, 0.0 if exposure > 0 else None, window_start)
    remaining = target - n_total
    rng = np.random.default_rng(seed)
    rate = rng.gamma(shape=n_window, scale=1.0 / exposure, size=draws)  # per day
    wait = rng.gamma(shape=remaining, scale=1.0 / rate)
    q10, q50, q90 = np.quantile(wait, [0.1, 0.5, 0.9])
    rate_month = n_window / exposure * formats.DAYS_PER_MONTH
    return Projection(
        n_total,
        target,
        rate_month,
        window_start,
        median=cutoff + timedelta(days=float(q50)),
        low=cutoff + timedelta(days=float(q10)),
        high=cutoff + timedelta(days=float(q90)),
    )


def district_projection(participants: pd.DataFrame, config: StudyConfig, district_id: str) -> Projection:
    """The projected date district `district_id` reaches its own target: its randomisations only (any
    `participants` holding all of that district's rows give the same answer)."""
    d = config.district(district_id)
    days = participants.loc[participants["district_id"] == district_id, "randomised_on"]
    return project_accrual(days, d.target, config.data_cutoff, d.start)


def district_accrual_table(
    participants: pd.DataFrame,
    config: StudyConfig,
    district_ids: tuple[str, ...],
    known: Mapping[str, Projection] | None = None,
) -> tuple[pd.DataFrame, dict[str, Projection]]:
    """accrualPlot's summary table per district plus the projected date with its interval; the
    projections are taken from `known` when given (e.g. cached per district), else simulated."""
    cutoff = config.data_cutoff
    rows, projections = [], {}
    by_id = {d.id: d for d in config.districts}
    groups = dict(iter(participants.groupby("district_id", sort=False)))  # one pass, not one per district
    for district_id in district_ids:
        d = by_id[district_id]
        part = groups.get(district_id, participants.iloc[0:0])
        end = min(d.end or cutoff, cutoff)
        months_active = max((end - d.start).days / formats.DAYS_PER_MONTH, 0)
        n = len(part)
        if known is not None:
            proj = known[district_id]
        else:
            proj = project_accrual(part["randomised_on"], d.target, cutoff, d.start)
        projections[district_id] = proj
        rows.append(
            {
                "Stadsdel": d.display_name(),
                "Start": d.start,
                "Månader aktiv": rounding.round_float(months_active, 1),
                "Randomiserade": n,
                "Per månad": rounding.round_float(n / months_active, 1) if months_active else None,
                "Mål": d.target,
                "Andel av mål (%)": rounding.percent(n, d.target) if d.target else None,
                "Prognos mål nås": _projection_text(proj),
            }
        )
    return pd.DataFrame(rows), projections


def _projection_text(p: Projection) -> str:
    if p.reached_on:
        return f"nått {p.reached_on.isoformat()}"
    if p.median is None:
        return "kan inte beräknas (ingen rekrytering senaste 12 mån)"
    return f"{formats.month_label(p.median)} ({formats.month_label(p.low)}–{formats.month_label(p.high)})"


def projection_text(p: Projection) -> str:
    return _projection_text(p)


def cumulative_series(
    participants: pd.DataFrame, config: StudyConfig, district_ids: tuple[str, ...], overall: bool
) -> pd.DataFrame:
    """Cumulative randomised per month, overall or per district, for the accrual chart."""
    frames = []
    start = min(config.district(d).start for d in district_ids) if district_ids else config.recruitment_start
    months = pd.date_range(
        pd.Timestamp(start).to_period("M").to_timestamp(),
        pd.Timestamp(config.data_cutoff).to_period("M").to_timestamp(),
        freq="MS",
    )
    groups = (
        [("Alla valda stadsdelar", participants)]
        if overall
        else [(config.district(d).name, participants[participants["district_id"] == d]) for d in district_ids]
    )
    for label, part in groups:
        per_month = pd.to_datetime(part["randomised_on"]).dt.to_period("M").dt.to_timestamp().value_counts()
        counts = per_month.reindex(months, fill_value=0).cumsum()
        frames.append(pd.DataFrame({"series": label, "month": months, "cumulative_n": counts.to_numpy()}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["series", "month", "cumulative_n"])


MAX_STACKED = 8  # districts stacked by colour in the monthly chart; more are drawn as one total


def monthly_frame(monthly: pd.DataFrame, name) -> pd.DataFrame:
    """The monthly chart's dataset (`district`, `month`, `randomised_n`): one series per district
    while a legend can still tell them apart (`MAX_STACKED`), else the selection's total per month
    (400 stacked colours read as noise, and their rows would all go to the browser)."""
    ids = monthly["district_id"].unique()
    if len(ids) <= MAX_STACKED:
        return monthly.assign(district=monthly["district_id"].map(name))[["district", "month", "randomised_n"]]
    total = monthly.groupby("month", as_index=False)["randomised_n"].sum()
    return total.assign(district=f"Alla {len(ids)} valda stadsdelar")[["district", "month", "randomised_n"]]


def monthly_chart(monthly: pd.DataFrame) -> alt.Chart:
    """Randomised per month, stacked by district (`district`, `month`, `randomised_n`): a month's bar
    spans its month on a time axis, labelled like the accrual chart above it (no slanted labels, so
    the plot keeps its height)."""
    chart = (
        alt.Chart(monthly)
        .mark_bar()
        .encode(
            x=alt.X(
                "yearmonth(month):T",
                title="",
                axis=alt.Axis(labelExpr=charts.SV_MONTH_YEAR, labelAngle=0, tickCount="month"),
            ),
            y=alt.Y("randomised_n:Q", title="Randomiserade per månad"),
            color=alt.Color("district:N", title="Stadsdel", scale=alt.Scale(range=charts.CATEGORY_COLOURS)),
            tooltip=[
                alt.Tooltip("district:N", title="Stadsdel"),
                alt.Tooltip("yearmonth(month):T", title="Månad", format="%Y-%m"),
                alt.Tooltip("randomised_n:Q", title="Randomiserade"),
            ],
        )
    )
    return charts.finish(chart, 320)


def funnel_chart(stages: pd.DataFrame) -> alt.Chart:
    """Horizontal bars, one per stage in order (`Steg`, `Antal`, `order`)."""
    bars = (
        alt.Chart(stages)
        .mark_bar(color=charts.PALETTE[0])
        .encode(
            y=alt.Y("Steg:N", sort=alt.SortField("order"), title=""),
            x=alt.X("Antal:Q", title="Antal personer"),
            tooltip=["Steg:N", "Antal:Q"],
        )
    )
    text = bars.mark_text(align="left", dx=4, color="#333").encode(text="Antal:Q")
    return charts.finish(alt.layer(bars, text), 240)


WAITS = [
    ("Remiss → informationsmöte", "days_referral_to_info"),
    ("Baslinje → randomisering", "days_baseline_to_randomisation"),
]


def waits_by_district(referrals: pd.DataFrame, district_ids: tuple[str, ...], name) -> pd.DataFrame:
    """Median and quartiles of the two waits that matter, per district (`name` gives its label).
    The rows are split once per district (no pandas work per district: 400 districts at scale 100)."""
    rows = []
    ids = referrals["district_id"].to_numpy(dtype=object)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    values = {
        column: pd.to_numeric(referrals[column], errors="coerce").to_numpy(dtype="float64")[order]
        for _, column in WAITS
    }
    for district_id in district_ids:
        lo, hi = np.searchsorted(sorted_ids, district_id, "left"), np.searchsorted(sorted_ids, district_id, "right")
        for label, column in WAITS:
            part = values[column][lo:hi]
            rows.append({"Stadsdel": name(district_id), "Väntetid": label, **wait_summary(part[~np.isnan(part)])})
    return pd.DataFrame(rows)


def waits_by_quarter(referrals: pd.DataFrame) -> pd.DataFrame:
    """Days from baseline to randomisation per quarter of the randomisation date: median, quartiles and
    how many were randomised (`Kvartal`, `Median`, `Q1`, `Q3`, `Randomiserade i kvartalet`)."""
    randomised = referrals[referrals["is_randomised"]].copy()
    if randomised.empty:
        return pd.DataFrame(columns=["Kvartal", "Median", "Q1", "Q3", "Randomiserade i kvartalet"])
    # "2024 K1" as on Uppföljning (pandas writes "2024Q1"); the text sorts in time order.
    quarters = pd.to_datetime(randomised["randomised_on"]).dt.to_period("Q")
    randomised["Kvartal"] = [f"{q.year} K{q.quarter}" for q in quarters]
    return (
        randomised.groupby("Kvartal")["days_baseline_to_randomisation"]
        .agg(
            Median="median",
            Q1=lambda s: s.quantile(0.25),
            Q3=lambda s: s.quantile(0.75),
            **{"Randomiserade i kvartalet": "count"},
        )
        .reset_index()
    )


def waits_quarter_chart(frame: pd.DataFrame) -> alt.Chart:
    """Median days from baseline to randomisation per quarter (`Kvartal`, `Median`)."""
    bars = (
        alt.Chart(frame[["Kvartal", "Median"]])
        .mark_bar(color=charts.PALETTE[0])
        .encode(
            x=alt.X("Kvartal:N", title="", sort=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y("Median:Q", title="Median dagar"),
            tooltip=["Kvartal:N", alt.Tooltip("Median:Q", title="Median dagar")],
        )
    )
    return charts.finish(bars, 240)


# --- the accrual chart: actual, planned and projected ------------------------------------------------

PROJECTION_STEPS = 24
MAX_MULTIPLES = 24  # small multiples drawn at most (the rest: narrow the district filter)  # points along the projected path and its band


def planned_path(start: date, end: date, target: int) -> pd.DataFrame:
    """The planned trajectory: a straight line from 0 at the start of recruitment to the target at its
    planned end (`day`, `n`)."""
    return pd.DataFrame({"day": pd.to_datetime([start, end]), "n": [0, target]})


def projection_path(p: Projection, cutoff: date) -> pd.DataFrame:
    """The projection drawn forward from the cut-off to the target: for each count between today's
    and the target, the date it is reached on the median path and on the 80 % interval's bounds
    (`n`, `median`, `low`, `high`). Empty when the target is reached or no projection exists."""
    if p.reached_on or p.median is None or p.remaining <= 0:
        return pd.DataFrame(columns=["n", "median", "low", "high"])
    share = np.linspace(0.0, 1.0, PROJECTION_STEPS + 1)
    start = pd.Timestamp(cutoff)

    def along(end: date) -> pd.Series:
        return start + (pd.Timestamp(end) - start) * share

    return pd.DataFrame(
        {
            "n": p.n + share * p.remaining,
            "median": along(p.median),
            "low": along(p.low),
            "high": along(p.high),
        }
    )


def accrual_chart(
    cumulative: pd.DataFrame, target: int, planned: pd.DataFrame, projected: pd.DataFrame, cutoff: date
) -> alt.Chart:
    """Randomised so far (step line), the planned trajectory (dashed grey), the projection to the
    target with its 80 % band (shaded) and the target (red rule), on one time axis."""
    x = alt.X("day:T", title="", axis=alt.Axis(labelExpr=charts.SV_MONTH_YEAR, labelAngle=0))
    y = alt.Y("n:Q", title="Randomiserade (kumulativt)")
    so_far = cumulative.rename(columns={"month": "day", "cumulative_n": "n"})
    if len(so_far):  # carry the last month's count to the cut-off day, where the projection starts
        so_far = pd.concat([so_far, so_far.tail(1).assign(day=pd.Timestamp(cutoff))], ignore_index=True)
    actual = (
        alt.Chart(so_far)
        .mark_line(interpolate="step-after", strokeWidth=3, color=charts.PALETTE[0])
        .encode(
            x=x,
            y=y,
            tooltip=[alt.Tooltip("day:T", title="Månad", format="%Y-%m"), alt.Tooltip("n:Q", title="Randomiserade")],
        )
    )
    plan = (
        alt.Chart(planned)
        .mark_line(strokeDash=[8, 5], color="#666", strokeWidth=2)
        .encode(
            # Titled like the other layers: a layer without a title would give the shared axis its
            # field name ("day", "n") in English.
            x=alt.X("day:T", title=""),
            y=y,
            tooltip=[alt.Tooltip("day:T", title="Planerat", format="%Y-%m-%d"), alt.Tooltip("n:Q", title="Antal")],
        )
    )
    goal = (
        alt.Chart(pd.DataFrame({"n": [target], "label": [f"Mål {target}"]}))
        .mark_rule(color="#b94a48", strokeDash=[2, 2])
        .encode(y=y, tooltip=alt.Tooltip("label:N", title=""))
    )
    today = (
        alt.Chart(pd.DataFrame({"day": [pd.Timestamp(cutoff)], "label": ["Datauttag"]}))
        .mark_rule(color="#999")
        .encode(x=alt.X("day:T", title=""), tooltip=alt.Tooltip("label:N", title=""))
    )
    layers = [plan, goal, today, actual]
    if len(projected):
        band = (
            alt.Chart(projected)
            .mark_area(orient="horizontal", opacity=0.25, color=charts.PALETTE[1])
            .encode(
                y="n:Q",
                x="low:T",
                x2="high:T",
                tooltip=[
                    alt.Tooltip("low:T", title="10 %", format="%Y-%m"),
                    alt.Tooltip("high:T", title="90 %", format="%Y-%m"),
                ],
            )
        )
        line = (
            alt.Chart(projected)
            .mark_line(color=charts.PALETTE[1], strokeWidth=2, strokeDash=[4, 3])
            .encode(y="n:Q", x="median:T", order="n:Q")
        )
        layers = [band, plan, goal, today, line, actual]
    return charts.finish(alt.layer(*layers), 340)


def district_multiples(participants: pd.DataFrame, config: StudyConfig, district_ids: tuple[str, ...]) -> pd.DataFrame:
    """Cumulative randomised per month per district with each district's planned trajectory, for
    small multiples on one scale (`Stadsdel`, `day`, `n`, `Serie`)."""
    series = cumulative_series(participants, config, district_ids, overall=False)
    frames = [
        series.rename(columns={"series": "Stadsdel", "month": "day", "cumulative_n": "n"}).assign(Serie="Randomiserade")
    ]
    for district_id in district_ids:
        d = config.district(district_id)
        end = d.end or config.planned_recruitment_end
        frames.append(planned_path(d.start, end, d.target).assign(Stadsdel=d.name, Serie="Planerat"))
    return pd.concat(frames, ignore_index=True)[["Stadsdel", "day", "n", "Serie"]]


def multiples_chart(frame: pd.DataFrame, columns: int = 4) -> alt.Chart:
    """One small panel per district, every panel on the same scales."""
    lines = (
        alt.Chart()
        .mark_line(interpolate="linear")
        .encode(
            x=alt.X("day:T", title="", axis=alt.Axis(format="%Y", tickCount="year", labelAngle=0)),
            y=alt.Y("n:Q", title="Randomiserade"),
            # No legend: Streamlit sizes a faceted chart without it and cut it off; the page says
            # which line is which under the chart.
            color=alt.Color(
                "Serie:N",
                title="",
                scale=alt.Scale(domain=["Randomiserade", "Planerat"], range=[charts.PALETTE[0], "#999"]),
                legend=None,
            ),
            strokeDash=alt.StrokeDash(
                "Serie:N", scale=alt.Scale(domain=["Randomiserade", "Planerat"], range=[[1, 0], [6, 4]]), legend=None
            ),
            tooltip=[
                "Stadsdel:N",
                "Serie:N",
                alt.Tooltip("day:T", title="Datum", format="%Y-%m"),
                alt.Tooltip("n:Q", title="Antal"),
            ],
        )
        # Four panels a row fit a laptop's width beside the sidebar (1366 px: ~900 px for the chart).
        .properties(width=180, height=120)
    )
    chart = alt.layer(lines, data=frame).facet(
        facet=alt.Facet("Stadsdel:N", title="", header=alt.Header(labelFontSize=14, labelFontWeight="bold")),
        columns=columns,
    )
    return charts.configure(chart)


def as_of_note(as_of: date | None, extract: date | None) -> str | None:
    """The caption for an as-of date earlier than the extract: how an undated exclusion is counted."""
    if as_of is None or extract is None or as_of >= extract:
        return None
    return EXCLUSION_RULE_SV
