"""Pure calculations and chart builders for the operations pages: ASI follow-up, caseload and
fidelity. DataFrames in, DataFrames (or Altair charts) out; no Streamlit, no SQL."""

from __future__ import annotations

from datetime import date

import altair as alt
import numpy as np
import pandas as pd

from dashboard import charts, metrics
from dashboard import transforms as tf
from schema import vocab
from schema.config import FollowUp

# --- follow-up ------------------------------------------------------------------------------------

NOT_APPLICABLE_LABEL = "Ej tillämplig"
# Table order: the life of a follow-up, then the one outside the denominator.
STATUS_TABLE = [
    ("not_due", "Ej aktuell än"),
    ("due", "Aktuell (i fönstret)"),
    ("done_on_time", "Genomförd i tid"),
    ("done_late", "Genomförd sent"),
    ("overdue", "Försenad"),
    ("missed", "Missad"),
    ("not_applicable", NOT_APPLICABLE_LABEL),
]
DUE_SOON_LABEL = "Förfaller snart"


def timepoint_label(months: int) -> str:
    return f"{int(months)} mån"


def window_text(followup: FollowUp) -> str:
    """The follow-up window in words, from the configuration."""
    return (
        f"fönster: {followup.window_before_days} dagar före till {followup.window_after_days} dagar "
        f"efter förfallodagen; ej gjord {followup.missed_after_days} dagar efter fönstret räknas som missad"
    )


def status_table(followups: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """One row per group in `by`, one count column per status (Swedish labels) and a total."""
    labels = dict(STATUS_TABLE)
    if followups.empty:
        return pd.DataFrame(columns=[*by, *labels.values(), "Totalt"])
    wide = (
        followups.groupby([*by, "status"])
        .size()
        .unstack("status", fill_value=0)
        .reindex(columns=list(labels), fill_value=0)
        .rename(columns=labels)
        .reset_index()
    )
    wide.columns.name = None
    wide["Totalt"] = wide[list(labels.values())].sum(axis=1)
    return wide


def status_long(followups: pd.DataFrame, x: str) -> pd.DataFrame:
    """Counts per `x` and status for the stacked chart (not_applicable left out: outside the schedule)."""
    order = {key: i for i, (key, _) in enumerate(metrics.FOLLOWUP_STATUS)}
    part = followups[followups["status"].isin(order)]
    if part.empty:
        return pd.DataFrame(columns=[x, "Status", "Antal", "order"])
    long = part.groupby([x, "status"]).size().reset_index(name="Antal")
    long["Status"] = long["status"].map(metrics.FOLLOWUP_LABEL)
    long["order"] = long["status"].map(order)
    return long[[x, "Status", "Antal", "order"]]


def completion_by_quarter(followups: pd.DataFrame) -> pd.DataFrame:
    """metrics.followup_completion per quarter of the due date; quarters without a closed window
    are left out."""
    rows = []
    if followups.empty:
        return pd.DataFrame(columns=["Kvartal", "Genomförda", "Stängda fönster", "Andel genomförda"])
    quarters = pd.to_datetime(followups["due_on"]).dt.to_period("Q")
    for quarter, part in followups.groupby(quarters, sort=True):
        c = metrics.followup_completion(part)
        if c["eligible"]:
            rows.append(
                {
                    "Kvartal": f"{quarter.year} K{quarter.quarter}",
                    "Genomförda": c["done"],
                    "Stängda fönster": c["eligible"],
                    "Andel genomförda": c["rate"],
                }
            )
    return pd.DataFrame(rows, columns=["Kvartal", "Genomförda", "Stängda fönster", "Andel genomförda"])


def action_list(followups: pd.DataFrame, cutoff: date, due_soon_days: int) -> pd.DataFrame:
    """Follow-ups to act on: window open (due), window closed but not yet missed (overdue), or
    due date within `due_soon_days` of the cut-off. Study code only; most overdue first.

    Automatically missed follow-ups (not done long after the window) are not on the list: they
    can no longer be done in a usable way and are counted as missed instead.
    """
    columns = ["Studiekod", "Enhet", "Tidpunkt", "Förfallodag", "Fönster", "Dagar försenad", "Status"]
    if followups.empty:
        return pd.DataFrame(columns=columns)
    # The rule lives in one place, etl/sql/30_followup_status.sql (is_on_action_list); the
    # arguments are kept for the page's wording.
    part = followups[followups["is_on_action_list"].astype(bool)].copy()
    if part.empty:
        return pd.DataFrame(columns=columns)
    part["_days"] = pd.to_numeric(part["days_overdue"], errors="coerce")
    part = part.sort_values(
        ["_days", "due_on", "study_code", "timepoint_months"], ascending=[False, True, True, True], na_position="last"
    )
    labels = {**metrics.FOLLOWUP_LABEL, "not_due": DUE_SOON_LABEL}
    out = pd.DataFrame(
        {
            "Studiekod": part["study_code"],
            "Enhet": part["unit"],
            "Tidpunkt": part["timepoint_months"].map(timepoint_label),
            "Förfallodag": pd.to_datetime(part["due_on"]).dt.date,
            "Fönster": [
                f"{pd.Timestamp(a):%Y-%m-%d} – {pd.Timestamp(b):%Y-%m-%d}"
                for a, b in zip(part["window_start"], part["window_end"], strict=True)
            ],
            "Dagar försenad": part["_days"].astype("float"),  # NaN shows as an empty cell, not "None"
            "Status": part["status"].map(labels),
        }
    )
    return out.reset_index(drop=True)


def stacked_status_chart(frame: pd.DataFrame, x: str, x_title: str, x_order: list[str]) -> alt.Chart:
    """Follow-up status counts stacked per `x` in the given order (`Status`, `Antal`, `order`).
    Like charts.stacked_status, but keeps "6 mån" before "12 mån"."""
    colours = charts.STATUS_COLOURS
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(f"{x}:N", title=x_title, sort=x_order, axis=alt.Axis(labelAngle=0, labelLimit=220)),
            y=alt.Y("Antal:Q", title="Antal uppföljningar"),
            color=alt.Color(
                "Status:N",
                scale=alt.Scale(domain=list(colours), range=list(colours.values())),
                legend=alt.Legend(columns=3),
            ),
            order=alt.Order("order:Q"),
            tooltip=[f"{x}:N", "Status:N", "Antal:Q"],
        )
    )
    return _finish(chart, 300)


