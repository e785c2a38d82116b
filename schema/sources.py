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
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from schema import vocab
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


def _not_after_cutoff(value: date | None, info: ValidationInfo) -> date | None:
    if value is not None and value > _ctx(info).cutoff:
        raise PydanticCustomError(
            "after_cutoff",
            "datumet {value} ligger efter datauttagets datum {cutoff}",
            {"value": value.isoformat(), "cutoff": _ctx(info).cutoff.isoformat()},
        )
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


def _int_in(lo: int, hi: int, what: str):
    def parse(value: object) -> int | None:
        value = _blank_to_none(value)
        if value is None:
            return None
        try:
            number = float(str(value).strip().replace(",", ".").replace(" ", ""))
        except ValueError:
            raise PydanticCustomError("not_number", "”{value}” är inget tal", {"value": str(value)}) from None
        if number != int(number):
            raise PydanticCustomError(
                "not_whole", "{what} ska vara ett heltal, inte {value}", {"what": what, "value": str(value)}
            )
        if not lo <= number <= hi:
            raise PydanticCustomError(
                "out_of_range",
                "{what} ska vara mellan {lo} och {hi}, inte {value}",
                {"what": what, "lo": lo, "hi": hi, "value": int(number)},
            )
        return int(number)

    return parse


def _number_at_least(lo: float, what: str):
    def parse(value: object) -> float | None:
        value = _blank_to_none(value)
        if value is None:
            return None
        try:
            number = float(str(value).strip().replace(",", ".").replace(" ", "").replace("\u00a0", ""))
        except ValueError:
            raise PydanticCustomError("not_number", "”{value}” är inget tal", {"value": str(value)}) from None
        if number < lo:
            raise PydanticCustomError(
                "out_of_range", "{what} kan inte vara negativt ({value})", {"what": what, "value": str(value)}
            )
        return number

    return parse


Code = Annotated[str, BeforeValidator(_study_code)]
OptCode = Annotated[str | None, BeforeValidator(lambda v, i: None if _blank_to_none(v) is None else _study_code(v, i))]
DistrictId = Annotated[str, BeforeValidator(_district)]
Day = Annotated[date, BeforeValidator(lambda v: parse_date(_required(v))), AfterValidator(_not_after_cutoff)]
OptDay = Annotated[date | None, BeforeValidator(parse_date), AfterValidator(_not_after_cutoff)]
AnyDay = Annotated[date | None, BeforeValidator(parse_date)]  # may lie after the cut-off (planned ends)


def Choice(voc: Vocabulary, required: bool = True):  # noqa: N802 - reads like a type
    parser = _vocab_parser(voc)
    if required:
        return Annotated[str, BeforeValidator(lambda v: parser(_required(v)))]
    return Annotated[str | None, BeforeValidator(parser)]


def _order(row: BaseModel, pairs: list[tuple[str, str]]) -> None:
    """Raise when a later step is dated before an earlier one (names are field names)."""
    for earlier, later in pairs:
        a, b = getattr(row, earlier), getattr(row, later)
        if a is not None and b is not None and b < a:
            raise PydanticCustomError(
                "date_order",
                "{later_h} ({b}) ligger före {earlier_h} ({a})",
                {
                    "column": header_of(type(row), later),
                    "later_h": header_of(type(row), later),
                    "earlier_h": header_of(type(row), earlier),
                    "a": a.isoformat(),
                    "b": b.isoformat(),
                },
            )


