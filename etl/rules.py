"""The rules that span fields of one row, or rows of several files: each written once, as a named
polars rule over the checked columns (`etl/columns.py` checks each field's own declarations first).

A row rule is a list of clauses (what is wrong, which column it names, the Swedish reason); a row
gets the first failing clause of the first failing rule, and only when its fields all passed, as
the contract's row-level check always worked. Cross-file rules are joins between the accepted rows
of the files, in dependency order (referral log, randomisation log, then the rest).

Every function here returns an error frame: `POS` (the row's position in its table), `field`,
`rule`, `reason`; `etl/validate.py` turns it into rejections and drops the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from etl.tables import ROW
from schema import vocab
from schema.config import StudyConfig
from schema.sources import header_of, source

POS = "__pos"
ERRORS_SCHEMA = {POS: pl.UInt32, "field": pl.String, "rule": pl.String, "reason": pl.String}

Clause = tuple[pl.Expr, str, pl.Expr]  # (row fails, field named, Swedish reason)


def no_errors() -> pl.DataFrame:
    return pl.DataFrame(schema=ERRORS_SCHEMA)


def _iso(name: str) -> pl.Expr:
    return pl.col(name).dt.to_string("%Y-%m-%d")


def _h(key: str, name: str) -> str:
    return header_of(source(key).model, name)


def _label(voc: vocab.Vocabulary, name: str, lower: bool = False) -> pl.Expr:
    labels = {k: (v.lower() if lower else v) for k, v in voc.labels.items()}
    return pl.col(name).replace_strict(labels, default=pl.col(name), return_dtype=pl.String)


@dataclass(frozen=True)
class RowRule:
    source: str
    rule: str
    doc: str  # Swedish, for docs/contract.md
    clauses: Callable[[], list[Clause]]


def _order(key: str, pairs: list[tuple[str, str]]) -> Callable[[], list[Clause]]:
    """A later step dated before an earlier one."""

    def clauses() -> list[Clause]:
        out = []
        for earlier, later in pairs:
            bad = pl.col(earlier).is_not_null() & pl.col(later).is_not_null() & (pl.col(later) < pl.col(earlier))
            text = pl.format(
                f"{_h(key, later)} ({{}}) ligger före {_h(key, earlier)} ({{}})", _iso(later), _iso(earlier)
            )
            out.append((bad, later, text))
        return out

    return clauses


def _pair(a: str, b: str, text: str) -> Callable[[], list[Clause]]:
    """Both fields filled in, or neither; names the empty one."""

    def clauses() -> list[Clause]:
        lit = pl.lit(text)
        return [
            (pl.col(a).is_not_null() & pl.col(b).is_null(), b, lit),
            (pl.col(a).is_null() & pl.col(b).is_not_null(), a, lit),
        ]

    return clauses


_STEPS = ["info_meeting_on", "consent_on", "enrolment_on", "baseline_on"]
# Excluded at a stage: the last step that may still carry a date (a person excluded at consent did
# not consent; the info meeting, enrolment interview and baseline can be where the exclusion was made).
_LAST_ALLOWED = {"referral": 0, "info_meeting": 1, "consent": 1, "enrolment": 3, "baseline": 4}


def _after_exclusion() -> list[Clause]:
    last = pl.col("excluded_stage").replace_strict(_LAST_ALLOWED, default=99, return_dtype=pl.Int64)
    stage = _label(vocab.EXCLUSION_STAGES, "excluded_stage", lower=True)
    out = []
    for position, later in enumerate(_STEPS, start=1):
        bad = pl.col("excluded_stage").is_not_null() & (last < position) & pl.col(later).is_not_null()
        col = _h("referrals", later)
        out.append((bad, later, pl.format(f"personen exkluderades vid {{}} men har ändå datum i ”{col}”", stage)))
    return out


def _fidelity_item() -> list[Clause]:
    key = fidelity_item_key()
    text = pl.format(
        "det finns ingen punkt {} i området ”{}” (Personal 1–3, Organisation 1–8, Tjänster 1–14)",
        pl.col("item_number"),
        pl.col("section"),
    )
    return [(key.is_null(), "item_number", text)]


def fidelity_item_key() -> pl.Expr:
    """The fidelity item's key (`P1`, `T14`) from section and number, null when there is none:
    `vocab.parse_fidelity_item` run once per distinct pair."""
    pair = pl.struct("section", "item_number")
    return pair.map_batches(
        lambda s: _fidelity_keys(s),
        return_dtype=pl.String,
    )


def _fidelity_keys(pairs: pl.Series) -> pl.Series:
    frame = pairs.struct.unnest()
    uniq = frame.unique()
    keys = [vocab.parse_fidelity_item(s, n) if s is not None and n is not None else None for s, n in uniq.iter_rows()]
    mapping = uniq.with_columns(__key=pl.Series(keys, dtype=pl.String))
    return frame.join(mapping, on=["section", "item_number"], how="left", maintain_order="left", nulls_equal=True)[
        "__key"
    ]


ROW_RULES: tuple[RowRule, ...] = (
    RowRule(
        "referrals",
        "date_order",
        "stegen ska vara i datumordning: remiss ≤ informationsmöte ≤ samtycke ≤ inskrivningssamtal ≤ baslinje",
        _order(
            "referrals",
            [
                ("referred_on", "info_meeting_on"),
                ("info_meeting_on", "consent_on"),
                ("consent_on", "enrolment_on"),
                ("enrolment_on", "baseline_on"),
            ],
        ),
    ),
    RowRule(
        "referrals",
        "exclusion_pair",
        "”Exkluderad vid” och ”Exklusionsorsak” fylls i båda eller ingen",
        _pair(
            "excluded_stage",
            "exclusion_reason",
            "både ”Exkluderad vid” och ”Exklusionsorsak” ska fyllas i, eller ingen av dem",
        ),
    ),
    RowRule("referrals", "after_exclusion", "efter exklusion får inga senare steg ha datum", _after_exclusion),
    RowRule(
        "referrals",
        "motivation_excl",
        "otillräcklig motivation kräver en exklusion",
        lambda: [
            (
                (pl.col("motivation") == "insufficient") & pl.col("excluded_stage").is_null(),
                "excluded_stage",
                pl.lit("otillräcklig motivation men ingen exklusion angiven"),
            )
        ],
    ),
    RowRule(
        "referrals",
        "self_reref",
        "”Tidigare studiekod” kan inte vara samma som studiekoden",
        lambda: [
            (
                pl.col("previous_code").is_not_null() & (pl.col("previous_code") == pl.col("study_code")),
                "previous_code",
                pl.lit("”Tidigare studiekod” kan inte vara samma som studiekoden"),
            )
        ],
    ),
    RowRule(
        "randomisations",
        "date_order",
        "”Exkluderad efter randomisering” får inte ligga före randomiseringen",
        _order("randomisations", [("randomised_on", "excluded_after_on")]),
    ),
    RowRule(
        "randomisations",
        "exclusion_after_pair",
        "”Exkluderad efter randomisering” och dess orsak fylls i båda eller ingen",
        _pair(
            "excluded_after_on",
            "excluded_after_reason",
            "både ”Exkluderad efter randomisering” och ”Orsak exklusion efter randomisering” ska fyllas i, "
            "eller ingen av dem",
        ),
    ),
    RowRule(
        "baseline",
        "age_range",
        "åldern vid baslinjen (baslinjeår minus födelseår) ska vara 18–67 år",
        lambda: [
            (
                ~(pl.col("baseline_on").dt.year().cast(pl.Int64) - pl.col("birth_year")).is_between(18, 67),
                "birth_year",
                pl.format(
                    "åldern blir {} år vid baslinjen; studien tar 18–67 år",
                    pl.col("baseline_on").dt.year().cast(pl.Int64) - pl.col("birth_year"),
                ),
            )
        ],
    ),
    RowRule(
        "followups",
        "done_date",
        "genomförd uppföljning kräver datum",
        lambda: [
            (
                (pl.col("result") == "done") & pl.col("done_on").is_null(),
                "done_on",
                pl.lit("genomförd uppföljning saknar datum"),
            )
        ],
    ),
    RowRule(
        "events",
        "reason_required",
        "orsak krävs vid avslut och paus",
        lambda: [
            (
                pl.col("event_type").is_in(["stopped_ips", "left_study", "paused"]) & pl.col("reason").is_null(),
                "reason",
                pl.format("orsak krävs för ”{}”", _label(vocab.EVENT_TYPE, "event_type")),
            )
        ],
    ),
    RowRule(
        "specialists",
        "date_order",
        "”Till” får inte ligga före ”Från”",
        _order("specialists", [("start_on", "end_on")]),
    ),
    RowRule(
        "assignments",
        "date_order",
        "”Till” får inte ligga före ”Från”",
        _order("assignments", [("start_on", "end_on")]),
    ),
    RowRule(
        "fidelity",
        "fidelity_item",
        "punkten måste finnas i området (Personal 1–3, Organisation 1–8, Tjänster 1–14)",
        _fidelity_item,
    ),
    RowRule(
        "activity", "date_order", "slutdatum inte före startdatum", _order("activity", [("activity_on", "end_on")])
    ),
)


def row_errors(key: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The first failing clause of the first failing row rule, per row of `frame`."""
    clauses = [(r.rule, c) for r in ROW_RULES if r.source == key for c in r.clauses()]
    if not clauses or frame.is_empty():
        return no_errors()
    rule = pl.lit(None, dtype=pl.String)
    field = pl.lit(None, dtype=pl.String)
    reason = pl.lit(None, dtype=pl.String)
    for rule_id, (bad, name, text) in reversed(clauses):  # the first clause wins: build from the last
        hit = bad.fill_null(False)
        rule = pl.when(hit).then(pl.lit(rule_id)).otherwise(rule)
        field = pl.when(hit).then(pl.lit(name)).otherwise(field)
        reason = pl.when(hit).then(text).otherwise(reason)
    return (
        frame.select(pl.col(POS), field.alias("field"), rule.alias("rule"), reason.alias("reason"))
        .filter(pl.col("rule").is_not_null())
        .cast(ERRORS_SCHEMA)  # type: ignore[arg-type]
    )