def completion_chart(frame: pd.DataFrame) -> alt.Chart:
    """Share done per quarter of due date (`Kvartal`, `Andel genomförda`, counts in the tooltip)."""
    bars = (
        alt.Chart(frame)
        .mark_bar(color="#3a9d5d")
        .encode(
            x=alt.X("Kvartal:N", title="Förfallodagens kvartal", sort=None),
            y=alt.Y(
                "Andel genomförda:Q",
                title="Andel genomförda",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%"),
            ),
            tooltip=["Kvartal:N", alt.Tooltip("Andel genomförda:Q", format=".0%"), "Genomförda:Q", "Stängda fönster:Q"],
        )
    )
    text = bars.mark_text(dy=-6, color="#333").encode(text=alt.Text("Andel genomförda:Q", format=".0%"))
    return _finish(alt.layer(bars, text), 260)


# --- caseload -------------------------------------------------------------------------------------

# IPS fidelity item 1 (Klientgruppens storlek): highest caseload per full-time specialist for each score.
CASELOAD_BANDS: list[tuple[float, int]] = [(20, 5), (22, 4), (24, 3), (25, 2)]
MAX_DAILY_ROWS = 20_000  # above this the chart shows the weekly maximum instead of every day
MAX_CHART_SPECIALISTS = 10


def caseload_points(per_fte: float) -> int:
    """Score on fidelity item 1 for a caseload scaled to full time: ≤20 → 5, 21–22 → 4, 23–24 → 3,
    25 → 2, ≥26 → 1 (fractions fall in the band above: 20.5 is more than 20)."""
    for highest, points in CASELOAD_BANDS:
        if per_fte <= highest:
            return points
    return 1


def band_text(points: int) -> str:
    ranges = {5: "≤ 20", 4: "21–22", 3: "23–24", 2: "25", 1: "≥ 26"}
    return f"{points} p ({ranges[points]} per heltid)"


def roster_periods(roster: pd.DataFrame) -> pd.DataFrame:
    """One row per specialist per roster period (the roster has one per district served)."""
    cols = ["specialist_id", "start_on", "end_on", "employment_pct"]
    return roster[cols].drop_duplicates().sort_values(["specialist_id", "start_on"]).reset_index(drop=True)


