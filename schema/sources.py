"""The data contract: one pydantic model per source file the study team keeps.

Each field carries the Swedish column header staff type (`header`), other spellings that are
accepted (`aliases`) and a short Swedish explanation (`doc`), which the contract page and the Excel
templates are generated from. Validation needs a `ValidationContext` (the study configuration),
passed as pydantic context, because allowed districts, the study-code pattern and the data cut-off
are configuration.

Row-level messages are Swedish (`PydanticCustomError`), so a project lead can act on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

from schema import rounding, vocab
from schema.config import StudyConfig
from schema.vocab import Vocabulary


@dataclass(frozen=True)
class ValidationContext:
    config: StudyConfig
    # issue 12: the load's extract date; None: the configuration's data_cutoff, else the load day
    # (a date after the day of loading is in the future: an error, never an extract date).
    extract_date: date | None = None

    @property
    def cutoff(self) -> date:
        return self.extract_date or self.config.data_cutoff or date.today()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_districts", self.config.district_lookup())
        object.__setattr__(self, "_code_re", re.compile(self.config.codes.pattern))


def _ctx(info: ValidationInfo) -> ValidationContext:
    ctx = (info.context or {}).get("study")
    if ctx is None:
        raise RuntimeError("validation needs context={'study': ValidationContext(...)}")
    return ctx


def sv(header: str, doc: str, *aliases: str, default: Any = ..., **kw: Any) -> Any:
    """A field with its Swedish header, accepted header variants and explanation."""
    return Field(default, json_schema_extra={"header": header, "aliases": list(aliases), "doc": doc}, **kw)


@dataclass(frozen=True)
class Named:
    """Field metadata: how a message names the field's value (e.g. ”Inkomst”)."""

    what: str


@dataclass(frozen=True)
class CodePattern:
    """Field metadata: a study code, which must follow the study's code pattern (configuration)."""


@dataclass(frozen=True)
class NotAfterExtract:
    """Field metadata: the date may not lie after the extract date (checked by the loader)."""


# --- value parsers ------------------------------------------------------------------------------

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SLASHED = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{2,4})$")


