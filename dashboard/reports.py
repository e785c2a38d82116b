"""The meeting outputs: the steering group's quarterly PDF and the project group's monthly Excel pack.

Both are built through a `Gate` like every page, so scope, blinding, the outcome lock and (for the
steering group) small-cell suppression are the same code path as on screen. Builders here are pure:
they read through the gate and return figures or bytes; writing the report snapshot into the store
is the CLI's job (`ipsdash/report.py`), never the app's.
"""

from __future__ import annotations

import io
import json
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from dashboard import alerts as alert_rules
from dashboard import attrition as att
from dashboard import balance, caseload, consort, fidelity, followup, formats, privacy, recruitment
from dashboard import queries as q
from dashboard.access import Gate
from etl.asof import as_of_text
from schema import rounding, vocab
from schema.config import StudyConfig

STEERING = "styrgrupp"
PROJECT = "projektgrupp"
# Roles that may download each report in the app.
STEERING_ROLES = {"projektledare", "projektgrupp", "styrgrupp", "admin"}
PROJECT_ROLES = {"projektledare", "projektgrupp", "admin"}

FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu")]
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}


# --- small helpers --------------------------------------------------------------------------------


def _mask(gate: Gate, config: StudyConfig) -> consort.Mask:
    rule = privacy.policy(gate.viewer, config)
    return None if rule is None else (rule.threshold, rule.text)


def _checkpoints(gate, districts, people, arms, config, cutoff, fmt) -> pd.DataFrame:
    """The frozen balance checkpoints and now, as both reports show them (`balance.checkpoint_summary`)."""
    return balance.checkpoint_summary(
        q.balance_checkpoints_frozen.uncached(gate),
        q.balance_checkpoint_rows.uncached(gate, districts),
        people,
        arms,
        config.balance.smd_threshold,
        cutoff,
        fmt,
        everyone_randomised=gate.viewer.suppress_small_cells,
    )


def _fmt(gate: Gate, config: StudyConfig):
    """Count formatter for this viewer: masks 1..threshold for roles whose figures leave the group."""
    return privacy.counter(gate.viewer, config)


def _share(part: int, whole: int, masked: bool) -> str:
    return "–" if masked else formats.pct(part, whole)


def previous_snapshot(gate: Gate, report: str) -> dict | None:
    """The newest snapshot of `report` left by the CLI: {created_at, data_cutoff, payload}."""
    frame = q.report_snapshot(gate, report)
    if frame.empty:
        return None
    row = frame.iloc[0]
    payload = row["payload"]
    return {
        "created_at": pd.Timestamp(row["created_at"]).to_pydatetime(),
        "data_cutoff": pd.Timestamp(row["data_cutoff"]).date() if pd.notna(row["data_cutoff"]) else None,
        "payload": json.loads(payload) if isinstance(payload, str) else payload,
    }


def _extract_date(gate: Gate):
    """The extract date of the load behind this store (an as-of view keeps it in meta.loads)."""
    frame = gate.frame("select data_cutoff from loads order by load_id desc limit 1")
    return None if frame.empty else pd.Timestamp(frame.iloc[0, 0]).date()


def _arm_order(config: StudyConfig, gate: Gate, people: pd.DataFrame) -> list[str]:
    labels = gate.arm_labels(config)
    present = set(people["arm"].dropna())
    return [a for a in labels if a in present] or sorted(present)


def _intervention_label(config: StudyConfig, gate: Gate) -> str | None:
    if gate.coded:
        return None
    return next((a.label for a in config.arms if a.key == "ips"), None)


# --- the steering report --------------------------------------------------------------------------

KEY_FIGURES = [
    ("randomised", "Randomiserade", "count"),
    ("share_of_target", "Andel av målet", "share"),
    ("left", "Lämnat studien", "count"),
    ("share_left", "Bortfall (andel lämnat)", "share"),
    ("stopped_ips", "Avslutat IPS (kvar i studien)", "count"),
    ("followup_rate", "Uppföljning genomförd (stängda fönster)", "share"),
    ("followup_overdue", "Försenade uppföljningar", "count"),
    ("fidelity_total", "Programtrohet, senaste skattning (poäng)", "score"),
]


def _change(kind: str, now, before, fmt) -> str:
    if now is None or before is None:
        return "–"
    if kind == "count":
        if fmt(now) != str(int(now)) or fmt(before) != str(int(before)):
            return "–"  # a masked count must not be backed out of a difference
        if fmt(abs(int(now) - int(before))) != str(abs(int(now) - int(before))):
            return "–"  # nor may a difference of a few people show (one person's event is a step)
        return _signed(int(now) - int(before), 0)
    if kind == "share":
        return _signed(100 * (rounding.exact(float(now)) - rounding.exact(float(before))), 1) + " p.e."
    return _signed(float(now) - float(before), 0)


