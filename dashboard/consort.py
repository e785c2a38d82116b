"""The CONSORT flow diagram (CONSORT 2025 item 22a): counts per box from the derived tables and an
Altair drawing of the boxes, for the recruitment page and the steering report.

Boxes (Swedish labels): assessed for eligibility (= referrals, a re-referral counts again),
excluded with reasons per stage, still in the pipeline, randomised, allocated per arm (received the
allocated intervention or not), left the study per arm with reasons, stopped IPS with reasons
(intervention arm; still followed up), and analysed per arm by intention to treat (everyone randomised, with those who left and so lack
outcome data shown as such — preliminary
while the study runs). Every box is checked to add up before anything is drawn.
"""

from __future__ import annotations

import textwrap

import altair as alt
import pandas as pd

from dashboard import privacy
from schema import vocab

PRELIMINARY = "preliminärt – studien pågår"
STAGE_ORDER = [k for k in vocab.EXCLUSION_STAGES.keys]
STAGE_TEXT = {
    "referral": "Före informationsmöte",
    "info_meeting": "Informationsmöte/motivation",
    "consent": "Erbjudande/samtycke",
    "enrolment": "Inskrivningssamtal",
    "baseline": "Baslinje",
}
MISSING = "Uppgift saknas"


class ConsortMismatch(AssertionError):
    """The boxes do not add up: a bug or inconsistent data, never drawn silently."""


def _ips_only() -> dict:
    """An arm box's fields that only the intervention arm fills in (who received IPS, who stopped it),
    empty: a fresh dict each time, since each box fills in its own."""
    return {"received": None, "not_received": None, "stopped": None, "stopped_still_in": None, "stopped_reasons": []}


def _reasons(values: pd.Series, labels: vocab.Vocabulary) -> list[tuple[str, int]]:
    """(Swedish reason, n), most common first, ties by label."""
    text = values.map(lambda k: labels.label(k) if isinstance(k, str) and k else MISSING)
    counts = text.value_counts()
    return sorted(((str(k), int(v)) for k, v in counts.items()), key=lambda kv: (-kv[1], kv[0]))


