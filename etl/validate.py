"""Validate `RawTable`s with the contract's pydantic models, then the rules that span files.

Every problem becomes a `Rejection`: file, sheet, row (as Excel shows it), column header as typed
in the file, cell reference (`Blad1!C17`), value as typed, a Swedish reason and a rule id (the
pydantic error type or the cross-file rule's name). A row with a rejection is not loaded.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, get_args

from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError, core_schema

from etl.tables import RawRow, RawTable
from schema import vocab
from schema.config import StudyConfig
from schema.sources import SOURCES, SourceRow, ValidationContext, header_map, header_of, source

# Swedish text for pydantic's own error types (custom errors of the contract are Swedish already).
BUILTIN_SV: dict[str, str] = {
    "missing": "värde saknas",
    "string_type": "ska vara text",
    "string_too_short": "texten är för kort",
    "string_too_long": "texten är för lång",
    "string_pattern_mismatch": "texten har fel form",
    "int_type": "ska vara ett heltal",
    "int_parsing": "är inget heltal",
    "int_from_float": "ska vara ett heltal",
    "float_type": "ska vara ett tal",
    "float_parsing": "är inget tal",
    "bool_type": "ska vara Ja eller Nej",
    "bool_parsing": "ska vara Ja eller Nej",
    "date_type": "är inget datum (skriv ÅÅÅÅ-MM-DD)",
    "date_parsing": "är inget datum (skriv ÅÅÅÅ-MM-DD)",
    "date_from_datetime_parsing": "är inget datum (skriv ÅÅÅÅ-MM-DD)",
    "date_from_datetime_inexact": "datumet har ett klockslag; skriv bara ÅÅÅÅ-MM-DD",
    "tuple_type": "ska vara en lista",
    "list_type": "ska vara en lista",
    "literal_error": "är inget tillåtet värde",
    "enum": "är inget tillåtet värde",
    "greater_than": "är för litet",
    "greater_than_equal": "är för litet",
    "less_than": "är för stort",
    "less_than_equal": "är för stort",
    "value_error": "ogiltigt värde",
    "assertion_error": "ogiltigt värde",
    "model_type": "raden kan inte läsas",
    "dict_type": "raden kan inte läsas",
}


_PYDANTIC_TYPES: frozenset[str] = frozenset(get_args(core_schema.ErrorType))


def reason_sv(err: dict[str, Any]) -> str:
    """The Swedish reason of one pydantic error (never pydantic's English message)."""
    kind = err.get("type", "")
    if kind in BUILTIN_SV:
        return BUILTIN_SV[kind]
    if kind in _PYDANTIC_TYPES:
        return f"ogiltigt värde ({kind})"
    # PydanticCustomError: the message is the contract's Swedish text, already formatted.
    return str(err.get("msg", "ogiltigt värde"))


def value_text(value: object) -> str | None:
    """A cell value as the user typed/sees it."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class Rejection:
    source_key: str
    file_name: str
    sheet: str | None
    row_number: int
    column: str | None  # header as typed in the file
    cell_ref: str
    value: str | None
    reason: str
    rule: str

    def line_sv(self) -> str:
        col = f" ”{self.column}”" if self.column else ""
        val = f" (värde: ”{self.value}”)" if self.value is not None else ""
        return f"{self.file_name} {self.cell_ref}{col}: {self.reason}{val}"


@dataclass
class Accepted:
    raw: RawRow
    row: SourceRow

    @property
    def row_number(self) -> int:
        return self.raw.row_number


@dataclass
class SourceResult:
    table: RawTable
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return len(self.table.rows)

    @property
    def rows_rejected(self) -> int:
        return len({r.row_number for r in self.rejected})

    @property
    def rows_loaded(self) -> int:
        return len(self.accepted)

    def reject(self, acc: Accepted, field_name: str | None, reason: str, rule: str) -> Rejection:
        rej = make_rejection(self.table, acc.raw, field_name, reason, rule)
        self.rejected.append(rej)
        return rej


def make_rejection(table: RawTable, raw: RawRow, field_name: str | None, reason: str, rule: str) -> Rejection:
    column = table.headers.get(field_name or "")
    if column is None and field_name:
        model = source(table.source_key).model
        column = header_of(model, field_name) if field_name in model.model_fields else None
    return Rejection(
        source_key=table.source_key,
        file_name=table.file_name,
        sheet=table.sheet,
        row_number=raw.row_number,
        column=column,
        cell_ref=table.cell_ref(field_name, raw.row_number),
        value=value_text(raw.values.get(field_name)) if field_name else None,
        reason=reason,
        rule=rule,
    )


# --- row level ----------------------------------------------------------------------------------

_ADAPTERS: dict[type, TypeAdapter] = {}
_TEXT_FIELDS: dict[type, set[str]] = {}


def _adapter(model: type[SourceRow]) -> TypeAdapter:
    if model not in _ADAPTERS:
        _ADAPTERS[model] = TypeAdapter(list[model])
        _TEXT_FIELDS[model] = {
            name
            for name, info in model.model_fields.items()
            if info.annotation in (str, str | None) and not info.metadata
        }
    return _ADAPTERS[model]


def _prepare(model: type[SourceRow], values: dict[str, object]) -> dict[str, object]:
    """Blank cells left out (required -> 'missing', optional -> default); numbers and dates in
    plain text fields (Excel turns "3" into 3.0) as text."""
    text_fields = _TEXT_FIELDS[model]
    out: dict[str, object] = {}
    for name, value in values.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if name in text_fields and not isinstance(value, str):
            value = value_text(value)
        out[name] = value
    return out


def _field_of_error(err: dict[str, Any], model: type[SourceRow], hmap: dict[str, str]) -> str | None:
    column = (err.get("ctx") or {}).get("column")
    if column:
        return hmap.get(vocab.normalize_token(str(column)))
    loc = err.get("loc", ())
    if len(loc) >= 2 and isinstance(loc[1], str) and loc[1] in model.model_fields:
        return loc[1]
    return None


# --- fast path: each distinct cell value validated once per field --------------------------------
#
# A row whose every field value passes its field's own validators (the same pydantic validators,
# run per field with the same context and model configuration, results cached per distinct value)
# is built with `model_construct` and then checked by its `row_rules()`. Any row for
# which anything fails, or whose model has validators this shortcut does not cover, goes through
# the full pydantic model, so rejected rows get exactly the same errors as before.

_FAIL = object()


class _FastModel:
    def __init__(self, model: type[SourceRow]):
        # The contract's models validate fields through their annotations and run every rule
        # across fields from `SourceRow.row_rules` (their one model validator), so building a row
        # with `model_construct` from per-field results and calling `row_rules()` is the model's
        # own validation, through public API only.
        self.usable = True
        self.model = model
        config = ConfigDict(
            **{
                k: v
                for k, v in model.model_config.items()
                if k in ("str_strip_whitespace", "str_to_lower", "str_to_upper")
            }
        )
        self.adapters: dict[str, TypeAdapter] = {}
        self.defaults: dict[str, object] = {}
        self.required: set[str] = set()
        for name, info in model.model_fields.items():
            annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
            self.adapters[name] = TypeAdapter(annotation, config=config)
            if info.is_required():
                self.required.add(name)
            elif info.default_factory is not None:
                self.usable = False
            else:
                self.defaults[name] = info.default

    def rows(self, data: list[dict[str, object]], context: dict[str, Any]) -> list[SourceRow | None]:
        """The validated row for each prepared dict, or None where the full model must decide."""
        caches: dict[str, dict[object, object]] = {name: {} for name in self.adapters}
        construct = self.model.model_construct
        out: list[SourceRow | None] = []
        for values in data:
            if not self.required.issubset(values):
                out.append(None)
                continue
            fields = dict(self.defaults)
            ok = True
            for name, value in values.items():
                cache = caches.get(name)
                if cache is None:
                    continue  # not a field (ignored like extra="ignore")
                key = (type(value), value.hex() if type(value) is float else value)
                parsed = cache.get(key, _FAIL)
                if parsed is _FAIL:
                    try:
                        parsed = self.adapters[name].validate_python(value, context=context)
                    except ValidationError:
                        ok = False
                        break
                    cache[key] = parsed
                fields[name] = parsed
            if not ok:
                out.append(None)
                continue
            row = construct(**fields)
            try:
                row.row_rules()
            except (ValueError, AssertionError, PydanticCustomError):
                out.append(None)
                continue
            out.append(row)
        return out


_FAST: dict[type, _FastModel] = {}


def _fast(model: type[SourceRow]) -> _FastModel:
    if model not in _FAST:
        _FAST[model] = _FastModel(model)
    return _FAST[model]


def validate_table(table: RawTable, ctx: ValidationContext) -> SourceResult:
    """Field and row rules of the source's model. Rows that pass the per-field fast path are
    accepted; the others are validated by the model as a list in one pass, and when some of them
    fail, a second pass over those that passed (pydantic reports every failing row at once)."""
    model = source(table.source_key).model
    adapter = _adapter(model)
    result = SourceResult(table)
    data = [_prepare(model, r.values) for r in table.rows]
    context = {"study": ctx}
    fast = _fast(model)
    rows = fast.rows(data, context) if fast.usable else [None] * len(data)
    slow = [i for i, row in enumerate(rows) if row is None]
    if slow:
        sub = _validate_reference(
            table, model, adapter, [table.rows[i] for i in slow], [data[i] for i in slow], context, result
        )
        for i, row in zip(slow, sub, strict=True):
            rows[i] = row
    result.accepted = [Accepted(raw, row) for raw, row in zip(table.rows, rows, strict=True) if row is not None]
    return result


def _validate_reference(
    table: RawTable,
    model: type[SourceRow],
    adapter: TypeAdapter,
    raws: list[RawRow],
    data: list[dict[str, object]],
    context: dict[str, Any],
    result: SourceResult,
) -> list[SourceRow | None]:
    """The full model over `data` (rows `raws`): rejections recorded in `result`; the validated
    row per position, None for a rejected one."""
    hmap = header_map(model)
    try:
        return list(adapter.validate_python(data, context=context))
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
    bad: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for err in errors:
        index = err["loc"][0] if err.get("loc") else None
        if not isinstance(index, int):
            raise RuntimeError(f"oväntat valideringsfel i {table.file_name}")
        bad[index].append(err)
    for index in sorted(bad):
        raw = raws[index]
        for err in bad[index]:
            name = _field_of_error(err, model, hmap)
            result.rejected.append(make_rejection(table, raw, name, reason_sv(err), str(err.get("type"))))
    good = [i for i in range(len(data)) if i not in bad]
    out: list[SourceRow | None] = [None] * len(data)
    for i, row in zip(good, adapter.validate_python([data[i] for i in good], context=context), strict=True):
        out[i] = row
    return out


# --- across files -------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _keep(result: SourceResult, drop: set[int]) -> None:
    """Remove accepted rows by position (their rejections are recorded already)."""
    if drop:
        result.accepted = [a for i, a in enumerate(result.accepted) if i not in drop]


def _last_step(ref: Any) -> date:
    steps = [ref.referred_on, ref.info_meeting_on, ref.consent_on, ref.enrolment_on, ref.baseline_on]
    return max(d for d in steps if d is not None)


def check_referrals(res: SourceResult) -> dict[str, Accepted]:
    first: dict[str, Accepted] = {}
    drop: set[int] = set()
    for i, acc in enumerate(res.accepted):
        code = acc.row.study_code
        if code in first:
            res.reject(
                acc,
                "study_code",
                f"studiekoden {code} finns redan på rad {first[code].row_number}",
                "duplicate_referral",
            )
            drop.add(i)
        else:
            first[code] = acc
    for i, acc in enumerate(res.accepted):
        prev_code = acc.row.previous_code
        if i in drop or prev_code is None:
            continue
        prev = first.get(prev_code)
        if prev is None:
            res.reject(
                acc, "previous_code", f"tidigare studiekod {prev_code} finns inte i remissloggen", "previous_unknown"
            )
            drop.add(i)
            continue
        p = prev.row
        motivation = p.exclusion_reason == "insufficient_motivation" or p.motivation == "insufficient"
        if p.excluded_stage is not None and motivation:
            excluded_on = _last_step(p)
            earliest = add_months(excluded_on, 3)
            if acc.row.referred_on < earliest:
                res.reject(
                    acc,
                    "referred_on",
                    f"ny remiss mindre än 3 månader efter exklusion för otillräcklig motivation "
                    f"({prev_code} exkluderades {excluded_on.isoformat()}; tidigast {earliest.isoformat()})",
                    "rereferral_too_soon",
                )
                drop.add(i)
    _keep(res, drop)
    return {a.row.study_code: a for a in res.accepted}


def check_randomisations(res: SourceResult, referrals: dict[str, Accepted]) -> dict[str, Accepted]:
    order = sorted(
        range(len(res.accepted)), key=lambda i: (res.accepted[i].row.randomised_on, res.accepted[i].row_number)
    )
    kept: dict[str, Accepted] = {}
    drop: set[int] = set()
    for i in order:
        acc = res.accepted[i]
        code = acc.row.study_code
        if code in kept:
            res.reject(
                acc, "study_code", f"redan randomiserad på rad {kept[code].row_number}", "duplicate_randomisation"
            )
            drop.add(i)
            continue
        kept[code] = acc
        ref = referrals.get(code)
        problem: tuple[str, str, str] | None = None
        if ref is None:
            problem = (
                "study_code",
                f"studiekoden {code} finns inte (giltig) i remissloggen",
                "randomisation_without_referral",
            )
        elif ref.row.excluded_stage is not None:
            stage = vocab.EXCLUSION_STAGES.label(ref.row.excluded_stage).lower()
            problem = (
                "study_code",
                f"{code} är exkluderad (vid {stage}) i remissloggen och kan inte randomiseras",
                "randomised_excluded",
            )
        elif ref.row.baseline_on is None:
            problem = (
                "study_code",
                f"{code} har inget baslinjedatum i remissloggen; baslinjen ska vara gjord före randomiseringen",
                "randomised_without_baseline",
            )
        elif acc.row.randomised_on < ref.row.baseline_on:
            problem = (
                "randomised_on",
                f"randomiserad {acc.row.randomised_on.isoformat()}, före baslinjedatum {ref.row.baseline_on.isoformat()} i remissloggen",
                "randomised_before_baseline",
            )
        if problem is not None:
            res.reject(acc, *problem)
            drop.add(i)
            del kept[code]  # an invalid randomisation does not block a later valid one
    _keep(res, drop)
    return {a.row.study_code: a for a in res.accepted}


def _not_randomised(res: SourceResult, randomised: dict[str, Accepted]) -> None:
    drop = set()
    for i, acc in enumerate(res.accepted):
        code = acc.row.study_code
        if code not in randomised:
            res.reject(acc, "study_code", f"studiekoden {code} är inte (giltigt) randomiserad", "not_randomised")
            drop.add(i)
    _keep(res, drop)


def _before_randomisation(res: SourceResult, randomised: dict[str, Accepted], date_field: str, what: str) -> None:
    drop = set()
    for i, acc in enumerate(res.accepted):
        day = getattr(acc.row, date_field)
        rand_on = randomised[acc.row.study_code].row.randomised_on
        if day is not None and day < rand_on:
            res.reject(
                acc,
                date_field,
                f"{what} är daterad {day.isoformat()}, före randomiseringen {rand_on.isoformat()}",
                "before_randomisation",
            )
            drop.add(i)
    _keep(res, drop)


def check_followups(res: SourceResult, randomised: dict[str, Accepted], config: StudyConfig) -> None:
    _not_randomised(res, randomised)
    _before_randomisation(res, randomised, "done_on", "uppföljningen")
    allowed = config.followup.timepoints_months
    seen: dict[tuple[str, int], Accepted] = {}
    drop = set()
    for i, acc in enumerate(res.accepted):
        tp = acc.row.timepoint_months
        if tp not in allowed:
            listed = ", ".join(str(t) for t in allowed)
            res.reject(
                acc,
                "timepoint_months",
                f"tidpunkten {tp} månader finns inte i uppföljningsschemat ({listed})",
                "timepoint_unknown",
            )
            drop.add(i)
            continue
        key = (acc.row.study_code, tp)
        if key in seen:
            res.reject(
                acc,
                "timepoint_months",
                f"uppföljningen {tp} månader för {key[0]} finns redan på rad {seen[key].row_number}",
                "duplicate_followup",
            )
            drop.add(i)
        else:
            seen[key] = acc
    _keep(res, drop)


def check_events(res: SourceResult, randomised: dict[str, Accepted]) -> None:
    _not_randomised(res, randomised)
    _before_randomisation(res, randomised, "event_on", "händelsen")
    drop = set()
    for i, acc in enumerate(res.accepted):
        if acc.row.event_type == "stopped_ips" and randomised[acc.row.study_code].row.arm == "control":
            res.reject(
                acc,
                "event_type",
                f"”Avslutat IPS” gäller bara IPS-gruppen; {acc.row.study_code} är i kontrollgruppen (använd ”Lämnat studien”)",
                "stopped_ips_control",
            )
            drop.add(i)
    _keep(res, drop)


def check_assignments(res: SourceResult, randomised: dict[str, Accepted], specialists: set[str]) -> None:
    _not_randomised(res, randomised)
    drop = set()
    for i, acc in enumerate(res.accepted):
        sid = acc.row.specialist_id
        if sid not in specialists:
            res.reject(
                acc,
                "specialist_id",
                f"arbetsspecialisten {sid} finns inte i listan över arbetsspecialister",
                "unknown_specialist",
            )
            drop.add(i)
        elif randomised[acc.row.study_code].row.arm == "control":
            res.reject(
                acc,
                "study_code",
                f"{acc.row.study_code} är i kontrollgruppen och ska inte ha någon arbetsspecialist",
                "assignment_control",
            )
            drop.add(i)
    _keep(res, drop)


def check_fidelity(res: SourceResult) -> None:
    by_review: dict[date, list[int]] = defaultdict(list)
    for i, acc in enumerate(res.accepted):
        by_review[acc.row.reviewed_on].append(i)
    all_items = list(vocab.FIDELITY_ITEMS)
    drop: set[int] = set()
    for day, positions in by_review.items():
        counts: dict[str, int] = defaultdict(int)
        for i in positions:
            counts[res.accepted[i].row.item_key] += 1
        missing = [k for k in all_items if counts[k] == 0]
        doubled = [k for k in all_items if counts[k] > 1]
        if not missing and not doubled:
            continue
        parts = []
        if missing:
            parts.append("saknar punkt " + ", ".join(missing))
        if doubled:
            parts.append("har flera rader för punkt " + ", ".join(doubled))
        reason = (
            f"skattningen {day.isoformat()} är ofullständig ({'; '.join(parts)}); "
            "varje skattning ska ha alla 25 punkter exakt en gång"
        )
        for i in positions:
            res.reject(res.accepted[i], "reviewed_on", reason, "fidelity_incomplete")
            drop.add(i)
    _keep(res, drop)


def _unique(res: SourceResult, key_of, column: str, what: str, rule: str) -> None:
    """Keep the first row per key; later rows with the same key are rejected, naming the first."""
    seen: dict[object, Accepted] = {}
    drop = set()
    for i, acc in enumerate(res.accepted):
        key = key_of(acc.row)
        if key in seen:
            res.reject(acc, column, f"{what} finns redan på rad {seen[key].row_number}", rule)
            drop.add(i)
        else:
            seen[key] = acc
    _keep(res, drop)


def check_references(results: dict[str, SourceResult], config: StudyConfig) -> None:
    """The rules between files, in dependency order; rejected rows leave `accepted`."""
    referrals = check_referrals(results["referrals"]) if "referrals" in results else {}
    randomised = check_randomisations(results["randomisations"], referrals) if "randomisations" in results else {}
    specialists = {a.row.specialist_id for a in results["specialists"].accepted} if "specialists" in results else set()
    for key in ("baseline", "activity", "employment"):
        if key in results:
            _not_randomised(results[key], randomised)
    if "baseline" in results:
        # Two baseline rows for one code would count the participant twice in every table.
        _unique(
            results["baseline"],
            lambda r: r.study_code,
            "study_code",
            "baslinjen för denna studiekod",
            "duplicate_baseline",
        )
    if "employment" in results:
        _unique(
            results["employment"],
            lambda r: (r.study_code, r.timepoint_months),
            "timepoint_months",
            "sysselsättningen för denna studiekod och tidpunkt",
            "duplicate_employment",
        )
    if "followups" in results:
        check_followups(results["followups"], randomised, config)
    if "events" in results:
        check_events(results["events"], randomised)
    if "assignments" in results:
        check_assignments(results["assignments"], randomised, specialists)
    if "fidelity" in results:
        check_fidelity(results["fidelity"])


def validate_tables(
    tables: dict[str, RawTable], config: StudyConfig, extract_date: date | None = None
) -> dict[str, SourceResult]:
    """Row rules of every table, then the cross-file rules. Keys follow `SOURCES` order.
    `extract_date`: no date may lie after it (default: the configuration's, else today)."""
    ctx = ValidationContext(config, extract_date)
    results = {s.key: validate_table(tables[s.key], ctx) for s in SOURCES if s.key in tables}
    check_references(results, config)
    for res in results.values():
        res.rejected.sort(key=lambda r: r.row_number)
    return results


def group_rejections(items: list[tuple[str, str, str]]) -> list[tuple[str, str, list[str]]]:
    """Collapse rejections that share file and reason (e.g. every row of an incomplete fidelity
    review) into one entry: (file, reason, cell references in order of appearance)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for file_name, reason, ref in items:
        groups.setdefault((file_name, reason), []).append(ref)
    return [(f, reason, refs) for (f, reason), refs in groups.items()]


def refs_text(refs: list[str]) -> str:
    """`Blad!A27` or `Blad!A27 … Blad!A50 (24 rader)`."""
    return refs[0] if len(refs) == 1 else f"{refs[0]} … {refs[-1]} ({len(refs)} rader)"