def _signed(diff, digits: int) -> str:
    text = rounding.decimal_text(abs(diff), digits)
    if float(text.replace(",", ".")) == 0:
        return "±" + text
    return ("+" if diff > 0 else "−") + text


def _shown(kind: str, value, fmt) -> str:
    if value is None:
        return "–"
    if kind == "count":
        return fmt(int(value))
    if kind == "share":
        return formats.pct(float(value), 1, 1)
    return str(rounding.round_int(value))


def steering_figures(gate: Gate, config: StudyConfig) -> dict:
    """Every figure of the steering report for this gate's viewer (masked where the role requires),
    plus the raw numbers for the snapshot."""
    fmt = _fmt(gate, config)
    districts = gate.districts
    people = q.participants.uncached(gate, districts)
    referrals = q.referral_funnel.uncached(gate, districts)
    followups = q.followup_status.uncached(gate, districts)
    items = q.fidelity_items.uncached(gate)
    cutoff = config.data_cutoff
    target = (
        config.target_randomised
        if len(districts) == len(config.districts)
        else sum(config.district(d).target for d in districts)
    )
    start = min(config.district(d).start for d in districts)
    projection = recruitment.project_accrual(people["randomised_on"], target, cutoff, start)
    name = {d: config.district(d).name for d in districts}

    # The attrition figures hidden for this viewer: the Översikt/Bortfall/CONSORT decision for the
    # whole scope (every scope the role can choose is decided together, privacy.attrition_hidden_scopes).
    rule = privacy.policy(gate.viewer, config)
    hidden = fu_hidden = frozenset()
    if rule is not None:
        reached = q.balance_checkpoints_frozen.uncached(gate)
        decision = att.hidden_by_scope(
            people,
            rule,
            districts,
            sizes=balance.checkpoint_sizes(config.target_randomised, config.balance.checkpoints),
            reached_on={int(r["checkpoint"]): pd.Timestamp(r["reached_on"]).date() for _, r in reached.iterrows()},
            cutoff=cutoff,
            intervention_arm=_intervention_label(config, gate),
            frozen=q.balance_checkpoint_rows.uncached(gate, tuple(districts)),
            followups=followups,
        )
        # The attrition and follow-up families, decided together (they share "left": docs/access.md).
        hidden, fu_hidden = decision[privacy.SCOPE_ALL], decision["followup"]
    masked_key = {"left": ("left",), "share_left": ("left",), "stopped_ips": ("stopped_still_in",)}

    # Key figures.
    attr = att.overall(people)
    stopped = att.stopped_ips_counts(people)
    completion = followup.completion(followups)
    reviews = fidelity.reviews(items)
    raw = {
        "randomised": attr["randomised"],
        "share_of_target": attr["randomised"] / target if target else None,
        "left": attr["left"],
        "share_left": attr["share_left"] if attr["randomised"] else None,
        "stopped_ips": stopped["still_in"],
        "followup_rate": completion["rate"],
        "followup_overdue": completion["overdue"],
        "fidelity_total": int(reviews.iloc[-1]["Totalt"]) if len(reviews) else None,
    }
    prev = previous_snapshot(gate, STEERING)
    before = (prev or {}).get("payload", {}).get("key_figures", {}) if prev else {}
    # What the previous report masked stays masked here: its raw figure beside this one would give the
    # previous report's complements, and through them its small cells, back.
    before_hidden = set((prev or {}).get("payload", {}).get("key_figures_hidden", [])) if prev else set()
    fu_keys = {"followup_rate": {("done",), ("closed",)}, "followup_overdue": {("overdue",)}}
    if prev and rule is not None and "key_figures_hidden" not in prev.get("payload", {}):
        # A snapshot from before reports recorded their masks: any figure that could have been hidden
        # there is treated as hidden (plain counts such as the randomised still compare).
        before_hidden = set(masked_key) | set(fu_keys)
    key_rows = []
    hidden_now = []
    for key, label, kind in KEY_FIGURES:
        now_hidden = (key in masked_key and masked_key[key] in hidden) or bool(fu_keys.get(key, set()) & fu_hidden)
        before_masked = key in before_hidden
        if now_hidden:
            hidden_now.append(key)
        mask = config.privacy.small_cell_text if kind == "count" else "–"
        key_rows.append(
            {
                "Nyckeltal": label,
                "Nu": mask if now_hidden else _shown(kind, raw[key], fmt),
                "Förra rapporten": (mask if before_masked else _shown(kind, before.get(key), fmt)) if prev else "–",
                "Sedan förra rapporten": "–"
                if now_hidden or before_masked
                else (_change(kind, raw[key], before.get(key), fmt) if prev else "–"),
            }
        )
    key_table = pd.DataFrame(key_rows)

    # Recruitment per district.
    counts = [int((people["district_id"] == d).sum()) for d in districts]
    rule = privacy.policy(gate.viewer, config)
    shown_counts = privacy.suppress_counts(counts, rule.threshold, rule.text) if rule else [str(c) for c in counts]
    _, projections = recruitment.district_accrual_table(people, config, districts)
    rec_rows = []
    for d, n, shown in zip(districts, counts, shown_counts, strict=True):
        masked = shown != str(n)
        rec_rows.append(
            {
                "Stadsdel": config.district(d).display_name(),
                "Randomiserade": shown,
                "Mål": config.district(d).target,
                "Andel av mål": _share(n, config.district(d).target, masked),
                "Prognos mål nås": "–" if masked else recruitment.projection_text(projections[d]),
            }
        )
    rec_table = pd.DataFrame(rec_rows)
    cumulative = recruitment.cumulative_series(people, config, districts, overall=True)

    # CONSORT.
    arms = _arm_order(config, gate, people)
    flow = consort.consort_counts(referrals, people, arms=arms, intervention_arm=_intervention_label(config, gate))
    if rule is not None:  # the same joint decisions as the Rekrytering page in this scope
        flow["hidden"] = privacy.recruitment_hidden_scopes(referrals, rule, districts)[privacy.SCOPE_ALL]
        flow["attrition_hidden"] = hidden

    # Balance at the frozen checkpoints and now: when each was reached, which extract it froze, and
    # the analysis population as in Table 1 (exclusions after randomisation per the configuration).
    bal_table = _checkpoints(gate, districts, people, arms, config, cutoff, fmt)

    # Attrition per arm and reasons.
    arm_rows = []
    per_arm = [(len(part), int(part["is_left"].sum())) for part in (people[people["arm"] == arm] for arm in arms)]
    # The arms' "left" counts add up to the total shown below them: decided jointly (`hidden`).
    text = config.privacy.small_cell_text
    for arm, (n, left) in zip(arms, per_arm, strict=True):
        left_hidden = ("left", str(arm)) in hidden
        arm_rows.append(
            {
                "Grupp": arm,
                "Randomiserade": fmt(n),
                "Lämnat studien": text if left_hidden else fmt(left),
                "Andel lämnat": _share(left, n, left_hidden or fmt(n) != str(n) or fmt(left) != str(left)),
            }
        )
    total_hidden = ("left",) in hidden or fmt(attr["left"]) != str(attr["left"])
    arm_rows.append(
        {
            "Grupp": "Totalt",
            "Randomiserade": fmt(attr["randomised"]),
            "Lämnat studien": text if total_hidden else str(attr["left"]),
            "Andel lämnat": _share(attr["left"], attr["randomised"], total_hidden),
        }
    )
    attrition_arms = pd.DataFrame(arm_rows)
    left_rows = people[people["is_left"].astype(bool)]
    reasons = att.reason_counts(left_rows, "left_reason")
    attrition_reasons = reasons
    if rule is not None and len(reasons):
        attrition_reasons = reasons.assign(
            Antal=[
                text if ("reason", r) in hidden else str(n)
                for r, n in zip(reasons["Orsak"], reasons["Antal"], strict=True)
            ]
        )

    # Stopped IPS: still in the study + then left = stopped, decided jointly (`hidden`).
    stopped_shown = {
        "stopped": text if ("stopped",) in hidden else fmt(stopped["stopped"]),
        "still_in": text if ("stopped_still_in",) in hidden else fmt(stopped["still_in"]),
        "then_left": text if ("stopped_then_left",) in hidden else fmt(stopped["then_left"]),
    }

    # Follow-up completion per district.
    fu_rows = []
    for d in districts:
        c = followup.completion(followups[followups["district_id"] == d])
        fu_rows.append(
            {
                "Stadsdel": name[d],
                "Genomförda": c["done"],
                "Stängda fönster": c["eligible"],
                "Försenade": c["overdue"],
                "_rate": c["rate"],
            }
        )
    fu = pd.DataFrame(fu_rows)
    fu_shown = fu
    if rule is not None:
        # The joint decision (attrition.hidden_by_scope with the follow-ups), not this table on its own.
        fu_key = {"Genomförda": "done", "Stängda fönster": "closed", "Försenade": "overdue"}
        fu_shown = privacy.mask_cells(
            fu.assign(_d=list(districts)),
            list(fu_key),
            lambda r, c: ("district", r["_d"], fu_key[c]),
            fu_hidden,
            rule.text,
        ).drop(columns=["_d"])
    fu_shown["Andel genomförda"] = [
        "–"
        if (
            not r["Stängda fönster"]
            or str(s["Genomförda"]) != str(r["Genomförda"])
            or str(s["Stängda fönster"]) != str(r["Stängda fönster"])
        )
        # From the two counts (exact, half up); a district with no closed window has no share (it
        # crashed on NaN before).
        else formats.pct(int(r["Genomförda"]), int(r["Stängda fönster"]))
        for (_, r), (_, s) in zip(fu.iterrows(), fu_shown.iterrows(), strict=True)
    ]
    followup_table = fu_shown.drop(columns=["_rate"])

    # Caseloads at the cut-off.
    roster = q.specialist_roster.uncached(gate, districts)
    split = q.caseload_by_district_on.uncached(gate, districts, cutoff)
    now = caseload.caseload_at(split)
    active_ids = sorted(set(roster.loc[roster["is_active_at_cutoff"].astype(bool), "specialist_id"]) | set(now.index))
    cl = pd.DataFrame({"Arbetsspecialist": active_ids, "Aktiva deltagare": [int(now.get(s, 0)) for s in active_ids]})
    cl["Över taket"] = ["ja" if n > config.caseload.cap else "nej" for n in cl["Aktiva deltagare"]]
    caseload_table = cl
    if rule is not None:  # the same joint decision as Belastning (active per specialist with the split)
        joint = privacy.caseload_hidden_scopes(split, rule, districts)[privacy.SCOPE_ALL]
        caseload_table = privacy.mask_rows(
            cl.assign(**{"Aktiva deltagare": cl["Aktiva deltagare"].astype(str)}),
            [("active", str(s)) for s in cl["Arbetsspecialist"]],
            joint,
            ["Aktiva deltagare"],
            rule.text,
        )

    # Fidelity.
    fidelity_table = (
        fidelity.review_table(items)[["Skattning", *vocab.FIDELITY_SECTIONS.values(), "Totalt", "Nivå", "Punkter"]]
        if len(items)
        else pd.DataFrame(columns=["Skattning", "Totalt", "Nivå"])
    )

    # Alerts (no icons: the PDF font has no emoji).
    alerts = [
        text
        for text, _page, _icon in alert_rules.collect(
            gate, config, districts, people, followups, lambda d: name.get(d, d)
        )
    ]

    return {
        "report": STEERING,
        "study_name": config.name,
        "short_name": config.short_name,
        "cutoff": cutoff,
        "extract": _extract_date(gate),
        "as_of_text": as_of_text(cutoff, _extract_date(gate)),
        "created_on": date.today(),
        "viewer": gate.viewer.label(),
        "small_cell_text": config.privacy.small_cell_text,
        "small_cell_threshold": config.privacy.small_cell_threshold,
        "suppressed": gate.viewer.suppress_small_cells,
        "target": target,
        "planned_recruitment_end": config.planned_recruitment_end,
        "projection": projection,
        "projection_text": recruitment.projection_text(projection),
        "previous": None if prev is None else {"created_at": prev["created_at"], "data_cutoff": prev["data_cutoff"]},
        "key_figures": key_table,
        "recruitment": rec_table,
        "cumulative": cumulative,
        "planned": recruitment.planned_path(start, config.planned_recruitment_end, target),
        "projected": recruitment.projection_path(projection, cutoff),
        "consort": flow,
        "consort_table": consort.box_table(flow, _mask(gate, config)),
        "mask": _mask(gate, config),
        "balance": bal_table,
        "attrition_arms": attrition_arms,
        "attrition_reasons": attrition_reasons,
        "stopped_ips": stopped_shown,
        "followup": followup_table,
        "caseload": caseload_table,
        "caseload_cap": config.caseload.cap,
        "fidelity": fidelity_table,
        "alerts": alerts,
        "snapshot": {
            "data_cutoff": cutoff.isoformat(),
            "key_figures": raw,
            "key_figures_hidden": hidden_now,
            "per_district": {d: c for d, c in zip(districts, counts, strict=True)},
        },
    }


