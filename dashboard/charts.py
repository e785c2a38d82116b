"""What every chart shares: the palette, Swedish number and date formats and the finishing touches.
Each topic module builds its own charts with these."""

from __future__ import annotations

import altair as alt

PALETTE = ["#1f5f8b", "#e07b39", "#3a9d5d", "#b94a48", "#7b5ea7", "#8c8c8c", "#c9a227", "#4bb3c7"]

# Lines that colour-blind viewers can tell apart too: Okabe & Ito's palette ("Color Universal Design",
# 2008) without its yellow (unreadable on white and on light bands) and its vermillion (too close to the
# red of the charts' threshold rules). Beyond six lines the colours come again, dashed, then dotted.
LINE_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#000000"]
LINE_DASHES = [[1, 0], [8, 4], [2, 3]]
# Groups told apart by colour alone (stacked bars, Kaplan–Meier curves): all eight of Okabe & Ito's
# colours, the ones that read worst as thin lines (vermillion, then yellow) last. The older palette put
# green beside red, which many colour-blind viewers cannot tell apart.
CATEGORY_COLOURS = [*LINE_COLOURS, "#D55E00", "#F0E442"]


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


def line_series(field: str, keys: list[str], title: str) -> dict:
    """Encodings telling the line series `keys` (of the nominal `field`, in legend order) apart: a
    colour each from `LINE_COLOURS` and, beyond six, a dash pattern too, in one legend titled `title`
    with thick symbols; clicking a legend entry (or a line) brings that series forward and fades the
    others (`highlighted`), a double click shows them all again."""
    n = len(LINE_COLOURS)
    colours = [LINE_COLOURS[i % n] for i in range(len(keys))]
    dashes = [LINE_DASHES[(i // n) % len(LINE_DASHES)] for i in range(len(keys))]
    legend = alt.Legend(symbolStrokeWidth=3, symbolSize=400)
    return {
        "color": alt.Color(f"{field}:N", title=title, scale=alt.Scale(domain=keys, range=colours), legend=legend),
        "strokeDash": alt.StrokeDash(
            f"{field}:N", title=title, scale=alt.Scale(domain=keys, range=dashes), legend=legend
        ),
    }


def highlighted(chart, field: str, name: str):
    """`chart` (lines of `line_series`) with a selection of one `field` value by a click on a line or
    its legend entry: the chosen series at full strength, the others faded. `name` names the selection
    (a fixed name keeps the chart's spec the same from run to run)."""
    pick = alt.selection_point(name=name, fields=[field], bind="legend")
    return chart.add_params(pick).encode(opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)))


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
