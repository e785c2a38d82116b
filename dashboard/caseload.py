"""How many participants does each specialist carry, and is each district staffed? Caseload per
full time against the fidelity bands and the cap, staffing over time, shared specialists, charts."""

from __future__ import annotations

from datetime import date

import altair as alt
import numpy as np
import pandas as pd

from dashboard import charts
from schema import rounding
from schema.config import StudyConfig
from schema.fidelity import caseload_scale

# IPS fidelity item 1 (Klientgruppens storlek): the published bands are data with their source,
# schema/fidelity_caseload.toml (Becker, Swanson, Bond & Merrens 2008); the study's cap is its own rule.
SCALE = caseload_scale()


MAX_DAILY_ROWS = 20_000  # above this the chart shows the weekly maximum instead of every day


MAX_CHART_SPECIALISTS = 10
MAX_CHART_DISTRICTS = 8  # staffing strips drawn at most; more: the table carries them


SUMMARY_COLUMNS = [
    "Arbetsspecialist",
    "Aktiva vid datauttaget",
    "Tjänstgöringsgrad %",
    "Per heltid",
    "Programtrohet punkt 1",
    "Högsta antal",
    "Dag med högsta antal",
    "Dagar över taket",
]


def caseload_points(per_fte: float) -> int:
    """Score on fidelity item 1 for a caseload scaled to full time, by the published bands
    (≤ 20 → 5, 21–25 → 4, 26–30 → 3, 31–40 → 2, ≥ 41 → 1; 20.5 is more than 20)."""
    return SCALE.score(per_fte)


def per_full_time(active: int | None, fte: float | None):
    """Active participants per full-time post, exact (a Fraction: the employment share is a whole
    per cent in the roster), so "Per heltid" is rounded half up without float error: 5 at 80 % is
    6.25, shown 6.3."""
    if active is None or not fte:
        return None
    return rounding.exact(active) / rounding.exact(fte)


def band_text(points: int) -> str:
    return SCALE.text(points)