def snapshot_json(figures: dict) -> str:
    """What a report leaves in `meta.report_snapshots.payload`."""
    return json.dumps(figures["snapshot"], ensure_ascii=False, default=str)


def steering_charts(figures: dict, scale: float = 2) -> dict[str, bytes]:
    """PNG bytes of the report's charts (offline, vl-convert)."""
    import vl_convert as vlc

    from dashboard import charts

    locale = {"format_locale": charts.SV_LOCALE["number"], "time_format_locale": charts.SV_LOCALE["time"]}
    accrual = recruitment.accrual_chart(
        figures["cumulative"], figures["target"], figures["planned"], figures["projected"], figures["cutoff"]
    ).properties(width=640, height=260)
    flow = consort.consort_chart(figures["consort"], figures["mask"])
    return {
        "accrual": vlc.vegalite_to_png(accrual.to_json(), scale=scale, **locale),
        "consort": vlc.vegalite_to_png(flow.to_json(), scale=scale, **locale),
    }


def _font_dir() -> Path:
    for folder in FONT_DIRS:
        if all((folder / f).exists() for f in FONT_FILES.values()):
            return folder
    raise FileNotFoundError(
        "Typsnittet DejaVu Sans saknas (Debian-paketet fonts-dejavu-core); "
        "installera det med scripts/setup.sh --test eller apt-get install fonts-dejavu-core."
    )