def attach_fte(caseload: pd.DataFrame, roster: pd.DataFrame) -> pd.DataFrame:
    """Add `fte` (employment share on that day, from the roster period that started last) and
    `per_fte` (caseload scaled to full time)."""
    out = caseload.copy()
    out["day"] = pd.to_datetime(out["day"])
    if out.empty:
        return out.assign(fte=pd.Series(dtype=float), per_fte=pd.Series(dtype=float))
    periods = roster_periods(roster)
    periods = periods.assign(
        start_on=pd.to_datetime(periods["start_on"]).astype(out["day"].dtype), fte=periods["employment_pct"] / 100
    )
    merged = pd.merge_asof(
        out.sort_values("day"),
        periods[["specialist_id", "start_on", "fte"]].sort_values("start_on"),
        left_on="day",
        right_on="start_on",
        by="specialist_id",
        direction="backward",
    )
    first = periods.groupby("specialist_id")["fte"].first()
    merged["fte"] = merged["fte"].fillna(merged["specialist_id"].map(first)).fillna(1.0)
    merged["per_fte"] = merged["active_n"] / merged["fte"]
    return merged.drop(columns=["start_on"]).sort_values(["specialist_id", "day"]).reset_index(drop=True)


def caseload_summary(
    caseload: pd.DataFrame,
    roster: pd.DataFrame,
    cutoff: date,
    cap: int,
    start: date | None = None,
    end: date | None = None,
) -> pd.DataFrame:
    """Per specialist: caseload at the cut-off, per full time and its fidelity band; the highest
    caseload and the days above the cap between `start` and `end` (default: all days given)."""
    columns = [
        "Arbetsspecialist",
        "Aktiva vid datauttaget",
        "Tjänstgöringsgrad %",
        "Per heltid",
        "Programtrohet punkt 1",
        "Högsta antal",
        "Dag med högsta antal",
        "Dagar över taket",
    ]
    if caseload.empty:
        return pd.DataFrame(columns=columns)
    data = attach_fte(caseload, roster)
    lo = pd.Timestamp(start) if start else data["day"].min()
    hi = pd.Timestamp(end) if end else data["day"].max()
    # One pass per measure over all specialists (not one filter per specialist).
    specialists = sorted(data["specialist_id"].unique())
    at_cutoff = data[data["day"] == pd.Timestamp(cutoff)].groupby("specialist_id", sort=False)
    active_at = at_cutoff["active_n"].sum()
    fte_at = at_cutoff["fte"].first()
    ranged = data[(data["day"] >= lo) & (data["day"] <= hi)]
    peak_at = ranged.groupby("specialist_id", sort=False)["active_n"].idxmax()
    over = (ranged["active_n"] > cap).groupby(ranged["specialist_id"], sort=False).sum()
    rows = []
    for specialist in specialists:
        active = int(active_at[specialist]) if specialist in active_at.index else None
        fte = float(fte_at[specialist]) if specialist in fte_at.index else None
        per_fte = active / fte if active is not None and fte else None
        peak = data.loc[peak_at[specialist]] if specialist in peak_at.index else None
        rows.append(
            {
                "Arbetsspecialist": specialist,
                "Aktiva vid datauttaget": active,
                "Tjänstgöringsgrad %": round(fte * 100) if fte is not None else None,
                "Per heltid": round(per_fte, 1) if per_fte is not None else None,
                "Programtrohet punkt 1": band_text(caseload_points(per_fte)) if per_fte is not None else "ej i tjänst",
                "Högsta antal": int(peak["active_n"]) if peak is not None else None,
                "Dag med högsta antal": pd.Timestamp(peak["day"]).date() if peak is not None else None,
                "Dagar över taket": int(over.get(specialist, 0)),
            }
        )
    out = pd.DataFrame(rows, columns=columns)
    for column in ["Aktiva vid datauttaget", "Tjänstgöringsgrad %", "Högsta antal"]:
        out[column] = out[column].astype("Int64")
    return out


