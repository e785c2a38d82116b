"""Controlled vocabularies of the study: the values staff may type, each mapped to a stable key.

Keys are English snake_case and are what the store holds; labels are the Swedish words shown on
screen and offered in the Excel templates. Accepted spellings are matched after `normalize_token`
(case, spaces, punctuation), so "HVB placering", "hvb-placering" and "HVB-placering " are one value.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field


def normalize_token(value: str) -> str:
    """Fold a typed value or header for matching: lower case, no accents but åäö, single spaces."""
    text = unicodedata.normalize("NFC", str(value)).strip().lower()
    text = text.replace("\u00a0", " ")
    text = re.sub(r"[\s_\-–/.,:;()+]+", " ", text)
    return text.strip()


@dataclass(frozen=True)
class Vocabulary:
    """One closed list: key -> Swedish label, plus extra accepted spellings per key."""

    name_sv: str
    labels: dict[str, str]
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def lookup(self) -> dict[str, str]:
        table: dict[str, str] = {}
        for key, label in self.labels.items():
            table[normalize_token(label)] = key
            table[normalize_token(key)] = key
            for alt in self.synonyms.get(key, ()):
                table[normalize_token(alt)] = key
        return table

    def parse(self, value: object) -> str | None:
        """The key for a typed value, or None when it is not on the list."""
        return _LOOKUPS.setdefault(self.name_sv, self.lookup()).get(normalize_token(str(value)))

    def label(self, key: str | None) -> str:
        return self.labels.get(key or "", key or "")

    @property
    def keys(self) -> list[str]:
        return list(self.labels)

    def choices_text(self) -> str:
        return ", ".join(f"”{label}”" for label in self.labels.values())


_LOOKUPS: dict[str, dict[str, str]] = {}

YES_NO = Vocabulary(
    "ja/nej",
    {"yes": "Ja", "no": "Nej"},
    {"yes": ("j", "x", "1", "true", "sant"), "no": ("n", "0", "false", "falskt")},
)

GENDER = Vocabulary(
    "kön",
    {"man": "Man", "woman": "Kvinna", "other": "Annat/icke-binär"},
    {"man": ("m", "män", "male"), "woman": ("k", "kvinnor", "female", "f"), "other": ("x", "annat", "icke binär")},
)

REFERRAL_SOURCE = Vocabulary(
    "remitterande instans",
    {
        "eb_vuxenenhet": "Ekonomiskt bistånd + vuxenenhet",
        "eb_beroendecentrum": "Ekonomiskt bistånd + Beroendecentrum",
        "prima_maria": "Prima Maria",
        "other": "Annan",
    },
    {
        "eb_vuxenenhet": (
            "eb + vuxenenhet",
            "ek bistånd vuxenenhet",
            "vuxenenhet",
            "ekonomiskt bistånd och vuxenenhet",
        ),
        "eb_beroendecentrum": ("beroendecentrum", "eb + beroendecentrum", "ekonomiskt bistånd och beroendecentrum"),
        "prima_maria": ("primamaria",),
        "other": ("annat", "övrigt"),
    },
)

MOTIVATION = Vocabulary(
    "motivationsskattning",
    {"sufficient": "Tillräcklig", "insufficient": "Otillräcklig", "not_done": "Ej genomförd"},
    {"sufficient": ("ok", "godkänd", "ja"), "insufficient": ("ej tillräcklig", "nej"), "not_done": ("ej gjord",)},
)

# The referral funnel in order. A person excluded "at" a stage did not pass it.
FUNNEL_STAGES = Vocabulary(
    "steg",
    {
        "referral": "Remiss",
        "info_meeting": "Informationsmöte",
        "consent": "Samtycke",
        "enrolment": "Inskrivningssamtal",
        "baseline": "Baslinje",
        "randomised": "Randomiserad",
    },
    {
        "referral": ("före informationsmöte", "remissteg"),
        "info_meeting": ("informationsmöte och motivationsskattning", "motivationsskattning", "infomöte"),
        "consent": ("erbjudande", "samtycke nej", "erbjudande samtycke"),
        "enrolment": ("inskrivning",),
        "baseline": ("baslinjemätning", "före randomisering"),
        "randomised": ("randomisering", "lottning", "lottad"),
    },
)
EXCLUSION_STAGES = Vocabulary(
    "exkluderad vid",
    {k: v for k, v in FUNNEL_STAGES.labels.items() if k != "randomised"},
    {k: v for k, v in FUNNEL_STAGES.synonyms.items() if k != "randomised"},
)

# Exclusion criteria of both seeds (feasibility study and interim report), plus the practical
# reasons a referral ends before randomisation.
EXCLUSION_REASON = Vocabulary(
    "exklusionsorsak",
    {
        "insufficient_motivation": "Otillräcklig motivation",
        "other_vocational_rehab": "Annan pågående arbetsrehabilitering",
        "detox": "Pågående avgiftning",
        "acute_homelessness": "Akut hemlöshet",
        "legal_process": "Rättsprocess/frihetsberövad > 3 mån",
        "severe_illness": "Allvarlig psykisk ohälsa/funktionsnedsättning/somatisk sjukdom",
        "suicide_risk": "Förhöjd suicidrisk",
        "threats_violence": "Hot och/eller våld",
        "recent_ips": "Deltagit i IPS senaste 6 mån",
        "not_eligible": "Uppfyller ej inklusionskriterierna",
        "declined": "Tackade nej",
        "no_show": "Uteblev/ej nådd",
        "other": "Annat",
    },
    {
        "insufficient_motivation": ("motivation", "otillräcklig motivation för att arbeta"),
        "other_vocational_rehab": ("annan arbetsrehabilitering", "annan pågående arbetsrehabiliteringsinsats"),
        "detox": ("avgiftning", "akut avgiftning", "pågående avgiftningsbehandling"),
        "acute_homelessness": ("hemlöshet",),
        "legal_process": ("rättsprocess", "frihetsberövad", "pågående rättsprocess"),
        "severe_illness": ("psykisk ohälsa", "funktionsnedsättning", "somatisk sjukdom"),
        "suicide_risk": ("suicidrisk",),
        "threats_violence": ("hot", "våld", "hot eller våld"),
        "recent_ips": ("tidigare ips", "deltagit i ips"),
        "not_eligible": ("ej inklusionskriterier", "har lönearbete", "uppfyller ej kriterier"),
        "declined": ("nej tack", "avböjde", "tackat nej"),
        "no_show": ("uteblev", "ej nådd", "ingen kontakt"),
        "other": ("annan", "övrigt"),
    },
)

ARM = Vocabulary(
    "arm",
    {"ips": "IPS+TAU", "control": "TVR+TAU"},
    {
        "ips": ("ips", "intervention", "interventionsgrupp", "ips tau"),
        "control": ("kontroll", "kontrollgrupp", "tau", "tvr", "tvr tau", "kg"),
    },
)

EVENT_TYPE = Vocabulary(
    "händelse",
    {
        "stopped_ips": "Avslutat IPS",
        "left_study": "Lämnat studien",
        "paused": "Paus",
        "resumed": "Återupptagen",
    },
    {
        "stopped_ips": ("avslutat ips insatsen", "ips avslutad", "slutat ips"),
        "left_study": ("avslutat studien", "lämnat", "avhopp", "bortfall"),
        "paused": ("pausad", "uppehåll"),
        "resumed": ("återupptaget", "åter"),
    },
)

EVENT_REASON = Vocabulary(
    "orsak",
    {
        "relapse": "Återfall",
        "hvb": "HVB-placering",
        "custody": "Frihetsberövad",
        "moved": "Flyttat till annan stadsdel",
        "threats_violence": "Hot eller våld",
        "withdrew_consent": "Återtaget samtycke",
        "lost_contact": "Tappad kontakt",
        "deceased": "Avliden",
        "other": "Annat",
    },
    {
        "hvb": ("hvb", "hvb hem", "placerad på hvb"),
        "custody": ("fängelse", "häktad", "frihetsberövande", "anstalt"),
        "moved": ("flyttat", "flytt"),
        "threats_violence": ("hot", "våld", "hot och våld"),
        "withdrew_consent": ("återkallat samtycke", "drog tillbaka samtycke", "vill ej delta"),
        "lost_contact": ("ingen kontakt", "ej nåbar", "tappat kontakt"),
        "other": ("annan", "övrigt"),
    },
)

FOLLOWUP_RESULT = Vocabulary(
    "uppföljning",
    {"done": "Genomförd", "missed": "Missad"},
    {"done": ("gjord", "klar", "ja"), "missed": ("ej genomförd", "bortfall", "nej", "uteblev")},
)

EDUCATION = Vocabulary(
    "utbildning",
    {
        "primary_incomplete": "Ej avslutad grundskola",
        "primary": "Grundskola",
        "secondary": "Gymnasium",
        "university": "Högskola/universitet",
    },
    {"university": ("högskola", "universitet"), "secondary": ("gymnasieskola",)},
)

HOUSING = Vocabulary(
    "boende",
    {
        "supported": "Boende med särskild service",
        "own": "Egen bostad",
        "social_services": "Ordinärt boende via socialtjänsten",
        "sublet": "Andrahandskontrakt",
        "homeless_other": "Hotell/bostadslös/annat",
    },
    {
        "supported": ("särskild service", "stödboende", "hvb", "behandlingshem"),
        "social_services": ("socialtjänstens bostad", "försökslägenhet"),
        "sublet": ("andrahand",),
        "homeless_other": ("bostadslös", "hotell", "annat", "hos föräldrar"),
    },
)

INCOME = Vocabulary(
    "inkomstkälla",
    {
        "social_assistance": "Ekonomiskt bistånd",
        "assistance_plus": "Ek. bistånd + FK/CSN/A-kassa",
        "insurance_only": "FK/CSN/A-kassa",
        "family_none": "Familj/vänner/ingen",
    },
    {"social_assistance": ("ek bistånd", "försörjningsstöd"), "family_none": ("familj", "ingen", "inget")},
)

CIVIL_STATUS = Vocabulary(
    "civilstånd",
    {"partnered": "Gift/sambo", "single": "Ensamstående"},
    {"partnered": ("gift", "sambo", "sammanboende", "gift sammanboende")},
)

ACTIVITY_TYPE = Vocabulary(
    "aktivitet",
    {
        "employer_contact": "Arbetsgivarkontakt",
        "job_start": "Anställning",
        "study_start": "Studier",
        "internship": "Praktik",
    },
    {"job_start": ("jobbstart", "arbete", "anställd"), "employer_contact": ("ag kontakt", "arbetsgivarkontakt")},
)

EXTENT = Vocabulary(
    "omfattning",
    {"full_time": "Heltid", "part_time": "Deltid"},
    {"full_time": ("100",), "part_time": ("del",)},
)

# Every closed list above, once: the contract document and the templates look vocabularies up here.
VOCABULARIES: tuple[Vocabulary, ...] = (
    YES_NO,
    GENDER,
    REFERRAL_SOURCE,
    MOTIVATION,
    FUNNEL_STAGES,
    EXCLUSION_STAGES,
    EXCLUSION_REASON,
    ARM,
    EVENT_TYPE,
    EVENT_REASON,
    FOLLOWUP_RESULT,
    EDUCATION,
    HOUSING,
    INCOME,
    CIVIL_STATUS,
    ACTIVITY_TYPE,
    EXTENT,
)


def vocabulary_named(name_sv: str) -> Vocabulary:
    """The closed list of that Swedish name."""
    return next(v for v in VOCABULARIES if v.name_sv == name_sv)


def vocabulary_with_keys(keys: tuple[str, ...] | None) -> Vocabulary | None:
    """The closed list whose keys are exactly these (a field's `Literal`), or None."""
    return None if keys is None else next((v for v in VOCABULARIES if tuple(v.keys) == tuple(keys)), None)


# IPS fidelity scale (Socialstyrelsen 2022), 25 items in three sections, as in the interim report's
# Table 2. Item keys are section letter + number.
FIDELITY_SECTIONS = {"staffing": "Personal", "organisation": "Organisation", "services": "Tjänster"}
FIDELITY_ITEMS: dict[str, tuple[str, str]] = {
    "P1": ("staffing", "Klientgruppens storlek"),
    "P2": ("staffing", "Arbetscoachernas sysselsättning"),
    "P3": ("staffing", "Arbetscoachernas helhetsansvar"),
    "O1": ("organisation", "Integrerad i behandlingen genom koppling till behandlingsteam"),
    "O2": ("organisation", "Integrerad i behandlingen genom tät kontakt med behandlingsteam"),
    "O3": ("organisation", "Samarbete mellan arbetscoacher och arbetsförmedlare"),
    "O4": ("organisation", "Arbetsgrupp"),
    "O5": ("organisation", "Handledarens roll"),
    "O6": ("organisation", "Inga uteslutningskriterier"),
    "O7": ("organisation", "Verksamheten fokuserar på reguljärt arbete"),
    "O8": ("organisation", "Ledarna för verksamheten stödjer IPS"),
    "T1": ("services", "Ekonomisk vägledning"),
    "T2": ("services", "Frivilligt att berätta om funktionsnedsättningen"),
    "T3": ("services", "Kontinuerliga bedömningar av klientens arbetserfarenheter"),
    "T4": ("services", "Snabbt sökande efter ett reguljärt arbete"),
    "T5": ("services", "Individuellt arbetssökande"),
    "T6": ("services", "Utveckla arbeten – täta besök hos arbetsgivare"),
    "T7": ("services", "Utveckla arbeten – skapa relationer till arbetsgivare"),
    "T8": ("services", "Olika slags arbeten"),
    "T9": ("services", "Olika arbetsplatser"),
    "T10": ("services", "Konkurrensutsatta arbeten"),
    "T11": ("services", "Uppföljande stöd anpassat efter individen"),
    "T12": ("services", "Uppföljande stöd under obegränsad tid"),
    "T13": ("services", "Samhällsbaserade tjänster"),
    "T14": ("services", "Aktivt uppsökande verksamhet"),
}

# Bands of the total score (25–125), best first: (lowest total, key, Swedish label).
FIDELITY_BANDS: list[tuple[int, str, str]] = [
    (115, "exemplary", "Stämmer mycket bra överens med IPS"),
    (100, "good", "Stämmer bra överens med IPS"),
    (74, "fair", "Stämmer delvis överens med IPS"),
    (25, "not_ips", "Stämmer inte överens med IPS"),
]


def fidelity_band(total: int) -> tuple[str, str]:
    """(key, label) of the band a fidelity total falls in."""
    for lowest, key, label in FIDELITY_BANDS:
        if total >= lowest:
            return key, label
    return FIDELITY_BANDS[-1][1], FIDELITY_BANDS[-1][2]


def parse_fidelity_item(section: object, number: object) -> str | None:
    """Item key from the section name (or letter) and its number within the section."""
    sec = normalize_token(str(section))
    letters = {
        "personal": "P",
        "p": "P",
        "organisation": "O",
        "o": "O",
        "tjänster": "T",
        "t": "T",
        "ips verksamheter": "T",
        "verksamheter": "T",
        "staffing": "P",
        "services": "T",
    }
    letter = letters.get(sec)
    try:
        num = int(float(str(number).strip()))
    except ValueError:
        return None
    key = f"{letter}{num}"
    return key if key in FIDELITY_ITEMS else None


# Age bands (age at baseline), shared by the store (etl/sql/10_participants.sql through the
# `age_band` macro that etl/derive.py builds from this list) and the balance page: (youngest, oldest
# or None for no upper limit, label). The study takes 18–67; an age below every band has no band.
AGE_BANDS: list[tuple[int, int | None, str]] = [
    (18, 29, "18–29"),
    (30, 39, "30–39"),
    (40, 49, "40–49"),
    (50, None, "50–67"),
]


def age_band(age: float | None) -> str | None:
    """The label of the band `age` falls in, or None (missing age, or younger than every band)."""
    try:
        age = float(age)  # None and pandas' NA raise here
    except (TypeError, ValueError):
        return None
    if age != age:  # NaN
        return None
    for youngest, oldest, label in AGE_BANDS:
        if youngest <= age and (oldest is None or age <= oldest):
            return label
    return None