# --- across files ---------------------------------------------------------------------------------
#
# Each takes the accepted frames (field columns, POS, ROW) and returns the error frame of one file.
# `etl.validate.check_references` runs them in dependency order; their documentation:

CROSS_FILE_RULES: tuple[tuple[str, str, str], ...] = (
    ("referrals", "duplicate_referral", "en studiekod får bara finnas en gång (den första raden gäller)"),
    ("referrals", "previous_unknown", "”Tidigare studiekod” måste finnas i remissloggen"),
    (
        "referrals",
        "rereferral_too_soon",
        "ny remiss tidigast 3 månader efter exklusion för otillräcklig motivation",
    ),
    ("randomisations", "randomisation_without_referral", "studiekoden måste finnas (giltig) i remissloggen"),
    ("randomisations", "randomised_excluded", "den som är exkluderad i remissloggen kan inte randomiseras"),
    ("randomisations", "randomised_without_baseline", "baslinjedatum krävs i remissloggen"),
    ("randomisations", "randomised_before_baseline", "randomiseringen får inte ligga före baslinjen"),
    (
        "randomisations",
        "duplicate_randomisation",
        "en kod randomiseras en gång: i datumordning (sedan radordning) gäller den första giltiga raden",
    ),
    ("baseline", "not_randomised", "koden måste vara randomiserad"),
    ("baseline", "duplicate_baseline", "en rad per kod"),
    ("followups", "not_randomised", "koden måste vara randomiserad"),
    ("followups", "before_randomisation", "uppföljningen får inte ligga före randomiseringen"),
    ("followups", "timepoint_unknown", "tidpunkten måste finnas i uppföljningsschemat (studie.toml)"),
    ("followups", "duplicate_followup", "en rad per kod och tidpunkt"),
    ("events", "not_randomised", "koden måste vara randomiserad"),
    ("events", "before_randomisation", "händelsen får inte ligga före randomiseringen"),
    ("events", "stopped_ips_control", "”Avslutat IPS” gäller bara IPS-gruppen"),
    ("assignments", "not_randomised", "koden måste vara randomiserad"),
    ("assignments", "unknown_specialist", "arbetsspecialisten måste finnas i listan över arbetsspecialister"),
    ("assignments", "assignment_control", "bara deltagare i IPS-gruppen har en arbetsspecialist"),
    ("fidelity", "fidelity_incomplete", "varje skattning ska ha alla 25 punkter exakt en gång"),
    ("activity", "not_randomised", "koden måste vara randomiserad"),
    ("employment", "not_randomised", "koden måste vara randomiserad"),
    ("employment", "duplicate_employment", "en rad per kod och tidpunkt"),
)


