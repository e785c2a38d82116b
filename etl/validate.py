"""Validate `RawTable`s column-wise against the contract, then the rules that span files.

Each field's declarations are checked over its column (`etl/columns.py`), then the row rules and
the cross-file rules (`etl/rules.py`, polars expressions and joins). Every problem becomes a
`Rejection`: file, sheet, row (as Excel shows it), column header as typed in the file, cell
reference (`Blad1!C17`), value as typed, a Swedish reason and a rule id (the parser's error type or
the rule's name). A row with a rejection is not loaded. No row objects are built on the way: the
accepted rows stay a polars DataFrame (`SourceResult.frame`), which the store loads through Arrow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl

from etl import rules
from etl.columns import BUILTIN_SV, check_column, field_specs, reason_sv
from etl.rules import POS, ROW
from etl.tables import RawRow, RawTable, value_text
from schema.config import StudyConfig
from schema.sources import SOURCES, SourceRow, ValidationContext, header_of, source

__all__ = [
    "BUILTIN_SV",
    "Accepted",
    "Rejection",
    "SourceResult",
    "group_rejections",
    "reason_sv",
    "refs_text",
    "validate_table",
    "validate_tables",
    "value_text",
]


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
    """One accepted row as a model instance (for callers that want rows; the loader does not)."""

    raw: RawRow
    row: SourceRow

    @property
    def row_number(self) -> int:
        return self.raw.row_number


@dataclass
class SourceResult:
    table: RawTable
    frame: pl.DataFrame  # the accepted rows: POS, ROW and the typed field columns
    raw: pl.DataFrame  # the rows as read, with POS (the values shown in rejections)
    rejected: list[Rejection] = field(default_factory=list)

    counts: tuple[int, int] | None = None  # (read, loaded), kept when the frames are released

    @property
    def rows_read(self) -> int:
        return self.counts[0] if self.counts else self.raw.height

    @property
    def rows_rejected(self) -> int:
        return len({r.row_number for r in self.rejected})

    @property
    def rows_loaded(self) -> int:
        return self.counts[1] if self.counts else self.frame.height

    def release(self) -> pl.DataFrame:
        """Hand over the accepted rows and drop every frame (a publish needs each source's rows once,
        then only the counts and rejections): the cells are not held while the store is built."""
        accepted = self.frame
        self.counts = (self.raw.height, accepted.height)
        self.raw, self.frame = self.raw.clear(), accepted.clear()
        self.table.release()
        return accepted

    @property
    def accepted(self) -> list[Accepted]:
        """The accepted rows as model instances, built from the checked columns."""
        model = source(self.table.source_key).model
        names = list(model.model_fields)
        out = []
        for values in self.frame.select(ROW, *names).iter_rows(named=True):
            number = values.pop(ROW)
            if "district_ids" in values and values["district_ids"] is not None:
                values["district_ids"] = tuple(values["district_ids"])
            out.append(Accepted(RawRow(number, dict(values)), model.model_construct(**values)))
        return out

    def reject(self, errors: pl.DataFrame) -> None:
        """Record the rejections of an error frame (POS, field, rule, reason) and drop its rows."""
        if errors.is_empty():
            return
        table = self.table
        model = source(table.source_key).model
        rows = self.raw.filter(pl.col(POS).is_in(errors[POS].implode()))
        by_pos = {r[POS]: r for r in rows.iter_rows(named=True)}
        for pos, name, rule, reason in errors.select(POS, "field", "rule", "reason").iter_rows():
            raw = by_pos[pos]
            column = table.headers.get(name or "")
            if column is None and name:
                column = header_of(model, name) if name in model.model_fields else None
            self.rejected.append(
                Rejection(
                    source_key=table.source_key,
                    file_name=table.file_name,
                    sheet=table.sheet,
                    row_number=raw[ROW],
                    column=column,
                    cell_ref=table.cell_ref(name, raw[ROW]),
                    value=raw.get(name) if name else None,
                    reason=reason,
                    rule=rule,
                )
            )
        self.frame = self.frame.filter(~pl.col(POS).is_in(errors[POS].implode()))


# --- one file -------------------------------------------------------------------------------------


def validate_table(table: RawTable, ctx: ValidationContext) -> SourceResult:
    """Each field's declarations over its column, then the source's row rules (only for rows whose
    fields all passed, as pydantic reports row-level problems only for well-formed rows)."""
    model = source(table.source_key).model
    raw = table.frame.with_row_index(POS)
    specs = field_specs(model)
    columns: dict[str, pl.Series] = {POS: raw[POS], ROW: raw[ROW]}
    errors = []
    for spec in specs:
        checked = check_column(raw, spec, ctx)
        columns[spec.name] = checked.value
        errors.append(
            pl.DataFrame({POS: raw[POS], "rule": checked.rule, "reason": checked.reason})
            .filter(pl.col("rule").is_not_null())
            .select(POS, pl.lit(spec.name, dtype=pl.String).alias("field"), "rule", "reason")
        )
    typed = pl.DataFrame(columns)
    # Display text of every field for rejections: the cell as typed (a date cell as its date).
    shown = raw.select(POS, ROW, *[pl.col(s.name) for s in specs if s.name in raw.columns])
    result = SourceResult(table, typed, shown)
    field_errors = pl.concat(errors) if errors else rules.no_errors()
    result.reject(field_errors.sort(POS, maintain_order=True))
    result.reject(rules.row_errors(table.source_key, result.frame))
    if table.source_key == "fidelity":
        from schema.vocab import FIDELITY_ITEMS

        sections = {k: v[0] for k, v in FIDELITY_ITEMS.items()}
        result.frame = result.frame.with_columns(item_key=rules.fidelity_item_key()).with_columns(
            section_key=pl.col("item_key").replace_strict(sections, default=None, return_dtype=pl.String)
        )
    return result


# --- across files -------------------------------------------------------------------------------


def check_references(results: dict[str, SourceResult], config: StudyConfig) -> None:
    """The rules between files, in dependency order; rejected rows leave the accepted frames."""
    if "referrals" in results:
        results["referrals"].reject(rules.referral_errors(results["referrals"].frame))
    ref = results["referrals"].frame if "referrals" in results else empty_frame("referrals")
    if "randomisations" in results:
        results["randomisations"].reject(rules.randomisation_errors(results["randomisations"].frame, ref))
    rand = results["randomisations"].frame if "randomisations" in results else empty_frame("randomisations")
    specialists = (
        results["specialists"].frame["specialist_id"] if "specialists" in results else pl.Series([], dtype=pl.String)
    )
    for key in ("baseline", "activity", "employment"):
        if key in results:
            results[key].reject(rules.not_randomised(results[key].frame, rand))
    if "baseline" in results:
        # Two baseline rows for one code would count the participant twice in every table.
        res = results["baseline"]
        res.reject(
            rules.first_of(
                res.frame, ["study_code"], "study_code", "duplicate_baseline", "baslinjen för denna studiekod"
            )
        )
    if "employment" in results:
        res = results["employment"]
        res.reject(
            rules.first_of(
                res.frame,
                ["study_code", "timepoint_months"],
                "timepoint_months",
                "duplicate_employment",
                "sysselsättningen för denna studiekod och tidpunkt",
            )
        )
    if "followups" in results:
        res = results["followups"]
        res.reject(rules.not_randomised(res.frame, rand))
        res.reject(rules.before_randomisation(res.frame, rand, "done_on", "uppföljningen"))
        res.reject(rules.followup_schedule_errors(res.frame, config))
    if "events" in results:
        res = results["events"]
        res.reject(rules.not_randomised(res.frame, rand))
        res.reject(rules.before_randomisation(res.frame, rand, "event_on", "händelsen"))
        res.reject(rules.stopped_ips_control_errors(res.frame, rand))
    if "assignments" in results:
        res = results["assignments"]
        res.reject(rules.not_randomised(res.frame, rand))
        res.reject(rules.assignment_errors(res.frame, rand, specialists))
    if "fidelity" in results:
        results["fidelity"].reject(rules.fidelity_complete_errors(results["fidelity"].frame))


def empty_frame(key: str) -> pl.DataFrame:
    """A checked frame without rows (an optional file not given), with every column a checked frame
    of that source has: the cross-file rules join against it and the store inserts it."""
    specs = field_specs(source(key).model)
    extra = {"item_key": pl.String, "section_key": pl.String} if key == "fidelity" else {}
    return pl.DataFrame(schema={POS: pl.UInt32, ROW: pl.Int64, **{s.name: s.dtype for s in specs}, **extra})


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
