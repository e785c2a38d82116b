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


def finish(chart: alt.Chart, height: int = 320) -> alt.Chart:
    return (
        chart.properties(height=height)
        .configure_axis(labelFontSize=12, titleFontSize=12)
        .configure_legend(labelFontSize=12, titleFontSize=12, orient="bottom")
        .configure_view(strokeWidth=0)
    )