def _errors(frame: pl.DataFrame, bad: pl.Expr, field: str, rule: str, reason: pl.Expr) -> pl.DataFrame:
    return (
        frame.filter(bad.fill_null(False))
        .select(pl.col(POS), pl.lit(field).alias("field"), pl.lit(rule).alias("rule"), reason.alias("reason"))
        .cast(ERRORS_SCHEMA)  # type: ignore[arg-type]
    )


def first_of(frame: pl.DataFrame, keys: list[str], field: str, rule: str, reason: str | pl.Expr) -> pl.DataFrame:
    """Keep the first row per key (in file order); later rows are rejected, naming the first.
    `reason`: what is repeated (then "… finns redan på rad N"), or the whole reason as an expression
    that may use the first row's number (`__first_row`)."""
    first = frame.group_by(keys, maintain_order=True).agg(
        pl.col(POS).first().alias("__first_pos"), pl.col(ROW).first().alias("__first_row")
    )
    joined = frame.join(first, on=keys, how="left", maintain_order="left", nulls_equal=True)
    if isinstance(reason, str):
        reason = pl.format(f"{reason} finns redan på rad {{}}", pl.col("__first_row"))
    return _errors(joined, pl.col(POS) != pl.col("__first_pos"), field, rule, reason)


def _add_months(day: pl.Expr, months: int) -> pl.Expr:
    """Calendar months later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    return day.dt.offset_by(f"{months}mo")


def referral_errors(ref: pl.DataFrame) -> pl.DataFrame:
    """Duplicate codes (the first row is kept); a re-referral must name a referral in the log, and
    come at least 3 months after that person's exclusion for insufficient motivation."""
    dup = first_of(
        ref,
        ["study_code"],
        "study_code",
        "duplicate_referral",
        pl.format("studiekoden {} finns redan på rad {}", pl.col("study_code"), pl.col("__first_row")),
    )
    firsts = ref.filter(~pl.col(POS).is_in(dup[POS].implode()))
    steps = ["referred_on", *_STEPS]
    prev = firsts.select(
        pl.col("study_code").alias("previous_code"),
        pl.col("excluded_stage").alias("__p_stage"),
        ((pl.col("exclusion_reason") == "insufficient_motivation") | (pl.col("motivation") == "insufficient")).alias(
            "__p_motivation"
        ),
        pl.max_horizontal(*steps).alias("__p_last"),
        pl.lit(True).alias("__p_found"),
    )
    rest = ref.filter(~pl.col(POS).is_in(dup[POS].implode()) & pl.col("previous_code").is_not_null())
    rest = rest.join(prev, on="previous_code", how="left", maintain_order="left")
    unknown = _errors(
        rest,
        pl.col("__p_found").is_null(),
        "previous_code",
        "previous_unknown",
        pl.format("tidigare studiekod {} finns inte i remissloggen", pl.col("previous_code")),
    )
    earliest = _add_months(pl.col("__p_last"), 3)
    soon = _errors(
        rest,
        pl.col("__p_found").is_not_null()
        & pl.col("__p_stage").is_not_null()
        & pl.col("__p_motivation")
        & (pl.col("referred_on") < earliest),
        "referred_on",
        "rereferral_too_soon",
        pl.format(
            "ny remiss mindre än 3 månader efter exklusion för otillräcklig motivation "
            "({} exkluderades {}; tidigast {})",
            pl.col("previous_code"),
            pl.col("__p_last").dt.to_string("%Y-%m-%d"),
            earliest.dt.to_string("%Y-%m-%d"),
        ),
    )
    return pl.concat([dup, unknown, soon])


