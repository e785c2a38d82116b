"""The synthetic demo study: every source file of the data contract, filled with invented people.

`generate(out, seed, scale, mistakes)` writes `studie.toml` and the ten source files exactly as
staff keep them (Swedish headers and labels, CSV as Swedish Excel saves it, real Excel date cells
in the .xlsx files). Scale 1 mirrors the running trial as the interim report (April 2024)
describes it: four districts, 1:1 permuted blocks of 8, then 4, then 2, about 138 randomised by
2024-02-26, 82 % men, mean age 43, attrition near 30 %, falling follow-up completion and the
September 2023 fidelity review of Table 2. Scale K multiplies districts and participants.

Everything is drawn from one `random.Random(seed)`: the same seed and scale give byte-identical
files. No value ever resembles a personnummer: study codes are letters + MMDD + M/K/X + digits and
only the birth year is kept.
"""

from __future__ import annotations

import csv
import json
import math
import random
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import xlsxwriter

from schema import vocab
from schema.config import StudyConfig, load_config
from schema.sources import (
    ActivityRow,
    AssignmentRow,
    BaselineRow,
    EmploymentRow,
    EventRow,
    FidelityRow,
    FollowUpRow,
    RandomisationRow,
    ReferralRow,
    SourceRow,
    SpecialistRow,
    header_of,
)

CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "studie.toml"
FIXED_CREATED = datetime(2024, 9, 30, 12, 0, 0)  # workbook property, so bytes never change

# Block sizes (config `block_sizes`, in order) took effect on these days in the running trial.
BLOCK_CHANGES = (date(2023, 10, 1), date(2024, 4, 1))
PRIMA_MARIA_FROM = date(2023, 9, 1)
SLOWDOWN_FROM = date(2024, 1, 1)

# Item scores of the interim report's Table 2 (September 2023, total 92) and a later, better review.
FIDELITY_REVIEWS: dict[date, dict[str, list[int]]] = {
    date(2023, 9, 15): {
        "Personal": [5, 5, 5],
        "Organisation": [5, 3, 3, 5, 5, 5, 3, 5],
        "Tjänster": [5, 5, 4, 3, 5, 2, 4, 1, 1, 1, 4, 4, 1, 3],
    },
    date(2024, 9, 16): {
        "Personal": [5, 5, 5],
        "Organisation": [5, 4, 3, 5, 5, 5, 4, 5],
        "Tjänster": [5, 5, 4, 4, 5, 3, 4, 2, 2, 2, 4, 4, 2, 4],
    },
}

# One group of four districts = the real trial's pattern. Per role: relative referral rate,
# follow-up completion factor of the unit (role 1 is the unit that lags), target.
ROLE_RATE = (1.0, 1.25, 0.65, 0.75)
ROLE_UNIT_FACTOR = (1.08, 0.62, 1.05, 1.1)
ROLE_TARGET = (70, 70, 50, 50)
REFERRALS_PER_MONTH = 4.35  # role 0, before the slowdown

# Specialists of a group: (district roles, employment %, leave (start, end) or None).
SPECIALIST_TEMPLATE = (
    ((0,), 100),
    ((0, 2), 100),
    ((1,), 100),
    ((1,), 100),  # on leave for a while: the district has one specialist then
    ((2, 3), 100),
    ((3,), 50),
)
LEAVE = (date(2023, 10, 16), date(2024, 2, 29))  # first and last day away (group 0)

FIRST_NAMES = (
    "Anna",
    "Björn",
    "Cecilia",
    "David",
    "Elin",
    "Fredrik",
    "Gunilla",
    "Hassan",
    "Ida",
    "Johan",
    "Karin",
    "Leila",
    "Magnus",
    "Nadia",
    "Oskar",
    "Petra",
    "Rasmus",
    "Sara",
    "Tobias",
    "Ulrika",
    "Viktor",
    "Yasmin",
    "Amir",
    "Emma",
    "Mikael",
    "Sofia",
    "Ahmed",
    "Linnea",
    "Per",
    "Maria",
)

MUNICIPALITIES = (
    "Solna",
    "Sundbyberg",
    "Huddinge",
    "Botkyrka",
    "Nacka",
    "Täby",
    "Järfälla",
    "Sollentuna",
    "Haninge",
    "Tyresö",
    "Lidingö",
    "Värmdö",
    "Upplands Väsby",
    "Sigtuna",
    "Norrtälje",
    "Södertälje",
    "Nynäshamn",
    "Uppsala",
    "Enköping",
    "Västerås",
    "Eskilstuna",
    "Örebro",
    "Norrköping",
    "Linköping",
    "Nyköping",
    "Katrineholm",
    "Gävle",
    "Sandviken",
    "Falun",
    "Borlänge",
    "Karlstad",
    "Jönköping",
    "Växjö",
    "Kalmar",
    "Karlskrona",
    "Kristianstad",
    "Helsingborg",
    "Lund",
    "Malmö",
    "Trelleborg",
    "Ystad",
    "Landskrona",
    "Halmstad",
    "Varberg",
    "Kungsbacka",
    "Göteborg",
    "Mölndal",
    "Partille",
    "Borås",
    "Trollhättan",
    "Uddevalla",
    "Skövde",
    "Lidköping",
    "Alingsås",
    "Kungälv",
    "Sundsvall",
    "Härnösand",
    "Örnsköldsvik",
    "Östersund",
    "Umeå",
    "Skellefteå",
    "Luleå",
    "Piteå",
    "Boden",
    "Kiruna",
    "Gällivare",
    "Gotland",
    "Motala",
    "Mjölby",
    "Finspång",
    "Västervik",
    "Oskarshamn",
    "Ljungby",
    "Värnamo",
    "Nässjö",
    "Vetlanda",
    "Hässleholm",
    "Ängelholm",
    "Eslöv",
    "Höganäs",
    "Vellinge",
    "Falkenberg",
    "Lerum",
    "Stenungsund",
    "Mariestad",
    "Falköping",
    "Arvika",
    "Kristinehamn",
    "Karlskoga",
    "Köping",
    "Sala",
    "Fagersta",
    "Avesta",
    "Ludvika",
    "Mora",
    "Hudiksvall",
    "Bollnäs",
    "Söderhamn",
    "Ljusdal",
    "Sollefteå",
    "Kramfors",
    "Lycksele",
    "Kalix",
    "Strängnäs",
    "Knivsta",
    "Österåker",
    "Vallentuna",
    "Ekerö",
    "Salem",
    "Nykvarn",
)
DIRECTIONS = ("Norra", "Södra", "Östra", "Västra")


