"""Are the ASI follow-ups done? Each status's label and colour (defined here once), completion,
status tables, the to-do list and the follow-up charts. No Streamlit, no SQL."""

from __future__ import annotations

from datetime import date

import altair as alt
import pandas as pd

from dashboard import charts, formats
from etl.asof import MISSED_RULE_SV
from schema.config import FollowUp

# Every status a follow-up can have: (key, Swedish label, colour), in the order the tables list
# them (the life of a follow-up, then the one outside the denominator). Defined here only.
STATUSES: list[tuple[str, str, str]] = [
    ("not_due", "Ej aktuell än", "#d9d9d9"),
    ("due", "Aktuell (i fönstret)", "#c9a227"),
    ("done_on_time", "Genomförd i tid", "#3a9d5d"),
    ("done_late", "Genomförd sent", "#9cc9a9"),
    ("overdue", "Försenad", "#e07b39"),
    ("missed", "Missad", "#b94a48"),
    ("not_applicable", "Ej tillämplig", "#8c8c8c"),
]
STATUS_LABEL: dict[str, str] = {key: label for key, label, _ in STATUSES}
STATUS_COLOUR: dict[str, str] = {key: colour for key, _, colour in STATUSES}
NOT_APPLICABLE_LABEL = STATUS_LABEL["not_applicable"]
# The stacked chart: done at the bottom, not yet due on top; not_applicable is outside the schedule.
CHART_ORDER = ("done_on_time", "done_late", "due", "overdue", "missed", "not_due")
CLOSED_WINDOW = {"done_on_time", "done_late", "overdue", "missed"}


DUE_SOON_LABEL = "Förfaller snart"


def timepoint_label(months: int) -> str:
    return f"{int(months)} mån"


def window_text(followup: FollowUp) -> str:
    """The follow-up window in words, from the configuration."""
    return (
        f"fönster: {followup.window_before_days} dagar före till {followup.window_after_days} dagar "
        f"efter förfallodagen; ej gjord {followup.missed_after_days} dagar efter fönstret räknas som missad"
    )


def completion(followups: pd.DataFrame) -> dict[str, int | float | None]:
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


def status_table(followups: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """One row per group in `by`, one count column per status (Swedish labels) and a total."""
    labels = STATUS_LABEL
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
    order = {key: i for i, key in enumerate(CHART_ORDER)}
    part = followups[followups["status"].isin(order)]
    if part.empty:
        return pd.DataFrame(columns=[x, "Status", "Antal", "order"])
    long = part.groupby([x, "status"]).size().reset_index(name="Antal")
    long["Status"] = long["status"].map(STATUS_LABEL)
    long["order"] = long["status"].map(order)
    return long[[x, "Status", "Antal", "order"]]


STATUS_KEY = {label: key for key, label in STATUS_LABEL.items()} | {"Totalt": "total"}


def masked_status(table: pd.DataFrame, by: str, key_of, hidden, text: str) -> pd.DataFrame:
    """A status table (`status_table`) with the follow-up family's joint decision applied: the cell of
    group `by` and a status column is the figure (*key_of(group value)*, status key or "total")."""
    from dashboard import privacy

    columns = [c for c in table.columns if c in STATUS_KEY]
    return privacy.mask_cells(table, columns, lambda r, c: (*key_of(r[by]), STATUS_KEY[c]), hidden, text)


def masked_long(long: pd.DataFrame, x: str, key_of, hidden) -> pd.DataFrame:
    """A stacked chart's dataset (`status_long`) with hidden figures empty (no bar, no tooltip count)."""
    keep = [(*key_of(v), STATUS_KEY[s]) not in hidden for v, s in zip(long[x], long["Status"], strict=True)]
    return long.assign(Antal=long["Antal"].where(keep))


def masked_quarters(frame: pd.DataFrame, hidden, text: str) -> pd.DataFrame:
    """`completion_by_quarter` with the joint decision applied: "Genomförda" and "Stängda fönster" are
    the figures ("q", quarter, "done" / "closed"); the share is hidden with either."""
    from dashboard import privacy

    keys = {"Genomförda": "done", "Stängda fönster": "closed"}
    out = privacy.mask_cells(frame, list(keys), lambda r, c: ("q", r["Kvartal"], keys[c]), hidden, text)
    either = (out["Genomförda"] == text) | (out["Stängda fönster"] == text)
    return out.assign(**{"Andel genomförda": out["Andel genomförda"].astype(object).where(~either, text)})


def completion_by_quarter(followups: pd.DataFrame) -> pd.DataFrame:
    """completion per quarter of the due date; quarters without a closed window
    are left out."""
    rows = []
    if followups.empty:
        return pd.DataFrame(columns=["Kvartal", "Genomförda", "Stängda fönster", "Andel genomförda"])
    quarters = pd.to_datetime(followups["due_on"]).dt.to_period("Q")
    for quarter, part in followups.groupby(quarters, sort=True):
        c = completion(part)
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
    labels = {**STATUS_LABEL, "not_due": DUE_SOON_LABEL}
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
            # Not overdue (window still open, or due soon) is 0 days late; a missing value would reach
            # the table as the English "None" (issue 12).
            "Dagar försenad": part["_days"].fillna(0).astype("int64"),
            "Status": part["status"].map(labels),
        }
    )
    return out.reset_index(drop=True)