def randomisation_errors(rand: pl.DataFrame, ref: pl.DataFrame) -> pl.DataFrame:
    """A randomisation needs a valid referral, not excluded, with a baseline date on or before it.
    In date order (then row order), a later randomisation of a code already validly randomised is
    a duplicate; an invalid one does not block a later valid one."""
    refs = ref.select(
        "study_code",
        pl.col("excluded_stage").alias("__r_stage"),
        pl.col("baseline_on").alias("__r_baseline"),
        pl.lit(True).alias("__r_found"),
    )
    r = rand.join(refs, on="study_code", how="left", maintain_order="left")
    stage = _label(vocab.EXCLUSION_STAGES, "__r_stage", lower=True)
    problems = [
        (
            pl.col("__r_found").is_null(),
            "study_code",
            "randomisation_without_referral",
            pl.format("studiekoden {} finns inte (giltig) i remissloggen", pl.col("study_code")),
        ),
        (
            pl.col("__r_stage").is_not_null(),
            "study_code",
            "randomised_excluded",
            pl.format(
                "{} är exkluderad (vid {}) i remissloggen och kan inte randomiseras", pl.col("study_code"), stage
            ),
        ),
        (
            pl.col("__r_baseline").is_null(),
            "study_code",
            "randomised_without_baseline",
            pl.format(
                "{} har inget baslinjedatum i remissloggen; baslinjen ska vara gjord före randomiseringen",
                pl.col("study_code"),
            ),
        ),
        (
            pl.col("randomised_on") < pl.col("__r_baseline"),
            "randomised_on",
            "randomised_before_baseline",
            pl.format(
                "randomiserad {}, före baslinjedatum {} i remissloggen",
                _iso("randomised_on"),
                pl.col("__r_baseline").dt.to_string("%Y-%m-%d"),
            ),
        ),
    ]
    field = rule = reason = pl.lit(None, dtype=pl.String)
    for bad, name, rule_id, text in reversed(problems):
        hit = bad.fill_null(False)
        field = pl.when(hit).then(pl.lit(name)).otherwise(field)
        rule = pl.when(hit).then(pl.lit(rule_id)).otherwise(rule)
        reason = pl.when(hit).then(text).otherwise(reason)
    r = r.with_columns(__p_field=field, __p_rule=rule, __p_reason=reason)
    ordered = r.sort(["randomised_on", ROW, POS], maintain_order=True)
    valid_first = (
        ordered.filter(pl.col("__p_rule").is_null())
        .group_by("study_code", maintain_order=True)
        .agg(pl.col(POS).first().alias("__v_pos"), pl.col(ROW).first().alias("__v_row"))
    )
    ordered = ordered.with_row_index("__order").join(valid_first, on="study_code", how="left", maintain_order="left")
    v_order = ordered.filter(pl.col(POS) == pl.col("__v_pos")).select(
        "study_code", pl.col("__order").alias("__v_order")
    )
    ordered = ordered.join(v_order, on="study_code", how="left", maintain_order="left")
    dup = (
        pl.col("__v_pos").is_not_null() & (pl.col(POS) != pl.col("__v_pos")) & (pl.col("__order") > pl.col("__v_order"))
    )
    out = ordered.select(
        pl.col(POS),
        pl.when(dup).then(pl.lit("study_code")).otherwise(pl.col("__p_field")).alias("field"),
        pl.when(dup).then(pl.lit("duplicate_randomisation")).otherwise(pl.col("__p_rule")).alias("rule"),
        pl.when(dup)
        .then(pl.format("redan randomiserad på rad {}", pl.col("__v_row")))
        .otherwise(pl.col("__p_reason"))
        .alias("reason"),
    )
    return out.filter(pl.col("rule").is_not_null()).cast(ERRORS_SCHEMA)  # type: ignore[arg-type]