def caseload_summary_agg(agg: pd.DataFrame, roster: pd.DataFrame, cutoff: date) -> pd.DataFrame:
    """`caseload_summary` from the store's per-specialist aggregate (`queries.caseload_specialist_summary`:
    `specialist_id`, `active_at`, `peak`, `peak_day`, `over_n`) instead of every daily row."""
    columns = [
        "Arbetsspecialist",
        "Aktiva vid datauttaget",
        "Tjänstgöringsgrad %",
        "Per heltid",
        "Programtrohet punkt 1",
        "Högsta antal",
        "Dag med högsta antal",
        "Dagar över taket",
    ]
    if agg.empty:
        return pd.DataFrame(columns=columns)
    on_cutoff = agg[agg["active_at"].notna()]
    fte_at = attach_fte(
        pd.DataFrame(
            {
                "specialist_id": on_cutoff["specialist_id"],
                "day": pd.Timestamp(cutoff),
                "active_n": on_cutoff["active_at"],
            }
        ),
        roster,
    )
    fte_at = fte_at.set_index("specialist_id")["fte"]
    rows = []
    for row in agg.itertuples(index=False):
        active = int(row.active_at) if pd.notna(row.active_at) else None
        fte = float(fte_at[row.specialist_id]) if row.specialist_id in fte_at.index else None
        per_fte = active / fte if active is not None and fte else None
        has_peak = pd.notna(row.peak)
        rows.append(
            {
                "Arbetsspecialist": row.specialist_id,
                "Aktiva vid datauttaget": active,
                "Tjänstgöringsgrad %": round(fte * 100) if fte is not None else None,
                "Per heltid": round(per_fte, 1) if per_fte is not None else None,
                "Programtrohet punkt 1": band_text(caseload_points(per_fte)) if per_fte is not None else "ej i tjänst",
                "Högsta antal": int(row.peak) if has_peak else None,
                "Dag med högsta antal": pd.Timestamp(row.peak_day).date() if has_peak else None,
                "Dagar över taket": int(row.over_n),
            }
        )
    out = pd.DataFrame(rows, columns=columns)
    for column in ["Aktiva vid datauttaget", "Tjänstgöringsgrad %", "Högsta antal"]:
        out[column] = out[column].astype("Int64")
    return out


def chart_series(caseload: pd.DataFrame, max_rows: int = MAX_DAILY_ROWS) -> tuple[pd.DataFrame, bool]:
    """The caseload for the chart: every day, or each week's maximum when there are many rows.
    Returns (frame with `Arbetsspecialist`, `day`, `active_n`, `per_fte`, weekly?)."""
    frame = caseload.rename(columns={"specialist_id": "Arbetsspecialist"})
    if len(frame) <= max_rows:
        return frame, False
    week = frame["day"].dt.to_period("W-SUN").dt.start_time
    weekly = (
        frame.assign(day=week)
        .groupby(["Arbetsspecialist", "day"], as_index=False)
        .agg(active_n=("active_n", "max"), per_fte=("per_fte", "max"))
    )
    return weekly, True


def caseload_chart(frame: pd.DataFrame, cap: int, per_fte: bool) -> alt.Chart:
    """Caseload lines per specialist over the fidelity bands (background) and the cap (dashed)."""
    field = "per_fte" if per_fte else "active_n"
    top = max(float(frame[field].max()) if len(frame) else 0, 27)
    bands = pd.DataFrame(
        [
            {"from": 0, "to": 20, "Band": "5 p (≤ 20)"},
            {"from": 20, "to": 22, "Band": "4 p (21–22)"},
            {"from": 22, "to": 24, "Band": "3 p (23–24)"},
            {"from": 24, "to": 25, "Band": "2 p (25)"},
            {"from": 25, "to": top, "Band": "1 p (≥ 26)"},
        ]
    )
    background = (
        alt.Chart(bands)
        .mark_rect(opacity=0.18)
        .encode(
            y=alt.Y("from:Q"),
            y2="to:Q",
            color=alt.Color(
                "Band:N",
                title="Programtrohet punkt 1 (per heltid)",
                scale=alt.Scale(
                    domain=list(bands["Band"]), range=["#3a9d5d", "#9cc9a9", "#c9a227", "#e07b39", "#b94a48"]
                ),
            ),
            tooltip=alt.Tooltip("Band:N", title="Band (per heltid)"),
        )
    )
    lines = (
        alt.Chart(frame)
        .mark_line(interpolate="step-after")
        .encode(
            x=alt.X("day:T", title="Datum", axis=alt.Axis(format="%b %Y")),
            y=alt.Y(
                f"{field}:Q",
                title="Aktiva deltagare per heltid" if per_fte else "Aktiva deltagare",
                scale=alt.Scale(domain=[0, top]),
            ),
            tooltip=[
                "Arbetsspecialist:N",
                alt.Tooltip("day:T", title="Datum", format="%Y-%m-%d"),
                alt.Tooltip("active_n:Q", title="Aktiva"),
                alt.Tooltip("per_fte:Q", title="Per heltid", format=".1f"),
            ],
        )
    )
    labelled = lines.encode(
        color=alt.Color("Arbetsspecialist:N", title="Arbetsspecialist", scale=alt.Scale(scheme="tableau10"))
    )
    rule = (
        alt.Chart(pd.DataFrame({"cap": [cap], "label": [f"Tak {cap} deltagare"]}))
        .mark_rule(strokeDash=[6, 4], color="#b94a48", size=2)
        .encode(y="cap:Q", tooltip=alt.Tooltip("label:N", title=""))
    )
    layers = [background, labelled] + ([] if per_fte else [rule])
    return _finish(alt.layer(*layers).resolve_scale(color="independent"), 340)