def consort_counts(
    referrals_df: pd.DataFrame,
    participants_df: pd.DataFrame,
    *,
    arms: list[str] | None = None,
    intervention_arm: str | None = "IPS+TAU",
) -> dict:
    """Numbers for every box of the flow diagram.

    `referrals_df` is the referral funnel (one row per referral), `participants_df` the randomised
    participants, both for the same districts. `arms` fixes the order of the arm columns (default:
    sorted labels present). `intervention_arm` names the IPS arm; pass None for a blinded viewer,
    whose arms are coded: then no box tells which arm had specialists or stopped IPS.
    """
    ref = referrals_df
    people = participants_df
    arms = list(arms) if arms is not None else sorted(str(a) for a in people["arm"].dropna().unique())
    excluded = ref[ref["is_excluded"].astype(bool)]
    stages = []
    for key in STAGE_ORDER:
        part = excluded[excluded["excluded_stage"] == key]
        if len(part):
            stages.append(
                {
                    "stage": key,
                    "label": STAGE_TEXT[key],
                    "n": int(len(part)),
                    "reasons": _reasons(part["exclusion_reason"], vocab.EXCLUSION_REASON),
                }
            )
    other = excluded[~excluded["excluded_stage"].isin(STAGE_ORDER)]
    if len(other):
        stages.append(
            {
                "stage": None,
                "label": MISSING,
                "n": int(len(other)),
                "reasons": _reasons(other["exclusion_reason"], vocab.EXCLUSION_REASON),
            }
        )
    arm_boxes = []
    for arm in arms:
        part = people[people["arm"] == arm]
        left = part[part["is_left"].astype(bool)]
        # Found ineligible after randomisation (issue 12); whether they stay in the analysis is the
        # study configuration's `[analysis]` rule, applied in the store as `is_analysed`.
        after = (
            part[part["is_excluded_after_randomisation"].astype(bool)]
            if "is_excluded_after_randomisation" in part
            else part.iloc[0:0]
        )
        analysed = int(part["is_analysed"].astype(bool).sum()) if "is_analysed" in part else int(len(part))
        box: dict = {
            "arm": str(arm),
            "allocated": int(len(part)),
            "left": int(len(left)),
            "left_reasons": _reasons(left["left_reason"], vocab.EVENT_REASON),
            "excluded_after": int(len(after)),
            "excluded_after_reasons": _reasons(after["excluded_after_reason"], vocab.EXCLUSION_REASON)
            if len(after)
            else [],
            # Intention to treat: everyone randomised is analysed in the allocated arm, those who left
            # included (they lack outcome data, they are not removed).
            "analysed": analysed,
            "lacking_outcome": int(len(left)),
            "is_intervention": None,
            **_ips_only(),
        }
        if intervention_arm is not None:
            is_ips = str(arm) == intervention_arm
            box["is_intervention"] = is_ips
            if is_ips:
                # Received IPS = assigned to an employment specialist (tilldelning).
                received = int(part["specialist_id"].notna().sum())
                stopped = part[part["is_stopped_ips"].astype(bool)]
                box.update(
                    received=received,
                    not_received=int(len(part) - received),
                    stopped=int(len(stopped)),
                    stopped_still_in=int((~stopped["is_left"].astype(bool)).sum()),
                    stopped_reasons=_reasons(stopped["stopped_ips_reason"], vocab.EVENT_REASON),
                )
            else:
                # Treatment as usual is given by the social services and not registered per person.
                box.update(received=int(len(part)), not_received=0)
        arm_boxes.append(box)
    counts = {
        "assessed": int(len(ref)),
        "rereferrals": int(ref["is_rereferral"].astype(bool).sum()) if "is_rereferral" in ref else 0,
        "excluded": int(len(excluded)),
        "excluded_by_stage": stages,
        "in_progress": int(ref["is_in_progress"].astype(bool).sum()),
        "randomised": int(ref["is_randomised"].astype(bool).sum()),
        "arms": arm_boxes,
        "blinded": intervention_arm is None,
    }
    check(counts, n_participants=len(people))
    return counts


def check(counts: dict, n_participants: int | None = None) -> None:
    """Raise ConsortMismatch unless every box adds up."""

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise ConsortMismatch(f"CONSORT-rutorna går inte ihop: {what}")

    need(
        counts["assessed"] == counts["excluded"] + counts["in_progress"] + counts["randomised"],
        "bedömda ≠ exkluderade + pågår + randomiserade",
    )
    need(counts["excluded"] == sum(s["n"] for s in counts["excluded_by_stage"]), "exkluderade ≠ summan per steg")
    for s in counts["excluded_by_stage"]:
        need(s["n"] == sum(n for _, n in s["reasons"]), f"orsakerna vid {s['label']}")
    need(counts["randomised"] == sum(a["allocated"] for a in counts["arms"]), "randomiserade ≠ summan av grupperna")
    if n_participants is not None:
        need(counts["randomised"] == n_participants, "randomiserade i remissflödet ≠ deltagare")
    for a in counts["arms"]:
        need(a["left"] == sum(n for _, n in a["left_reasons"]), f"orsaker till att lämna ({a['arm']})")
        need(a["excluded_after"] == sum(n for _, n in a["excluded_after_reasons"]), f"exkluderade efter ({a['arm']})")
        need(
            a["allocated"] - a["excluded_after"] <= a["analysed"] <= a["allocated"],
            f"analyserade ({a['arm']})",
        )
        need(a["lacking_outcome"] == a["left"], f"saknar utfallsdata ({a['arm']})")
        if a["received"] is not None:
            need(a["received"] + a["not_received"] == a["allocated"], f"fick insatsen ({a['arm']})")
        if a["stopped"] is not None:
            need(a["stopped"] == sum(n for _, n in a["stopped_reasons"]), f"orsaker till avslutad IPS ({a['arm']})")
            need(a["stopped_still_in"] <= a["stopped"], f"avslutat IPS ({a['arm']})")


