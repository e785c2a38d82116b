"""Pure calculations for the attrition (bortfall) and balance pages: no Streamlit, no SQL.

Frames in, frames or small dicts out, so each figure can be tested against a hand count. The
retention interval uses Greenwood's variance with the log(−log) transform (Kalbfleisch & Prentice
2002, ch. 1), which keeps the interval inside 0–1 even with few participants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import altair as alt
import numpy as np
import pandas as pd

from dashboard import charts, formats
from schema import rounding, vocab

Z95 = 1.959963984540054


# --- retention -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retention:
    """Kaplan–Meier retention at `day` with a 95 % interval and how many were still at risk there."""

    day: float
    retention: float
    low: float | None
    high: float | None
    at_risk: int  # participants followed at least to `day`
    observed_to: float  # the longest follow-up in the data (days)

    @property
    def extrapolated(self) -> bool:
        """True when nobody has been followed as long as `day`: the last observed value is carried."""
        return self.observed_to < self.day


def retention_with_ci(curve: pd.DataFrame, day: float) -> Retention:
    """Retention of one group of a `kaplan_meier` curve at `day`, with Greenwood's
    95 % interval on the log(−log) scale. Beyond the longest follow-up the last step is used."""
    part = curve.sort_values("day")
    before = part[part["day"] <= day]
    if before.empty:
        return Retention(day, 1.0, None, None, int(part["at_risk"].iloc[0]) if len(part) else 0, 0.0)
    s = float(before["retention"].iloc[-1])
    ev = before[before["events"] > 0]
    n, d = ev["at_risk"].astype(float), ev["events"].astype(float)
    safe = n > d
    greenwood = float((d[safe] / (n[safe] * (n[safe] - d[safe]))).sum())
    low = high = None
    if 0 < s < 1 and greenwood > 0:
        se = math.sqrt(greenwood) / abs(math.log(s))
        low = s ** math.exp(Z95 * se)
        high = s ** math.exp(-Z95 * se)
    elif s == 1.0:
        low, high = None, None
    followed = part[part["day"] >= day]
    at_risk = int(followed["at_risk"].iloc[0]) if len(followed) else 0
    return Retention(day, s, low, high, at_risk, float(part["day"].max()))


@dataclass(frozen=True)
class EvaluableProjection:
    """Expected participants still in the study at the last follow-up, at study close."""

    randomised: int
    remaining: int
    retention: Retention

    @property
    def total(self) -> int:
        return self.randomised + self.remaining

    @property
    def expected(self) -> float:
        return self.total * self.retention.retention

    @property
    def low(self) -> float | None:
        return None if self.retention.low is None else self.total * self.retention.low

    @property
    def high(self) -> float | None:
        return None if self.retention.high is None else self.total * self.retention.high


def project_evaluable(participants: pd.DataFrame, target: int, horizon_days: float) -> EvaluableProjection:
    """(randomised so far + remaining to the target) × KM retention at the last follow-up.

    Assumes those still to be randomised leave at the same rate as those so far, and counts
    everyone still in the study at the horizon as evaluable (stopping IPS does not end follow-up).
    """
    curve = kaplan_meier(participants)
    return EvaluableProjection(
        len(participants), max(target - len(participants), 0), retention_with_ci(curve, horizon_days)
    )


def retention_summary(participants: pd.DataFrame, group: str | None, months: list[int]) -> pd.DataFrame:
    """Per group (or all): randomised, left, and KM retention at each of `months` (None when nobody
    in the group has been followed that long)."""
    curve = kaplan_meier(participants, group)
    rows = []
    for label, part in curve.groupby("group", sort=False):
        first = part.iloc[0]
        row: dict[str, object] = {
            "Grupp": label,
            "Randomiserade": int(first["at_risk"]),
            "Lämnat studien": int(part["events"].sum()),
        }
        for m in months:
            r = retention_with_ci(part, m * formats.DAYS_PER_MONTH)
            row[f"Kvar {m} mån"] = None if r.extrapolated else r.retention
        rows.append(row)
    return pd.DataFrame(rows)


# --- attrition by cohort -----------------------------------------------------------------------------


def alert_text(share: float | None, alert_level: float, low: float, high: float) -> str:
    if share is None:
        return "–"
    if share > alert_level:
        return "⚠ över larmnivån"
    if share >= low:
        return "inom förväntat"
    return "under förväntat"


def cohort_attrition(
    participants: pd.DataFrame,
    sizes: list[int],
    checkpoint_dates: dict[int, date],
    cutoff: date,
    months: tuple[int, ...] = (6, 12),
) -> pd.DataFrame:
    """Share who left the study, per cohort.

    Checkpoint cohorts are the first n_k randomised in the whole study (`enrolment_rank` ≤ n_k),
    restricted to the rows passed in (a district selection): left by the date the checkpoint was
    reached and left by the data cut-off. Time cohorts are those randomised at least 6 (12) months
    before the cut-off, so everyone in them has had that long to leave.
    """
    rows = []
    left_on = pd.to_datetime(participants["left_on"])
    for k, size in enumerate(sizes, start=1):
        on = checkpoint_dates.get(k)
        reached = on is not None
        part = participants[participants["enrolment_rank"] <= size]
        left_at_checkpoint = None
        if reached:
            left_at_checkpoint = int((part["is_left"] & (left_on.loc[part.index] <= pd.Timestamp(on))).sum())
        rows.append(
            {
                "Kohort": f"Kontrollpunkt {k}: de första {size} randomiserade",
                "Nådd": on if reached else None,
                "Randomiserade": len(part) if reached else None,
                "Lämnat när kontrollpunkten nåddes": left_at_checkpoint,
                "Lämnat t.o.m. datauttaget": int(part["is_left"].sum()) if reached else None,
            }
        )
    randomised_on = pd.to_datetime(participants["randomised_on"])
    for m in months:
        limit = pd.Timestamp(_months_before(cutoff, m))
        part = participants[randomised_on <= limit]
        rows.append(
            {
                "Kohort": f"Randomiserade minst {m} mån före datauttaget",
                "Nådd": None,
                "Randomiserade": len(part),
                "Lämnat när kontrollpunkten nåddes": None,
                "Lämnat t.o.m. datauttaget": int(part["is_left"].sum()),
            }
        )
    rows.append(
        {
            "Kohort": "Alla randomiserade",
            "Nådd": None,
            "Randomiserade": len(participants),
            "Lämnat när kontrollpunkten nåddes": None,
            "Lämnat t.o.m. datauttaget": int(participants["is_left"].sum()),
        }
    )
    out = pd.DataFrame(rows)
    out["Andel lämnat"] = [
        (lf / n) if (n and lf is not None and not pd.isna(lf)) else None
        for lf, n in zip(out["Lämnat t.o.m. datauttaget"], out["Randomiserade"], strict=True)
    ]
    for column in ["Randomiserade", "Lämnat när kontrollpunkten nåddes", "Lämnat t.o.m. datauttaget"]:
        out[column] = out[column].astype("Int64")
    return out


def cohorts_of(
    participants: pd.DataFrame,
    sizes: list[int],
    checkpoint_dates: dict[int, date],
    cutoff: date,
    months: tuple[int, ...] = (6, 12),
) -> list:
    """The cohorts of `cohort_attrition` that have members to show (reached checkpoints, the time
    cohorts) as `privacy.Cohort`s keyed by their "Kohort" label, over `participants`' rows in order:
    the joint suppression decides their "left" counts with the rest of the attrition figures."""
    from dashboard.privacy import Cohort

    out = []
    for k, size in enumerate(sizes, start=1):
        if checkpoint_dates.get(k) is not None:
            members = (participants["enrolment_rank"] <= size).to_numpy()
            out.append(Cohort(f"Kontrollpunkt {k}: de första {size} randomiserade", members, "checkpoint"))
    randomised_on = pd.to_datetime(participants["randomised_on"])
    for m in months:
        members = (randomised_on <= pd.Timestamp(_months_before(cutoff, m))).to_numpy()
        out.append(Cohort(f"Randomiserade minst {m} mån före datauttaget", members, "time"))
    return out


def hidden_by_scope(
    people: pd.DataFrame,
    rule,
    districts,
    *,
    sizes: list[int],
    reached_on: dict[int, date],
    cutoff: date | None,
    intervention_arm: str | None,
    frozen: pd.DataFrame | None = None,
    followups: pd.DataFrame | None = None,
) -> dict:
    """`privacy.attrition_hidden_scopes` for every participant of `districts` (all the viewer may
    see), with the Bortfall page's cohorts: the one decision the pages and the steering report use.
    `frozen`: the Balans checkpoints' frozen rows (`checkpoint`, `study_code`, `arm`) of these
    districts, whose group sizes per arm the role sees on Balans (`frozen_groups`). `followups`: the
    follow-up rows of these districts; their figures are decided in the same system
    (`privacy.followup_per_participant`) and their hidden keys returned under "followup"."""
    from dashboard import followup, privacy

    people = people.reset_index(drop=True)
    cohorts = cohorts_of(people, sizes, reached_on, cutoff) if cutoff is not None else []
    extra = None
    if followups is not None and len(followups) and rule is not None:
        extra = privacy.followup_per_participant(followups, people, districts, list(followup.STATUS_LABEL))
    out = privacy.attrition_hidden_scopes(
        people,
        rule,
        districts,
        intervention_arm=intervention_arm,
        cohorts=cohorts,
        public=frozen_groups(people, frozen),
        extra=extra,
    )
    hidden_fu = out.pop("extra", frozenset())
    if extra is not None and len(set(districts)) > privacy.MAX_JOINT_DISTRICTS:
        # beyond this the unit and district figures are hidden, not decided
        hidden_fu = hidden_fu | privacy.followup_hidden_beyond(followups, districts, list(followup.STATUS_LABEL))
    out["followup"] = frozenset(hidden_fu)
    return out


def frozen_groups(people: pd.DataFrame, frozen: pd.DataFrame | None) -> dict:
    """Balans's group sizes at each frozen checkpoint as masks over `people`'s rows: key
    (checkpoint, arm) → the participants counted in that tab's arm column. Balans shows them to every
    role (plain counts of randomisations), so the attrition decision takes them as known: with the
    cohorts' "left" and the arms' figures they could otherwise be differenced into a hidden count."""
    if frozen is None or frozen.empty or people.empty:
        return {}
    codes = people["study_code"].astype(str)
    out = {}
    for (k, arm), rows in frozen.groupby(["checkpoint", "arm"], sort=True):  # hashed look-ups (isin on text)
        out[(int(k), str(arm))] = codes.isin(set(rows["study_code"].astype(str))).to_numpy()
    return out


def _months_before(day: date, months: int) -> date:
    return day - timedelta(days=rounding.round_int(months * formats.DAYS_PER_MONTH))


def district_attrition(participants: pd.DataFrame, name: dict[str, str], with_stopped: bool = True) -> pd.DataFrame:
    """Per district: randomised, left the study, share left, and stopped IPS still in the study.
    One grouped sum per column (400 districts at scale 100), districts in order of first appearance."""
    if participants.empty:
        return pd.DataFrame()
    left_flag = participants["is_left"].astype(bool)
    groups = participants["district_id"]
    n = groups.groupby(groups, sort=False).size()
    left = left_flag.groupby(groups, sort=False).sum()
    out = pd.DataFrame(
        {
            "Stadsdel": [name.get(d, d) for d in n.index],
            "Randomiserade": n.to_numpy(dtype="int64"),
            "Lämnat studien": left.reindex(n.index).to_numpy(dtype="int64"),
        }
    )
    out["Andel lämnat"] = [
        lft / k if k else None for lft, k in zip(out["Lämnat studien"], out["Randomiserade"], strict=True)
    ]
    if with_stopped:
        still_in = (participants["is_stopped_ips"].astype(bool) & ~left_flag).groupby(groups, sort=False).sum()
        out["Avslutat IPS, kvar i studien"] = still_in.reindex(n.index).to_numpy(dtype="int64")
    return out


# --- reasons -----------------------------------------------------------------------------------------


def reason_counts(frame: pd.DataFrame, reason: str, by: str | None = None) -> pd.DataFrame:
    """Counts per reason (Swedish labels, most common first), with a column per `by` value."""
    if frame.empty:
        return pd.DataFrame(columns=["Orsak", "Antal"])
    labels = frame[reason].map(lambda k: vocab.EVENT_REASON.label(k) if isinstance(k, str) else "Uppgift saknas")
    out = labels.value_counts().rename_axis("Orsak").reset_index(name="Antal")
    if by is not None:
        wide = pd.crosstab(labels, frame[by])
        for column in sorted(wide.columns, key=str):
            out[str(column)] = out["Orsak"].map(wide[column]).fillna(0).astype(int)
    return out


def stopped_ips_counts(participants: pd.DataFrame) -> dict[str, int]:
    stopped = participants["is_stopped_ips"].astype(bool)
    left = participants["is_left"].astype(bool)
    return {
        "stopped": int(stopped.sum()),
        "still_in": int((stopped & ~left).sum()),
        "then_left": int((stopped & left).sum()),
    }


# --- headline, Kaplan–Meier and its chart ---------------------------------------------------------


def overall(participants: pd.DataFrame) -> dict[str, float | int]:
    """Left the study (either arm) as a share of randomised; stopped IPS reported separately."""
    n = len(participants)
    left = int(participants["is_left"].sum())
    return {
        "randomised": n,
        "left": left,
        "share_left": left / n if n else 0.0,
        "stopped_ips": int(participants["is_stopped_ips"].sum()),
    }


def kaplan_meier(frame: pd.DataFrame, group: str | None = None) -> pd.DataFrame:
    """Product-limit estimate of staying in the study, per group.

    `frame` needs `days_in_study` (randomisation to leaving, or to the cut-off) and `is_left`
    (True = left the study, False = still in at the cut-off, i.e. censored). Returns one row per
    group per distinct day: day, at_risk, events, censored, retention (step value from that day).
    """
    rows: list[dict] = []
    groups = [(None, frame)] if group is None else list(frame.groupby(group, dropna=False, sort=True))
    for key, part in groups:
        times = part["days_in_study"].astype(float).to_numpy()
        events = part["is_left"].astype(bool).to_numpy()
        at_risk = len(times)
        surv = 1.0
        label = "Alla" if group is None else ("Uppgift saknas" if pd.isna(key) else key)
        rows.append({"group": label, "day": 0.0, "at_risk": at_risk, "events": 0, "censored": 0, "retention": 1.0})
        for t in np.unique(times):
            d = int(((times == t) & events).sum())
            c = int(((times == t) & ~events).sum())
            if d:
                surv *= 1 - d / at_risk
            rows.append(
                {"group": label, "day": float(t), "at_risk": at_risk, "events": d, "censored": c, "retention": surv}
            )
            at_risk -= d + c
    return pd.DataFrame(rows, columns=["group", "day", "at_risk", "events", "censored", "retention"])


def retention_at(curve: pd.DataFrame, day: float) -> dict[str, float]:
    """Retention per group at `day` (last step at or before it)."""
    out = {}
    for label, part in curve.groupby("group", sort=False):
        before = part[part["day"] <= day]
        out[label] = float(before["retention"].iloc[-1]) if len(before) else 1.0
    return out


def reason_chart(frame: pd.DataFrame) -> alt.Chart:
    """Reasons for leaving, most common on top (`Orsak`, `Antal`)."""
    bars = (
        alt.Chart(frame)
        .mark_bar(color=charts.PALETTE[1])
        .encode(
            y=alt.Y("Orsak:N", sort="-x", title=""),
            x=alt.X("Antal:Q", title="Antal deltagare"),
            tooltip=["Orsak:N", "Antal:Q"],
        )
    )
    return charts.finish(
        alt.layer(bars, bars.mark_text(align="left", dx=4, color="#333").encode(text="Antal:Q")),
        28 * max(len(frame), 1) + 40,
    )


def cohort_chart(chart_data: pd.DataFrame, alert_level: float, expected_low: float, expected_high: float) -> alt.Chart:
    """Share who left per cohort (`Kohort`, `Andel lämnat`, `Randomiserade`) over the expected range
    (shaded) and the alert level (dashed)."""
    chart_data = chart_data.assign(**{"Andel (text)": formats.share_texts(chart_data["Andel lämnat"])})
    # The axis ends at the next 10 % above the largest share (at least 50 %), labelled on the server.
    top = max(0.5, math.ceil((float(chart_data["Andel lämnat"].max()) + 0.05) * 10) / 10)
    bars = (
        alt.Chart(chart_data)
        .mark_bar(color=charts.PALETTE[0])
        .encode(
            y=alt.Y("Kohort:N", sort=None, title="", axis=alt.Axis(labelLimit=340)),
            x=alt.X(
                "Andel lämnat:Q",
                title="Andel som lämnat studien",
                axis=charts.percent_axis(top),
                scale=alt.Scale(domain=[0, top]),
            ),
            tooltip=["Kohort:N", alt.Tooltip("Andel (text):N", title="Andel lämnat"), "Randomiserade:Q"],
        )
    )
    band = (
        alt.Chart(pd.DataFrame({"a": [expected_low], "b": [expected_high]}))
        .mark_rect(opacity=0.15, color="#c9a227")
        .encode(x="a:Q", x2="b:Q")
    )
    rule = alt.Chart(pd.DataFrame({"x": [alert_level]})).mark_rule(strokeDash=[6, 4], color="#b94a48").encode(x="x:Q")
    return charts.finish(alt.layer(band, bars, rule), 40 * len(chart_data) + 50)


def at_risk_days(longest: float) -> list[int]:
    """Regular points under the time axis for the number at risk: every 90 days, or every 180 when
    follow-up is longer than three years (published KM figures use 5–10 such points)."""
    step = 90 if longest <= 3 * 365 else 180
    return list(range(0, int(longest) + 1, step))


def at_risk(frame: pd.DataFrame, group: str | None, days: list[int]) -> pd.DataFrame:
    """Number still followed (at risk) at each of `days` per group: in the study at least that long
    (`group`, `day`, `at_risk`). Counted from `days_in_study` directly, the same definition as the
    curve's `at_risk` column at its steps."""
    groups = (
        [("Alla", frame)]
        if group is None
        else [
            ("Uppgift saknas" if pd.isna(key) else key, part)
            for key, part in frame.groupby(group, dropna=False, sort=True)
        ]
    )
    rows = []
    for label, part in groups:
        followed = part["days_in_study"].astype(float).to_numpy()
        for day in days:
            rows.append({"group": label, "day": day, "at_risk": int((followed >= day).sum())})
    return pd.DataFrame(rows, columns=["group", "day", "at_risk"])