def daily_staffing(
    roster: pd.DataFrame, district_ids: tuple[str, ...], start: date, end: date
) -> tuple[pd.DatetimeIndex, dict[str, np.ndarray]]:
    """Specialists on the roster per district on every day from `start` to `end`: the days and, per
    district, an array of counts (a roster row counts from its start to its end, or to `end`)."""
    days = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="D")
    out = {d: np.zeros(len(days), dtype=np.int64) for d in district_ids}
    if not len(days) or roster.empty:
        return days, out
    part = roster[roster["district_id"].isin(list(district_ids))]
    first = pd.to_datetime(part["start_on"]).to_numpy(dtype="datetime64[ns]")
    last = pd.to_datetime(part["end_on"]).fillna(pd.Timestamp(end)).to_numpy(dtype="datetime64[ns]")
    axis = days.to_numpy(dtype="datetime64[ns]")
    lo = np.searchsorted(axis, first, side="left")
    hi = np.searchsorted(axis, last, side="right")
    for district_id, a, b in zip(part["district_id"], lo, hi, strict=True):
        if a < b:
            diff = out[district_id]
            diff[a] += 1
            if b < len(days):
                diff[b] -= 1
    return days, {d: np.cumsum(diff) for d, diff in out.items()}


def staffing_over_time(roster: pd.DataFrame, district_ids: tuple[str, ...], start: date, end: date) -> pd.DataFrame:
    """Specialists on the roster per district on each day from `start` to `end` (`district_id`,
    `day`, `n`), one row per district per change (and at both ends)."""
    days, counts = daily_staffing(roster, district_ids, start, end)
    frames = []
    for district_id in district_ids:
        if not len(days):
            continue
        c = counts[district_id]
        keep = np.ones(len(c), dtype=bool)
        keep[1:] = c[1:] != c[:-1]
        keep[-1] = True
        frames.append(pd.DataFrame({"district_id": district_id, "day": days[keep], "n": c[keep].astype(int)}))
    if not frames:
        return pd.DataFrame(columns=["district_id", "day", "n"])
    return pd.concat(frames, ignore_index=True)[["district_id", "day", "n"]]


def days_below(roster: pd.DataFrame, district_id: str, start: date, end: date, need: int) -> int:
    """Days from `start` to `end` (inclusive) with fewer than `need` specialists in the district."""
    return days_below_many(roster, {district_id: start}, end, need)[district_id]


def days_below_many(roster: pd.DataFrame, starts: dict[str, date], end: date, need: int) -> dict[str, int]:
    """`days_below` for several districts at once, each from its own start day to `end`."""
    out = {d: 0 for d in starts}
    valid = {d: s for d, s in starts.items() if s <= end}
    if not valid:
        return out
    first = min(valid.values())
    days, counts = daily_staffing(roster, tuple(valid), first, end)
    for district_id, from_day in valid.items():
        i = int(np.searchsorted(days.to_numpy(), np.datetime64(pd.Timestamp(from_day)), side="left"))
        out[district_id] = int((counts[district_id][i:] < need).sum())
    return out


def staffing_chart(frame: pd.DataFrame, need: int) -> alt.Chart:
    lines = (
        alt.Chart(frame)
        .mark_line(interpolate="step-after", point=False)
        .encode(
            x=alt.X("day:T", title="Datum", axis=alt.Axis(format="%b %Y")),
            y=alt.Y("n:Q", title="Arbetsspecialister", axis=alt.Axis(tickMinStep=1)),
            color=alt.Color("Stadsdel:N", scale=alt.Scale(scheme="tableau10")),
            tooltip=[
                "Stadsdel:N",
                alt.Tooltip("day:T", title="Från", format="%Y-%m-%d"),
                alt.Tooltip("n:Q", title="Antal"),
            ],
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"need": [need], "label": [f"Minst {need} per stadsdel"]}))
        .mark_rule(strokeDash=[6, 4], color="#b94a48")
        .encode(y="need:Q", tooltip=alt.Tooltip("label:N", title=""))
    )
    return _finish(alt.layer(lines, rule), 240)


