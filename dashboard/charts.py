"""Altair chart builders: data in, chart out. Swedish axis titles; no data fetching here."""

from __future__ import annotations

import altair as alt
import pandas as pd

PALETTE = ["#1f5f8b", "#e07b39", "#3a9d5d", "#b94a48", "#7b5ea7", "#8c8c8c", "#c9a227", "#4bb3c7"]
STATUS_COLOURS = {
    "Genomförd i tid": "#3a9d5d",
    "Genomförd sent": "#9cc9a9",
    "Aktuell (i fönstret)": "#c9a227",
    "Försenad": "#e07b39",
    "Missad": "#b94a48",
    "Ej aktuell än": "#d9d9d9",
}

# Swedish number and time formats for every chart.
SV_LOCALE = {
    "number": {"decimal": ",", "thousands": "\u00a0", "grouping": [3], "currency": ["", " kr"]},
    "time": {
        "dateTime": "%A %e %B %Y %X",
        "date": "%Y-%m-%d",
        "time": "%H:%M:%S",
        "periods": ["fm", "em"],
        "days": ["söndag", "måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag"],
        "shortDays": ["sön", "mån", "tis", "ons", "tor", "fre", "lör"],
        "months": [
            "januari",
            "februari",
            "mars",
            "april",
            "maj",
            "juni",
            "juli",
            "augusti",
            "september",
            "oktober",
            "november",
            "december",
        ],
        "shortMonths": ["jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"],
    },
}


def _finish(chart: alt.Chart, height: int = 320) -> alt.Chart:
    return (
        chart.properties(height=height)
        .configure_axis(labelFontSize=12, titleFontSize=12)
        .configure_legend(labelFontSize=12, titleFontSize=12, orient="bottom")
        .configure_view(strokeWidth=0)
    )


def accrual(cumulative: pd.DataFrame, target: int | None, title_target: str = "Mål") -> alt.Chart:
    """Cumulative randomised over time per series (`series`, `month`, `cumulative_n`) and the target."""
    base = (
        alt.Chart(cumulative)
        .mark_line(point=True, interpolate="step-after")
        .encode(
            x=alt.X("month:T", title="Månad", axis=alt.Axis(format="%b %Y")),
            y=alt.Y("cumulative_n:Q", title="Randomiserade (kumulativt)"),
            color=alt.Color("series:N", title="", scale=alt.Scale(range=PALETTE)),
            tooltip=[
                alt.Tooltip("series:N", title="Serie"),
                alt.Tooltip("month:T", title="Månad", format="%Y-%m"),
                alt.Tooltip("cumulative_n:Q", title="Kumulativt"),
            ],
        )
    )
    layers = [base]
    if target:
        rule = (
            alt.Chart(pd.DataFrame({"target": [target], "label": [f"{title_target} {target}"]}))
            .mark_rule(strokeDash=[6, 4], color="#b94a48")
            .encode(y="target:Q", tooltip=alt.Tooltip("label:N", title=""))
        )
        layers.append(rule)
    return _finish(alt.layer(*layers))


def monthly_bars(monthly: pd.DataFrame) -> alt.Chart:
    """Randomised per month, stacked by district (`district`, `month`, `randomised_n`)."""
    chart = (
        alt.Chart(monthly)
        .mark_bar()
        .encode(
            x=alt.X("yearmonth(month):O", title="Månad", axis=alt.Axis(labelAngle=-45, format="%b %y")),
            y=alt.Y("randomised_n:Q", title="Randomiserade per månad"),
            color=alt.Color("district:N", title="Stadsdel", scale=alt.Scale(range=PALETTE)),
            tooltip=[
                alt.Tooltip("district:N", title="Stadsdel"),
                alt.Tooltip("month:T", title="Månad", format="%Y-%m"),
                alt.Tooltip("randomised_n:Q", title="Randomiserade"),
            ],
        )
    )
    return _finish(chart, 280)


