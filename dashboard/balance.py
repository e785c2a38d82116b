"""Are the arms alike at baseline? Standardised mean differences, Table 1, gender and age per arm,
balance checkpoints and their charts. No Streamlit, no SQL."""

from __future__ import annotations

import json
import math

import altair as alt
import numpy as np
import pandas as pd

from dashboard import charts, formats
from schema import rounding, vocab


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
    levels = sorted(set(a.unique()) | set(b.unique()), key=str)  # unique first: no Python loop over rows
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
AGE_LABEL = "Ålder vid baslinjen (år)"
AGE_NOTE = (
    "Ålder vid baslinjen = baslinjeåret minus födelseåret: bara födelseåret är känt, så åldern kan vara "
    "ett år för hög (för den som inte hunnit fylla år det året)."
)
BASELINE_VARIABLES: list[tuple[str, str, vocab.Vocabulary | None]] = [
    # Age at the baseline date (the interim report's Table 1); only the birth year is known.
    ("age", AGE_LABEL, None),
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
                    f"{rounding.round_int(rounding.mean(values))} ({int(values.min())}–{int(values.max())})"
                    if len(values)
                    else "–"
                )
            rows.append(row)
            continue
        for key in voc.keys:
            row = {"Egenskap": f"{label}{suffix}", "Nivå": voc.label(key)}
            for name, part in groups:
                known = part[column].dropna()
                count = int((known == key).sum())
                row[f"{name} n"] = count
                row[f"{name} %"] = str(rounding.percent(count, len(known))) if len(known) else "–"
            rows.append(row)
    return pd.DataFrame(rows)