def not_randomised(frame: pl.DataFrame, rand: pl.DataFrame) -> pl.DataFrame:
    return _errors(
        frame,
        ~pl.col("study_code").is_in(rand["study_code"].implode()),
        "study_code",
        "not_randomised",
        pl.format("studiekoden {} är inte (giltigt) randomiserad", pl.col("study_code")),
    )


def before_randomisation(frame: pl.DataFrame, rand: pl.DataFrame, date_field: str, what: str) -> pl.DataFrame:
    j = frame.join(rand.select("study_code", pl.col("randomised_on").alias("__rand_on")), on="study_code", how="left")
    return _errors(
        j,
        pl.col(date_field).is_not_null() & (pl.col(date_field) < pl.col("__rand_on")),
        date_field,
        "before_randomisation",
        pl.format(
            f"{what} är daterad {{}}, före randomiseringen {{}}",
            _iso(date_field),
            pl.col("__rand_on").dt.to_string("%Y-%m-%d"),
        ),
    )


def followup_schedule_errors(fu: pl.DataFrame, config: StudyConfig) -> pl.DataFrame:
    allowed = list(config.followup.timepoints_months)
    listed = ", ".join(str(t) for t in allowed)
    unknown = _errors(
        fu,
        ~pl.col("timepoint_months").is_in(allowed),
        "timepoint_months",
        "timepoint_unknown",
        pl.format(f"tidpunkten {{}} månader finns inte i uppföljningsschemat ({listed})", pl.col("timepoint_months")),
    )
    rest = fu.filter(pl.col("timepoint_months").is_in(allowed))
    dup = first_of(
        rest,
        ["study_code", "timepoint_months"],
        "timepoint_months",
        "duplicate_followup",
        pl.format(
            "uppföljningen {} månader för {} finns redan på rad {}",
            pl.col("timepoint_months"),
            pl.col("study_code"),
            pl.col("__first_row"),
        ),
    )
    return pl.concat([unknown, dup])


