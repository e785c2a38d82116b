"""Pure calculations behind the pages: no Streamlit, no SQL, DataFrames in and out.

Each function is small enough to test against a hand count, and the statistics follow the
standard references named in their docstrings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from schema import vocab

# --- accrual projection -------------------------------------------------------------------------

DAYS_PER_MONTH = 365.25 / 12


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
    days = pd.to_datetime(pd.Series(randomised_on)).dt.date
    n_total = int(days.notna().sum())
    if n_total >= target > 0:
        reached = sorted(d for d in days if d is not None)[target - 1]
        return Projection(n_total, target, None, None, reached_on=reached)
    window_start = max(start, cutoff - timedelta(days=round(window_months * DAYS_PER_MONTH)))
    exposure = (cutoff - window_start).days + 1
    n_window = int(sum(1 for d in days if d is not None and window_start <= d <= cutoff))
    if n_window == 0 or exposure <= 0:
        return Projection(n_total, target, 0.0 if exposure > 0 else None, window_start)
    remaining = target - n_total
    rng = np.random.default_rng(seed)
    rate = rng.gamma(shape=n_window, scale=1.0 / exposure, size=draws)  # per day
    wait = rng.gamma(shape=remaining, scale=1.0 / rate)
    q10, q50, q90 = np.quantile(wait, [0.1, 0.5, 0.9])
    rate_month = n_window / exposure * DAYS_PER_MONTH
    return Projection(
        n_total,
        target,
        rate_month,
        window_start,
        median=cutoff + timedelta(days=float(q50)),
        low=cutoff + timedelta(days=float(q10)),
        high=cutoff + timedelta(days=float(q90)),
    )


# --- Kaplan–Meier retention -----------------------------------------------------------------------


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


# --- balance: standardised mean differences -------------------------------------------------------


def smd_continuous(a: pd.Series, b: pd.Series) -> float | None:
    a, b = a.dropna().astype(float), b.dropna().astype(float)
    if len(a) < 2 or len(b) < 2:
        return None
    pooled = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    if pooled == 0:
        return 0.0
    return abs(a.mean() - b.mean()) / pooled


def smd_categorical(a: pd.Series, b: pd.Series) -> float | None:
    """Multivariate SMD for a categorical variable (Yang & Dalton 2012), as R's tableone reports.

    For two levels this equals the usual |p1 − p2| / sqrt((p1(1−p1) + p2(1−p2)) / 2).
    """
    a, b = a.dropna(), b.dropna()
    if len(a) == 0 or len(b) == 0:
        return None
    levels = sorted(set(a) | set(b), key=str)
    if len(levels) < 2:
        return 0.0
    p1 = np.array([(a == lv).mean() for lv in levels[1:]])
    p2 = np.array([(b == lv).mean() for lv in levels[1:]])
    diff = p1 - p2
    cov = -(np.outer(p1, p1) + np.outer(p2, p2)) / 2
    np.fill_diagonal(cov, (p1 * (1 - p1) + p2 * (1 - p2)) / 2)
    if not np.any(diff):
        return 0.0
    try:
        value = float(diff @ np.linalg.pinv(cov) @ diff)
    except np.linalg.LinAlgError:
        return None
    return math.sqrt(max(value, 0.0))


# The baseline characteristics compared between arms, in the order of the interim report's Table 1.
# (column, Swedish label, vocabulary or None for continuous)
BASELINE_VARIABLES: list[tuple[str, str, vocab.Vocabulary | None]] = [
    ("age", "Ålder (år)", None),
    ("gender", "Kön", vocab.GENDER),
    ("civil_status", "Civilstånd", vocab.CIVIL_STATUS),
    ("born_in_sweden", "Född i Sverige", vocab.YES_NO),
    ("education", "Utbildningsnivå", vocab.EDUCATION),
    ("housing", "Boende", vocab.HOUSING),
    ("income_source", "Inkomstkälla senaste 30 d.", vocab.INCOME),
    ("used_drugs_ever", "Använt narkotika", vocab.YES_NO),
    ("drugs_30d", "Använt narkotika senaste 30 d.", vocab.YES_NO),
    ("alcohol_30d", "Druckit alkohol senaste 30 d.", vocab.YES_NO),
    ("sud_treatment_ever", "Behandling missbruk/beroende någon gång", vocab.YES_NO),
    ("legal_problems_30d", "Rättsliga problem senaste 30 d.", vocab.YES_NO),
    ("psychiatric_diagnosis", "Psykiatrisk diagnos", vocab.YES_NO),
    ("mental_health_treatment", "Behandling för psykisk ohälsa någon gång", vocab.YES_NO),
    ("worked_before", "Lönearbete tidigare i livet", vocab.YES_NO),
    ("longest_job_5y", "Längsta lönearbete 5 år eller mer", vocab.YES_NO),
]


def smd_table(participants: pd.DataFrame, arm_a: str, arm_b: str) -> pd.DataFrame:
    """One row per baseline characteristic: SMD between the two arms and n with data."""
    a = participants[participants["arm"] == arm_a]
    b = participants[participants["arm"] == arm_b]
    rows = []
    for column, label, voc in BASELINE_VARIABLES:
        smd = smd_continuous(a[column], b[column]) if voc is None else smd_categorical(a[column], b[column])
        rows.append(
            {
                "variable": column,
                "Egenskap": label,
                "SMD": smd,
                "n med uppgift": int(participants[column].notna().sum()),
            }
        )
    return pd.DataFrame(rows)


def baseline_table(participants: pd.DataFrame, arms: list[str]) -> pd.DataFrame:
    """The interim report's Table 1: n and % per row, total and per arm.

    Percentages use the number with data for that characteristic as denominator, which is shown
    as "(n=…)" in the row label when some answers are missing, as in the report.
    """
    groups = [("Totalt", participants)] + [(arm, participants[participants["arm"] == arm]) for arm in arms]
    rows: list[dict] = []
    for column, label, voc in BASELINE_VARIABLES:
        with_data = int(participants[column].notna().sum())
        suffix = f" (n={with_data})" if with_data < len(participants) else ""
        if voc is None:
            row = {"Egenskap": f"{label}, medelvärde (spridning){suffix}", "Nivå": ""}
            for name, part in groups:
                values = part[column].dropna()
                row[f"{name} n"] = int(len(values))
                row[f"{name} %"] = (
                    f"{values.mean():.0f} ({values.min():.0f}–{values.max():.0f})" if len(values) else "–"
                )
            rows.append(row)
            continue
        for key in voc.keys:
            row = {"Egenskap": f"{label}{suffix}", "Nivå": voc.label(key)}
            for name, part in groups:
                known = part[column].dropna()
                count = int((known == key).sum())
                row[f"{name} n"] = count
                row[f"{name} %"] = f"{100 * count / len(known):.0f}" if len(known) else "–"
            rows.append(row)
    return pd.DataFrame(rows)


def checkpoint_sizes(target: int, checkpoints: int = 3) -> list[int]:
    """Number randomised at each checkpoint: each third (by default) of the target, rounded up."""
    return [math.ceil(target * k / checkpoints) for k in range(1, checkpoints + 1)]


# --- fidelity -------------------------------------------------------------------------------------


def fidelity_reviews(items: pd.DataFrame) -> pd.DataFrame:
    """One row per review: section subtotals, total, band and whether the review is complete."""
    rows = []
    for reviewed_on, part in items.groupby("reviewed_on", sort=True):
        row = {"reviewed_on": reviewed_on}
        for section, label in vocab.FIDELITY_SECTIONS.items():
            row[label] = int(part.loc[part["section_key"] == section, "score"].sum())
        total = int(part["score"].sum())
        band_key, band_label = vocab.fidelity_band(total)
        row.update(
            {"Totalt": total, "band": band_key, "Nivå": band_label, "complete": len(part) == len(vocab.FIDELITY_ITEMS)}
        )
        rows.append(row)
    return pd.DataFrame(rows)


# --- formatting helpers ---------------------------------------------------------------------------


def pct(part: float, whole: float, digits: int = 0) -> str:
    if not whole:
        return "–"
    return f"{100 * part / whole:.{digits}f} %".replace(".", ",")


def month_label(d: date) -> str:
    months = ["jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"]
    return f"{months[d.month - 1]} {d.year}"


def sv_date(d: date | None) -> str:
    return d.isoformat() if d else "–"