def analysed_rows(rows: pd.DataFrame, participants: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """A frozen checkpoint's rows restricted to the analysis population, the way the live tab and
    Table 1 are (`[analysis] count_excluded_after_randomisation`, applied in the store as
    `is_analysed`). The snapshot keeps who was among the first n randomised and their baseline as
    frozen; whether a person found ineligible after randomisation counts follows the configuration
    and what is known now, so the frozen tabs and the live tab agree. Returns (rows, excluded)."""
    if rows.empty or "is_analysed" not in participants:
        return rows, 0
    not_analysed = set(participants.loc[~participants["is_analysed"].astype(bool), "study_code"])
    keep = ~rows["study_code"].isin(not_analysed)
    return rows[keep], int((~keep).sum())


def frozen_source_text(payload: dict, frozen_at) -> str:
    """Which extract a snapshot froze: 'datauttaget 2024-06-30 (inläst 2024-07-02 10:15 UTC)'."""
    extract = payload.get("data_cutoff") or "–"
    loaded = pd.Timestamp(frozen_at)
    return f"datauttaget {extract} (inläst {loaded:%Y-%m-%d %H:%M} UTC)"


def checkpoint_summary(
    frozen: pd.DataFrame,
    frozen_rows: pd.DataFrame,
    participants: pd.DataFrame,
    arms: list[str],
    threshold: float,
    as_of,
    count=str,
    *,
    everyone_randomised: bool = False,
) -> pd.DataFrame:
    """One row per frozen checkpoint and one for now, as the reports show them: when the checkpoint
    was reached, which extract (cut-off and load time) the snapshot froze, how many it holds (the
    analysis population, as in Table 1), SMD for gender and age and the verdict. `count` formats a
    count for the viewer (small-cell suppression). `everyone_randomised` (a suppressed role): every
    randomised person counts (intention to treat) and no excluded count is given, since the
    analysed number beside the checkpoint's size would give the excluded back (docs/access.md)."""

    excluded_codes = (
        set(participants.loc[participants["is_excluded_after_randomisation"].astype(bool), "study_code"])
        if "is_excluded_after_randomisation" in participants
        else set()
    )

    def row(label: str, reached, source: str, frame: pd.DataFrame, snapshot: pd.DataFrame) -> dict:
        # Excluded after randomisation among the snapshot's people: in "Randomiserade" or not, as the
        # configuration says (frame is the snapshot after `analysed_rows`).
        excluded = int(snapshot["study_code"].isin(excluded_codes).sum())
        smd = smd_table(frame, arms[0], arms[1]) if len(arms) == 2 else pd.DataFrame(columns=["variable", "SMD"])
        by = {k: v for k, v in zip(smd["variable"], smd["SMD"], strict=False) if v is not None and not pd.isna(v)}
        flagged = [v for v in ("gender", "age") if by.get(v) is not None and by[v] > threshold]
        smd_text = {
            v: ("–" if by.get(v) is None else rounding.decimal_text(float(by[v]), 2)) for v in ("gender", "age")
        }
        excluded_column = (
            {} if everyone_randomised else {"Exkluderade efter randomisering": count(excluded) if excluded else "0"}
        )
        return {
            "Tidpunkt": label,
            "Nådd": "–" if reached is None else reached.isoformat(),
            "Fryst ur": source,
            # Everyone randomised is a plain randomisation count (public by rule); the analysed is not.
            "Randomiserade": str(len(frame)) if everyone_randomised else count(len(frame)),
            **excluded_column,
            "SMD kön": smd_text["gender"],
            "SMD ålder": smd_text["age"],
            "Bedömning": ("Obalans: " + ", ".join("kön" if v == "gender" else "ålder" for v in flagged))
            if flagged
            else f"I balans (SMD ≤ {rounding.plain_text(threshold)})",
        }

    rows = []
    for _, cp in frozen.iterrows():
        number = int(cp["checkpoint"])
        payload = json.loads(cp["payload"]) if isinstance(cp["payload"], str) else dict(cp["payload"] or {})
        snapshot = frozen_rows[frozen_rows["checkpoint"] == number]
        part = snapshot if everyone_randomised else analysed_rows(snapshot, participants)[0]
        reached = pd.Timestamp(cp["reached_on"]).date() if pd.notna(cp["reached_on"]) else None
        source = frozen_source_text(payload, cp["frozen_at"])
        rows.append(row(f"Kontrollpunkt {number} (fryst)", reached, source, part, snapshot))
    now = participants if everyone_randomised else analysed_rows(participants, participants)[0]
    rows.append(row("Nu (alla randomiserade)", as_of, "aktuella data", now, participants))
    return pd.DataFrame(rows)


def checkpoint_sizes(target: int, checkpoints: int = 3) -> list[int]:
    """Number randomised at each checkpoint: each third (by default) of the target, rounded up."""
    return [math.ceil(target * k / checkpoints) for k in range(1, checkpoints + 1)]


def share_by_arm(frame: pd.DataFrame, column: str, voc: vocab.Vocabulary, arms: list[str]) -> pd.DataFrame:
    """Long frame (Grupp, level, Antal, Andel) of a categorical characteristic within each arm."""
    rows = []
    for arm in arms:
        part = frame.loc[frame["arm"] == arm, column].dropna()
        for key in voc.keys:
            count = int((part == key).sum())
            rows.append(
                {
                    "Grupp": arm,
                    "Nivå": voc.label(key),
                    "Antal": count,
                    "Andel": count / len(part) if len(part) else None,
                }
            )
    return pd.DataFrame(rows)


def age_bands_by_arm(frame: pd.DataFrame, arms: list[str]) -> pd.DataFrame:
    bands = frame["age"].map(vocab.age_band)
    rows = []
    for arm in arms:
        part = bands[frame["arm"] == arm].dropna()
        for _, _, label in vocab.AGE_BANDS:
            count = int((part == label).sum())
            rows.append(
                {"Grupp": arm, "Åldersgrupp": label, "Antal": count, "Andel": count / len(part) if len(part) else None}
            )
    return pd.DataFrame(rows)


def age_summary(frame: pd.DataFrame, arms: list[str]) -> pd.DataFrame:
    rows = []
    for arm in arms:
        age = frame.loc[frame["arm"] == arm, "age"].dropna().astype(float)
        rows.append(
            {
                "Grupp": arm,
                "n": int(len(age)),
                "Medelålder": rounding.round_float(rounding.mean(age), 1) if len(age) else None,
                "SD": rounding.round_float(float(age.std(ddof=1)), 1) if len(age) > 1 else None,
                "Median": age.median() if len(age) else None,
                "Min": age.min() if len(age) else None,
                "Max": age.max() if len(age) else None,
            }
        )
    return pd.DataFrame(rows)


def flagged_smd(table: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """`smd_table` with a visible flag where |SMD| exceeds the threshold."""
    out = table.drop(columns=["variable"]).copy()
    out["SMD"] = out["SMD"].map(lambda v: None if v is None or pd.isna(v) else rounding.round_float(float(v), 3))
    out["Bedömning"] = [
        "–" if v is None or pd.isna(v) else (f"⚠ över {rounding.plain_text(threshold)}" if abs(v) > threshold else "ok")
        for v in out["SMD"]
    ]
    return out


def rows_of(table: pd.DataFrame, label: str) -> pd.Series:
    """Table 1's rows of the characteristic `label` (its row names carry "(n=…)" when answers are
    missing, ", medelvärde (spridning)" for a number)."""
    names = table["Egenskap"].astype(str)
    return (names == label) | names.str.startswith(f"{label} (n=") | names.str.startswith(f"{label}, medelvärde")


def smd_masked(smd: pd.DataFrame, table: pd.DataFrame, count_columns: list[str], mask_text: str) -> pd.DataFrame:
    """`flagged_smd` with the SMD (and its flag) of every characteristic that has a masked count in
    the suppressed Table 1 `table` left empty ("–")."""
    out = smd.copy()
    for i, label in zip(out.index, out["Egenskap"], strict=True):
        block = table.loc[rows_of(table, label), count_columns]
        if (block.astype(str) == mask_text).any(axis=None):
            out.at[i, "SMD"] = None
            out.at[i, "Bedömning"] = "–"
    return out


def table_one(frame: pd.DataFrame, arms: list[str]) -> pd.DataFrame:
    """`baseline_table` with each group's size in its column headings, as in Table 1."""
    table = baseline_table(frame, arms)
    sizes = {"Totalt": len(frame), **{a: int((frame["arm"] == a).sum()) for a in arms}}
    renamed = {}
    for name, n in sizes.items():
        renamed[f"{name} n"] = f"{name} (n={n}) · n"
        renamed[f"{name} %"] = f"{name} (n={n}) · %"
    return table.rename(columns=renamed)


# --- charts -------------------------------------------------------------------------------------------


def sv_number(x: float) -> str:
    """A configured threshold as written, with a decimal comma (no rounding)."""
    return rounding.plain_text(x)


def age_box_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """Per arm the box plot's statistics of age: min, quartiles (linear interpolation, as Vega-Lite's
    q1/median/q3) and max. Drawn instead of sending every participant's age to the browser."""
    data = frame[["arm", "age"]].dropna()
    grouped = data.groupby("arm", sort=True)["age"]
    quartiles = grouped.quantile([0.25, 0.5, 0.75]).unstack()
    out = pd.DataFrame(
        {
            "Grupp": quartiles.index,
            "lägst": grouped.min().to_numpy(),
            "q1": quartiles[0.25].to_numpy(),
            "median": quartiles[0.5].to_numpy(),
            "q3": quartiles[0.75].to_numpy(),
            "högst": grouped.max().to_numpy(),
        }
    )
    return out.astype({c: float for c in ["lägst", "q1", "median", "q3", "högst"]}).reset_index(drop=True)


def gender_chart(shares: pd.DataFrame, expected: float) -> alt.Chart:
    """Stacked 100 % columns of gender per arm, women at the bottom so the expected share reads off."""
    order = ["Kvinna", "Man", "Annat/icke-binär"]
    data = shares.assign(
        o=shares["Nivå"].map({label: i for i, label in enumerate(order)}),
        **{"Andel (text)": formats.share_texts(shares["Andel"])},
    )
    bars = (
        alt.Chart(data)
        .mark_bar(size=48)
        .encode(
            x=alt.X("Grupp:N", title="", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("Andel:Q", title="Andel av gruppen", stack="normalize", axis=charts.percent_axis()),
            color=alt.Color(
                "Nivå:N",
                title="Kön",
                scale=alt.Scale(domain=order, range=[charts.PALETTE[1], charts.PALETTE[0], charts.PALETTE[5]]),
            ),
            order=alt.Order("o:Q"),
            tooltip=["Grupp:N", alt.Tooltip("Nivå:N", title="Kön"), alt.Tooltip("Andel (text):N", title="Andel")],
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"y": [expected], "t": [f"Förväntad andel kvinnor {formats.pct(expected, 1)}"]}))
        .mark_rule(strokeDash=[6, 4], color="#333")
        .encode(y="y:Q", tooltip=alt.Tooltip("t:N", title=""))
    )
    return charts.finish(alt.layer(bars, rule), 280)


def age_chart(stats: pd.DataFrame) -> alt.Chart:
    """Box plot (min–max whiskers) from precomputed statistics per arm: rule, box and median tick."""
    x = alt.X("Grupp:N", title="", axis=alt.Axis(labelAngle=0))
    tooltip = [
        "Grupp:N",
        alt.Tooltip("högst:Q", title="Högst"),
        alt.Tooltip("q3:Q", title="Q3"),
        alt.Tooltip("median:Q", title="Median"),
        alt.Tooltip("q1:Q", title="Q1"),
        alt.Tooltip("lägst:Q", title="Lägst"),
    ]
    base = alt.Chart(stats).encode(x=x, tooltip=tooltip)
    whisker = base.mark_rule().encode(
        y=alt.Y("lägst:Q", title="Ålder vid randomisering (år)", scale=alt.Scale(zero=False)), y2="högst:Q"
    )
    box = base.mark_bar(size=48).encode(
        y="q1:Q", y2="q3:Q", color=alt.Color("Grupp:N", legend=None, scale=alt.Scale(range=charts.PALETTE[2:]))
    )
    median = base.mark_tick(size=48, color="white").encode(y="median:Q")
    return charts.finish(alt.layer(whisker, box, median), 280)


def smd_chart(smd: pd.DataFrame, limit: float) -> alt.Chart:
    data = smd.dropna(subset=["SMD"]).assign(order=range(len(smd.dropna(subset=["SMD"]))))
    # The tooltip's SMD is written on the server, rounded half up (not a client-side ".3f").
    data["SMD (text)"] = [formats.number_text(v, 3) for v in data["SMD"]]
    data["Flagga"] = data["Bedömning"].where(data["Bedömning"] == "ok", f"|SMD| > {sv_number(limit)}")
    points = (
        alt.Chart(data)
        .mark_point(filled=True, size=80)
        .encode(
            y=alt.Y("Egenskap:N", sort=alt.SortField("order"), title="", axis=alt.Axis(labelLimit=320)),
            x=alt.X(
                "SMD:Q",
                title="|SMD| mellan grupperna",
                scale=alt.Scale(domain=[0, max(0.3, float(data["SMD"].max() or 0) + 0.05)]),
            ),
            color=alt.Color(
                "Flagga:N",
                title="",
                scale=alt.Scale(domain=["ok", f"|SMD| > {sv_number(limit)}"], range=[charts.PALETTE[0], "#b94a48"]),
            ),
            tooltip=["Egenskap:N", alt.Tooltip("SMD (text):N", title="SMD"), "n med uppgift:Q"],
        )
    )
    rule = alt.Chart(pd.DataFrame({"x": [limit]})).mark_rule(strokeDash=[6, 4], color="#b94a48").encode(x="x:Q")
    return charts.finish(alt.layer(points, rule), 24 * max(len(data), 1) + 40)