def bands_text() -> str:
    """'≤ 20 ger 5 poäng, 21–25 ger 4, …' for the page's explanation."""
    parts = [f"{b.range_text} ger {b.score}" for b in SCALE.bands]
    return f"{parts[0]} poäng, " + ", ".join(parts[1:-1]) + f" och {parts[-1]}"


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
    columns = SUMMARY_COLUMNS
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
        per_fte = per_full_time(active, fte)
        peak = data.loc[peak_at[specialist]] if specialist in peak_at.index else None
        rows.append(
            {
                "Arbetsspecialist": specialist,
                "Aktiva vid datauttaget": active,
                "Tjänstgöringsgrad %": rounding.percent(fte, 1) if fte is not None else None,
                "Per heltid": rounding.round_float(per_fte, 1) if per_fte is not None else None,
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
    columns = SUMMARY_COLUMNS
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
        per_fte = per_full_time(active, fte)
        has_peak = pd.notna(row.peak)
        rows.append(
            {
                "Arbetsspecialist": row.specialist_id,
                "Aktiva vid datauttaget": active,
                "Tjänstgöringsgrad %": rounding.percent(fte, 1) if fte is not None else None,
                "Per heltid": rounding.round_float(per_fte, 1) if per_fte is not None else None,
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
    top = max(float(frame[field].max()) if len(frame) else 0, 22) + 3
    # Band edges from the data: a band covers (previous highest, its highest]; bands above the chart's
    # top are left out, the last one shown is cut at the top.
    edges = [0.0] + [float(b.high) for b in SCALE.bands[:-1]] + [float("inf")]
    bands = pd.DataFrame(
        [
            {"from": edges[i], "to": min(edges[i + 1], top), "Band": b.label}
            for i, b in enumerate(SCALE.bands)
            if edges[i] < top
        ]
    )
    background = (
        alt.Chart(bands)
        .mark_rect(opacity=0.18)
        .encode(
            y=alt.Y("from:Q"),
            y2="to:Q",
            # Fill, not colour: the lines' colour and dash scales stay shared, one legend for both.
            fill=alt.Fill(
                "Band:N",
                title="Programtrohet punkt 1 (per heltid)",
                scale=alt.Scale(
                    domain=list(bands["Band"]), range=["#3a9d5d", "#9cc9a9", "#c9a227", "#e07b39", "#b94a48"]
                ),
            ),
            tooltip=alt.Tooltip("Band:N", title="Band (per heltid)"),
        )
    )
    # "Per heltid" in the tooltip is rounded on the server (half up), not by a client-side format.
    frame = frame.assign(
        **{"Per heltid (text)": [rounding.decimal_text(v, 1) if pd.notna(v) else "–" for v in frame["per_fte"]]}
    )
    # One colour per specialist that colour-blind viewers can tell apart, dashed beyond six; a click on a
    # line or its legend entry brings that specialist forward.
    specialists = sorted(frame["Arbetsspecialist"].astype(str).unique())
    lines = (
        alt.Chart(frame)
        .mark_line(interpolate="step-after", strokeWidth=2.5)
        .encode(
            x=alt.X("day:T", title="Datum", axis=alt.Axis(labelExpr=charts.SV_MONTH_YEAR)),
            y=alt.Y(
                f"{field}:Q",
                title="Aktiva deltagare per heltid" if per_fte else "Aktiva deltagare",
                scale=alt.Scale(domain=[0, top]),
            ),
            tooltip=[
                "Arbetsspecialist:N",
                alt.Tooltip("day:T", title="Datum", format="%Y-%m-%d"),
                alt.Tooltip("active_n:Q", title="Aktiva"),
                alt.Tooltip("Per heltid (text):N", title="Per heltid"),
            ],
            **charts.line_series("Arbetsspecialist", specialists, "Arbetsspecialist"),
        )
    )
    labelled = charts.highlighted(lines, "Arbetsspecialist", "specialist")
    rule = (
        alt.Chart(pd.DataFrame({"cap": [cap], "label": [f"Tak {cap} deltagare"]}))
        .mark_rule(strokeDash=[6, 4], color="#b94a48", size=2)
        .encode(y="cap:Q", tooltip=alt.Tooltip("label:N", title=""))
    )
    layers = [background, labelled] + ([] if per_fte else [rule])
    return charts.finish(alt.layer(*layers), 420)  # two legends below


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
    """Specialists per district over time (`staffing_over_time` with `Stadsdel`) as one strip per
    district, each stretch coloured by below / at / above the minimum `need` and labelled with its
    count where it is long enough. Lines on one axis hid each other: most districts have the minimum
    most of the time, so the lines (and the minimum's rule) lay on top of each other."""
    # Named for what they count (specialists, not participants): "Arbetsspecialister".
    strips = (
        frame[["Stadsdel", "day", "n"]]
        .rename(columns={"n": "Arbetsspecialister"})
        .sort_values(["Stadsdel", "day"])
        .assign(day=lambda f: pd.to_datetime(f["day"]))
    )
    # A row holds from its day until the district's next row; the last (the period's end) for that day.
    strips["to"] = strips.groupby("Stadsdel")["day"].shift(-1).fillna(strips["day"] + pd.Timedelta(days=1))
    below, at, above = f"Färre än {need}", f"{need} (minimum)", f"Fler än {need}"
    n = strips["Arbetsspecialister"]
    strips["Nivå"] = np.select([n < need, n == need], [below, at], above)
    # The count written in stretches of a month or more (shorter ones have it in the tooltip).
    strips["mid"] = strips["day"] + (strips["to"] - strips["day"]) / 2
    strips["Arbetsspecialister (text)"] = [
        str(k) if (b - a).days >= 30 else "" for k, a, b in zip(n, strips["day"], strips["to"], strict=True)
    ]
    districts = sorted(strips["Stadsdel"].astype(str).unique())
    # Vermillion / light blue / blue: apart for colour-blind viewers too (red and green are not).
    y = alt.Y(
        "Stadsdel:N", title="", sort=districts, axis=alt.Axis(labelLimit=charts.AXIS_LABEL_LIMIT, labelFlush=False)
    )
    rects = (
        alt.Chart(strips)
        .mark_rect(stroke="white", strokeWidth=1)
        .encode(
            x=alt.X("day:T", title="Datum", axis=alt.Axis(labelExpr=charts.SV_MONTH_YEAR)),
            x2="to:T",
            y=y,
            color=alt.Color(
                "Nivå:N",
                title="Arbetsspecialister i stadsdelen",
                scale=alt.Scale(domain=[below, at, above], range=["#D55E00", "#9ecae1", "#2171b5"]),
            ),
            tooltip=[
                "Stadsdel:N",
                alt.Tooltip("day:T", title="Från", format="%Y-%m-%d"),
                alt.Tooltip("Arbetsspecialister:Q"),
            ],
        )
    )
    counts = (
        alt.Chart(strips)
        .mark_text(fontSize=13)
        .encode(
            x="mid:T",
            y=y,
            text="Arbetsspecialister (text):N",
            color=alt.condition(f"datum['Arbetsspecialister'] == {int(need)}", alt.value("#222"), alt.value("white")),
        )
    )
    # 44 px a district plus the date axis and the legend below (Streamlit fits them into the height).
    return charts.finish(alt.layer(rects, counts), 44 * len(districts) + 120)


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
                # Dates as text, and an open period as "tills vidare": a missing date would be shown
                # as "None" by the grid.
                "Från": pd.Timestamp(start).date().isoformat(),
                "Till": pd.Timestamp(end).date().isoformat() if pd.notna(end) else "tills vidare",
            }
        )
    return pd.DataFrame(
        rows, columns=["Arbetsspecialist", "Stadsdelar", "Antal stadsdelar", "Tjänstgöringsgrad %", "Från", "Till"]
    )


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
