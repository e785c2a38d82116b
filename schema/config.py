"""The study configuration (`studie.toml`): targets, arms, districts over time, schedule and limits.

Everything that the steering group can change by decision lives here, not in code: the allocation
ratio and block sizes, targets, which districts take part from when, renames and mergers, follow-up
timepoints and windows, the caseload cap, the attrition alert level and the small-cell threshold.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schema.vocab import normalize_token


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Arm(_Strict):
    key: str = Field(description="ips eller control")
    label: str = Field(description="Etikett på skärmen, t.ex. 'IPS+TAU'")
    ratio: int = Field(1, ge=1, description="Andel i randomiseringen (1:1 eller 2:1)")
    blinded_label: str = Field(description="Kodad etikett för blindade roller, t.ex. 'Grupp A'")


class FormerName(_Strict):
    name: str
    until: date = Field(description="Sista dag namnet gällde")
    note: str = ""


class District(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Stabil nyckel, t.ex. 'jarva'")
    name: str = Field(description="Nuvarande namn, t.ex. 'Järva'")
    start: date = Field(description="Första dag stadsdelen rekryterar")
    end: date | None = Field(None, description="Sista dag (om stadsdelen lämnat studien)")
    target: int = Field(ge=0, description="Mål: antal randomiserade i stadsdelen")
    former_names: list[FormerName] = Field(default_factory=list)
    aliases: list[str] = Field(default_factory=list, description="Andra stavningar som godtas")
    units: list[str] = Field(default_factory=list, description="Enheter (t.ex. vuxenenhet) i stadsdelen")

    def all_names(self) -> list[str]:
        return [self.name, self.id, *(f.name for f in self.former_names), *self.aliases]

    def display_name(self) -> str:
        if self.former_names:
            former = ", ".join(f.name for f in self.former_names)
            return f"{self.name} (f.d. {former})"
        return self.name


class FollowUp(_Strict):
    timepoints_months: list[int] = Field(description="Uppföljningstidpunkter i månader efter randomisering")
    window_before_days: int = Field(14, ge=0, description="Fönstret öppnar så många dagar före förfallodag")
    window_after_days: int = Field(30, ge=0, description="Fönstret stänger så många dagar efter förfallodag")
    missed_after_days: int = Field(
        90, ge=0, description="Ej gjord så många dagar efter fönstrets slut räknas som missad"
    )
    due_soon_days: int = Field(30, ge=0, description="'Förfaller snart' inom så många dagar")


class Caseload(_Strict):
    cap: int = Field(15, ge=1, description="Högst antal deltagare per arbetsspecialist samtidigt")
    cap_other_groups: int = Field(20, ge=1)
    min_specialists_per_district: int = Field(2, ge=1)


class Attrition(_Strict):
    alert_level: float = Field(0.33, gt=0, lt=1, description="Larm när bortfallet överstiger denna andel")
    expected_low: float = 0.30
    expected_high: float = 0.35
    evaluable_needed: int = Field(
        60, ge=1, description="Antal utvärderingsbara deltagare som analysen behöver (powerberäkning)"
    )


class Balance(_Strict):
    smd_threshold: float = Field(0.1, gt=0, description="Standardiserad medelvärdesskillnad som flaggas")
    expected_share_women: float = Field(0.30, ge=0, le=1)
    checkpoints: int = Field(3, ge=1, description="Kontroll efter varje tredjedel av målet")


class Fidelity(_Strict):
    """issue 12: how often the IPS fidelity review is due (the interim report: yearly)."""

    review_interval_months: int = Field(
        12, ge=1, le=60, description="Månader mellan programtrohetsskattningar (delrapporten: årligen)"
    )
    interval_below_good_months: int | None = Field(
        None,
        ge=1,
        le=60,
        description="Kortare intervall (månader) så länge nivån är under 'bra' (100 p); tomt = av",
    )

    def interval_after(self, total: int) -> int:
        """Months until the next review after one with this total score."""
        if self.interval_below_good_months is not None and total < 100:
            return self.interval_below_good_months
        return self.review_interval_months


class Analysis(_Strict):
    """issue 12: who counts in Table 1's N and in the analysis population (intention to treat)."""

    count_excluded_after_randomisation: bool = Field(
        False,
        description="Räkna personer som exkluderats efter randomiseringen i tabell 1 och i analysen "
        "(delrapporten: nej – 138 randomiserade, en exkluderad efteråt)",
    )


class Privacy(_Strict):
    small_cell_threshold: int = Field(4, ge=0, description="Antal 1..N visas som maskerade")
    small_cell_text: str = "<5"


class Codes(_Strict):
    pattern: str = Field(
        r"^[A-Z](0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[MKX][0-9]{2,4}$",
        description="Reguljärt uttryck för studiekoden",
    )
    description_sv: str = (
        "bokstav för arbetsspecialist, inskrivningsdatum MMDD, kön (M/K/X) och 2–4 slumpsiffror, t.ex. A0314M27"
    )

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        re.compile(value)
        return value


class StudyConfig(_Strict):
    name: str
    short_name: str
    # issue 12: the extract date belongs to each load (`ipsdash load --extract-date`, default the
    # newest date in the files); a date here is still honoured. The store's copy of the
    # configuration always carries the load's extract date (or, in an as-of view, the as-of date).
    data_cutoff: date | None = Field(
        None, description="Datauttagets datum (valfritt): inga händelser efter detta godtas"
    )
    recruitment_start: date
    planned_recruitment_end: date
    planned_close: date
    target_randomised: int = Field(ge=1)
    block_sizes: list[int] = Field(description="Blockstorlekar i tidsordning, t.ex. [8, 4, 2]")
    arms: list[Arm]
    districts: list[District]
    followup: FollowUp
    caseload: Caseload = Caseload()
    attrition: Attrition = Attrition()
    balance: Balance = Balance()
    privacy: Privacy = Privacy()
    codes: Codes = Codes()
    fidelity: Fidelity = Fidelity()
    analysis: Analysis = Analysis()

    @model_validator(mode="after")
    def _consistent(self) -> StudyConfig:
        keys = {a.key for a in self.arms}
        if keys != {"ips", "control"}:
            raise ValueError("armarna måste vara exakt 'ips' och 'control'")
        ids = [d.id for d in self.districts]
        if len(ids) != len(set(ids)):
            raise ValueError("två stadsdelar har samma id")
        seen: dict[str, str] = {}
        for d in self.districts:
            for name in d.all_names():
                key = normalize_token(name)
                if key in seen and seen[key] != d.id:
                    raise ValueError(f"namnet '{name}' används av två stadsdelar")
                seen[key] = d.id
        return self

    # --- lookups used by validation and the pages ---------------------------------------------
    def district_lookup(self) -> dict[str, str]:
        return {normalize_token(n): d.id for d in self.districts for n in d.all_names()}

    def district(self, district_id: str) -> District:
        return next(d for d in self.districts if d.id == district_id)

    def arm(self, key: str) -> Arm:
        return next(a for a in self.arms if a.key == key)

    @property
    def allocation_text(self) -> str:
        ips, ctl = self.arm("ips").ratio, self.arm("control").ratio
        return f"{ips}:{ctl}"


def load_config(path: Path) -> StudyConfig:
    """Read and validate a study configuration TOML file."""
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    return StudyConfig.model_validate(data)