# --- display ------------------------------------------------------------------------------------------
# `mask` = (threshold, text) for roles whose figures leave the project group, else None. Counts that
# belong to a group whose total is shown (reasons in a box, stages of the exclusion box, the three
# ways out of the assessed box) are suppressed together, so a hidden count cannot be backed out.

Mask = tuple[int, str] | None


def _many(values: list[int], mask: Mask) -> list[str]:
    if mask is None:
        return [str(int(v)) for v in values]
    return privacy.suppress_counts([int(v) for v in values], mask[0], mask[1])


def _one(value: int | None, mask: Mask) -> str:
    if value is None:
        return "–"
    return _many([value], mask)[0]


def _joint(counts: dict, mask: Mask) -> dict:
    """The boxes before allocation as `privacy.recruitment_hidden` decided for this scope (passed in
    `counts["hidden"]`), so the diagram masks exactly what the funnel and the reasons table mask."""
    hidden = counts["hidden"]
    text = mask[1] if mask else ""

    def one(key, value: int) -> str:
        return text if key in hidden else str(int(value))

    def reason_key(stage, label):
        keys = [k for k in vocab.EXCLUSION_REASON.keys if vocab.EXCLUSION_REASON.label(k) == label]
        return ("consort", "reason", stage, keys[0] if keys else (None if label == MISSING else label))

    return {
        "assessed": one(("consort", "assessed"), counts["assessed"]),
        "rereferrals": one(("funnel", "rereferrals"), counts["rereferrals"]),
        "excluded": one(("consort", "excluded"), counts["excluded"]),
        "in_progress": one(("consort", "in_progress"), counts["in_progress"]),
        "randomised": one(("consort", "randomised"), counts["randomised"]),
        "excluded_by_stage": [
            {
                "label": s["label"],
                "n": one(("consort", "stage", s["stage"]), s["n"]),
                "reasons": [(r, one(reason_key(s["stage"], r), v)) for r, v in s["reasons"]],
            }
            for s in counts["excluded_by_stage"]
        ],
        "arms": [],
    }


def _joint_arm(a: dict, hidden, mask: tuple[int, str]) -> dict:
    """One arm's boxes as `privacy.attrition_hidden_scopes` decided for this scope (passed in
    `counts["attrition_hidden"]`), so they mask exactly what Översikt, Bortfall and the steering
    report mask. Allocated is a plain randomisation count (fixed in the decision; a small one masked
    as any small count); received = allocated − not received, and analysed, are hidden with their
    figure; "lacking outcome data" is "left"."""
    arm = a["arm"]
    text = mask[1]

    def one(key, value: int) -> str:
        return text if key in hidden else str(int(value))

    box = {
        "arm": arm,
        "is_intervention": a["is_intervention"],
        "allocated": _one(a["allocated"], mask),
        "left": one(("left", arm), a["left"]),
        "analysed": one(("analysed", arm), a["analysed"]),
        "lacking_outcome": one(("left", arm), a["lacking_outcome"]),
        "excluded_after": one(("excl_after", arm), a["excluded_after"]),
        "excluded_after_reasons": [(r, one(("excl_after", arm, r), n)) for r, n in a["excluded_after_reasons"]],
        "left_reasons": [(r, one(("reason", r, arm), n)) for r, n in a["left_reasons"]],
        **_ips_only(),
    }
    if a["received"] is not None:
        if a["is_intervention"]:
            not_received = one(("not_received", arm), a["not_received"])
            box["not_received"] = not_received
            box["received"] = text if not_received == text else str(int(a["received"]))
        else:  # treatment as usual: everyone allocated (a plain count)
            box["received"], box["not_received"] = _one(a["received"], mask), str(int(a["not_received"]))
    if a["stopped"] is not None:
        box["stopped"] = one(("stopped", arm), a["stopped"])
        box["stopped_still_in"] = one(("stopped_still_in", arm), a["stopped_still_in"])
        box["stopped_reasons"] = [(r, one(("stopped_reason", r, arm), n)) for r, n in a["stopped_reasons"]]
    return box