class SourceRow(BaseModel):
    """Common behaviour: unknown columns are ignored (notes columns), values are stripped.

    The rules that span fields of one row live in `row_rules` (raise `PydanticCustomError` with the
    column in its context), run by the one model validator here. That is the contract's only model
    validator, so the loader can run the rules on rows it built from per-field validation
    (`etl/validate.py`) through this public method instead of pydantic's internals.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    def row_rules(self) -> None:
        """Rules across the fields of one row; none unless a source declares some."""

    @model_validator(mode="after")
    def _run_row_rules(self) -> SourceRow:
        self.row_rules()
        return self

    source_key: ClassVar[str]
    title_sv: ClassVar[str]
    grain_sv: ClassVar[str]


def cutoff_checked_fields(model: type[BaseModel]) -> list[str]:
    """Fields whose dates may not lie after the extract date (planned end dates may)."""
    return [
        name
        for name, info in model.model_fields.items()
        if any(getattr(m, "func", None) is _not_after_cutoff for m in info.metadata)
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

    def row_rules(self) -> None:
        _order(
            self,
            [
                ("referred_on", "info_meeting_on"),
                ("info_meeting_on", "consent_on"),
                ("consent_on", "enrolment_on"),
                ("enrolment_on", "baseline_on"),
            ],
        )
        if (self.excluded_stage is None) != (self.exclusion_reason is None):
            missing = "exclusion_reason" if self.exclusion_reason is None else "excluded_stage"
            raise PydanticCustomError(
                "exclusion_pair",
                "både ”Exkluderad vid” och ”Exklusionsorsak” ska fyllas i, eller ingen av dem",
                {"column": header_of(ReferralRow, missing)},
            )
        if self.excluded_stage is not None:
            # Excluded at a stage: no later step may carry a date. The info meeting, enrolment
            # interview and baseline can have been held when the exclusion was made there; a
            # person excluded at consent did not consent.
            steps = ["info_meeting_on", "consent_on", "enrolment_on", "baseline_on"]
            last_allowed = {"referral": 0, "info_meeting": 1, "consent": 1, "enrolment": 3, "baseline": 4}
            for position, later in enumerate(steps, start=1):
                if position > last_allowed[self.excluded_stage] and getattr(self, later) is not None:
                    raise PydanticCustomError(
                        "after_exclusion",
                        "personen exkluderades vid {stage} men har ändå datum i ”{col}”",
                        {
                            "column": header_of(ReferralRow, later),
                            "col": header_of(ReferralRow, later),
                            "stage": vocab.EXCLUSION_STAGES.label(self.excluded_stage).lower(),
                        },
                    )
        if self.motivation == "insufficient" and self.excluded_stage is None:
            raise PydanticCustomError(
                "motivation_excl",
                "otillräcklig motivation men ingen exklusion angiven",
                {"column": header_of(ReferralRow, "excluded_stage")},
            )
        if self.previous_code is not None and self.previous_code == self.study_code:
            raise PydanticCustomError(
                "self_reref",
                "”Tidigare studiekod” kan inte vara samma som studiekoden",
                {"column": header_of(ReferralRow, "previous_code")},
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
    allocation_number: Annotated[int | None, BeforeValidator(_int_in(1, 1_000_000, "Löpnummer"))] = sv(
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

    def row_rules(self) -> None:
        _order(self, [("randomised_on", "excluded_after_on")])
        if (self.excluded_after_on is None) != (self.excluded_after_reason is None):
            missing = "excluded_after_reason" if self.excluded_after_reason is None else "excluded_after_on"
            raise PydanticCustomError(
                "exclusion_after_pair",
                "både ”Exkluderad efter randomisering” och ”Orsak exklusion efter randomisering” ska fyllas i, "
                "eller ingen av dem",
                {"column": header_of(RandomisationRow, missing)},
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
    birth_year: Annotated[int, BeforeValidator(lambda v: _int_in(1900, 2100, "Födelseår")(_required(v)))] = sv(
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

    def row_rules(self) -> None:
        age = self.baseline_on.year - self.birth_year
        if not 18 <= age <= 67:
            raise PydanticCustomError(
                "age_range",
                "åldern blir {age} år vid baslinjen; studien tar 18–67 år",
                {"column": header_of(BaselineRow, "birth_year"), "age": age},
            )


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
        int, BeforeValidator(lambda v: _int_in(1, 120, "Tidpunkt")(_timepoint_text(_required(v))))
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

    def row_rules(self) -> None:
        if self.result == "done" and self.done_on is None:
            raise PydanticCustomError(
                "done_date", "genomförd uppföljning saknar datum", {"column": header_of(FollowUpRow, "done_on")}
            )


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

    def row_rules(self) -> None:
        if self.event_type in ("stopped_ips", "left_study", "paused") and self.reason is None:
            raise PydanticCustomError(
                "reason_required",
                "orsak krävs för ”{what}”",
                {"column": header_of(EventRow, "reason"), "what": vocab.EVENT_TYPE.label(self.event_type)},
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
    number = _number_at_least(0, "Tjänstgöringsgrad")(text)
    assert number is not None
    if 0 < number <= 1:  # typed as a fraction (0.5) or formatted as percent in Excel
        number *= 100
    if not 0 < number <= 100:
        raise PydanticCustomError("share", "tjänstgöringsgrad ska vara 1–100 %, inte {value}", {"value": text})
    return int(round(number))


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

    def row_rules(self) -> None:
        _order(self, [("start_on", "end_on")])


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

    def row_rules(self) -> None:
        _order(self, [("start_on", "end_on")])


# --- 8. fidelity reviews ----------------------------------------------------------------------


class FidelityRow(SourceRow):
    source_key: ClassVar[str] = "fidelity"
    title_sv: ClassVar[str] = "Programtrohetsskattningar"
    grain_sv: ClassVar[str] = "en rad per skattning och punkt (25 punkter per skattning)"

    reviewed_on: Day = sv("Skattningsdatum", "Dag skattningen gjordes", "Datum", "Granskningsdatum")
    section: str = sv("Område", "Personal, Organisation eller Tjänster", "Avsnitt", "Del")
    item_number: Annotated[int, BeforeValidator(lambda v: _int_in(1, 14, "Punkt")(_required(v)))] = sv(
        "Punkt", "Punktens nummer inom området", "Nr", "Fråga"
    )
    score: Annotated[int, BeforeValidator(lambda v: _int_in(1, 5, "Poäng")(_required(v)))] = sv(
        "Poäng", "1–5", "Skattning", "Poang"
    )
    # issue 12: a remark on the review (e.g. the report's total differing from its items), shown with it.
    comment: str | None = sv(
        "Kommentar", "Kommentar till skattningen (valfritt; visas med skattningen)", "Anmärkning", default=None
    )

    @property
    def item_key(self) -> str:
        key = vocab.parse_fidelity_item(self.section, self.item_number)
        assert key is not None
        return key

    def row_rules(self) -> None:
        if vocab.parse_fidelity_item(self.section, self.item_number) is None:
            raise PydanticCustomError(
                "fidelity_item",
                "det finns ingen punkt {n} i området ”{section}” (Personal 1–3, Organisation 1–8, Tjänster 1–14)",
                {"column": header_of(FidelityRow, "item_number"), "n": self.item_number, "section": self.section},
            )


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
    hours_per_week: Annotated[float | None, BeforeValidator(_number_at_least(0, "Timmar per vecka"))] = sv(
        "Timmar per vecka", "Avtalad arbetstid", "Tim/v", default=None
    )

    def row_rules(self) -> None:
        _order(self, [("activity_on", "end_on")])


class EmploymentRow(SourceRow):
    """Sealed outcome data at each follow-up timepoint (self-report and register)."""

    source_key: ClassVar[str] = "employment"
    title_sv: ClassVar[str] = "Sysselsättning vid uppföljning (förseglade utfall)"
    grain_sv: ClassVar[str] = "en rad per deltagare och uppföljningstidpunkt"

    study_code: Code = sv("Studiekod", "Deltagarens studiekod", "Kod")
    timepoint_months: Annotated[int, BeforeValidator(lambda v: _int_in(0, 120, "Tidpunkt")(_required(v)))] = sv(
        "Tidpunkt", "Månader efter randomisering", "Månad"
    )
    worked_any: YesNo = sv("Arbetat minst en dag", "Ja/Nej under perioden", "Arbetat", default=None)
    days_worked: Annotated[float | None, BeforeValidator(_number_at_least(0, "Arbetade dagar"))] = sv(
        "Arbetade dagar", "Under perioden", default=None
    )
    hours_worked: Annotated[float | None, BeforeValidator(_number_at_least(0, "Arbetade timmar"))] = sv(
        "Arbetade timmar", "Under perioden", default=None
    )
    income_sek: Annotated[float | None, BeforeValidator(_number_at_least(0, "Inkomst"))] = sv(
        "Inkomst kr", "Arbetsinkomst före skatt under perioden", "Inkomst", default=None
    )
    benefits_sek: Annotated[float | None, BeforeValidator(_number_at_least(0, "Bistånd"))] = sv(
        "Bistånd kr", "Ekonomiskt bistånd/ersättning under perioden", "Bistånd", default=None
    )
    asi_employment: Annotated[float | None, BeforeValidator(_number_at_least(0, "ASI arbete"))] = sv(
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