def shared_specialists(roster: pd.DataFrame, name_of) -> pd.DataFrame:
    """Specialists whose roster period covers more than one district."""
    shared = roster[roster["n_districts"] > 1]
    rows = []
    for (specialist, start, end, pct), part in shared.groupby(
        ["specialist_id", "start_on", "end_on", "employment_pct"], dropna=False, sort=True
    ):
        rows.append(
            {
                "Arbetsspecialist": specialist,
                "Stadsdelar": ", ".join(name_of(d) for d in part["district_id"]),
                "Antal stadsdelar": int(part["n_districts"].iloc[0]),
                "Tjänstgöringsgrad %": int(pct),
                "Från": pd.Timestamp(start).date(),
                "Till": pd.Timestamp(end).date() if pd.notna(end) else None,
            }
        )
    return pd.DataFrame(
        rows, columns=["Arbetsspecialist", "Stadsdelar", "Antal stadsdelar", "Tjänstgöringsgrad %", "Från", "Till"]
    )


# --- fidelity -------------------------------------------------------------------------------------

REPORT_TEXT_TOTAL = 87  # what the interim report's text says for September 2023
REPORT_TABLE_TOTAL = 92  # what its Table 2 items add up to
ITEM_ORDER = {key: i for i, key in enumerate(vocab.FIDELITY_ITEMS)}
BAND_TEXT = {"exemplary": "115–125", "good": "100–114", "fair": "74–99", "not_ips": "≤ 73"}
REVIEW_MONTHS_GOOD = 12
REVIEW_MONTHS_UNTIL_GOOD = 6


def item_label(item_key: str) -> str:
    section, label = vocab.FIDELITY_ITEMS[item_key]
    number = item_key[1:]
    return f"{vocab.FIDELITY_SECTIONS[section]} {number}. {label}"


def item_frame(items: pd.DataFrame) -> pd.DataFrame:
    """Items with their Swedish label, scale order and the review date as text."""
    out = items.copy()
    out["Punkt"] = out["item_key"].map(item_label)
    out["order"] = out["item_key"].map(ITEM_ORDER)
    out["Skattning"] = pd.to_datetime(out["reviewed_on"]).dt.strftime("%Y-%m-%d")
    out["Poäng"] = out["score"].astype(int)
    return out.sort_values(["reviewed_on", "order"]).reset_index(drop=True)


def review_table(items: pd.DataFrame) -> pd.DataFrame:
    """tf.fidelity_reviews with Swedish columns and the band's point range."""
    reviews = tf.fidelity_reviews(items)
    if reviews.empty:
        return pd.DataFrame(
            columns=["Skattning", *vocab.FIDELITY_SECTIONS.values(), "Totalt", "Nivå", "Poängintervall", "Punkter"]
        )
    counts = items.groupby("reviewed_on").size()
    return pd.DataFrame(
        {
            "Skattning": pd.to_datetime(reviews["reviewed_on"]).dt.strftime("%Y-%m-%d"),
            **{label: reviews[label] for label in vocab.FIDELITY_SECTIONS.values()},
            "Totalt": reviews["Totalt"],
            "Nivå": reviews["Nivå"],
            "Poängintervall": reviews["band"].map(BAND_TEXT),
            "Punkter": [f"{int(counts[d])} av {len(vocab.FIDELITY_ITEMS)}" for d in reviews["reviewed_on"]],
            "band": reviews["band"],
            "complete": reviews["complete"],
        }
    )


