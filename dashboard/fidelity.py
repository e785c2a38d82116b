"""How faithful is the IPS practice? Fidelity reviews, item labels, weakest items, changes between
reviews, when the next review is due, and the fidelity charts. No Streamlit, no SQL."""

from __future__ import annotations

from datetime import date

import altair as alt
import pandas as pd

from dashboard import charts
from schema import vocab
from schema.config import Fidelity

ITEM_ORDER = {key: i for i, key in enumerate(vocab.FIDELITY_ITEMS)}


BAND_TEXT = {"exemplary": "115–125", "good": "100–114", "fair": "74–99", "not_ips": "≤ 73"}


def reviews(items: pd.DataFrame) -> pd.DataFrame:
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
    """`reviews` with Swedish columns and the band's point range."""
    per_review = reviews(items)
    if per_review.empty:
        return pd.DataFrame(
            columns=["Skattning", *vocab.FIDELITY_SECTIONS.values(), "Totalt", "Nivå", "Poängintervall", "Punkter"]
        )
    counts = items.groupby("reviewed_on").size()
    return pd.DataFrame(
        {
            "Skattning": pd.to_datetime(per_review["reviewed_on"]).dt.strftime("%Y-%m-%d"),
            **{label: per_review[label] for label in vocab.FIDELITY_SECTIONS.values()},
            "Totalt": per_review["Totalt"],
            "Nivå": per_review["Nivå"],
            "Poängintervall": per_review["band"].map(BAND_TEXT),
            "Punkter": [f"{int(counts[d])} av {len(vocab.FIDELITY_ITEMS)}" for d in per_review["reviewed_on"]],
            "band": per_review["band"],
            "complete": per_review["complete"],
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


def next_review_due(reviewed_on: date, total: int, rules: Fidelity) -> date:
    """The review interval of the study configuration (`[fidelity]` in studie.toml: yearly by
    default, as the interim report says; an optional shorter interval while below *bra*)."""
    months = rules.interval_after(total)
    return (pd.Timestamp(reviewed_on) + pd.DateOffset(months=months)).date()


def review_comments(items: pd.DataFrame) -> dict[date, str]:
    """The remark kept with each review in the fidelity file (`Kommentar`), by review date."""
    if "review_comment" not in items.columns:
        return {}
    kept = items.dropna(subset=["review_comment"]).drop_duplicates("reviewed_on")
    return {pd.Timestamp(r).date(): str(c) for r, c in zip(kept["reviewed_on"], kept["review_comment"], strict=True)}


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
            # labelFlush off: the theme's flush first label sat half a row below its cells.
            axis=alt.Axis(labelLimit=480, labelOverlap=False, labelFontSize=13, labelFlush=False),
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
    # Dark text on the light middle of the scale, white on its dark ends (a 5 on deep green was unreadable).
    text = base.mark_text(fontSize=13).encode(
        text="Poäng:Q",
        color=alt.condition("datum['Poäng'] >= 4.5 || datum['Poäng'] <= 1.5", alt.value("white"), alt.value("#222")),
    )
    # Streamlit fits the whole chart, axis and legend included, into the height: 24 px a row plus
    # ~130 px for the date axis above and the colour legend below (the rows were 17 px otherwise).
    return charts.finish(alt.layer(cells, text), 24 * n_items + 130)


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
    return charts.finish(alt.layer(background, points, text), 340)  # the legend below takes ~80 px of it