def funnel(stages: pd.DataFrame) -> alt.Chart:
    """Horizontal bars, one per stage in order (`Steg`, `Antal`, `order`)."""
    bars = (
        alt.Chart(stages)
        .mark_bar(color=PALETTE[0])
        .encode(
            y=alt.Y("Steg:N", sort=alt.SortField("order"), title=""),
            x=alt.X("Antal:Q", title="Antal personer"),
            tooltip=["Steg:N", "Antal:Q"],
        )
    )
    text = bars.mark_text(align="left", dx=4, color="#333").encode(text="Antal:Q")
    return _finish(alt.layer(bars, text), 240)


def retention(curve: pd.DataFrame, group_title: str) -> alt.Chart:
    chart = (
        alt.Chart(curve)
        .mark_line(interpolate="step-after")
        .encode(
            x=alt.X("day:Q", title="Dagar sedan randomisering"),
            y=alt.Y(
                "retention:Q", title="Andel kvar i studien", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")
            ),
            color=alt.Color("group:N", title=group_title, scale=alt.Scale(range=PALETTE)),
            tooltip=[
                alt.Tooltip("group:N", title=group_title),
                alt.Tooltip("day:Q", title="Dag"),
                alt.Tooltip("retention:Q", title="Kvar", format=".0%"),
                alt.Tooltip("at_risk:Q", title="I risk"),
            ],
        )
    )
    return _finish(chart)


def stacked_status(frame: pd.DataFrame, x: str, x_title: str) -> alt.Chart:
    """Follow-up status counts stacked per `x` (`Status`, `Antal`)."""
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(f"{x}:N", title=x_title),
            y=alt.Y("Antal:Q", title="Antal uppföljningar"),
            color=alt.Color(
                "Status:N", scale=alt.Scale(domain=list(STATUS_COLOURS), range=list(STATUS_COLOURS.values()))
            ),
            order=alt.Order("order:Q"),
            tooltip=[f"{x}:N", "Status:N", "Antal:Q"],
        )
    )
    return _finish(chart, 300)


def caseload(frame: pd.DataFrame, cap: int) -> alt.Chart:
    """Active caseload per specialist over time (`Arbetsspecialist`, `day`, `active_n`) and the cap."""
    lines = (
        alt.Chart(frame)
        .mark_line(interpolate="step-after")
        .encode(
            x=alt.X("day:T", title="Datum", axis=alt.Axis(format="%b %Y")),
            y=alt.Y("active_n:Q", title="Aktiva deltagare"),
            color=alt.Color("Arbetsspecialist:N", scale=alt.Scale(range=PALETTE)),
            tooltip=[
                "Arbetsspecialist:N",
                alt.Tooltip("day:T", title="Datum", format="%Y-%m-%d"),
                alt.Tooltip("active_n:Q", title="Aktiva"),
            ],
        )
    )
    rule = alt.Chart(pd.DataFrame({"cap": [cap]})).mark_rule(strokeDash=[6, 4], color="#b94a48").encode(y="cap:Q")
    return _finish(alt.layer(lines, rule))


def heatmap(frame: pd.DataFrame) -> alt.Chart:
    """Fidelity item scores across reviews (`Punkt`, `Skattning`, `Poäng`, `order`)."""
    base = alt.Chart(frame).encode(
        x=alt.X("Skattning:N", title="Skattning"),
        y=alt.Y("Punkt:N", sort=alt.SortField("order"), title=""),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("Poäng:Q", scale=alt.Scale(domain=[1, 5], scheme="redyellowgreen"), title="Poäng"),
        tooltip=["Punkt:N", "Skattning:N", "Poäng:Q"],
    )
    text = base.mark_text(fontSize=12).encode(text="Poäng:Q")
    return _finish(alt.layer(cells, text), 25 * max(frame["Punkt"].nunique(), 1))


def grouped_bars(
    frame: pd.DataFrame, x: str, y: str, color: str, x_title: str, y_title: str, percent: bool = False
) -> alt.Chart:
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(f"{x}:N", title=x_title),
            xOffset=f"{color}:N",
            y=alt.Y(f"{y}:Q", title=y_title, axis=alt.Axis(format="%") if percent else alt.Axis()),
            color=alt.Color(f"{color}:N", title="", scale=alt.Scale(range=PALETTE)),
            tooltip=[f"{x}:N", f"{color}:N", alt.Tooltip(f"{y}:Q", format=".0%" if percent else "d")],
        )
    )
    return _finish(chart, 280)