MAX_UNITS_CHARTED = 25  # units a stacked bar chart can carry legibly; more: the (paged) table carries them


def stacked_status_chart(frame: pd.DataFrame, x: str, x_title: str, x_order: list[str]) -> alt.Chart:
    """Follow-up status counts stacked per `x` in the given order (`Status`, `Antal`, `order`).
    Keeps "6 mån" before "12 mån"."""
    domain = [STATUS_LABEL[key] for key in CHART_ORDER]
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(f"{x}:N", title=x_title, sort=x_order, axis=alt.Axis(labelAngle=0, labelLimit=220)),
            y=alt.Y("Antal:Q", title="Antal uppföljningar"),
            color=alt.Color(
                "Status:N",
                scale=alt.Scale(domain=domain, range=[STATUS_COLOUR[key] for key in CHART_ORDER]),
                legend=alt.Legend(columns=3),
            ),
            order=alt.Order("order:Q"),
            tooltip=[f"{x}:N", "Status:N", "Antal:Q"],
        )
    )
    return charts.finish(chart, 380)  # the legend below takes ~100 px of it


def completion_chart(frame: pd.DataFrame) -> alt.Chart:
    """Share done per quarter of due date (`Kvartal`, `Andel genomförda`, counts in the tooltip)."""
    frame = frame.assign(
        **{
            # A count suppressed for the role is empty in the chart's dataset: no share text either.
            "Andel (text)": [
                "–" if pd.isna(d) or pd.isna(c) else formats.pct(d, c)
                for d, c in zip(frame["Genomförda"], frame["Stängda fönster"], strict=True)
            ]
        }
    )
    bars = (
        alt.Chart(frame)
        .mark_bar(color="#3a9d5d")
        .encode(
            x=alt.X("Kvartal:N", title="Förfallodagens kvartal", sort=None, axis=alt.Axis(labelAngle=0)),
            y=alt.Y(
                "Andel genomförda:Q",
                title="Andel genomförda",
                scale=alt.Scale(domain=[0, 1]),
                axis=charts.percent_axis(),
            ),
            tooltip=[
                "Kvartal:N",
                alt.Tooltip("Andel (text):N", title="Andel genomförda"),
                "Genomförda:Q",
                "Stängda fönster:Q",
            ],
        )
    )
    text = bars.mark_text(dy=-6, color="#333").encode(text=alt.Text("Andel (text):N"))
    return charts.finish(alt.layer(bars, text), 260)


def as_of_note(as_of: date | None, extract: date | None) -> str | None:
    """The caption for an as-of date earlier than the extract: how an undated "missed" is counted."""
    if as_of is None or extract is None or as_of >= extract:
        return None
    return MISSED_RULE_SV