# --- small helpers --------------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError(day)


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


class _Deck:
    """Draws categories without replacement from shuffled decks with the target proportions.

    Keeps small demo samples close to the interim report's percentages (less sampling noise than
    independent draws) while the order stays random.
    """

    def __init__(self, rng: random.Random, weights: dict[str | None, float], size: int = 200):
        total = sum(weights.values())
        self.rng, self.cards = rng, []
        for key, w in weights.items():
            self.cards += [key] * round(size * w / total)
        self.pile: list[str | None] = []

    def draw(self) -> str | None:
        if not self.pile:
            self.pile = list(self.cards)
            self.rng.shuffle(self.pile)
        return self.pile.pop()


class _Strata:
    """Uniform numbers in [0, 1), stratified in runs of n (each run hits every 1/n slice once)."""

    def __init__(self, rng: random.Random, n: int = 20):
        self.rng, self.n, self.pile = rng, n, []

    def draw(self) -> float:
        if not self.pile:
            self.pile = list(range(self.n))
            self.rng.shuffle(self.pile)
        return (self.pile.pop() + self.rng.random()) / self.n


def _slug(text: str) -> str:
    table = str.maketrans({"å": "a", "ä": "a", "ö": "o", "é": "e", "ü": "u"})
    return re.sub(r"[^a-z0-9]+", "_", text.lower().translate(table)).strip("_")


def _letters(n: int) -> list[str]:
    """A..Z, then AA..ZZ, then AAA.. : n unique specialist codes."""
    out: list[str] = []
    width = 1
    while len(out) < n:
        for i in range(26**width):
            code, x = "", i
            for _ in range(width):
                code = chr(65 + x % 26) + code
                x //= 26
            out.append(code)
            if len(out) == n:
                break
        width += 1
    return out


# --- the simulated world ----------------------------------------------------------------------------


@dataclass
class Site:
    id: str
    name: str
    start: date
    role: int
    group: int
    rate: float
    unit: str
    target: int
    former: list[tuple[str, date]] = field(default_factory=list)

    def name_on(self, day: date) -> str:
        for name, until in sorted(self.former, key=lambda f: f[1]):
            if day <= until:
                return name
        return self.name