def shown(counts: dict, mask: Mask = None) -> dict:
    """Every box's numbers as display strings (masked and suppressed together where needed)."""
    if mask is not None and "hidden" in counts:
        out = _joint(counts, mask)
    else:
        excluded, in_progress, randomised = _many(
            [counts["excluded"], counts["in_progress"], counts["randomised"]], mask
        )
        stage_n = _many([s["n"] for s in counts["excluded_by_stage"]], mask)
        out = {
            "assessed": _one(counts["assessed"], mask),
            "rereferrals": _one(counts["rereferrals"], mask),
            "excluded": excluded,
            "in_progress": in_progress,
            "randomised": randomised,
            "excluded_by_stage": [
                {
                    "label": s["label"],
                    "n": n,
                    "reasons": list(
                        zip([r for r, _ in s["reasons"]], _many([v for _, v in s["reasons"]], mask), strict=True)
                    ),
                }
                for s, n in zip(counts["excluded_by_stage"], stage_n, strict=True)
            ],
            "arms": [],
        }
    if mask is not None and "attrition_hidden" in counts:
        out["arms"] = [_joint_arm(a, counts["attrition_hidden"], mask) for a in counts["arms"]]
        return out
    for a in counts["arms"]:
        box = {
            "arm": a["arm"],
            "is_intervention": a["is_intervention"],
            "allocated": _one(a["allocated"], mask),
            "left": _one(a["left"], mask),
            "analysed": _one(a["analysed"], mask),
            "lacking_outcome": _one(a["lacking_outcome"], mask),
            "excluded_after": _one(a["excluded_after"], mask),
            "excluded_after_reasons": list(
                zip(
                    [r for r, _ in a["excluded_after_reasons"]],
                    _many([v for _, v in a["excluded_after_reasons"]], mask),
                    strict=True,
                )
            ),
            "left_reasons": list(
                zip([r for r, _ in a["left_reasons"]], _many([v for _, v in a["left_reasons"]], mask), strict=True)
            ),
            **_ips_only(),
        }
        if a["received"] is not None:
            box["received"], box["not_received"] = _many([a["received"], a["not_received"]], mask)
        if a["stopped"] is not None:
            box["stopped"] = _one(a["stopped"], mask)
            still, then_left = _many([a["stopped_still_in"], a["stopped"] - a["stopped_still_in"]], mask)
            box["stopped_still_in"] = (
                still if then_left == str(a["stopped"] - a["stopped_still_in"]) else (mask[1] if mask else still)
            )
            box["stopped_reasons"] = list(
                zip(
                    [r for r, _ in a["stopped_reasons"]], _many([v for _, v in a["stopped_reasons"]], mask), strict=True
                )
            )
        out["arms"].append(box)
    return out


