"""The overview's alert list, also used by the steering report: each alert names the page to open."""

from __future__ import annotations

import pandas as pd

from dashboard import attrition, balance, caseload, formats
from dashboard import queries as q
from dashboard.access import Gate
from schema import rounding
from schema.config import StudyConfig


def collect(
    gate: Gate,
    config: StudyConfig,
    selected: tuple[str, ...],
    people: pd.DataFrame,
    followups: pd.DataFrame,
    name=lambda d: d,
) -> list[tuple[str, str, str]]:
    """(Swedish text, page key, icon) for every condition the project or steering group must see."""
    out: list[tuple[str, str, str]] = []
    arms = sorted(people["arm"].dropna().unique())
    # A suppressed role sees the baseline per arm only for all its districts (docs/access.md): no flag
    # for one district's masked counts either.
    whole = not gate.viewer.suppress_small_cells or set(selected) == set(gate.districts)
    if whole and len(arms) == 2 and len(people) >= 10:
        smd = balance.smd_table(people, arms[0], arms[1])
        flagged = smd[(smd["SMD"] > config.balance.smd_threshold) & smd["variable"].isin(["gender", "age"])]
        if len(flagged):
            names = ", ".join(flagged["Egenskap"].str.lower())
            out.append(
                (
                    f"Obalans mellan grupperna i {names} (SMD > {rounding.plain_text(config.balance.smd_threshold)}).",
                    "balans",
                    "⚖️",
                )
            )
    attr = attrition.overall(people)
    if attr["randomised"] and attr["share_left"] > config.attrition.alert_level:
        # The share with the randomised (shown) gives "left" back: not for a suppressed role, whose
        # "left" may be hidden in this scope (privacy.attrition_hidden_scopes).
        share = "" if gate.viewer.suppress_small_cells else f" {formats.pct(attr['left'], attr['randomised'])}"
        out.append(
            (
                f"Bortfallet är{share}, över larmnivån "
                if share
                else "Bortfallet är över larmnivån "
                f"{formats.pct(config.attrition.alert_level, 1)}: överväg överrekrytering.",
                "bortfall",
                "🚪",
            )
        )
    # Specialists and caseloads exist only in the IPS arm: a blinded role gets none (the gate's
    # views are empty for it, and "no specialists" would be a false alarm).
    if not gate.coded:
        # Only the cut-off day is needed: the whole daily series is hundreds of thousands of rows at scale.
        now = caseload.caseload_at(q.caseload_by_district_on(gate, selected, config.data_cutoff))
        if len(now):
            over = now[now > config.caseload.cap]
            # A suppressed role gets no count: the specialist's count may be hidden as a complement
            # (privacy.caseload_hidden_scopes); being over the cap is shown, which is no count.
            exact = not gate.viewer.suppress_small_cells
            for specialist, n in over.items():
                out.append(
                    (
                        f"Arbetsspecialist {specialist} har {int(n)} aktiva deltagare (tak {config.caseload.cap})."
                        if exact
                        else f"Arbetsspecialist {specialist} har fler aktiva deltagare än taket ({config.caseload.cap}).",
                        "belastning",
                        "👥",
                    )
                )
        roster = q.specialist_roster(gate, selected)
        for district_id in caseload.districts_short_of_specialists(roster, config, selected):
            out.append(
                (
                    f"{name(district_id)} har färre än {config.caseload.min_specialists_per_district} "
                    "arbetsspecialister.",
                    "belastning",
                    "👥",
                )
            )
    overdue = int((followups["status"] == "overdue").sum()) if len(followups) else 0
    if overdue:
        # For a suppressed role the count is a figure of the follow-up family, which may be hidden as a
        # complement (ui.followup_hidden): the alert says only that there are some.
        what = (
            "Det finns försenade uppföljningar"
            if gate.viewer.suppress_small_cells
            else f"{overdue} uppföljningar är försenade"
        )
        out.append(
            (
                f"{what} (fönstret har stängt utan genomförd uppföljning).",
                "uppfoljning",
                "📋",
            )
        )
    if gate.viewer.sees_data_quality:
        rejected = q.rejected_rows(gate)
        if len(rejected):
            files = rejected["file_name"].nunique()
            out.append(
                (f"{len(rejected)} rader i {files} filer avvisades vid senaste inläsningen.", "datakvalitet", "🧾")
            )
    return out