def steering_pdf(figures: dict, charts: dict[str, bytes]) -> bytes:
    """The steering report as A4 PDF bytes (fpdf2, DejaVu Sans for Swedish characters)."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    cutoff = figures["cutoff"].isoformat()

    class Report(FPDF):
        def footer(self) -> None:
            if self.page_no() == 1:
                return
            self.set_y(-12)
            self.set_font("DejaVu", size=8)
            self.set_text_color(110)
            self.cell(
                0,
                6,
                f"{figures['short_name']} · styrgruppsrapport · data {figures['as_of_text']} · sida {self.page_no()}",
                align="C",
            )
            self.set_text_color(0)

    pdf = Report(orientation="P", unit="mm", format="A4")
    pdf.set_auto_page_break(True, margin=16)
    pdf.set_margins(18, 16, 18)
    folder = _font_dir()
    for style, file in FONT_FILES.items():
        pdf.add_font("DejaVu", style=style, fname=str(folder / file))
    pdf.set_title(f"Styrgruppsrapport {figures['short_name']} {cutoff}")
    pdf.set_creator("ipsdash")
    heading = FontFace(emphasis="BOLD", fill_color=(214, 230, 242))

    def h1(text: str, keep: float = 45) -> None:
        if pdf.get_y() + keep > pdf.h - 16:  # never leave a heading alone at the foot of a page
            pdf.add_page()
        pdf.set_font("DejaVu", "B", 14)
        pdf.set_text_color(31, 95, 139)
        pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0)
        pdf.ln(1)

    def para(text: str, size: float = 10) -> None:
        pdf.set_font("DejaVu", "", size)
        pdf.multi_cell(0, 5, text, align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)

    def table(frame: pd.DataFrame, widths: tuple | None = None, size: float = 9) -> None:
        pdf.set_font("DejaVu", "", size)
        numeric = [
            c
            for c in frame.columns
            if c
            not in (
                "Stadsdel",
                "Nyckeltal",
                "Orsak",
                "Grupp",
                "Tidpunkt",
                "Fryst ur",
                "Bedömning",
                "Arbetsspecialist",
                "Nivå",
                "Prognos mål nås",
                "Fas",
                "Ruta",
                "Skattning",
            )
        ]
        with pdf.table(
            col_widths=widths,
            headings_style=heading,
            line_height=5.2,
            text_align=tuple("RIGHT" if c in numeric else "LEFT" for c in frame.columns),
            width=pdf.epw,
        ) as t:
            t.row([str(c) for c in frame.columns])
            for values in frame.itertuples(index=False):
                t.row(["" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v) for v in values])
        pdf.ln(3)

    def image(png: bytes, width: float, max_height: float | None = None) -> None:
        from PIL import Image

        with Image.open(io.BytesIO(png)) as im:
            w_px, h_px = im.size
        height = width * h_px / w_px
        if max_height and height > max_height:
            width, height = width * max_height / height, max_height
        if pdf.get_y() + height > pdf.h - 16:
            pdf.add_page()
        pdf.image(io.BytesIO(png), x=(pdf.w - width) / 2, w=width, h=height)
        pdf.ln(2)

    # Cover.
    pdf.add_page()
    pdf.set_y(60)
    pdf.set_font("DejaVu", "B", 22)
    pdf.set_text_color(31, 95, 139)
    pdf.multi_cell(0, 11, "Styrgruppsrapport", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0)
    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 13)
    pdf.multi_cell(0, 7, figures["study_name"], align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 12)
    pdf.multi_cell(0, 7, figures["short_name"], align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(14)
    pdf.set_font("DejaVu", "B", 14)
    pdf.multi_cell(0, 8, f"Datauttag: {figures['extract'] or cutoff}", align="C", new_x="LMARGIN", new_y="NEXT")
    if figures["extract"] and figures["extract"] != figures["cutoff"]:
        pdf.multi_cell(0, 8, f"Siffrorna gäller per {cutoff}", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 11)
    pdf.multi_cell(
        0, 6, f"Rapporten skapad {figures['created_on'].isoformat()}", align="C", new_x="LMARGIN", new_y="NEXT"
    )
    prev = figures["previous"]
    if prev:
        pdf.multi_cell(
            0,
            6,
            f"Förra rapporten: datauttag {formats.sv_date(prev['data_cutoff'])} (skapad {prev['created_at']:%Y-%m-%d})",
            align="C",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.set_y(220)
    notes = ["Studien pågår: utfall visas inte, varken totalt eller per grupp, förrän studien har stängts."]
    if figures["suppressed"]:
        notes.append(
            f"Små tal (1–{figures['small_cell_threshold']}) visas som ”{figures['small_cell_text']}”, liksom "
            "större tal som döljs så att ett litet inte kan räknas fram ur summor och andra tabeller; andelar "
            "som bygger på dem visas som ”–”."
        )
    notes.append("Alla siffror är preliminära och räknas om vid varje datauttag.")
    para("\n".join(notes), 9)

    # Key figures.
    pdf.add_page()
    h1("1. Nyckeltal")
    if prev is None:
        para("Ingen tidigare styrgruppsrapport finns: kolumnen ”Sedan förra rapporten” fylls i från nästa rapport.", 9)
    else:
        para(
            f"Jämfört med förra styrgruppsrapporten (datauttag {formats.sv_date(prev['data_cutoff'])}). "
            "p.e. = procentenheter.",
            9,
        )
    table(figures["key_figures"], widths=(50, 16, 18, 22))

    # Recruitment.
    h1("2. Rekrytering mot målet")
    p = figures["projection"]
    if p.reached_on:
        text = f"Målet {figures['target']} randomiserade nåddes {p.reached_on.isoformat()}."
    elif p.median:
        text = (
            f"Målet {figures['target']} randomiserade nås troligen {formats.month_label(p.median)} "
            f"(80 % prognosintervall {formats.month_label(p.low)} – {formats.month_label(p.high)}), "
            f"med takten de senaste 12 månaderna ({rounding.decimal_text(p.rate_per_month, 1)} per månad)" + ". "
        )
    else:
        text = f"Prognos: {figures['projection_text']}. "
    text += f"Planerat slut på rekryteringen: {figures['planned_recruitment_end'].isoformat()}."
    para(text)
    image(charts["accrual"], pdf.epw, 75)
    para(f"Kumulativt antal randomiserade per månad. Streckad linje: målet {figures['target']}.", 8)
    table(figures["recruitment"], widths=(40, 29, 11, 17, 43))

    # CONSORT.
    pdf.add_page()
    h1("3. Flödesschema (CONSORT)")
    para(
        "Från remiss till analys. En person som remitterats på nytt räknas en gång per remiss. "
        "Analyseras enligt intention-to-treat: alla randomiserade i sin grupp; de som lämnat studien saknar utfallsdata och visas som sådana (preliminärt – studien pågår).",
        9,
    )
    image(charts["consort"], pdf.epw, pdf.h - pdf.get_y() - 20)

    # Balance.
    pdf.add_page()
    h1("4. Balans mellan grupperna")
    para(
        "Standardiserad medelvärdesskillnad (SMD) för kön och ålder vid varje fryst kontrollpunkt "
        "(efter varje tredjedel av målet) och nu. SMD över tröskeln tyder på obalans.",
        9,
    )
    itt = "Exkluderade efter randomisering" not in figures["balance"].columns  # a suppressed role's copy
    para(
        "Fryst ur: det datauttag (och den inläsning) som den frysta bilden togs från; kontrollpunkten kan "
        "ha nåtts långt tidigare. "
        + (
            "Antal: alla randomiserade (intention att behandla)."
            if itt
            else "Antal: i analysen enligt studiekonfigurationen; Exkl. efter rand.: exkluderade efter "
            "randomisering bland dem."
        ),
        8,
    )
    table(
        figures["balance"].rename(
            columns={"Randomiserade": "Antal", "Exkluderade efter randomisering": "Exkl. efter rand."}
        ),
        widths=(34, 21, 60, 14, 12, 12, 27) if itt else (34, 21, 44, 14, 16, 12, 12, 27),
        size=7.5,
    )

    # Attrition.
    h1("5. Bortfall")
    table(figures["attrition_arms"], widths=(40, 30, 30, 30))
    s = figures["stopped_ips"]
    para(
        f"Avslutat IPS men kvar i studien: {s['still_in']} (avslutat IPS totalt {s['stopped']}). "
        "De följs upp som alla andra och räknas inte som bortfall.",
        9,
    )
    if len(figures["attrition_reasons"]):
        pdf.set_font("DejaVu", "B", 10)
        pdf.multi_cell(0, 6, "Orsaker till att lämna studien", new_x="LMARGIN", new_y="NEXT")
        table(figures["attrition_reasons"], widths=(70, 20))

    # Follow-up.
    h1("6. Uppföljning per stadsdel")
    para("Andel genomförda av de uppföljningar vars fönster har stängt (genomförda, försenade och missade).", 9)
    table(figures["followup"], widths=(50, 25, 30, 25, 30))

    # Caseload.
    h1("7. Belastning per arbetsspecialist")
    para(f"Aktiva deltagare per arbetsspecialist vid datauttaget (tak {figures['caseload_cap']}).", 9)
    table(figures["caseload"], widths=(50, 40, 30))

    # Fidelity.
    h1("8. Programtrohet (IPS fidelity scale)")
    if len(figures["fidelity"]):
        table(figures["fidelity"], widths=(24, 18, 24, 16, 16, 52, 20), size=8)
    else:
        para("Ingen skattning är registrerad.")

    # Alerts.
    h1("9. Att uppmärksamma")
    if figures["alerts"]:
        para("\n".join(f"• {a}" for a in figures["alerts"]))
    else:
        para("Inga larm just nu.")
    return bytes(pdf.output())


# --- the project group's monthly pack -------------------------------------------------------------


def _sheet_name(text: str, used: set[str]) -> str:
    clean = "".join("_" if ch in "[]:*?/\\" else ch for ch in text)[:31].strip() or "Blad"
    name, i = clean, 2
    while name.lower() in used:
        suffix = f" ({i})"
        name, i = clean[: 31 - len(suffix)] + suffix, i + 1
    used.add(name.lower())
    return name


def project_pack_xlsx(gate: Gate, config: StudyConfig) -> bytes:
    """The project group's monthly Excel pack: one sheet per topic and one per unit with its
    participants due or overdue for follow-up (study codes only)."""
    districts = gate.districts
    people = q.participants.uncached(gate, districts)
    referrals = q.referral_funnel.uncached(gate, districts)
    followups = q.followup_status.uncached(gate, districts)
    items = q.fidelity_items.uncached(gate)
    daily = q.caseload_daily.uncached(gate, districts)
    roster = q.specialist_roster.uncached(gate, districts)
    name = {d: config.district(d).name for d in districts}
    cutoff = config.data_cutoff

    rec_table, _ = recruitment.district_accrual_table(people, config, districts)
    funnel = recruitment.funnel_counts(referrals).drop(columns=["order", "stage"])
    exclusions = recruitment.exclusions_by_reason(referrals)
    arms = _arm_order(config, gate, people)
    flow = consort.consort_counts(referrals, people, arms=arms, intervention_arm=_intervention_label(config, gate))
    attrition = att.district_attrition(people, name)
    left = people[people["is_left"].astype(bool)]
    left_reasons = att.reason_counts(left, "left_reason", by="arm")
    stopped = people[people["is_stopped_ips"].astype(bool)]
    stopped_reasons = att.reason_counts(stopped, "stopped_ips_reason")
    fu = followups.assign(
        Stadsdel=followups["district_id"].map(name),
        Tidpunkt=followups["timepoint_months"].map(followup.timepoint_label),
    )
    fu_status = followup.status_table(fu, ["Stadsdel", "Tidpunkt"])
    caseload_table = caseload.caseload_summary(daily, roster, cutoff, config.caseload.cap)
    balance_table = _checkpoints(gate, districts, people, arms, config, cutoff, _fmt(gate, config))
    fidelity_table = fidelity.review_table(items).drop(columns=["band", "complete"], errors="ignore")

    sheets: list[tuple[str, pd.DataFrame, str]] = [
        ("Rekrytering", rec_table, "Randomiserade mot målet per stadsdel, med prognos (80 % intervall)"),
        ("Remissflöde", funnel, "Remisser per steg: nått steget, exkluderade där, väntar på nästa steg"),
        ("Exklusioner", exclusions, "Exkluderade per steg och orsak"),
        ("Flödesschema", consort.box_table(flow), "CONSORT-flödesschemats rutor (preliminärt – studien pågår)"),
        (
            "Balans",
            balance_table,
            "Balans vid varje fryst kontrollpunkt och nu: när den nåddes och vilket datauttag (och inläsning) "
            "den frysta bilden togs från",
        ),
        ("Bortfall", attrition, "Lämnat studien per stadsdel; avslutat IPS men kvar i studien"),
        ("Bortfallsorsaker", left_reasons, "Orsaker till att lämna studien, totalt och per grupp"),
        ("Avslutat IPS", stopped_reasons, "Orsaker till avslutad IPS (interventionsgruppen)"),
        ("Uppföljning", fu_status, "Uppföljningar per stadsdel och tidpunkt efter status vid datauttaget"),
        ("Belastning", caseload_table, f"Aktiva deltagare per arbetsspecialist (tak {config.caseload.cap})"),
        ("Programtrohet", fidelity_table, "IPS fidelity scale per skattning"),
    ]
    # One sheet per unit: follow-ups on the action list (mart.followup_status.is_on_action_list).
    due = followups[followups["is_on_action_list"].astype(bool)].copy()
    labels = {**followup.STATUS_LABEL, "not_due": followup.DUE_SOON_LABEL}
    units = [u for d in districts for u in config.district(d).units]
    units += sorted(set(due["unit"].dropna()) - set(units))
    for unit in units:
        part = due[due["unit"] == unit].sort_values(["due_on", "study_code", "timepoint_months"])
        frame = pd.DataFrame(
            {
                "Studiekod": part["study_code"],
                "Tidpunkt": part["timepoint_months"].map(followup.timepoint_label),
                "Förfallodag": pd.to_datetime(part["due_on"]).dt.date,
                "Fönster": [
                    f"{pd.Timestamp(a):%Y-%m-%d} – {pd.Timestamp(b):%Y-%m-%d}"
                    for a, b in zip(part["window_start"], part["window_end"], strict=True)
                ],
                "Dagar försenad": pd.to_numeric(part["days_overdue"], errors="coerce").fillna(0).astype("int64"),
                "Status": part["status"].map(labels),
            }
        )
        sheets.append((unit, frame, f"{unit}: uppföljningar att göra (aktuella, försenade eller snart aktuella)"))

    buffer = io.BytesIO()
    used: set[str] = set()
    stamp = f"data {as_of_text(cutoff, _extract_date(gate))} · skapad {datetime.now():%Y-%m-%d %H:%M} · {gate.viewer.label()}"
    with pd.ExcelWriter(buffer, engine="xlsxwriter", date_format="yyyy-mm-dd", datetime_format="yyyy-mm-dd") as writer:
        book = writer.book
        bold = book.add_format({"bold": True, "font_size": 12})
        grey = book.add_format({"font_color": "#666666"})
        index = pd.DataFrame({"Flik": [], "Innehåll": []})
        index.to_excel(writer, sheet_name="Innehåll", index=False, startrow=3)
        front = writer.sheets["Innehåll"]
        used.add("innehåll")
        front.write(0, 0, f"Projektgruppens månadspaket – {config.short_name}", bold)
        front.write(1, 0, stamp, grey)
        row = 4
        for title, frame, note in sheets:
            sheet = _sheet_name(title, used)
            frame.to_excel(writer, sheet_name=sheet, index=False, startrow=2)
            ws = writer.sheets[sheet]
            ws.write(0, 0, note, bold)
            ws.write(1, 0, stamp, grey)
            for i, column in enumerate(frame.columns):
                width = max([len(str(column))] + [len(str(v)) for v in frame[column].head(200)]) + 2
                ws.set_column(i, i, min(width, 60))
            ws.freeze_panes(3, 0)
            front.write(row, 0, sheet)
            front.write(row, 1, note)
            row += 1
        front.set_column(0, 0, 34)
        front.set_column(1, 1, 90)
    return buffer.getvalue()


def project_snapshot_json(gate: Gate, config: StudyConfig) -> str:
    """What the project pack leaves in `meta.report_snapshots.payload`: the headline numbers."""
    districts = gate.districts
    people = q.participants.uncached(gate, districts)
    followups = q.followup_status.uncached(gate, districts)
    completion = followup.completion(followups)
    return json.dumps(
        {
            "data_cutoff": config.data_cutoff.isoformat(),
            "key_figures": {
                "randomised": int(len(people)),
                "left": int(people["is_left"].sum()),
                "followup_overdue": completion["overdue"],
                "on_action_list": int(followups["is_on_action_list"].astype(bool).sum()),
            },
            "per_district": {d: int((people["district_id"] == d).sum()) for d in districts},
        },
        ensure_ascii=False,
    )


# --- downloads in the app -------------------------------------------------------------------------


def build_bytes(cursor, kind: str, store_id: str = "") -> bytes:
    """The report `kind` from an open (read-only) cursor, built as the receiving group's role."""
    from dashboard.access import Viewer, read_config

    config = read_config(cursor)
    gate = Gate(cursor, Viewer(kind, user="dashboard"), store_id=store_id)
    if kind == STEERING:
        figures = steering_figures(gate, config)
        return steering_pdf(figures, steering_charts(figures))
    return project_pack_xlsx(gate, config)


def app_download(kind: str):
    """A callable for `st.download_button`: builds the report when clicked, on its own cursor (the
    page's cursor belongs to the script run). Reads only; never writes a snapshot."""
    from dashboard import store as app_store

    def make() -> bytes:
        opened = app_store.cursor()
        if opened is None:
            return b""
        cursor, target = opened
        try:
            return build_bytes(cursor, kind, target)
        finally:
            cursor.close()

    return make