def box_table(counts: dict, mask: Mask = None) -> pd.DataFrame:
    """The boxes as a table (Fas, Ruta, Grupp, Orsak, Antal) — what the page offers for download."""
    s = shown(counts, mask)
    rows = []

    def add(phase: str, box: str, n: str, group: str = "", reason: str = "") -> None:
        rows.append({"Fas": phase, "Ruta": box, "Grupp": group, "Orsak": reason, "Antal": n})

    add("Rekrytering", "Bedömda för behörighet (remisser)", s["assessed"])
    add("Rekrytering", "Exkluderade", s["excluded"])
    for stage in s["excluded_by_stage"]:
        add("Rekrytering", f"Exkluderade: {stage['label']}", stage["n"])
        for reason, n in stage["reasons"]:
            add("Rekrytering", f"Exkluderade: {stage['label']}", n, reason=reason)
    add("Rekrytering", "Pågår, ännu inte randomiserade", s["in_progress"])
    add("Rekrytering", "Randomiserade", s["randomised"])
    for a in s["arms"]:
        g = a["arm"]
        add("Tilldelning", "Tilldelade", a["allocated"], g)
        if a["received"] is not None:
            add("Tilldelning", "Fick tilldelad insats", a["received"], g)
            add("Tilldelning", "Fick inte tilldelad insats", a["not_received"], g)
        add("Uppföljning", "Lämnat studien", a["left"], g)
        for reason, n in a["left_reasons"]:
            add("Uppföljning", "Lämnat studien", n, g, reason)
        if a["stopped"] is not None:
            add("Uppföljning", "Avslutat IPS", a["stopped"], g)
            add("Uppföljning", "Avslutat IPS, kvar i studien", a["stopped_still_in"], g)
            for reason, n in a["stopped_reasons"]:
                add("Uppföljning", "Avslutat IPS", n, g, reason)
        if a["excluded_after"] != "0":
            add("Uppföljning", "Exkluderad efter randomisering", a["excluded_after"], g)
            for reason, n in a["excluded_after_reasons"]:
                add("Uppföljning", "Exkluderad efter randomisering", n, g, reason)
        add("Analys", f"Analyseras enligt ITT ({PRELIMINARY})", a["analysed"], g)
        add("Analys", "Saknar utfallsdata efter att ha lämnat studien", a["lacking_outcome"], g)
    return pd.DataFrame(rows, columns=["Fas", "Ruta", "Grupp", "Orsak", "Antal"])


# --- drawing ------------------------------------------------------------------------------------------
# Layout in pixels: the chart's scales map data units 1:1 to pixels. Each line of text is its own
# datum (x offset for indentation, its own weight), because Vega trims leading whitespace.

W = 760
LINE = 14
PAD = 8
GAP = 34
INDENT = 12
CHAR_PX = 6.2  # average width of a character at font size 11, for wrapping
ARM_W = 300
SIDE_W = 330

Line = tuple[str, int, bool]  # text, indent level, bold


def _wrapped(text: str, width_px: float, indent: int = 0, bold: bool = False) -> list[Line]:
    chars = max(int((width_px - 2 * PAD - indent * INDENT) / CHAR_PX), 10)
    parts = textwrap.wrap(text, width=chars) or [""]
    return [(parts[0], indent, bold)] + [(p, indent + 1, bold) for p in parts[1:]]


def _reason_lines(reasons: list[tuple[str, str]], width_px: float, indent: int) -> list[Line]:
    lines: list[Line] = []
    for reason, n in reasons:
        lines += _wrapped(f"• {reason}: {n}", width_px, indent)
    return lines