def parse_date(value: object) -> date | None:
    """A date from an Excel date cell or text. Ambiguous day/month text is refused, never guessed."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if text == "":
        return None
    m = _ISO.match(text) or _COMPACT.match(text)
    if m:
        y, mo, d = (int(g) for g in m.groups())
        try:
            return date(y, mo, d)
        except ValueError:
            raise PydanticCustomError("date_impossible", "datumet {value} finns inte", {"value": text}) from None
    m = _SLASHED.match(text)
    if m:
        a, b, _ = (int(g) for g in m.groups())
        if a <= 12 and b <= 12 and a != b:
            raise PydanticCustomError(
                "date_ambiguous",
                "datumet {value} kan läsas på två sätt (dag/månad eller månad/dag); skriv det som ÅÅÅÅ-MM-DD",
                {"value": text},
            )
        raise PydanticCustomError("date_format", "datumet {value} ska skrivas som ÅÅÅÅ-MM-DD", {"value": text})
    raise PydanticCustomError("date_format", "”{value}” är inget datum (skriv ÅÅÅÅ-MM-DD)", {"value": text})


def _blank_to_none(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, str) and value.strip() == "":
        return None
    return value


def _required(value: object) -> object:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        raise PydanticCustomError("required", "värde saknas", {})
    return value


def _vocab_parser(voc: Vocabulary):
    def parse(value: object) -> str | None:
        value = _blank_to_none(value)
        if value is None:
            return None
        key = voc.parse(value)
        if key is None:
            raise PydanticCustomError(
                "not_in_list",
                "”{value}” är inget tillåtet värde för {name}; tillåtna: {choices}",
                {"value": str(value).strip(), "name": voc.name_sv, "choices": voc.choices_text()},
            )
        return key

    return parse


def _study_code(value: object, info: ValidationInfo) -> str:
    text = str(_required(value)).strip().upper().replace(" ", "")
    if not _ctx(info)._code_re.match(text):  # type: ignore[attr-defined]
        raise PydanticCustomError(
            "code_pattern",
            "studiekoden ”{value}” följer inte mönstret ({pattern})",
            {"value": text, "pattern": _ctx(info).config.codes.description_sv},
        )
    return text


def _district(value: object, info: ValidationInfo) -> str:
    text = str(_required(value))
    found = _ctx(info)._districts.get(vocab.normalize_token(text))  # type: ignore[attr-defined]
    if found is None:
        names = ", ".join(f"”{d.name}”" for d in _ctx(info).config.districts)
        raise PydanticCustomError(
            "unknown_district",
            "stadsdelen ”{value}” finns inte i studien; kända: {names}",
            {"value": text.strip(), "names": names},
        )
    return found


def _number_text(value: object, what: str) -> float:
    try:
        return float(str(value).strip().replace(",", ".").replace(" ", "").replace("\u00a0", ""))
    except ValueError:
        raise PydanticCustomError("not_number", "”{value}” är inget tal", {"value": str(value)}) from None


def _whole(what: str):
    """A whole number as typed (`3`, `3,0`, an Excel number); its range is declared on the field
    (`Field(ge=..., le=...)`) and checked column-wise by the loader."""

    def parse(value: object) -> int | None:
        value = _blank_to_none(value)
        if value is None:
            return None
        number = _number_text(value, what)
        if number != int(number):
            raise PydanticCustomError(
                "not_whole", "{what} ska vara ett heltal, inte {value}", {"what": what, "value": str(value)}
            )
        return int(number)

    return parse


def _number(what: str):
    """A number as typed (decimal comma, spaces as thousands separators); its range is declared on
    the field (`Field(ge=0)`)."""

    def parse(value: object) -> float | None:
        value = _blank_to_none(value)
        return None if value is None else _number_text(value, what)

    return parse


def Whole(what: str, ge: int, le: int, required: bool = True):  # noqa: N802 - reads like a type
    """A whole number in [ge, le]; the range is declared on the number itself (`Field`), so an empty
    optional cell is None, not out of range."""
    number = Annotated[int, Field(ge=ge, le=le)]
    if required:
        return Annotated[number, BeforeValidator(lambda v: _whole(what)(_required(v))), Named(what)]
    return Annotated[number | None, BeforeValidator(_whole(what)), Named(what)]


def Amount(what: str):  # noqa: N802 - a number that cannot be negative
    return Annotated[Annotated[float, Field(ge=0)] | None, BeforeValidator(_number(what)), Named(what)]


Code = Annotated[str, BeforeValidator(_study_code), CodePattern()]
OptCode = Annotated[
    str | None, BeforeValidator(lambda v, i: None if _blank_to_none(v) is None else _study_code(v, i)), CodePattern()
]
DistrictId = Annotated[str, BeforeValidator(_district)]
Day = Annotated[date, BeforeValidator(lambda v: parse_date(_required(v))), NotAfterExtract()]
OptDay = Annotated[date | None, BeforeValidator(parse_date), NotAfterExtract()]
AnyDay = Annotated[date | None, BeforeValidator(parse_date)]  # may lie after the cut-off (planned ends)


def Choice(voc: Vocabulary, required: bool = True):  # noqa: N802 - reads like a type
    """One of the vocabulary's keys (`Literal`), typed as any of its accepted spellings."""
    parser = _vocab_parser(voc)
    keys = Literal[tuple(voc.keys)]  # type: ignore[valid-type]
    if required:
        return Annotated[keys, BeforeValidator(lambda v: parser(_required(v)))]
    return Annotated[keys | None, BeforeValidator(parser)]