def stopped_ips_control_errors(events: pl.DataFrame, rand: pl.DataFrame) -> pl.DataFrame:
    j = events.join(rand.select("study_code", pl.col("arm").alias("__arm")), on="study_code", how="left")
    return _errors(
        j,
        (pl.col("event_type") == "stopped_ips") & (pl.col("__arm") == "control"),
        "event_type",
        "stopped_ips_control",
        pl.format(
            "”Avslutat IPS” gäller bara IPS-gruppen; {} är i kontrollgruppen (använd ”Lämnat studien”)",
            pl.col("study_code"),
        ),
    )


def assignment_errors(asg: pl.DataFrame, rand: pl.DataFrame, specialists: pl.Series) -> pl.DataFrame:
    j = asg.join(rand.select("study_code", pl.col("arm").alias("__arm")), on="study_code", how="left")
    unknown = ~pl.col("specialist_id").is_in(specialists.implode())
    a = _errors(
        j,
        unknown,
        "specialist_id",
        "unknown_specialist",
        pl.format("arbetsspecialisten {} finns inte i listan över arbetsspecialister", pl.col("specialist_id")),
    )
    b = _errors(
        j,
        ~unknown & (pl.col("__arm") == "control"),
        "study_code",
        "assignment_control",
        pl.format("{} är i kontrollgruppen och ska inte ha någon arbetsspecialist", pl.col("study_code")),
    )
    return pl.concat([a, b])


def fidelity_complete_errors(fid: pl.DataFrame) -> pl.DataFrame:
    """Every review has each of the 25 items exactly once; otherwise all its rows are rejected."""
    items = list(vocab.FIDELITY_ITEMS)
    counts = fid.group_by("reviewed_on", "item_key").len()
    reviews = fid.select("reviewed_on").unique(maintain_order=True)
    reasons = []
    for day in reviews["reviewed_on"].to_list():
        c = dict(counts.filter(pl.col("reviewed_on") == day).select("item_key", "len").iter_rows())
        missing = [k for k in items if c.get(k, 0) == 0]
        doubled = [k for k in items if c.get(k, 0) > 1]
        if not missing and not doubled:
            continue
        parts = []
        if missing:
            parts.append("saknar punkt " + ", ".join(missing))
        if doubled:
            parts.append("har flera rader för punkt " + ", ".join(doubled))
        reasons.append(
            (
                day,
                f"skattningen {day.isoformat()} är ofullständig ({'; '.join(parts)}); "
                "varje skattning ska ha alla 25 punkter exakt en gång",
            )
        )
    if not reasons:
        return no_errors()
    bad = pl.DataFrame({"reviewed_on": [d for d, _ in reasons], "__reason": [t for _, t in reasons]})
    j = fid.join(bad, on="reviewed_on", how="inner", maintain_order="left")
    return _errors(j, pl.lit(True), "reviewed_on", "fidelity_incomplete", pl.col("__reason"))