def _layout(counts: dict, mask: Mask) -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    """(boxes, text lines, arrows, phase labels) with coordinates; y grows downward."""
    s = shown(counts, mask)
    boxes: list[dict] = []
    texts: list[dict] = []
    arrows: list[dict] = []

    def box(key: str, x: float, y: float, w: float, lines: list[Line], height_lines: int | None = None) -> dict:
        h = 2 * PAD + LINE * (height_lines or len(lines))
        b = {"key": key, "x": x, "y": y, "x2": x + w, "y2": y + h}
        boxes.append(b)
        for i, (text, indent, bold) in enumerate(lines):
            texts.append(
                {"key": key, "tx": x + PAD + indent * INDENT, "ty": y + PAD + i * LINE, "text": text, "bold": bold}
            )
        return b

    main_x, main_w = 60, 300
    centre = main_x + main_w / 2
    assessed_lines = [("Bedömda för behörighet", 0, True), (f"(remisser) n = {s['assessed']}", 0, True)]
    if counts["rereferrals"]:
        assessed_lines.append((f"varav {s['rereferrals']} nya remisser efter tidigare exklusion", 0, False))
    assessed = box("assessed", main_x, 10, main_w, assessed_lines)
    side_x = W - SIDE_W - 10
    lines: list[Line] = [(f"Exkluderade n = {s['excluded']}", 0, True)]
    for stage in s["excluded_by_stage"]:
        lines += _wrapped(f"{stage['label']}: {stage['n']}", SIDE_W, 0, False)
        lines += _reason_lines(stage["reasons"], SIDE_W, 1)
    excluded = box("excluded", side_x, assessed["y2"] + 12, SIDE_W, lines)
    progress = box(
        "in_progress",
        side_x,
        excluded["y2"] + 12,
        SIDE_W,
        [(f"Pågår, ännu inte randomiserade n = {s['in_progress']}", 0, True)],
    )
    for target in (excluded, progress):
        mid = target["y"] + PAD + LINE / 2
        arrows.append({"x": centre, "y": mid, "x2": target["x"], "y2": mid, "head": "right"})
    y = progress["y2"] + 20
    arrows.append({"x": centre, "y": assessed["y2"], "x2": centre, "y2": y, "head": "down"})
    randomised = box("randomised", main_x, y, main_w, [(f"Randomiserade n = {s['randomised']}", 0, True)])

    n_arms = max(len(s["arms"]), 1)
    col_gap = (W - 60 - n_arms * ARM_W) / (n_arms - 1) if n_arms > 1 else 0
    xs = [60 + i * (ARM_W + col_gap) for i in range(n_arms)]
    split_y = randomised["y2"] + GAP / 2
    arrows.append({"x": centre, "y": randomised["y2"], "x2": centre, "y2": split_y, "head": None})
    if n_arms > 1:
        arrows.append({"x": xs[0] + ARM_W / 2, "y": split_y, "x2": xs[-1] + ARM_W / 2, "y2": split_y, "head": None})
    rows: list[list[list[Line]]] = [[], [], []]
    for a in s["arms"]:
        alloc: list[Line] = [(f"Tilldelade {a['arm']} n = {a['allocated']}", 0, True)]
        if a["received"] is not None:
            if a["is_intervention"]:
                alloc += [
                    (f"• Fick IPS (har arbetsspecialist): {a['received']}", 1, False),
                    (f"• Fick inte IPS: {a['not_received']}", 1, False),
                ]
            else:
                alloc += [
                    (f"• Fick {a['arm']}: {a['received']}", 1, False),
                    ("(ordinarie insatser, registreras inte)", 2, False),
                ]
        follow: list[Line] = [(f"Lämnat studien n = {a['left']}", 0, True)]
        follow += _reason_lines(a["left_reasons"], ARM_W, 1)
        if a["stopped"] is not None and a["is_intervention"]:
            follow += [
                (f"Avslutat IPS n = {a['stopped']}", 0, True),
                (f"varav kvar i studien: {a['stopped_still_in']}", 1, False),
            ]
            follow += _reason_lines(a["stopped_reasons"], ARM_W, 1)
        if a["excluded_after"] != "0":
            follow += [(f"Exkluderad efter randomisering n = {a['excluded_after']}", 0, True)]
            follow += _reason_lines(a["excluded_after_reasons"], ARM_W, 1)
        analysed: list[Line] = [
            (f"Analyseras n = {a['analysed']}", 0, True),
            ("(ITT: alla randomiserade i sin grupp)", 1, False),
            (f"• saknar utfallsdata: {a['lacking_outcome']}", 1, False),
            ("(lämnat studien, följs inte upp)", 2, False),
            (f"({PRELIMINARY})", 0, False),
        ]
        for i, part in enumerate((alloc, follow, analysed)):
            rows[i].append(part)
    y = split_y + GAP / 2
    row_tops = []
    for i, (key, row) in enumerate(zip(("allocated", "followup", "analysed"), rows, strict=True)):
        height = max((len(lines) for lines in row), default=1)
        row_tops.append(y)
        for j, lines in enumerate(row):
            box(f"{key}_{j}", xs[j], y, ARM_W, lines, height)
            top = y - (GAP / 2 if i == 0 else GAP)
            arrows.append({"x": xs[j] + ARM_W / 2, "y": top, "x2": xs[j] + ARM_W / 2, "y2": y, "head": "down"})
        y = boxes[-1]["y2"] + GAP
    phases = [{"label": "Rekrytering", "y": 10, "y2": randomised["y2"]}]
    for i, (top, label) in enumerate(zip(row_tops, ["Tilldelning", "Uppföljning", "Analys"], strict=True)):
        bottom = (row_tops[i + 1] - GAP) if i + 1 < len(row_tops) else y - GAP
        phases.append({"label": label, "y": top, "y2": bottom})
    return boxes, texts, arrows, phases


