"""Headline figures shared by the overview, the pages and the reports (pure functions on frames)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from dashboard import transforms as tf
from schema import vocab
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


def wait_summary(values: pd.Series) -> dict[str, float | int | None]:
    v = pd.to_numeric(values, errors="coerce").dropna()
    if v.empty:
        return {"n": 0, "Median": None, "Q1": None, "Q3": None}
    # numpy directly (what pandas' median and linear quantile compute): called once per district.
    a = v.to_numpy(dtype="float64")
    return {
        "n": int(len(a)),
        "Median": float(np.median(a)),
        "Q1": float(np.quantile(a, 0.25)),
        "Q3": float(np.quantile(a, 0.75)),
    }


def district_accrual_table(
    participants: pd.DataFrame, config: StudyConfig, district_ids: tuple[str, ...]
) -> tuple[pd.DataFrame, dict[str, tf.Projection]]:
    """accrualPlot's summary table per district plus the projected date with its interval."""
    cutoff = config.data_cutoff
    rows, projections = [], {}
    by_id = {d.id: d for d in config.districts}
    groups = dict(iter(participants.groupby("district_id", sort=False)))  # one pass, not one per district
    for district_id in district_ids:
        d = by_id[district_id]
        part = groups.get(district_id, participants.iloc[0:0])
        end = min(d.end or cutoff, cutoff)
        months_active = max((end - d.start).days / tf.DAYS_PER_MONTH, 0)
        n = len(part)
        proj = tf.project_accrual(part["randomised_on"], d.target, cutoff, d.start)
        projections[district_id] = proj
        rows.append(
            {
                "Stadsdel": d.display_name(),
                "Start": d.start,
                "Månader aktiv": round(months_active, 1),
                "Randomiserade": n,
                "Per månad": round(n / months_active, 1) if months_active else None,
                "Mål": d.target,
                "Andel av mål (%)": round(100 * n / d.target, 1) if d.target else None,
                "Prognos mål nås": _projection_text(proj),
            }
        )
    return pd.DataFrame(rows), projections


def _projection_text(p: tf.Projection) -> str:
    if p.reached_on:
        return f"nått {p.reached_on.isoformat()}"
    if p.median is None:
        return "kan inte beräknas (ingen rekrytering senaste 12 mån)"
    return f"{tf.month_label(p.median)} ({tf.month_label(p.low)}–{tf.month_label(p.high)})"


def projection_text(p: tf.Projection) -> str:
    return _projection_text(p)


def attrition(participants: pd.DataFrame) -> dict[str, float | int]:
    """Left the study (either arm) as a share of randomised; stopped IPS reported separately."""
    n = len(participants)
    left = int(participants["is_left"].sum())
    return {
        "randomised": n,
        "left": left,
        "share_left": left / n if n else 0.0,
        "stopped_ips": int(participants["is_stopped_ips"].sum()),
    }


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


def months_between(a: date, b: date) -> float:
    return (b - a).days / tf.DAYS_PER_MONTH


# --- follow-up -----------------------------------------------------------------------------------

FOLLOWUP_STATUS = [
    ("done_on_time", "Genomförd i tid"),
    ("done_late", "Genomförd sent"),
    ("due", "Aktuell (i fönstret)"),
    ("overdue", "Försenad"),
    ("missed", "Missad"),
    ("not_due", "Ej aktuell än"),
]
FOLLOWUP_LABEL = dict(FOLLOWUP_STATUS)
CLOSED_WINDOW = {"done_on_time", "done_late", "overdue", "missed"}


def followup_completion(followups: pd.DataFrame) -> dict[str, int | float | None]:
    """Completion among follow-ups whose window has closed (or that were done already).

    Denominator: done (on time or late), overdue and missed; follow-ups not yet due, in an open
    window without result, or not applicable (participant left before the window) are excluded.
    """
    status = followups["status"]
    done = int(status.isin(["done_on_time", "done_late"]).sum())
    closed = int(status.isin(list(CLOSED_WINDOW)).sum())
    return {
        "done": done,
        "eligible": closed,
        "rate": done / closed if closed else None,
        "overdue": int((status == "overdue").sum()),
        "due": int((status == "due").sum()),
    }


# --- caseload --------------------------------------------------------------------------------------


def caseload_at(on_day: pd.DataFrame) -> pd.Series:
    """Active caseload per specialist from `queries.caseload_by_district_on` for one day, summed
    over the viewer's districts (0 for specialists in service without participants)."""
    return on_day.groupby("specialist_id")["active_n"].sum()


def districts_short_of_specialists(roster: pd.DataFrame, config: StudyConfig, district_ids) -> list[str]:
    """Districts with fewer active specialists at the cut-off than the configured minimum."""
    active = roster[roster["is_active_at_cutoff"]]
    per_district = active.groupby("district_id")["specialist_id"].nunique()
    need = config.caseload.min_specialists_per_district
    return [d for d in district_ids if int(per_district.get(d, 0)) < need]