@dataclass
class Spec:
    code: str
    name: str
    sites: tuple[str, ...]
    pct: int
    start: date
    end: date | None

    def active(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass
class Person:
    site: Site
    referred_on: date
    gender: str
    source: str
    spec: str
    previous_code: str | None = None
    code: str = ""
    info_on: date | None = None
    motivation: str | None = None
    consent_on: date | None = None
    enrol_on: date | None = None
    baseline_on: date | None = None
    excl_stage: str | None = None
    excl_reason: str | None = None
    randomised_on: date | None = None
    arm: str | None = None
    left_on: date | None = None
    allocated: tuple[int, int] | None = None  # (block drawn, place in the block): the allocation sequence
    drawn_on: date | None = None  # the day the block was first drawn (the generator's order of work)


class _World:
    def __init__(self, cfg: StudyConfig, rng: random.Random, scale: int):
        self.cfg, self.rng, self.scale = cfg, rng, scale
        self.cutoff = cfg.data_cutoff
        self.codes: set[str] = set()
        self.people: list[Person] = []
        self.sites: list[Site] = []
        self.specs: list[Spec] = []
        self.digits = 2 if scale == 1 else 4
        self.blocks_drawn = 0
        self.genders = _Deck(rng, {"man": 81.5, "woman": 17.5, "other": 1.0})
        self.decks = {
            "born_in_sweden": _Deck(rng, {"Ja": 64, "Nej": 34.5, None: 1.5}),
            "education": _Deck(
                rng, {"primary_incomplete": 13, "primary": 35, "secondary": 43, "university": 8, None: 1}
            ),
            "housing": _Deck(
                rng, {"supported": 38, "own": 21, "social_services": 15, "sublet": 13, "homeless_other": 12, None: 1}
            ),
            "income_source": _Deck(
                rng, {"social_assistance": 80, "assistance_plus": 6, "insurance_only": 4, "family_none": 6, None: 4}
            ),
            "civil_status": _Deck(rng, {"partnered": 5, "single": 93.5, None: 1.5}),
        }
        self.u = {
            k: _Strata(rng)
            for k in ("referral", "info", "consent", "enrol", "leave", "stop", "fu0", "fu1", "fu2", "fu3")
        }

    # districts and specialists
    def build_sites(self) -> None:
        rng = self.rng
        for role, d in enumerate(self.cfg.districts):
            self.sites.append(
                Site(
                    d.id,
                    d.name,
                    d.start,
                    role % 4,
                    0,
                    ROLE_RATE[role % 4],
                    d.units[0] if d.units else d.name,
                    d.target,
                    [(f.name, f.until) for f in d.former_names],
                )
            )
        taken = {n for s in self.sites for n in (s.name, s.id)}
        muni = list(MUNICIPALITIES)
        rng.shuffle(muni)
        for g in range(1, self.scale):
            town = muni[(g - 1) % len(muni)]
            rounds = (g - 1) // len(muni)
            base = self.cfg.recruitment_start + timedelta(days=rng.randint(0, 45))
            for role, direction in enumerate(DIRECTIONS):
                name = f"{town} {direction}" + (f" {rounds + 1}" if rounds else "")
                sid = _slug(name)
                assert name not in taken and sid not in taken
                taken.update((name, sid))
                start = base if role != 3 else base + timedelta(days=rng.randint(45, 100))
                self.sites.append(
                    Site(
                        sid,
                        name,
                        start,
                        role,
                        g,
                        ROLE_RATE[role] * rng.uniform(0.85, 1.15),
                        f"Vuxenenheten {name}",
                        ROLE_TARGET[role],
                    )
                )
        letters = _letters(6 * self.scale)
        for g in range(self.scale):
            group = [s for s in self.sites if s.group == g]
            shift = timedelta(days=rng.randint(0, 60)) if g else timedelta(0)
            for i, (roles, pct) in enumerate(SPECIALIST_TEMPLATE):
                code = letters[6 * g + i]
                name = FIRST_NAMES[i] if g == 0 else rng.choice(FIRST_NAMES)
                sites = tuple(group[r].id for r in roles)
                start = min(group[r].start for r in roles) - timedelta(days=14)
                if i == 3:
                    self.specs.append(Spec(code, name, sites, pct, start, LEAVE[0] + shift - timedelta(days=1)))
                    self.specs.append(Spec(code, name, sites, pct, LEAVE[1] + shift + timedelta(days=1), None))
                else:
                    self.specs.append(Spec(code, name, sites, pct, start, None))

    def specs_for(self, site: Site, day: date) -> list[Spec]:
        if not hasattr(self, "_by_site"):
            self._by_site: dict[str, list[Spec]] = {}
            for spec in self.specs:
                for sid in spec.sites:
                    self._by_site.setdefault(sid, []).append(spec)
        return [s for s in self._by_site.get(site.id, []) if s.active(day)]

    # the referral funnel
    def new_code(self, letter: str, day: date, gender: str) -> str:
        g = {"man": "M", "woman": "K", "other": "X"}[gender]
        top = 10**self.digits
        while True:
            code = f"{letter}{day:%m%d}{g}{self.rng.randrange(top):0{self.digits}d}"
            if code not in self.codes:
                self.codes.add(code)
                return code

    def refer(self, site: Site, day: date, backlog: bool = False, previous: Person | None = None) -> None:
        rng, cutoff = self.rng, self.cutoff
        if previous is not None:
            gender = previous.gender
        else:
            gender = self.genders.draw()
        if day < PRIMA_MARIA_FROM:
            source = _pick(rng, {"eb_vuxenenhet": 0.78, "eb_beroendecentrum": 0.17, "other": 0.05})
        else:
            source = _pick(rng, {"eb_vuxenenhet": 0.64, "eb_beroendecentrum": 0.15, "prima_maria": 0.17, "other": 0.04})
        specs = self.specs_for(site, day)
        spec = rng.choices([s.code for s in specs], weights=[s.pct for s in specs])[0]
        p = Person(site, day, gender, source, spec)
        self.people.append(p)
        p.previous_code = previous.code if previous else None
        self._funnel(p, backlog, second=previous is not None)
        p.code = self.new_code(spec, p.enrol_on or p.referred_on, gender)
        if (
            p.excl_reason == "insufficient_motivation"
            and previous is None
            and p.info_on is not None
            and rng.random() < 0.3
        ):
            again = p.info_on + timedelta(days=rng.randint(92, 200))
            if again <= cutoff:
                self.refer(site, again, previous=p)

    def _funnel(self, p: Person, backlog: bool, second: bool) -> None:
        rng, cutoff = self.rng, self.cutoff

        def exclude(stage: str, reasons: dict[str, float]) -> None:
            p.excl_stage, p.excl_reason = stage, _pick(rng, reasons)

        if self.u["referral"].draw() < 0.05:
            exclude("referral", {"no_show": 5, "detox": 2, "other_vocational_rehab": 2, "recent_ips": 1})
            return
        step = p.referred_on + timedelta(days=rng.randint(2, 6) if backlog else rng.randint(4, 21))
        if step > cutoff:
            return
        p.info_on = step
        u = self.u["info"].draw()
        if u < (0.06 if second else 0.135):
            p.motivation = "insufficient"
            exclude("info_meeting", {"insufficient_motivation": 1})
            return
        if u > 0.96:
            p.motivation = _pick(rng, {"sufficient": 1, "not_done": 2})
            exclude(
                "info_meeting",
                {
                    "detox": 3,
                    "acute_homelessness": 2,
                    "legal_process": 2,
                    "threats_violence": 1,
                    "other_vocational_rehab": 2,
                },
            )
            return
        p.motivation = "sufficient"
        if self.u["consent"].draw() < 0.075:
            exclude("consent", {"declined": 4, "no_show": 1})
            return
        step = p.info_on + timedelta(days=rng.randint(0, 2) if backlog else rng.randint(0, 10))
        if step > cutoff:
            return
        p.consent_on = step
        step = p.consent_on + timedelta(days=rng.randint(1, 3) if backlog else rng.randint(1, 14))
        if step > cutoff:
            return
        p.enrol_on = step
        if self.u["enrol"].draw() < 0.05:
            exclude(
                "enrolment",
                {
                    "severe_illness": 3,
                    "suicide_risk": 1,
                    "legal_process": 2,
                    "recent_ips": 1,
                    "other_vocational_rehab": 1,
                    "other": 1,
                },
            )
            return
        step = p.enrol_on + timedelta(days=rng.randint(0, 2) if backlog else rng.randint(0, 7))
        if step > cutoff:
            return
        p.baseline_on = step

    def recruit(self) -> None:
        rng = self.rng
        for site in self.sites:
            for _ in range(rng.randint(12, 15) if site.role != 3 else rng.randint(3, 6)):
                self.refer(site, site.start + timedelta(days=rng.randint(0, 4)), backlog=True)
            # referrals arrive more regularly than a Poisson stream (gamma gaps, shape 4),
            # fewer in July and after the 2024 slowdown; weekend arrivals are logged on Monday
            clock = float(site.start.toordinal())
            while True:
                day = date.fromordinal(int(clock))
                mult = 0.68 if day >= SLOWDOWN_FROM else 1.0
                if day.month == 7:
                    mult *= 0.5
                per_day = site.rate * mult * REFERRALS_PER_MONTH / 30.4
                clock += rng.gammavariate(4.0, 1.0 / (4.0 * per_day))
                day = date.fromordinal(int(clock))
                day += timedelta(days=max(0, 7 - day.weekday()) if day.weekday() >= 5 else 0)
                if day > self.cutoff:
                    break
                self.refer(site, day)

    # randomisation in permuted blocks per district, everyone waiting until the block is full
    def block_size(self, day: date) -> int:
        sizes = self.cfg.block_sizes
        idx = sum(1 for change in BLOCK_CHANGES if day >= change)
        return sizes[min(idx, len(sizes) - 1)]

    def randomise(self) -> None:
        ready: dict[str, list[Person]] = {}
        for p in self.people:
            if p.baseline_on and not p.excl_stage:
                ready.setdefault(p.site.id, []).append(p)
        for site in self.sites:
            cands = sorted(ready.get(site.id, []), key=lambda p: (p.baseline_on, p.code))
            # the one randomised person who turned out to have paid work: excluded after baseline
            if site.role == 0:
                late = [p for p in cands if p.baseline_on >= date(2023, 10, 1)]
                if late:
                    late[0].excl_stage, late[0].excl_reason = "baseline", "not_eligible"
                    cands.remove(late[0])
            queue: list[Person] = []
            changes = [c for c in BLOCK_CHANGES if c <= self.cutoff]
            for person in cands:
                while changes and changes[0] <= person.baseline_on:
                    self._flush(queue, changes.pop(0))
                queue.append(person)
                self._flush(queue, person.baseline_on)
            for change in changes:
                self._flush(queue, change)
        self._share_a_day_at_the_first_checkpoint()

    def _share_a_day_at_the_first_checkpoint(self) -> None:
        """Two districts randomise on the same day, right at the first balance checkpoint (a third of
        the target): the next district's block is drawn on the day the checkpoint is reached, after
        the block that completes it. Only the allocation sequence (the löpnummer) then tells which of
        that day's people are among the first third; sorting the day by study code would let the
        other district's letters displace them (issue 12). No random draw is used."""
        size = -(-self.cfg.target_randomised // self.cfg.balance.checkpoints)
        sequence = sorted((p for p in self.people if p.randomised_on), key=lambda p: (p.randomised_on, p.allocated))
        if len(sequence) <= size:
            return
        last, following = sequence[size - 1], sequence[size]
        if following.randomised_on == last.randomised_on or following.site is last.site:
            return
        block = [p for p in sequence if p.allocated[0] == following.allocated[0]]
        if (following.randomised_on - last.randomised_on).days > 21 or any(
            p.baseline_on > last.randomised_on for p in block
        ):
            return
        for p in block:
            p.randomised_on = last.randomised_on

    def _flush(self, queue: list[Person], day: date) -> None:
        """Randomise everyone waiting, a full block at a time; the rest keep waiting."""
        ratio = {a.key: a.ratio for a in self.cfg.arms}
        pattern = ["ips"] * ratio["ips"] + ["control"] * ratio["control"]
        size = self.block_size(day)
        while len(queue) >= size:
            when = day + timedelta(days=self.rng.randint(1, 5))
            if when > self.cutoff:
                return
            arms = pattern * max(1, size // len(pattern))
            self.rng.shuffle(arms)
            self.blocks_drawn += 1
            for place, (person, arm) in enumerate(zip(queue[:size], arms, strict=False)):
                person.randomised_on, person.drawn_on, person.arm = when, when, arm
                person.allocated = (self.blocks_drawn, place)
            del queue[:size]

    # after randomisation: baseline answers, events, follow-ups, caseloads, sealed outcomes
    def follow(self) -> dict[str, list[dict]]:
        rng, cutoff, cfg = self.rng, self.cutoff, self.cfg
        rows: dict[str, list[dict]] = {
            k: []
            for k in ("randomisations", "baseline", "followups", "events", "assignments", "activity", "employment")
        }
        window_after = cfg.followup.window_after_days
        # A block moved to share a day (`_share_a_day_at_the_first_checkpoint`) is generated at the day it
        # was first drawn, in the same order, so the random stream and everybody else's rows stay as
        # they were; its rows are then moved by the same number of days.
        moved = {p.code: p.randomised_on - p.drawn_on for p in self.people if p.randomised_on != p.drawn_on}
        for p in self.people:
            p.randomised_on = p.drawn_on
        randomised = sorted((p for p in self.people if p.randomised_on), key=lambda p: (p.randomised_on, p.code))
        # The löpnummer: the allocation sequence (date, then the order the blocks were drawn and each
        # block's order of baseline). The log itself is kept sorted by date and code, as a sorted
        # Excel sheet would be, so on days with several randomisations only the löpnummer tells who
        # came first (and who falls inside a balance checkpoint).
        sequence = sorted(randomised, key=lambda p: (p.randomised_on + moved.get(p.code, timedelta(0)), p.allocated))
        number = {p.code: i for i, p in enumerate(sequence, start=1)}
        for p in randomised:
            r = p.randomised_on
            rows["randomisations"].append(
                {
                    "study_code": p.code,
                    "randomised_on": r,
                    "arm": vocab.ARM.label(p.arm),
                    "stratum": p.site.name,
                    "allocation_number": number[p.code],
                }
            )
            rows["baseline"].append(self._baseline(p))
            # leaving the study (either arm), stopping IPS (IPS arm), custody pauses
            horizon = min(cutoff, add_months(r, max(cfg.followup.timepoints_months)) + timedelta(days=window_after))
            leave = r + timedelta(days=int(-900 * math.log(1 - self.u["leave"].draw())) + 7)
            events: list[dict] = []
            if leave <= horizon:
                p.left_on = leave
                reason = _pick(
                    rng,
                    {
                        "relapse": 22,
                        "hvb": 17,
                        "custody": 12,
                        "moved": 10,
                        "threats_violence": 5,
                        "withdrew_consent": 14,
                        "lost_contact": 20,
                    },
                )
                events.append(
                    {"event_on": leave, "event_type": "Lämnat studien", "reason": vocab.EVENT_REASON.label(reason)}
                )
            stop = None
            if p.arm == "ips" and self.u["stop"].draw() < 0.26:
                stop = r + timedelta(days=rng.randint(20, 330))
                if stop <= cutoff and (p.left_on is None or stop < p.left_on):
                    reason = _pick(rng, {"relapse": 35, "hvb": 15, "withdrew_consent": 25, "other": 25})
                    events.append(
                        {"event_on": stop, "event_type": "Avslutat IPS", "reason": vocab.EVENT_REASON.label(reason)}
                    )
                else:
                    stop = None
            if rng.random() < 0.06:
                paused = r + timedelta(days=rng.randint(30, 300))
                resumed = paused + timedelta(days=rng.randint(20, 85))
                if resumed <= cutoff and (p.left_on is None or resumed < p.left_on):
                    events.append(
                        {"event_on": paused, "event_type": "Paus", "reason": vocab.EVENT_REASON.label("custody")}
                    )
                    events.append({"event_on": resumed, "event_type": "Återupptagen", "reason": None})
            for e in events:
                rows["events"].append({"study_code": p.code, **e})
            self._followups(p, rows)
            end = min(d for d in (stop, p.left_on, add_months(r, 12)) if d is not None)
            if p.arm == "ips":
                self._assign(p, end, rows)
            self._activity(p, min(end if p.arm == "ips" else add_months(r, 18), cutoff), rows)
        for p in randomised:
            if p.code in moved:
                p.randomised_on = p.drawn_on + moved[p.code]
                if p.left_on is not None:
                    p.left_on += moved[p.code]
        dated = {
            "randomisations": ("randomised_on",),
            "followups": ("done_on",),
            "events": ("event_on",),
            "assignments": ("start_on", "end_on"),
            "activity": ("activity_on", "end_on"),
        }
        for key, columns in dated.items():
            for row in rows[key]:
                if row["study_code"] in moved:
                    for column in columns:
                        if row.get(column) is not None:
                            row[column] += moved[row["study_code"]]
        rows["randomisations"].sort(key=lambda r: (r["randomised_on"], r["study_code"]))
        self._exclude_after_randomisation(sequence, rows)
        return rows

    def _exclude_after_randomisation(self, sequence: list[Person], rows: dict[str, list[dict]]) -> None:
        """As in the interim report ("138 randomised, one excluded afterwards": paid work found after
        randomisation): the first control-arm person from the 40th in the allocation sequence (inside
        the first balance checkpoint) is found ineligible three weeks after randomisation. Chosen
        without drawing from the random stream, so every other row stays as it was. Nothing is
        recorded for them after the exclusion (no follow-ups, events, activity)."""
        person = next((p for p in sequence[39:] if p.arm == "control"), None)
        if person is None:
            return
        on = person.randomised_on + timedelta(days=21)
        if on > self.cutoff:
            return
        row = next(r for r in rows["randomisations"] if r["study_code"] == person.code)
        row["excluded_after_on"] = on
        row["excluded_after_reason"] = vocab.EXCLUSION_REASON.label("not_eligible")
        code = person.code
        rows["followups"] = [r for r in rows["followups"] if r["study_code"] != code]
        rows["employment"] = [r for r in rows["employment"] if r["study_code"] != code]
        rows["events"] = [r for r in rows["events"] if r["study_code"] != code or r["event_on"] <= on]
        rows["activity"] = [r for r in rows["activity"] if r["study_code"] != code or r["activity_on"] <= on]
        rows["assignments"] = [r for r in rows["assignments"] if r["study_code"] != code]

    def _baseline(self, p: Person) -> dict:
        rng = self.rng

        def yn(share: float, blank: float = 0.01) -> str | None:
            if rng.random() < blank:
                return None
            return "Ja" if rng.random() < share else "Nej"

        def deck(name: str, voc: vocab.Vocabulary | None = None) -> str | None:
            key = self.decks[name].draw()
            return key if key is None or voc is None else voc.label(key)

        while True:
            age = round(rng.gauss(43, 10))
            if 21 <= age <= 64:
                break
        worked = yn(0.84, 0.08)
        longest = None if worked is None or rng.random() < 0.03 else ("Nej" if worked == "Nej" else yn(0.535, 0))
        drugs_ever = yn(0.89, 0.005)
        return {
            "study_code": p.code,
            "baseline_on": p.baseline_on,
            "gender": vocab.GENDER.label(p.gender),
            "birth_year": p.baseline_on.year - age,
            "born_in_sweden": deck("born_in_sweden"),
            "education": deck("education", vocab.EDUCATION),
            "housing": deck("housing", vocab.HOUSING),
            "income_source": deck("income_source", vocab.INCOME),
            "civil_status": deck("civil_status", vocab.CIVIL_STATUS),
            "worked_before": worked,
            "longest_job_5y": longest,
            "used_drugs_ever": drugs_ever,
            "drugs_30d": "Nej" if drugs_ever == "Nej" else yn(0.47, 0.01),
            "alcohol_30d": yn(0.5, 0.09),
            "sud_treatment_ever": yn(0.93, 0.01),
            "legal_problems_30d": yn(0.13, 0.01),
            "psychiatric_diagnosis": yn(0.39, 0.015),
            "mental_health_treatment": yn(0.52, 0.02),
        }

    def _followups(self, p: Person, rows: dict[str, list[dict]]) -> None:
        rng, cutoff, fu = self.rng, self.cutoff, self.cfg.followup
        base = {0: 0.82, 1: 0.63, 2: 0.46}
        for i, tp in enumerate(fu.timepoints_months):
            due = add_months(p.randomised_on, tp)
            if due > cutoff or (p.left_on is not None and p.left_on <= due):
                continue
            chance = min(0.97, base.get(i, 0.4) * ROLE_UNIT_FACTOR[p.site.role])
            if self.u[f"fu{min(i, 3)}"].draw() < chance:
                late = rng.random() < 0.15
                offset = (
                    rng.randint(fu.window_after_days + 1, 80)
                    if late
                    else rng.randint(-fu.window_before_days, fu.window_after_days)
                )
                done = due + timedelta(days=offset)
                if done > cutoff or (p.left_on is not None and done >= p.left_on):
                    continue
                rows["followups"].append(
                    {
                        "study_code": p.code,
                        "timepoint_months": tp,
                        "result": "Genomförd",
                        "done_on": done,
                        "unit": p.site.unit,
                    }
                )
                rows["employment"].append(self._employment(p, tp))
            elif due + timedelta(days=fu.window_after_days + 20) <= cutoff and rng.random() < 0.6:
                rows["followups"].append(
                    {
                        "study_code": p.code,
                        "timepoint_months": tp,
                        "result": "Missad",
                        "done_on": None,
                        "unit": p.site.unit,
                    }
                )

    def _employment(self, p: Person, tp: int) -> dict:
        rng = self.rng
        share = 0.1 + 0.03 * tp / 6 + (0.12 if p.arm == "ips" else 0.0)
        worked = rng.random() < share
        days = rng.randint(3, 110) if worked else 0
        hours = days * rng.choice((4, 5, 6, 8)) if worked else 0
        income = round(hours * rng.uniform(135, 190), -2) if worked else 0
        benefits = max(0.0, round(6 * rng.uniform(6500, 9500) - 0.6 * income, -2))
        asi = round(rng.uniform(0.35, 0.75) if worked else rng.uniform(0.7, 1.0), 3)
        return {
            "study_code": p.code,
            "timepoint_months": tp,
            "worked_any": "Ja" if worked else "Nej",
            "days_worked": days,
            "hours_worked": hours,
            "income_sek": income,
            "benefits_sek": benefits,
            "asi_employment": asi,
        }

    def _assign(self, p: Person, end: date, rows: dict[str, list[dict]]) -> None:
        rng, day = self.rng, p.randomised_on
        current = [s for s in self.specs_for(p.site, day) if s.code == p.spec] or self.specs_for(p.site, day)
        spec = current[0]
        while True:
            stop = end if spec.end is None or end <= spec.end else spec.end
            rows["assignments"].append(
                {
                    "study_code": p.code,
                    "specialist_id": spec.code,
                    "start_on": day,
                    "end_on": stop if stop <= self.cutoff else None,
                }
            )
            if stop == end or stop >= self.cutoff:
                return
            day = stop + timedelta(days=1)
            others = [s for s in self.specs_for(p.site, day) if s.code != spec.code]
            if not others:
                return
            spec = rng.choice(others)

    def _activity(self, p: Person, end: date, rows: dict[str, list[dict]]) -> None:
        rng, r = self.rng, p.randomised_on
        span = (end - r).days
        if span < 14:
            return
        months = span / 30.4
        found: list[dict] = []
        if p.arm == "ips" and rng.random() < 0.85:
            first = r + timedelta(days=rng.randint(7, min(60, span)))
            if first <= end:
                found.append({"activity_on": first, "activity_type": "Arbetsgivarkontakt"})
                for _ in range(min(12, _poisson(rng, 0.5 * months))):
                    found.append(
                        {
                            "activity_on": first + timedelta(days=rng.randint(0, max(0, (end - first).days))),
                            "activity_type": "Arbetsgivarkontakt",
                        }
                    )
        job_chance = min(0.45, 0.035 * months) if p.arm == "ips" else min(0.12, 0.01 * months)
        for kind, chance in (
            ("Anställning", job_chance),
            ("Studier", 0.05 if p.arm == "ips" else 0.01),
            ("Praktik", 0.09 if p.arm == "ips" else 0.01),
        ):
            if span > 30 and rng.random() < chance:
                start = r + timedelta(days=rng.randint(30, span))
                stop = start + timedelta(days=rng.randint(20, 240)) if rng.random() < 0.45 else None
                part = rng.random() < 0.7
                found.append(
                    {
                        "activity_on": start,
                        "activity_type": kind,
                        "end_on": stop if stop and stop <= self.cutoff else None,
                        "extent": "Deltid" if part else "Heltid",
                        "hours_per_week": float(rng.choice((10, 15, 20, 25, 30))) if part else 40.0,
                    }
                )
        for row in found:
            rows["activity"].append({"study_code": p.code, **row})


# --- output ---------------------------------------------------------------------------------------


def _fields(model: type[SourceRow]) -> list[str]:
    return list(model.model_fields)


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{value:.3f}".rstrip("0").replace(".", ",")
    return str(value)


def write_csv(path: Path, model: type[SourceRow], rows: list[dict]) -> None:
    """CSV as Swedish Excel saves it: UTF-8 with BOM, ';', ISO dates, decimal comma."""
    names = _fields(model)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        writer.writerow([header_of(model, n) for n in names])
        writer.writerows([_csv_cell(row.get(n)) for n in names] for row in rows)


_EXCEL_EPOCH = date(1899, 12, 30).toordinal()


def write_xlsx(path: Path, sheet: str, model: type[SourceRow], rows: list[dict]) -> None:
    """One sheet, header in row 1, dates as real Excel date cells."""
    names = _fields(model)
    wb = xlsxwriter.Workbook(
        str(path),
        {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False},
    )
    wb.set_properties({"title": model.title_sv, "author": "ipsdash demo", "created": FIXED_CREATED})
    ws = wb.add_worksheet(sheet)
    bold = wb.add_format({"bold": True})
    day_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.freeze_panes(1, 0)
    ws.set_column(0, len(names) - 1, 18)
    ws.write_row(0, 0, [header_of(model, n) for n in names], bold)
    for i, row in enumerate(rows, start=1):
        for j, name in enumerate(names):
            value = row.get(name)
            if value is None:
                continue
            if isinstance(value, date):  # an Excel date cell: day serial with a date format
                ws.write_number(i, j, value.toordinal() - _EXCEL_EPOCH, day_fmt)
            elif isinstance(value, int | float):
                ws.write_number(i, j, value)
            else:
                ws.write_string(i, j, str(value))
    wb.close()


def _toml(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def _scaled_config_text(base_text: str, cfg: StudyConfig, sites: list[Site], letters_max: int) -> str:
    head, rest = base_text.split("[[districts]]", 1)
    tail = rest[rest.index("[followup]") :]
    total = sum(s.target for s in sites)
    head = re.sub(r"(?m)^target_randomised\s*=\s*\d+", f"target_randomised = {total}", head)
    pattern = rf"^[A-Z]{{1,{letters_max}}}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[MKX][0-9]{{2,4}}$"
    desc = (
        f"1–{letters_max} bokstäver för arbetsspecialist, inskrivningsdatum MMDD, kön (M/K/X) och "
        "2–4 slumpsiffror, t.ex. AB0314M2718"
    )
    tail = re.sub(r"(?m)^pattern\s*=.*$", lambda _m: f"pattern = '{pattern}'\ndescription_sv = {_toml(desc)}", tail)
    real = {d.id: d for d in cfg.districts}
    blocks: list[str] = []
    for s in sites:
        d = real.get(s.id)
        lines = ["[[districts]]", f"id = {_toml(s.id)}", f"name = {_toml(s.name)}", f"start = {_toml(s.start)}"]
        if d is not None and d.end is not None:
            lines.append(f"end = {_toml(d.end)}")
        lines += [f"target = {s.target}", f"units = {_toml(list(d.units) if d else [s.unit])}"]
        if d is not None and d.aliases:
            lines.append(f"aliases = {_toml(list(d.aliases))}")
        for f in d.former_names if d is not None else []:
            lines += ["  [[districts.former_names]]", f"  name = {_toml(f.name)}", f"  until = {_toml(f.until)}"]
            if f.note:
                lines.append(f"  note = {_toml(f.note)}")
        blocks.append("\n".join(lines) + "\n")
    note = f"# Demostudie i skala {len(sites) // 4}: de fyra verkliga stadsdelarna och {len(sites) - 4} påhittade.\n\n"
    return head + note + "\n".join(blocks) + "\n" + tail


def _specialist_rows(world: _World) -> list[dict]:
    names = {s.id: s.name for s in world.sites}
    return [
        {
            "specialist_id": s.code,
            "name": s.name,
            "district_ids": "; ".join(names[i] for i in s.sites),
            "employment_pct": s.pct,
            "start_on": s.start,
            "end_on": s.end if s.end is not None and s.end <= world.cutoff else None,
        }
        for s in world.specs
    ]


def _referral_rows(world: _World) -> list[dict]:
    rows = []
    for p in sorted(world.people, key=lambda p: (p.referred_on, p.code)):
        rows.append(
            {
                "study_code": p.code,
                "district_id": p.site.name_on(p.referred_on),
                "referred_on": p.referred_on,
                "referral_source": vocab.REFERRAL_SOURCE.label(p.source),
                "info_meeting_on": p.info_on,
                "motivation": vocab.MOTIVATION.label(p.motivation) if p.motivation else None,
                "consent_on": p.consent_on,
                "enrolment_on": p.enrol_on,
                "baseline_on": p.baseline_on,
                "excluded_stage": vocab.EXCLUSION_STAGES.label(p.excl_stage) if p.excl_stage else None,
                "exclusion_reason": vocab.EXCLUSION_REASON.label(p.excl_reason) if p.excl_reason else None,
                "previous_code": p.previous_code,
            }
        )
    return rows


# A remark kept with its review in the fidelity file (shown with that review on the page).
FIDELITY_COMMENTS: dict[date, str] = {
    date(2023, 9, 15): "Delrapportens text anger 87 poäng; punkterna i dess tabell 2 summerar till 92.",
}


def _fidelity_rows() -> list[dict]:
    rows = [
        {"reviewed_on": day, "section": section, "item_number": n, "score": score, "comment": None}
        for day, review in FIDELITY_REVIEWS.items()
        for section, scores in review.items()
        for n, score in enumerate(scores, start=1)
    ]
    for day, text in FIDELITY_COMMENTS.items():
        next(r for r in rows if r["reviewed_on"] == day)["comment"] = text
    return rows


def _inject_mistakes(world: _World, files: dict[str, list[dict]]) -> list[str]:
    """About ten typical typing mistakes, each breaking a different rule. Never a personnummer."""
    rng, done = world.rng, []
    refs, rands, base = files["referrals"], files["randomisations"], files["baseline"]
    pointed_at = {r["previous_code"] for r in refs if r["previous_code"]}
    excluded = [
        r
        for r in refs
        if r["excluded_stage"] and r["district_id"] == world.sites[0].name and r["study_code"] not in pointed_at
    ]  # a typo that hides nothing else
    rng.choice(excluded)["district_id"] = world.sites[0].name + "m"
    done.append("stavfel i stadsdel (remisslogg)")
    rng.choice(base[: len(base) // 2])["baseline_on"] = "2023-02-30"
    done.append("omöjligt datum 2023-02-30 (baslinje)")
    events = files["events"]
    early = [e for e in events if e["event_on"].day <= 12 and e["event_on"].day != e["event_on"].month]
    row = rng.choice(early)
    row["event_on"] = f"{row['event_on'].day}/{row['event_on'].month}/{row['event_on'].year}"
    done.append("tvetydigt datum som text (avslut)")
    rng.choice([e for e in events if e["reason"] and e is not row])["reason"] = "Sjukhusvistelse"
    done.append("okänd orsak (avslut)")
    n = 0
    while (unknown := f"{world.specs[0].code}0512M{n:0{world.digits}d}") in world.codes:
        n += 1
    files["followups"].append(
        {
            "study_code": unknown,
            "timepoint_months": 6,
            "result": "Genomförd",
            "done_on": date(2024, 5, 20),
            "unit": world.sites[0].unit,
        }
    )
    done.append("uppföljning för okänd studiekod")
    later = [r for r in rands if r["randomised_on"] >= date(2023, 6, 1)]
    victim = rng.choice(later)
    events.append(
        {
            "study_code": victim["study_code"],
            "event_on": victim["randomised_on"] - timedelta(days=rng.randint(10, 40)),
            "event_type": "Lämnat studien",
            "reason": "Tappad kontakt",
        }
    )
    done.append("händelse före randomiseringen")
    twice = rng.choice(rands[: len(rands) // 2])
    rands.append(
        {
            **twice,
            "randomised_on": twice["randomised_on"] + timedelta(days=rng.randint(20, 60)),
            "arm": "TVR+TAU" if twice["arm"] == "IPS+TAU" else "IPS+TAU",
        }
    )
    done.append("dubbel randomisering")
    ips = [r for r in rands if r["arm"] == "IPS+TAU"]
    files["activity"].append(
        {
            "study_code": rng.choice(ips)["study_code"],
            "activity_on": date(2024, 10, 14),
            "activity_type": "Arbetsgivarkontakt",
        }
    )
    done.append("datum efter datauttaget (ips_aktivitet)")
    rng.choice(base[len(base) // 2 :])["gender"] = None
    done.append("kön saknas (baslinje)")
    second = [r for r in files["fidelity"] if r["reviewed_on"] == max(FIDELITY_REVIEWS)]
    rng.choice(second)["score"] = 6
    done.append("poäng 6 i programtrohet")
    return done


OUTPUTS: tuple[tuple[str, str, type[SourceRow], str | None], ...] = (
    ("referrals", "remisslogg.xlsx", ReferralRow, "Remisser"),
    ("randomisations", "randomisering.csv", RandomisationRow, None),
    ("baseline", "baslinje.csv", BaselineRow, None),
    ("followups", "uppfoljning.csv", FollowUpRow, None),
    ("events", "avslut.xlsx", EventRow, "Händelser"),
    ("specialists", "arbetsspecialister.csv", SpecialistRow, None),
    ("assignments", "tilldelning.csv", AssignmentRow, None),
    ("fidelity", "programtrohet.xlsx", FidelityRow, "Programtrohet"),
    ("activity", "ips_aktivitet.csv", ActivityRow, None),
    ("employment", "sysselsattning.csv", EmploymentRow, None),
)


def build(seed: int = 42, scale: int = 1, mistakes: bool = False) -> tuple[str, dict[str, list[dict]], list[str]]:
    """The demo study in memory: (studie.toml text, rows per source key, injected mistakes)."""
    if scale < 1:
        raise ValueError("scale måste vara minst 1")
    rng = random.Random(seed)
    base_text = CONFIG_PATH.read_text(encoding="utf-8")
    cfg = load_config(CONFIG_PATH)
    world = _World(cfg, rng, scale)
    world.build_sites()
    world.recruit()
    world.randomise()
    files = world.follow()
    files["referrals"] = _referral_rows(world)
    files["specialists"] = _specialist_rows(world)
    files["fidelity"] = _fidelity_rows()
    files["followups"].sort(key=lambda r: (r["done_on"] or date.max, r["study_code"], r["timepoint_months"]))
    files["events"].sort(key=lambda r: (r["event_on"], r["study_code"]))
    files["assignments"].sort(key=lambda r: (r["start_on"], r["study_code"]))
    files["activity"].sort(key=lambda r: (r["activity_on"], r["study_code"], r["activity_type"]))
    files["employment"].sort(key=lambda r: (r["study_code"], r["timepoint_months"]))
    if scale == 1:
        text = base_text
    else:
        longest = max(len(s.code) for s in world.specs)
        text = _scaled_config_text(base_text, cfg, world.sites, max(2, longest))
    injected = _inject_mistakes(world, files) if mistakes else []
    return text, files, injected


def generate(out: Path, seed: int = 42, scale: int = 1, mistakes: bool = False, redcap: bool = False) -> None:
    """Write the demo study (studie.toml and the ten source files) into `out`; with `redcap`, the
    baseline and follow-ups come as a REDCap project export in `out/redcap/` instead of CSV."""
    _write(Path(out), *build(seed, scale, mistakes)[:2], redcap=redcap)


def _write(out: Path, config_text: str, files: dict[str, list[dict]], redcap: bool = False) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "studie.toml").write_bytes(config_text.encode("utf-8"))
    if redcap:
        from etl.redcap_export import write_redcap_export

        cfg = load_config(out / "studie.toml")
        district = {r["study_code"]: r["district_id"] for r in files["referrals"]}
        randomised_on = {r["study_code"]: r["randomised_on"] for r in files["randomisations"]}
        write_redcap_export(out / "redcap", files["baseline"], files["followups"], district, cfg, randomised_on)
    for key, name, model, sheet in OUTPUTS:
        if redcap and key in ("baseline", "followups"):
            continue
        if sheet is None:
            write_csv(out / name, model, files[key])
        else:
            write_xlsx(out / name, sheet, model, files[key])


def run_demo_command(args) -> int:
    """`ipsdash demo --out DIR [--seed N] [--scale K] [--mistakes]`."""
    out = Path(args.out)
    text, files, injected = build(args.seed, args.scale, args.mistakes)
    _write(out, text, files, redcap=getattr(args, "redcap", False))
    cfg = load_config(out / "studie.toml")
    rands = {r["study_code"] for r in files["randomisations"]}
    left = len({e["study_code"] for e in files["events"] if e["event_type"] == "Lämnat studien"})
    print(f"Demostudien är skriven till {out} (frö {args.seed}, skala {args.scale}).")
    print(
        f"  {len(cfg.districts)} stadsdelar, {len(files['referrals'])} remisser, {len(rands)} randomiserade "
        f"till och med {cfg.data_cutoff.isoformat()}, {left} har lämnat studien."
    )
    print(
        f"  {len(files['followups'])} uppföljningar, {len(files['specialists'])} rader arbetsspecialister, "
        f"{len(OUTPUTS) + 1} filer."
    )
    if injected:
        print(f"  Inlagda fel ({len(injected)}): " + "; ".join(injected) + ".")
    print(f"Läs in med: ipsdash load {out}")
    return 0