def retention_chart(curve: pd.DataFrame, group_title: str, risk: pd.DataFrame | None = None) -> alt.Chart:
    """Kaplan–Meier steps per group and, under the time axis, the number at risk at regular points
    (`risk` from `at_risk`), on the same x scale, as published KM figures show it."""
    ticks = sorted(risk["day"].unique().tolist()) if risk is not None and len(risk) else None
    domain = [0, max(float(curve["day"].max()) if len(curve) else 0, ticks[-1] if ticks else 0)]
    x = alt.X(
        "day:Q",
        title="Dagar sedan randomisering",
        axis=alt.Axis(values=ticks) if ticks else alt.Axis(),
        scale=alt.Scale(domain=domain),
    )
    colour = alt.Color("group:N", title=group_title, scale=alt.Scale(range=charts.CATEGORY_COLOURS))
    # The share is rounded on the server (half up), never by a client-side percent format.
    curve = curve.assign(**{"Kvar (text)": formats.share_texts(curve["retention"])})
    lines = (
        alt.Chart(curve)
        .mark_line(interpolate="step-after", strokeWidth=2.5)
        .encode(
            x=x,
            y=alt.Y(
                "retention:Q", title="Andel kvar i studien", scale=alt.Scale(domain=[0, 1]), axis=charts.percent_axis()
            ),
            color=colour,
            tooltip=[
                alt.Tooltip("group:N", title=group_title),
                alt.Tooltip("day:Q", title="Dag"),
                alt.Tooltip("Kvar (text):N", title="Kvar"),
                alt.Tooltip("at_risk:Q", title="I risk"),
            ],
        )
        .properties(height=320)
    )
    if risk is None or risk.empty:
        return charts.finish(lines, 320)
    n_groups = risk["group"].nunique()
    numbers = (
        alt.Chart(risk)
        .mark_text(fontSize=13)
        .encode(
            x=alt.X("day:Q", title=None, axis=None, scale=alt.Scale(domain=domain)),
            # "I risk" beside each row's label: as a (vertical) axis title it had 30 px and read as noise.
            y=alt.Y(
                "group:N",
                title=None,
                axis=alt.Axis(
                    labelLimit=260, labelPadding=18, domain=False, ticks=False, labelExpr="'I risk · ' + datum.label"
                ),
            ),
            text="at_risk:Q",
            color=alt.Color("group:N", legend=None, scale=alt.Scale(range=charts.CATEGORY_COLOURS)),
        )
        .properties(height=22 * n_groups + 8)
    )
    return charts.configure(alt.vconcat(lines, numbers, spacing=6).resolve_scale(x="shared", color="shared"))
