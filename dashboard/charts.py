"""What every chart shares: the palette, Swedish number and date formats and the finishing touches.
Each topic module builds its own charts with these."""

from __future__ import annotations

import altair as alt

PALETTE = ["#1f5f8b", "#e07b39", "#3a9d5d", "#b94a48", "#7b5ea7", "#8c8c8c", "#c9a227", "#4bb3c7"]


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

# Month axis labels in Swedish ("okt 2024"): the browser's Vega formats %b in English.
SV_MONTH_YEAR = (
    "['jan','feb','mar','apr','maj','jun','jul','aug','sep','okt','nov','dec'][month(datum.value)]"
    " + ' ' + year(datum.value)"
)


AXIS_LABEL_LIMIT = 320  # px; the longest label drawn (a district's full name) fits at 14 px


def percent_axis(top: float = 1.0, step: float = 0.1, **kwargs):
    """An axis for a share (0–`top`) whose tick labels are written on the server, rounded half up
    ("30 %"), instead of a client-side percent format: ticks at every `step`, each label looked up
    by its exact tick value (the ticks are given, so the comparison is exact)."""
    import altair as alt

    from schema import rounding

    n = int(rounding.round_half_up(rounding.exact(top) / rounding.exact(step)))
    ticks = [float(rounding.exact(step) * i) for i in range(n + 1)]
    expr = "''"
    for tick in reversed(ticks):
        expr = f"datum.value == {tick!r} ? '{rounding.percent_text(tick, 1)}' : {expr}"
    return alt.Axis(values=ticks, labelExpr=expr, **kwargs)


def configure(chart):
    """The look every chart shares: axis and legend text large enough for a meeting-room screen,
    legend below the plot, no frame. Applied once, to the top-level chart. Streamlit's theme cuts
    axis labels at 100 px ("Informations…"); the limit here keeps every stage and district name whole.
    One `configure` call: each `configure_*` call copies the whole chart (~7 ms a chart here)."""
    return chart.configure(
        axis=alt.AxisConfig(labelFontSize=14, titleFontSize=14, labelLimit=AXIS_LABEL_LIMIT),
        legend=alt.LegendConfig(labelFontSize=14, titleFontSize=14, orient="bottom", labelLimit=320, titleLimit=480),
        header=alt.HeaderConfig(labelFontSize=14, titleFontSize=14),
        text=alt.MarkConfig(fontSize=13),
        view=alt.ViewConfig(strokeWidth=0),
    )


def finish(chart, height: int = 320):
    """`configure` a single (or layered) chart of the given height."""
    return configure(chart.properties(height=height))
