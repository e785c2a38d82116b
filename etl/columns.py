"""The contract's field declarations, checked column-wise over a `RawTable.frame`.

Each field of a source model declares (`schema/sources.py`, read through pydantic's public
`model_fields`/`FieldInfo.metadata`): its type, whether it is required, its allowed values
(`Literal`), its range (`Field(ge=..., le=...)`), the extract-date limit (`NotAfterExtract`), a study
code (`CodePattern`) and the parser of what staff type (`BeforeValidator`). From those this module
builds, per field, one pass over the column:

1. required and blank -> `missing`;
2. the value parsed: the common shapes as polars expressions (ISO dates, plain numbers, study codes
   matching the configured pattern, Excel date cells), everything else by the field's own parser
   run once per distinct value (pydantic `TypeAdapter`, public API) — so an odd value is judged by
   exactly the parser the contract declares;
3. the declared range and the extract-date limit, as polars expressions.

A field yields at most one error per row, as pydantic reports one error per field. The Swedish
reasons and rule ids are those of the contract's parsers, and for the declared constraints those
below.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import polars as pl
from pydantic import BeforeValidator, ConfigDict, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import core_schema

from etl.tables import date_column
from schema.sources import CodePattern, Named, NotAfterExtract, SourceRow, ValidationContext, header_of

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

# The declared constraints' rules (rule id, Swedish text) — the only copy of each.
RANGE_RULE = "out_of_range"
RANGE_TEXT = "{what} ska vara mellan {lo} och {hi}, inte {value}"
NEGATIVE_TEXT = "{what} kan inte vara negativt ({value})"
CUTOFF_RULE = "after_cutoff"
CUTOFF_TEXT = "datumet {value} ligger efter datauttagets datum {cutoff}"

_ISO_DAY = r"^\d{4}-\d{2}-\d{2}$"
_WHOLE = r"^-?\d{1,15}$"
_DECIMAL = r"^-?\d{1,15}(\.\d{1,15})?$"
_CODE_SHAPE = r"^[A-Z0-9]+$"


def reason_sv(err: dict[str, Any]) -> str:
    """The Swedish reason of one pydantic error (never pydantic's English message)."""
    kind = err.get("type", "")
    if kind in BUILTIN_SV:
        return BUILTIN_SV[kind]
    if kind in _PYDANTIC_TYPES:
        return f"ogiltigt värde ({kind})"
    # PydanticCustomError: the message is the contract's Swedish text, already formatted.
    return str(err.get("msg", "ogiltigt värde"))


def _base(annotation: Any) -> tuple[Any, list[Any]]:
    """(the type without None and without its own `Annotated` constraints, those constraints)."""
    args = get_args(annotation)
    if get_origin(annotation) in (Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        annotation = rest[0] if len(rest) == 1 else Union[tuple(rest)]  # noqa: UP007
    if get_origin(annotation) is Annotated:
        inner, *constraints = get_args(annotation)
        return inner, [c for m in constraints for c in (m.metadata if isinstance(m, FieldInfo) else [m])]
    return annotation, []


@dataclass(frozen=True)
class FieldSpec:
    """One field's declarations, as the column check needs them."""

    name: str
    header: str
    required: bool
    kind: str  # text | date | whole | number | code | parsed
    dtype: pl.DataType
    what: str
    ge: float | None
    le: float | None
    not_after_extract: bool
    allowed: tuple[str, ...] | None  # the Literal's values, if any
    adapter: TypeAdapter | None  # the declared parser, for values no expression decides

    def parse_one(self, value: object, context: dict[str, Any]) -> tuple[object, str | None, str | None]:
        assert self.adapter is not None
        try:
            return self.adapter.validate_python(value, context=context), None, None
        except ValidationError as exc:
            err = exc.errors(include_url=False, include_input=False)[0]
            return None, str(err.get("type")), reason_sv(err)


_SPECS: dict[type, list[FieldSpec]] = {}


def field_specs(model: type[SourceRow]) -> list[FieldSpec]:
    """The model's fields in declaration order, read from the declarations."""
    if model in _SPECS:
        return _SPECS[model]
    config = ConfigDict(str_strip_whitespace=bool(model.model_config.get("str_strip_whitespace")))
    specs = []
    for name, info in model.model_fields.items():
        base, inner = _base(info.annotation)
        meta = [*info.metadata, *inner]
        before = [m for m in meta if isinstance(m, BeforeValidator)]
        ge = next((m.ge for m in meta if isinstance(m, annotated_types.Ge)), None)
        le = next((m.le for m in meta if isinstance(m, annotated_types.Le)), None)
        named = next((m.what for m in meta if isinstance(m, Named)), None)
        allowed = tuple(get_args(base)) if get_origin(base) is Literal else None
        if any(isinstance(m, CodePattern) for m in meta):
            kind = "code"
        elif not before:
            kind = "text"
        elif base is date:
            kind = "date"
        elif base is int and named is not None:
            kind = "whole"
        elif base is float and named is not None:
            kind = "number"
        else:
            kind = "parsed"
        if kind == "number" and ge not in (None, 0):
            raise TypeError(f"{model.__name__}.{name}: a lower bound other than 0 has no Swedish text")
        if get_origin(base) is tuple:
            dtype: pl.DataType = pl.List(pl.String)
        else:
            dtype = {date: pl.Date(), int: pl.Int64(), float: pl.Float64()}.get(base, pl.String())
        # The parser alone (the declared constraints are checked column-wise, with their own texts).
        parse_type = base | None if not info.is_required() else base
        adapter = TypeAdapter(Annotated[(parse_type, *before)], config=config) if before else None
        specs.append(
            FieldSpec(
                name=name,
                header=header_of(model, name),
                required=info.is_required(),
                kind=kind,
                dtype=dtype,
                what=named or header_of(model, name),
                ge=ge,
                le=le,
                not_after_extract=any(isinstance(m, NotAfterExtract) for m in meta),
                allowed=allowed,
                adapter=adapter,
            )
        )
    _SPECS[model] = specs
    return specs


@dataclass
class Checked:
    """One field checked over a column: the typed values (null where blank or failing) and, per
    row, the rule and Swedish reason of its error (null where none)."""

    value: pl.Series
    rule: pl.Series
    reason: pl.Series


def _code_regex(ctx: ValidationContext) -> str | None:
    """The configured code pattern if polars' regex engine reads it (it has no look-around)."""
    pattern = ctx.config.codes.pattern
    try:
        pl.select(pl.lit("A").str.contains(pattern))
    except Exception:  # noqa: BLE001 - any pattern polars cannot compile is left to the parser
        return None
    return pattern


def check_column(frame: pl.DataFrame, spec: FieldSpec, ctx: ValidationContext) -> Checked:
    """The field's declarations over its column in `frame` (see the module docstring)."""
    n = frame.height
    raw = frame[spec.name] if spec.name in frame.columns else pl.Series(spec.name, [None] * n, dtype=pl.String)
    cells = frame[date_column(spec.name)] if date_column(spec.name) in frame.columns else None
    cells = cells.dt.date() if cells is not None else pl.Series([None] * n, dtype=pl.Date)
    w = pl.DataFrame({"raw": raw, "cell": cells})
    raw_c, cell_c = pl.col("raw"), pl.col("cell")
    present = raw_c.is_not_null() | cell_c.is_not_null()

    if spec.kind == "text":  # str_strip_whitespace; a blank cell is no value
        stripped = raw_c.str.strip_chars()
        w = w.with_columns(value=pl.when(stripped != "").then(stripped))
        fast = pl.lit(True)
    elif spec.kind == "date":
        w = w.with_columns(
            value=pl.coalesce(
                cell_c,
                pl.when(raw_c.str.contains(_ISO_DAY)).then(raw_c.str.to_date("%Y-%m-%d", strict=False)),
            )
        )
        fast = pl.col("value").is_not_null()
    elif spec.kind in ("whole", "number"):
        shape, dtype = (_WHOLE, pl.Int64) if spec.kind == "whole" else (_DECIMAL, pl.Float64)
        w = w.with_columns(value=pl.when(raw_c.str.contains(shape)).then(raw_c.cast(dtype, strict=False)))
        fast = pl.col("value").is_not_null()
    elif spec.kind == "code" and (pattern := _code_regex(ctx)) is not None:
        norm = raw_c.str.to_uppercase().str.replace_all(" ", "", literal=True)
        ok = norm.str.contains(_CODE_SHAPE) & norm.str.contains(pattern)
        w = w.with_columns(value=pl.when(ok).then(norm))
        fast = pl.col("value").is_not_null()
    else:
        w = w.with_columns(value=pl.lit(None, dtype=spec.dtype))
        fast = pl.lit(False)
    w = w.with_columns(
        pl.col("value").cast(spec.dtype),
        present=present,
        python=present & ~fast,
        rule=pl.when(~present & spec.required).then(pl.lit("missing")),
        reason=pl.when(~present & spec.required).then(pl.lit(BUILTIN_SV["missing"])),
    )

    # The declared parser, once per distinct value no expression decided.
    todo = w.filter(pl.col("python"))["raw"].unique()
    if len(todo):
        context = {"study": ctx}
        parsed = [spec.parse_one(v, context) for v in todo.to_list()]
        mapping = pl.DataFrame(
            {
                "raw": todo,
                "p_value": pl.Series([p[0] for p in parsed], dtype=spec.dtype),
                "p_rule": pl.Series([p[1] for p in parsed], dtype=pl.String),
                "p_reason": pl.Series([p[2] for p in parsed], dtype=pl.String),
            }
        )
        w = w.join(mapping, on="raw", how="left", maintain_order="left").with_columns(
            value=pl.when(pl.col("python")).then(pl.col("p_value")).otherwise(pl.col("value")),
            rule=pl.when(pl.col("python")).then(pl.col("p_rule")).otherwise(pl.col("rule")),
            reason=pl.when(pl.col("python")).then(pl.col("p_reason")).otherwise(pl.col("reason")),
        )

    # The declared constraints, on values that parsed.
    ok = pl.col("rule").is_null() & pl.col("value").is_not_null()
    value = pl.col("value")
    if spec.ge is not None or spec.le is not None:
        low = value < spec.ge if spec.ge is not None else pl.lit(False)
        high = value > spec.le if spec.le is not None else pl.lit(False)
        if spec.le is not None:
            text = pl.format(
                RANGE_TEXT.format(what=spec.what, lo=spec.ge, hi=spec.le, value="{}"), value.cast(pl.Int64)
            )
        else:
            text = pl.format(NEGATIVE_TEXT.format(what=spec.what, value="{}"), pl.col("raw"))
        bad = ok & (low | high)
        w = w.with_columns(
            rule=pl.when(bad).then(pl.lit(RANGE_RULE)).otherwise("rule"),
            reason=pl.when(bad).then(text).otherwise("reason"),
        )
    if spec.not_after_extract:
        cutoff = ctx.cutoff
        bad = pl.col("rule").is_null() & value.is_not_null() & (value > cutoff)
        text = pl.format(CUTOFF_TEXT.format(value="{}", cutoff=cutoff.isoformat()), value.dt.to_string("%Y-%m-%d"))
        w = w.with_columns(
            rule=pl.when(bad).then(pl.lit(CUTOFF_RULE)).otherwise("rule"),
            reason=pl.when(bad).then(text).otherwise("reason"),
        )
    w = w.with_columns(value=pl.when(pl.col("rule").is_null()).then("value"))
    return Checked(w["value"].alias(spec.name), w["rule"], w["reason"])