def consort_chart(counts: dict, mask: Mask = None, scale: float = 1.0) -> alt.LayerChart:
    """The flow diagram as rect + text + rule marks on a fixed pixel grid (Swedish labels), drawn
    `scale` times its grid's size: text, boxes and gaps grow together, so the wrapping still fits."""
    check(counts)
    boxes, texts, arrows, phases = _layout(counts, mask)
    height = int(max(b["y2"] for b in boxes) + 10)
    x = alt.Scale(domain=[0, W], nice=False, zero=False)
    y = alt.Scale(domain=[0, height], nice=False, zero=False, reverse=True)

    def X(field: str) -> alt.X:
        return alt.X(f"{field}:Q", scale=x, axis=None)

    def Y(field: str) -> alt.Y:
        return alt.Y(f"{field}:Q", scale=y, axis=None)

    rects = (
        alt.Chart(pd.DataFrame(boxes))
        .mark_rect(fill="white", stroke="#1f5f8b", strokeWidth=1.2)
        .encode(x=X("x"), x2="x2", y=Y("y"), y2="y2")
    )
    lines = pd.DataFrame(texts)

    def text_layer(part: pd.DataFrame, weight: str) -> alt.Chart:
        return (
            alt.Chart(part)
            .mark_text(align="left", baseline="top", fontSize=11 * scale, color="#222", fontWeight=weight)
            .encode(x=X("tx"), y=Y("ty"), text="text:N")
        )

    arrow_frame = pd.DataFrame(arrows)
    rules = alt.Chart(arrow_frame).mark_rule(color="#555", strokeWidth=1.2).encode(x=X("x"), x2="x2", y=Y("y"), y2="y2")
    heads = arrow_frame[arrow_frame["head"].notna()].copy()
    heads["shape"] = heads["head"].map({"down": "triangle-down", "right": "triangle-right"})
    tips = (
        alt.Chart(heads)
        .mark_point(filled=True, size=55 * scale**2, color="#555", opacity=1)
        .encode(x=X("x2"), y=Y("y2"), shape=alt.Shape("shape:N", scale=None, legend=None))
    )
    side = pd.DataFrame(phases).assign(x=4, x2=40, tx=22)
    side["mid"] = (side["y"] + side["y2"]) / 2
    side_rects = (
        alt.Chart(side).mark_rect(fill="#d6e6f2", stroke="#1f5f8b").encode(x=X("x"), x2="x2", y=Y("y"), y2="y2")
    )
    side_text = (
        alt.Chart(side)
        .mark_text(angle=270, fontSize=11 * scale, fontWeight="bold", color="#1f5f8b")
        .encode(x=X("tx"), y=Y("mid"), text="label:N")
    )
    return (
        alt.layer(
            side_rects,
            side_text,
            rules,
            tips,
            rects,
            text_layer(lines[lines["bold"]], "bold"),
            text_layer(lines[~lines["bold"]], "normal"),
        )
        .properties(width=W * scale, height=height * scale)
        .configure_view(strokeWidth=0)
    )