def weakest_items(items: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The newest review's lowest-scoring items: the `n` lowest and every item tied with the last."""
    frame = item_frame(items)
    if frame.empty:
        return pd.DataFrame(columns=["Punkt", "Poäng"])
    newest = frame[frame["reviewed_on"] == frame["reviewed_on"].max()].sort_values(["Poäng", "order"])
    limit = newest["Poäng"].iloc[min(n, len(newest)) - 1]
    return newest[newest["Poäng"] <= limit][["Punkt", "Poäng"]].reset_index(drop=True)


def review_change(items: pd.DataFrame) -> pd.DataFrame:
    """Per item: score in the second-newest and newest review and the change (items in both)."""
    frame = item_frame(items)
    dates = sorted(frame["reviewed_on"].unique())
    if len(dates) < 2:
        return pd.DataFrame(columns=["Punkt", "Före", "Efter", "Förändring"])
    before, after = dates[-2], dates[-1]
    a = frame[frame["reviewed_on"] == before].set_index("item_key")
    b = frame[frame["reviewed_on"] == after].set_index("item_key")
    keys = sorted(set(a.index) & set(b.index), key=ITEM_ORDER.get)
    out = pd.DataFrame(
        {
            "Punkt": [item_label(k) for k in keys],
            pd.Timestamp(before).strftime("%Y-%m-%d"): [int(a.at[k, "Poäng"]) for k in keys],
            pd.Timestamp(after).strftime("%Y-%m-%d"): [int(b.at[k, "Poäng"]) for k in keys],
        }
    )
    out["Förändring"] = out.iloc[:, 2] - out.iloc[:, 1]
    return out


def next_review_due(reviewed_on: date, band: str) -> date:
    """Yearly once the scale says good (≥ 100), every six months until then."""
    months = REVIEW_MONTHS_GOOD if band in ("good", "exemplary") else REVIEW_MONTHS_UNTIL_GOOD
    return (pd.Timestamp(reviewed_on) + pd.DateOffset(months=months)).date()


def heatmap_chart(frame: pd.DataFrame) -> alt.Chart:
    """Item scores across reviews (`Punkt`, `Skattning`, `Poäng`, `order`) with the full item
    labels readable (charts.heatmap cuts them at 180 px)."""
    n_items = max(frame["Punkt"].nunique(), 1)
    base = alt.Chart(frame).encode(
        x=alt.X("Skattning:N", title="Skattning", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y(
            "Punkt:N",
            sort=alt.SortField("order"),
            title="",
            axis=alt.Axis(labelLimit=420, labelOverlap=False, labelFontSize=12),
        ),
    )
    cells = base.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color(
            "Poäng:Q",
            scale=alt.Scale(domain=[1, 5], scheme="redyellowgreen"),
            title="Poäng",
            legend=alt.Legend(orient="bottom"),
        ),
        tooltip=["Punkt:N", "Skattning:N", "Poäng:Q"],
    )
    text = base.mark_text(fontSize=12).encode(text="Poäng:Q")
    return _finish(alt.layer(cells, text), 24 * n_items)


def totals_chart(reviews: pd.DataFrame) -> alt.Chart:
    """Total per review over the four bands (`Skattning`, `Totalt`, `Nivå`)."""
    bands = pd.DataFrame(
        [
            {"from": 25, "to": 73, "Nivå": "Inte IPS (≤ 73)"},
            {"from": 73, "to": 99, "Nivå": "Delvis (74–99)"},
            {"from": 99, "to": 114, "Nivå": "Bra (100–114)"},
            {"from": 114, "to": 125, "Nivå": "Mycket bra (115–125)"},
        ]
    )
    background = (
        alt.Chart(bands)
        .mark_rect(opacity=0.18)
        .encode(
            y=alt.Y("from:Q", scale=alt.Scale(domain=[25, 125]), title="Totalpoäng"),
            y2="to:Q",
            color=alt.Color(
                "Nivå:N",
                title="Nivå",
                scale=alt.Scale(domain=list(bands["Nivå"]), range=["#b94a48", "#c9a227", "#9cc9a9", "#3a9d5d"]),
            ),
        )
    )
    points = (
        alt.Chart(reviews)
        .mark_line(point=alt.OverlayMarkDef(size=90), color="#1f5f8b")
        .encode(
            x=alt.X("Skattning:O", title="Skattning", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("Totalt:Q"),
            tooltip=["Skattning:N", "Totalt:Q", "Nivå:N"],
        )
    )
    text = points.mark_text(dy=-12, color="#1f5f8b", fontWeight="bold").encode(text="Totalt:Q")
    return _finish(alt.layer(background, points, text), 280)


def _finish(chart, height: int):
    return (
        chart.properties(height=height)
        .configure_axis(labelFontSize=12, titleFontSize=12)
        .configure_legend(labelFontSize=12, titleFontSize=12, orient="bottom")
        .configure_view(strokeWidth=0)
    )