class SourceRow(BaseModel):
    """Common behaviour: unknown columns are ignored (notes columns), values are stripped.

    A model declares one row's fields: type, required or not, allowed values (`Literal`), ranges
    (`Field(ge=..., le=...)`), the extract-date limit (`NotAfterExtract`) and the parser of what
    staff type (`BeforeValidator`). The loader checks those declarations column-wise
    (`etl/columns.py`). Rules that span fields or files are written once, as named polars rules in
    `etl/rules.py`; a model has no validators of its own for them.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    source_key: ClassVar[str]
    title_sv: ClassVar[str]
    grain_sv: ClassVar[str]


def cutoff_checked_fields(model: type[BaseModel]) -> list[str]:
    """Fields whose dates may not lie after the extract date (planned end dates may)."""
    return [
        name for name, info in model.model_fields.items() if any(isinstance(m, NotAfterExtract) for m in info.metadata)
    ]


def header_of(model: type[BaseModel], field_name: str) -> str:
    extra = model.model_fields[field_name].json_schema_extra or {}
    return extra.get("header", field_name)  # type: ignore[union-attr]


# --- 2. screening / referral log ----------------------------------------------------------------


class ReferralRow(SourceRow):
    source_key: ClassVar[str] = "referrals"
    title_sv: ClassVar[str] = "Remisslogg (screening)"
    grain_sv: ClassVar[str] = "en rad per remiss"

    study_code: Code = sv(
        "Studiekod", "Deltagarens studiekod (aldrig personnummer)", "Kod", "Deltagarkod", "Individkod"
    )
    district_id: DistrictId = sv(
        "Stadsdel", "Stadsdelen som remitterar", "SDF", "Stadsdelsförvaltning", "Enhet/stadsdel"
    )
    referred_on: Day = sv("Remissdatum", "Dag remissen kom in", "Datum för remiss", "Remiss datum", "Remiss")
    referral_source: Choice(vocab.REFERRAL_SOURCE) = sv(
        "Remitterande instans", "Varifrån remissen kom", "Remittent", "Källa", "Remiss från"
    )
    info_meeting_on: OptDay = sv(
        "Informationsmöte", "Datum för informationsmötet", "Datum informationsmöte", "Infomöte", default=None
    )
    motivation: Choice(vocab.MOTIVATION, required=False) = sv(
        "Motivationsskattning", "Resultat av motivationsskattningen", "Motivation", default=None
    )
    consent_on: OptDay = sv(
        "Samtycke", "Datum för skriftligt samtycke", "Samtyckesdatum", "Datum samtycke", default=None
    )
    enrolment_on: OptDay = sv(
        "Inskrivningssamtal", "Datum för inskrivningssamtalet", "Inskrivning", "Datum inskrivning", default=None
    )
    baseline_on: OptDay = sv(
        "Baslinje", "Datum då baslinjeenkäten besvarades", "Baslinjedatum", "Baslinjemätning", default=None
    )
    excluded_stage: Choice(vocab.EXCLUSION_STAGES, required=False) = sv(
        "Exkluderad vid",
        "Steg där personen exkluderades (tomt om inte exkluderad)",
        "Exklusionssteg",
        "Exkluderad steg",
        default=None,
    )
    exclusion_reason: Choice(vocab.EXCLUSION_REASON, required=False) = sv(
        "Exklusionsorsak", "Skäl till exklusion", "Orsak exklusion", "Exkluderad orsak", default=None
    )
    previous_code: OptCode = sv(
        "Tidigare studiekod",
        "Vid ny remiss: koden från den tidigare remissen",
        "Återremiss av",
        "Tidigare kod",
        default=None,
    )


# --- 3. randomisation log ---------------------------------------------------------------------


class RandomisationRow(SourceRow):
    source_key: ClassVar[str] = "randomisations"
    title_sv: ClassVar[str] = "Randomiseringslogg"
    grain_sv: ClassVar[str] = "en rad per randomiserad deltagare"

    study_code: Code = sv("Studiekod", "Deltagarens studiekod", "Kod", "Deltagarkod")
    randomised_on: Day = sv(
        "Randomiseringsdatum", "Dag för lottningen", "Lottningsdatum", "Datum randomisering", "Datum"
    )
    arm: Choice(vocab.ARM) = sv("Grupp", "IPS+TAU eller TVR+TAU (kontroll)", "Arm", "Behandlingsarm", "Lottad till")
    stratum: str | None = sv("Stratum", "Stratum för blockrandomiseringen (stadsdel)", "Strata", default=None)
    # issue 12: the allocation sequence decides who was randomised first on a day (never the code).
    allocation_number: Whole("Löpnummer", 1, 1_000_000, required=False) = sv(
        "Löpnummer",
        "Randomiseringens löpnummer (valfritt); avgör ordningen mellan randomiseringar samma dag",
        "Lopnummer",
        "Löpnr",
        "Randomiseringsnummer",
        default=None,
    )
    # issue 12: found ineligible after randomisation (CONSORT); counted per `[analysis]` in studie.toml.
    excluded_after_on: OptDay = sv(
        "Exkluderad efter randomisering",
        "Datum då personen befanns inte uppfylla kriterierna (tomt annars)",
        "Exkluderad efter lottning",
        "Exklusionsdatum",
        default=None,
    )
    excluded_after_reason: Choice(vocab.EXCLUSION_REASON, required=False) = sv(
        "Orsak exklusion efter randomisering",
        "Skäl till exklusionen efter randomiseringen",
        "Exklusionsorsak efter randomisering",
        default=None,
    )


# --- 4. baseline characteristics --------------------------------------------------------------

YesNo = Choice(vocab.YES_NO, required=False)


class BaselineRow(SourceRow):
    source_key: ClassVar[str] = "baseline"
    title_sv: ClassVar[str] = "Baslinje (bakgrundsfaktorer)"
    grain_sv: ClassVar[str] = "en rad per deltagare med besvarad baslinjeenkät"

    study_code: Code = sv("Studiekod", "Deltagarens studiekod", "Kod")
    baseline_on: Day = sv("Baslinjedatum", "Dag då enkäten besvarades", "Datum", "Baslinje")
    gender: Choice(vocab.GENDER) = sv("Kön", "Man, Kvinna eller Annat", "Kon")
    birth_year: Whole("Födelseår", 1900, 2100) = sv(
        "Födelseår", "Fyra siffror, t.ex. 1981 (aldrig hela personnumret)", "Fodelsear", "År född"
    )
    born_in_sweden: YesNo = sv("Född i Sverige", "Ja/Nej", "Född i sverige ja/nej", default=None)
    education: Choice(vocab.EDUCATION, required=False) = sv(
        "Utbildning", "Högsta avslutade utbildning", "Utbildningsnivå", default=None
    )
    housing: Choice(vocab.HOUSING, required=False) = sv("Boende", "Boendesituation", "Boendesituation", default=None)
    income_source: Choice(vocab.INCOME, required=False) = sv(
        "Inkomstkälla", "Inkomstkälla senaste 30 dagarna", "Försörjning", default=None
    )
    civil_status: Choice(vocab.CIVIL_STATUS, required=False) = sv(
        "Civilstånd", "Gift/sambo eller ensamstående", default=None
    )
    worked_before: YesNo = sv(
        "Lönearbete tidigare",
        "Har haft lönearbete tidigare i livet",
        "Tidigare lönearbete",
        "Arbetslivserfarenhet",
        default=None,
    )
    longest_job_5y: YesNo = sv(
        "Längsta arbete 5 år eller mer",
        "Längsta sammanhängande lönearbete minst 5 år",
        "Längsta anställning 5 år",
        default=None,
    )
    used_drugs_ever: YesNo = sv("Använt narkotika", "Någon gång i livet", default=None)
    drugs_30d: YesNo = sv(
        "Narkotika 30 dagar", "Använt narkotika senaste 30 dagarna", "Narkotika senaste 30 d", default=None
    )
    alcohol_30d: YesNo = sv(
        "Alkohol 30 dagar", "Druckit alkohol senaste 30 dagarna", "Alkohol senaste 30 d", default=None
    )
    sud_treatment_ever: YesNo = sv("Behandling missbruk", "Behandling för missbruk/beroende någon gång", default=None)
    legal_problems_30d: YesNo = sv("Rättsliga problem 30 dagar", "Rättsliga problem senaste 30 dagarna", default=None)
    psychiatric_diagnosis: YesNo = sv("Psykiatrisk diagnos", "Har en psykiatrisk diagnos", default=None)
    mental_health_treatment: YesNo = sv("Behandling psykisk ohälsa", "Öppen- eller slutenvård någon gång", default=None)


# --- 5. follow-up assessments -----------------------------------------------------------------


def _timepoint_text(value: object) -> object:
    """'6 mån', '6m', '6 månader' → '6' (Excel numbers pass through)."""
    if isinstance(value, int | float):
        return value
    return re.sub(r"\s*(månader|månad|mån|m)\s*$", "", str(value).strip().lower())


class FollowUpRow(SourceRow):
    source_key: ClassVar[str] = "followups"
    title_sv: ClassVar[str] = "Uppföljningar (ASI och enkäter)"
    grain_sv: ClassVar[str] = "en rad per deltagare och uppföljningstidpunkt"

    study_code: Code = sv("Studiekod", "Deltagarens studiekod", "Kod")
    timepoint_months: Annotated[
        Annotated[int, Field(ge=1, le=120)],
        BeforeValidator(lambda v: _whole("Tidpunkt")(_timepoint_text(_required(v)))),
        Named("Tidpunkt"),
    ] = sv("Tidpunkt", "Månader efter randomisering: 6, 12 eller 18", "Uppföljning", "Månad", "Mätpunkt")
    result: Choice(vocab.FOLLOWUP_RESULT) = sv("Status", "Genomförd eller Missad", "Resultat", "Genomförd/missad")
    done_on: OptDay = sv(
        "Datum",
        "Dag uppföljningen gjordes (tomt om missad)",
        "Genomförd datum",
        "Datum genomförd",
        "Uppföljningsdatum",
        default=None,
    )
    unit: str | None = sv("Enhet", "Enheten som gjorde uppföljningen", "Utförd av", "Vuxenenhet", default=None)


# --- 6. participation events ------------------------------------------------------------------


class EventRow(SourceRow):
    source_key: ClassVar[str] = "events"
    title_sv: ClassVar[str] = "Avslut, avhopp och pauser"
    grain_sv: ClassVar[str] = "en rad per händelse"

    study_code: Code = sv("Studiekod", "Deltagarens studiekod", "Kod")
    event_on: Day = sv("Datum", "Dag händelsen inträffade", "Händelsedatum", "Avslutsdatum")
    event_type: Choice(vocab.EVENT_TYPE) = sv(
        "Händelse", "Avslutat IPS, Lämnat studien, Paus eller Återupptagen", "Typ", "Typ av händelse"
    )
    reason: Choice(vocab.EVENT_REASON, required=False) = sv(
        "Orsak", "Skäl (krävs vid avslut och paus)", "Anledning", "Skäl", default=None
    )


# --- 7. specialists and assignments -----------------------------------------------------------


def _letter(value: object) -> str:
    text = str(_required(value)).strip().upper()
    if not re.fullmatch(r"[A-Z]{1,3}", text):
        raise PydanticCustomError(
            "letter", "arbetsspecialistens kod ska vara 1–3 bokstäver A–Z, inte ”{value}”", {"value": text}
        )
    return text


def _districts(value: object, info: ValidationInfo) -> tuple[str, ...]:
    text = str(_required(value))
    parts = [p for p in re.split(r"[;,]", text) if p.strip()]
    return tuple(_district(p, info) for p in parts)


def _share(value: object) -> int:
    text = str(_required(value)).replace("%", "").strip()
    number = _number_text(text, "Tjänstgöringsgrad")
    if number < 0:
        raise PydanticCustomError("out_of_range", "Tjänstgöringsgrad kan inte vara negativt ({value})", {"value": text})
    if 0 < number <= 1:  # typed as a fraction (0.5) or formatted as percent in Excel
        number *= 100
    if not 0 < number <= 100:
        raise PydanticCustomError("share", "tjänstgöringsgrad ska vara 1–100 %, inte {value}", {"value": text})
    return rounding.round_int(number)  # half up: a typed 62,5 % is 63 %


class SpecialistRow(SourceRow):
    source_key: ClassVar[str] = "specialists"
    title_sv: ClassVar[str] = "Arbetsspecialister"
    grain_sv: ClassVar[str] = "en rad per arbetsspecialist och period"

    specialist_id: Annotated[str, BeforeValidator(_letter)] = sv(
        "Kod", "Bokstaven i studiekoderna", "Bokstav", "Arbetsspecialist"
    )
    name: str | None = sv("Namn", "Förnamn (valfritt)", default=None)
    district_ids: Annotated[tuple[str, ...], BeforeValidator(_districts)] = sv(
        "Stadsdelar", "En eller flera stadsdelar, åtskilda med semikolon", "Stadsdel", "Placering"
    )
    employment_pct: Annotated[int, BeforeValidator(_share)] = sv(
        "Tjänstgöringsgrad", "Procent av heltid", "Tjänst %", "Tjänst"
    )
    start_on: Day = sv("Från", "Första dag i tjänst", "Startdatum", "Från datum")
    end_on: AnyDay = sv("Till", "Sista dag (tomt om kvar)", "Slutdatum", "Till datum", default=None)


class AssignmentRow(SourceRow):
    source_key: ClassVar[str] = "assignments"
    title_sv: ClassVar[str] = "Tilldelning deltagare–arbetsspecialist"
    grain_sv: ClassVar[str] = "en rad per deltagare och arbetsspecialist och period"

    study_code: Code = sv("Studiekod", "Deltagarens studiekod", "Kod")
    specialist_id: Annotated[str, BeforeValidator(_letter)] = sv(
        "Arbetsspecialist", "Arbetsspecialistens bokstav", "Specialist", "Kod arbetsspecialist"
    )
    start_on: Day = sv("Från", "Första dag", "Startdatum", "Från datum")
    end_on: AnyDay = sv("Till", "Sista dag (tomt om pågår)", "Slutdatum", "Till datum", default=None)


# --- 8. fidelity reviews ----------------------------------------------------------------------


class FidelityRow(SourceRow):
    source_key: ClassVar[str] = "fidelity"
    title_sv: ClassVar[str] = "Programtrohetsskattningar"
    grain_sv: ClassVar[str] = "en rad per skattning och punkt (25 punkter per skattning)"

    reviewed_on: Day = sv("Skattningsdatum", "Dag skattningen gjordes", "Datum", "Granskningsdatum")
    section: str = sv("Område", "Personal, Organisation eller Tjänster", "Avsnitt", "Del")
    item_number: Whole("Punkt", 1, 14) = sv("Punkt", "Punktens nummer inom området", "Nr", "Fråga")
    score: Whole("Poäng", 1, 5) = sv("Poäng", "1–5", "Skattning", "Poang")
    # issue 12: a remark on the review (e.g. the report's total differing from its items), shown with it.
    comment: str | None = sv(
        "Kommentar", "Kommentar till skattningen (valfritt; visas med skattningen)", "Anmärkning", default=None
    )

    @property
    def item_key(self) -> str:
        key = vocab.parse_fidelity_item(self.section, self.item_number)
        assert key is not None
        return key


# --- 9. sealed: IPS activity and employment outcomes -----------------------------------------


class ActivityRow(SourceRow):
    """Sealed outcome data: loaded and validated, never shown before the study is closed."""

    source_key: ClassVar[str] = "activity"
    title_sv: ClassVar[str] = "IPS-aktiviteter (förseglade utfall)"
    grain_sv: ClassVar[str] = "en rad per arbetsgivarkontakt, anställning, studie- eller praktikstart"

    study_code: Code = sv("Studiekod", "Deltagarens studiekod", "Kod")
    activity_on: Day = sv("Datum", "Dag för kontakten eller starten", "Startdatum")
    activity_type: Choice(vocab.ACTIVITY_TYPE) = sv(
        "Aktivitet", "Arbetsgivarkontakt, Anställning, Studier eller Praktik", "Typ"
    )
    end_on: OptDay = sv("Slutdatum", "Sista dag (anställning/studier/praktik)", "Till", default=None)
    extent: Choice(vocab.EXTENT, required=False) = sv("Omfattning", "Heltid eller Deltid", default=None)
    hours_per_week: Amount("Timmar per vecka") = sv("Timmar per vecka", "Avtalad arbetstid", "Tim/v", default=None)


class EmploymentRow(SourceRow):
    """Sealed outcome data at each follow-up timepoint (self-report and register)."""

    source_key: ClassVar[str] = "employment"
    title_sv: ClassVar[str] = "Sysselsättning vid uppföljning (förseglade utfall)"
    grain_sv: ClassVar[str] = "en rad per deltagare och uppföljningstidpunkt"

    study_code: Code = sv("Studiekod", "Deltagarens studiekod", "Kod")
    timepoint_months: Whole("Tidpunkt", 0, 120) = sv("Tidpunkt", "Månader efter randomisering", "Månad")
    worked_any: YesNo = sv("Arbetat minst en dag", "Ja/Nej under perioden", "Arbetat", default=None)
    days_worked: Amount("Arbetade dagar") = sv("Arbetade dagar", "Under perioden", default=None)
    hours_worked: Amount("Arbetade timmar") = sv("Arbetade timmar", "Under perioden", default=None)
    income_sek: Amount("Inkomst") = sv("Inkomst kr", "Arbetsinkomst före skatt under perioden", "Inkomst", default=None)
    benefits_sek: Amount("Bistånd") = sv(
        "Bistånd kr", "Ekonomiskt bistånd/ersättning under perioden", "Bistånd", default=None
    )
    asi_employment: Amount("ASI arbete") = sv(
        "ASI arbete", "ASI composite score arbete/försörjning (0–1)", default=None
    )


@dataclass(frozen=True)
class Source:
    key: str
    stems: tuple[str, ...]
    model: type[SourceRow]
    required: bool
    sealed: bool = False

    @property
    def title_sv(self) -> str:
        return self.model.title_sv


# File names staff use (without extension; .csv and .xlsx both accepted). The first stem is what
# `ipsdash demo` and `ipsdash template` write.
SOURCES: tuple[Source, ...] = (
    Source("referrals", ("remisslogg", "screening", "remisser"), ReferralRow, required=True),
    Source("randomisations", ("randomisering", "randomiseringslogg", "lottning"), RandomisationRow, required=True),
    Source("baseline", ("baslinje", "bakgrund"), BaselineRow, required=True),
    Source("followups", ("uppfoljning", "uppföljning", "uppfoljningar"), FollowUpRow, required=True),
    Source("events", ("avslut", "handelser", "händelser"), EventRow, required=True),
    Source("specialists", ("arbetsspecialister",), SpecialistRow, required=True),
    Source("assignments", ("tilldelning", "tilldelningar"), AssignmentRow, required=True),
    Source("fidelity", ("programtrohet", "fidelity"), FidelityRow, required=False),
    Source("activity", ("ips_aktivitet", "aktiviteter"), ActivityRow, required=False, sealed=True),
    Source("employment", ("sysselsattning", "sysselsättning"), EmploymentRow, required=False, sealed=True),
)
CONFIG_STEMS = ("studie", "study")


def source(key: str) -> Source:
    return next(s for s in SOURCES if s.key == key)


def header_map(model: type[SourceRow]) -> dict[str, str]:
    """Normalised header (and every accepted variant) -> field name."""
    table: dict[str, str] = {}
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra or {}
        for header in [extra.get("header", name), *extra.get("aliases", []), name]:  # type: ignore[union-attr]
            table[vocab.normalize_token(header)] = name
    return table
