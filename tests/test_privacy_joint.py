"""Joint suppression across displays (issue 10): everything styrgrupp gets in one scope is put
together, and every masked count must stay unrecoverable by linear differences of shown figures.

The attacker here is independent of `dashboard.privacy`: each figure a display shows is defined in
this file by WHO it counts (a set of referrals, from the source files for the demo and from the
generated rows for the random studies), the people no figure tells apart form one unknown each, and
a masked figure is recoverable when its vector is an exact (rational) linear combination of the
shown figures' vectors. Shown figures are also checked against those independent counts.

On the code before joint suppression the demo gives the consent-stage exclusions back:
informationsmöte reached − samtycke reached − excluded at informationsmöte − waiting there.
"""

from __future__ import annotations

import random
import re
from fractions import Fraction

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tests import independent as ind
from tests.conftest import environment, render

STAGES = ["Remiss", "Informationsmöte", "Samtycke", "Inskrivningssamtal", "Baslinje", "Randomiserad"]
DATE_STAGES = STAGES[1:5]
# CONSORT's headings of the exclusion stages (as drawn) → the funnel's stage.
CONSORT_STAGE = {
    "Före informationsmöte": "Remiss",
    "Informationsmöte/motivation": "Informationsmöte",
    "Erbjudande/samtycke": "Samtycke",
    "Inskrivningssamtal": "Inskrivningssamtal",
    "Baslinje": "Baslinje",
}
FUNNEL_PARTS = {"Antal": "reached", "Exkluderade här": "excluded", "Pågår (väntar på nästa steg)": "waiting"}


# --- the attacker ----------------------------------------------------------------------------------


def recovered(figures: dict, shown: set, masked: set, zeros: set = frozenset()) -> list:
    """The masked figures whose value follows from the shown ones. `figures`: key → frozenset of the
    people it counts (negative ids: kinds of people that could exist but nobody is); `zeros`: shown
    figures that are 0, so every kind of person in them is known to be absent."""
    keys = list(figures)
    people = sorted(set().union(*figures.values())) if figures else []
    atoms: dict[tuple, int] = {}
    for p in people:
        atoms.setdefault(tuple(p in figures[k] for k in keys), 0)
    order = list(atoms)

    def vector(key) -> list[Fraction]:
        j = keys.index(key)
        return [Fraction(int(a[j])) for a in order]

    basis: list[tuple[int, list[Fraction]]] = []

    def reduce(v: list[Fraction]) -> list[Fraction]:
        v = list(v)
        for pivot, row in basis:
            if v[pivot]:
                f = v[pivot]
                v = [a - f * b for a, b in zip(v, row, strict=True)]
        return v

    def add(v: list[Fraction]) -> None:
        v = reduce(v)
        pivot = next((i for i, a in enumerate(v) if a), None)
        if pivot is not None:
            basis.append((pivot, [a / v[pivot] for a in v]))

    for key in shown:
        add(vector(key))
    for key in zeros:
        for i, a in enumerate(vector(key)):
            if a:
                add([Fraction(int(j == i)) for j in range(len(order))])
    return [k for k in masked if not any(reduce(vector(k)))]


class Displays:
    """What one role saw in one scope: figure key → (shown text, the people it counts)."""

    def __init__(self, mask_text: str):
        self.mask_text = mask_text
        self.cells: dict = {}

    def add(self, key, text: object, people) -> None:
        self.cells[key] = (str(text).strip(), frozenset(people))

    def check(self) -> None:
        real = {k: sum(1 for i in p if i >= 0) for k, (_, p) in self.cells.items()}
        wrong = [
            (k, t, real[k])
            for k, (t, p) in self.cells.items()
            if t != self.mask_text and float(t.replace(",", ".")) != real[k]
        ]
        assert wrong == [], f"shown figures differ from the independent count: {wrong[:5]}"
        masked = {k for k, (t, _) in self.cells.items() if t == self.mask_text}
        shown = set(self.cells) - masked
        figures = {k: p for k, (_, p) in self.cells.items()}
        zeros = {k for k in shown if real[k] == 0}
        # A figure nobody can ever be in (no kind of person counts in it) tells nothing when "recovered".
        back = [k for k in recovered(figures, shown, masked, zeros) if figures[k]]
        detail = [(k, len(figures[k])) for k in back]
        assert back == [], f"masked figures recoverable from what the role was shown: {detail}"

    @property
    def n_masked(self) -> int:
        return sum(t == self.mask_text for t, _ in self.cells.values())


# --- the demo, through the page ------------------------------------------------------------------


def _referrals(demo_dir) -> list[dict]:
    names = ind.district_of_name(demo_dir)
    randomised = ind.randomised(demo_dir)
    out = []
    for i, r in enumerate(ind.rows(demo_dir, "remisslogg")):
        reached = {"Remiss": True, **{s: bool(r[s]) for s in DATE_STAGES}, "Randomiserad": r["Studiekod"] in randomised}
        excluded = str(r["Exkluderad vid"] or "").strip()
        furthest = [s for s in STAGES if reached[s]][-1]
        out.append(
            {
                "id": i,
                "district": names[str(r["Stadsdel"]).strip().lower()],
                "reached": reached,
                "excluded": excluded,
                "reason": str(r["Exklusionsorsak"] or "").strip(),
                "waiting": furthest if not excluded and not reached["Randomiserad"] else "",
                "info_wait": bool(r["Informationsmöte"]),
                "baseline_wait": bool(r["Baslinje"]) and reached["Randomiserad"],
            }
        )
    return out


def _every_kind_of_referral(refs: list[dict]) -> list[dict]:
    """One referral of every kind that could be in the log (ids below 0, counted by nobody): per
    district, excluded at a stage for any reason seen (consent is declined before it is reached,
    every other stage is reached first), waiting at a stage, or randomised. They are the unknowns
    of a reader who knows how the trial works but not who is where."""
    districts = sorted({r["district"] for r in refs})
    # The reasons table lists the (stage, reason) pairs that occur: every other pair is known empty.
    pairs = {(r["excluded"], r["reason"]) for r in refs if r["excluded"]}
    kinds = []
    for i, stage in enumerate(STAGES[:-1]):
        before = {s: j < i for j, s in enumerate(STAGES)}
        at_stage = {**before, stage: stage != "Samtycke"}
        kinds += [(at_stage, stage, reason, "") for s, reason in sorted(pairs) if s == stage]
        kinds.append(({**before, stage: True}, "", "", stage))
    kinds.append(({s: True for s in STAGES}, "", "", ""))
    out = []
    for d in districts:
        for reached, excluded, reason, waiting in kinds:
            out.append(
                {
                    "id": -1 - len(out),
                    "district": d,
                    "reached": reached,
                    "excluded": excluded,
                    "reason": reason,
                    "waiting": waiting,
                    "info_wait": reached["Informationsmöte"],
                    "baseline_wait": reached["Baslinje"] and reached["Randomiserad"],
                }
            )
    return out


def _consort_lines(at) -> list[str]:
    """The CONSORT diagram's text lines of the boxes before allocation, in drawing order, as sent."""
    lines = []
    for chart in at.get("vega_lite_chart"):
        for d in chart.proto.datasets:
            table = pa.ipc.open_stream(d.data.data).read_all().to_pandas()
            if {"text", "key", "ty", "tx"} <= set(table.columns):
                part = table[table["key"].isin(["assessed", "excluded", "in_progress", "randomised"])]
                lines += list(zip(part["ty"], part["tx"], part["text"].astype(str), strict=True))
    return [text for _, _, text in sorted(lines)]


def _collect(at, refs: list[dict], mask_text: str) -> Displays:
    shown = Displays(mask_text)

    def who(pred):
        return [r["id"] for r in refs if pred(r)]

    for df in at.dataframe:
        t = df.value
        cols = list(t.columns)
        if cols[:2] == ["Steg", "Antal"]:  # the funnel
            for _, row in t.iterrows():
                s = row["Steg"]
                for column, what in FUNNEL_PARTS.items():
                    if what == "reached":
                        people = who(lambda r, s=s: r["reached"][s])
                    elif what == "excluded":
                        people = who(lambda r, s=s: r["excluded"] == s)
                    else:
                        people = who(lambda r, s=s: r["waiting"] == s)
                    shown.add(("funnel", s, what), row[column], people)
        elif cols == ["Steg", "Orsak", "Antal"]:
            for s, o, n in t.itertuples(index=False):
                shown.add(("reasons", s, o), n, who(lambda r, s=s, o=o: r["excluded"] == s and r["reason"] == o))
        elif "Väntetid" in cols:
            for d, label, n in zip(t["Stadsdel"], t["Väntetid"], t["n"], strict=True):
                flag = "info_wait" if label.startswith("Remiss") else "baseline_wait"
                shown.add(("waits", d, label), n, who(lambda r, d=d, f=flag: r["district"] == d and r[f]))
        elif cols[:1] == ["Stadsdel"] and "Randomiserade" in cols:
            for d, n in zip(t["Stadsdel"], t["Randomiserade"], strict=True):
                d = d.split(" (f.d.")[0]
                shown.add(("randomised", d), n, who(lambda r, d=d: r["district"] == d and r["reached"]["Randomiserad"]))
    stage, pending = None, ""
    for line in _consort_lines(at):
        line = pending + " " + line if pending else line
        pending = ""
        if line.startswith("•") and ":" not in line:
            pending = line
            continue
        if m := re.match(r"(?:\(remisser\)|Bedömda för behörighet) n = (\S+)$", line):
            shown.add(("consort", "assessed"), m.group(1), who(lambda r: True))
        elif m := re.match(r"Exkluderade n = (\S+)$", line):
            shown.add(("consort", "excluded"), m.group(1), who(lambda r: bool(r["excluded"])))
        elif m := re.match(r"Pågår, ännu inte randomiserade n = (\S+)$", line):
            shown.add(("consort", "in_progress"), m.group(1), who(lambda r: bool(r["waiting"])))
        elif m := re.match(r"Randomiserade n = (\S+)$", line):
            shown.add(("consort", "randomised"), m.group(1), who(lambda r: r["reached"]["Randomiserad"]))
        elif (m := re.match(r"(.+): (\S+)$", line)) and m.group(1) in CONSORT_STAGE:
            stage = CONSORT_STAGE[m.group(1)]
            shown.add(("consort", stage), m.group(2), who(lambda r, s=stage: r["excluded"] == s))
        elif (m := re.match(r"• (.+): (\S+)$", line)) and stage is not None:
            reason = re.sub(r"\s+", " ", m.group(1)).replace("/ ", "/")
            shown.add(
                ("consort", stage, reason),
                m.group(2),
                who(lambda r, s=stage, o=reason: r["excluded"] == s and r["reason"] == o),
            )
    return shown


def _scopes(demo_dir) -> list[tuple[str, ...]]:
    districts = [(d["id"], d["name"]) for d in ind.config(demo_dir)["districts"]]
    return [tuple(i for i, _ in districts)] + [(i,) for i, _ in districts]


def test_joint_styrgrupp_rekrytering_no_masked_count_recoverable_in_any_scope(demo_db, demo_dir):
    mask_text = ind.config(demo_dir)["privacy"]["small_cell_text"]
    all_refs = _referrals(demo_dir)
    names = {d["id"]: d["name"] for d in ind.config(demo_dir)["districts"]}
    masked_total = 0
    for scope in _scopes(demo_dir):
        with environment({"IPSDASH_DB": str(demo_db), "IPSDASH_DEMO_ROLE": "styrgrupp"}):
            at = render(demo_db, None, role="styrgrupp")
            at.multiselect(key="district_filter").set_value(list(scope)).run()
            at.switch_page("pages/rekrytering.py").run()
        assert not at.exception
        refs = [r for r in all_refs if r["district"] in {names[d] for d in scope}]
        shown = _collect(at, refs + _every_kind_of_referral(refs), mask_text)
        kinds = {k[0] for k in shown.cells}
        assert {"funnel", "reasons", "waits", "consort"} <= kinds, kinds  # every display was read
        shown.check()
        masked_total += shown.n_masked
    assert masked_total > 0  # the demo has small cells: the check had something to try


# --- random studies, through the same functions the page uses -----------------------------------

REASONS = ["no_show", "declined", "detox", "other", "recent_ips"]
KEYS = ["referral", "info_meeting", "consent", "enrolment", "baseline", "randomised"]
REACHED = ["reached_info_meeting", "reached_consent", "reached_enrolment", "reached_baseline", "is_randomised"]


def _referral(district: str, furthest: int, outcome: str, reason: str | None, again: bool, days: int) -> dict:
    """One referral as the store has it. Exclusions at consent happen before it is reached (as in
    the trial's log); every other exclusion at a stage reached."""
    excluded_stage = KEYS[furthest] if outcome == "excluded" else None
    reached = [i < furthest or (i == furthest and (outcome != "excluded" or KEYS[i] != "consent")) for i in range(1, 6)]
    if outcome != "randomised":
        reached[4] = False
    return {
        "district_id": district,
        **dict(zip(REACHED, reached, strict=True)),
        "excluded_stage": excluded_stage,
        "exclusion_reason": reason if excluded_stage else None,
        "is_excluded": excluded_stage is not None,
        "is_in_progress": outcome == "waiting",
        "furthest_stage": KEYS[max([0] + [i + 1 for i, r in enumerate(reached) if r])],
        "is_rereferral": again,
        "days_referral_to_info": days if reached[0] else np.nan,
        "days_baseline_to_randomisation": days if reached[4] else np.nan,
    }


def _random_referrals(rng: random.Random, districts: list[str]) -> pd.DataFrame:
    rows = []
    for _ in range(rng.randint(8, 90)):
        furthest = rng.choice(range(6)) if rng.random() < 0.5 else 5
        outcome = "randomised" if furthest == 5 else rng.choice(["excluded", "excluded", "waiting"])
        rows.append(
            _referral(
                rng.choice(districts), furthest, outcome, rng.choice(REASONS), rng.random() < 0.05, rng.randint(1, 30)
            )
        )
    return pd.DataFrame(rows)


def _every_kind(districts: list[str], real: pd.DataFrame) -> pd.DataFrame:
    """One referral of every kind the generator can make and the displays do not rule out (a
    (stage, reason) pair not in the reasons table is known empty): the reader's unknowns."""
    pairs = {(s, r) for s, r in zip(real["excluded_stage"], real["exclusion_reason"], strict=True) if s}
    kinds = [(5, "randomised", None)]
    kinds += [(f, "waiting", None) for f in range(5)]
    kinds += [(f, "excluded", r) for f in range(5) for r in REASONS if (KEYS[f], r) in pairs]
    rows = [_referral(d, f, o, r, again, 1) for d in districts for f, o, r in kinds for again in (False, True)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", range(60))
def test_joint_random_studies_no_masked_count_recoverable(seed):
    from dashboard import consort, privacy, recruitment
    from schema import vocab

    rng = random.Random(seed)
    districts = [f"d{i}" for i in range(rng.randint(1, 3))]
    real = _random_referrals(rng, districts)
    rule = privacy.Policy(4, "<5")
    hidden = privacy.recruitment_hidden(real, rule, districts)
    # Figures are defined over the referrals and one of every possible kind (ids below 0).
    ref = pd.concat([real, _every_kind(districts, real)], ignore_index=True)
    ids = [i if i < len(real) else len(real) - 1 - i for i in range(len(ref))]

    def who(mask) -> list[int]:
        return [ids[i] for i in range(len(ref)) if bool(mask[i])]

    shown = Displays(rule.text)
    funnel = privacy.funnel_masked(
        recruitment.funnel_counts(real), "Antal", ["Exkluderade här", "Pågår (väntar på nästa steg)"], rule, hidden
    )
    for _, row in funnel.iterrows():
        k = row["stage"]
        reached = (
            np.ones(len(ref), bool) if k == "referral" else ref[dict(zip(KEYS[1:], REACHED, strict=True))[k]].to_numpy()
        )
        shown.add(("funnel", k, "reached"), row["Antal"], who(reached))
        shown.add(("funnel", k, "excluded"), row["Exkluderade här"], who((ref["excluded_stage"] == k).to_numpy()))
        waiting = ((ref["furthest_stage"] == k) & ref["is_in_progress"]).to_numpy()
        shown.add(("funnel", k, "waiting"), row["Pågår (väntar på nästa steg)"], who(waiting))
    stage_of = {vocab.EXCLUSION_STAGES.label(k): k for k in vocab.EXCLUSION_STAGES.keys}
    reason_of = {vocab.EXCLUSION_REASON.label(k): k for k in vocab.EXCLUSION_REASON.keys}
    reasons = privacy.reasons_masked(recruitment.exclusions_by_reason(real), rule, hidden)
    for s, o, n in reasons.itertuples(index=False):
        m = (ref["excluded_stage"] == stage_of[s]) & (ref["exclusion_reason"] == reason_of[o])
        shown.add(("reasons", s, o), n, who(m.to_numpy()))
    waits = recruitment.waits_by_district(real, tuple(districts), lambda d: d)
    keys = [("waits", d, label) for d in districts for label in privacy.WAITS]
    waits = privacy.mask_rows(waits, keys, hidden, ["n", "Median", "Q1", "Q3"], rule.text)
    for (_, d, label), n in zip(keys, waits["n"], strict=True):
        column = privacy.WAITS[label]
        shown.add(("waits", d, label), n, who(((ref["district_id"] == d) & ref[column].notna()).to_numpy()))
    for d in districts:
        shown.add(
            ("randomised", d),
            int(((real["district_id"] == d) & real["is_randomised"]).sum()),
            who(((ref["district_id"] == d) & ref["is_randomised"]).to_numpy()),
        )
    people = pd.DataFrame(
        {
            "arm": ["A"] * int(real["is_randomised"].sum()),
            "is_left": False,
            "left_reason": None,
            "is_excluded_after_randomisation": False,
        }
    )
    flow = consort.consort_counts(real, people, arms=["A"], intervention_arm=None)
    table = consort.box_table({**flow, "hidden": hidden}, (rule.threshold, rule.text))
    for fas, ruta, _, orsak, n in table.itertuples(index=False):
        if fas != "Rekrytering":
            continue
        if ruta.startswith("Exkluderade: "):
            s = next(k for k, v in consort.STAGE_TEXT.items() if v == ruta.removeprefix("Exkluderade: "))
            m = ref["excluded_stage"] == s
            if orsak:
                m &= ref["exclusion_reason"] == reason_of[orsak]
            shown.add(("consort", s, orsak), n, who(m.to_numpy()))
        else:
            m = {
                "Bedömda för behörighet (remisser)": np.ones(len(ref), bool),
                "Exkluderade": ref["is_excluded"].to_numpy(),
                "Pågår, ännu inte randomiserade": ref["is_in_progress"].to_numpy(),
                "Randomiserade": ref["is_randomised"].to_numpy(),
            }[ruta]
            shown.add(("consort", ruta), n, who(m))
    shown.check()


# --- caseload: active per specialist and a shared specialist's split ----------------------------


@pytest.mark.parametrize("seed", range(60))
def test_joint_random_caseloads_no_masked_count_recoverable(seed):
    from dashboard import privacy

    rng = random.Random(seed)
    districts = [f"d{i}" for i in range(rng.randint(2, 4))]
    specialists = [f"S{i}" for i in range(rng.randint(1, 6))]
    rows = []
    for s in specialists:
        for d in rng.sample(districts, min(len(districts), rng.choice([1, 1, 2, 2, 3]))):
            rows.append({"specialist_id": s, "district_id": d, "active_n": rng.choice([0, 1, 2, 3, 5, 7, 9, 12])})
    split = pd.DataFrame(rows)
    shared = {s for s in specialists if (split["specialist_id"] == s).sum() > 1}
    rule = privacy.Policy(4, "<5")
    hidden = privacy.caseload_hidden(split, shared, rule)
    # People: one id per active participant; one possible participant (id < 0) per pair.
    people, n = {}, 0
    for i, r in enumerate(split.itertuples(index=False)):
        ids = set(range(n, n + r.active_n)) | {-1 - i}
        people[(r.specialist_id, r.district_id)] = ids
        n += r.active_n
    shown = Displays(rule.text)
    shown.add(("total",), n, set().union(*people.values()))
    for s in specialists:
        mine = set().union(*(p for (sp, _), p in people.items() if sp == s))
        total = sum(1 for i in mine if i >= 0)
        shown.add(("active", s), rule.text if ("active", s) in hidden else total, mine)
        if s in shared:
            for (sp, d), p in people.items():
                if sp == s:
                    value = sum(1 for i in p if i >= 0)
                    shown.add(("split", s, d), rule.text if ("split", s, d) in hidden else value, p)
    shown.check()
    # Every small count is masked, except the overall total and what counts the same people as it.
    everyone = {i for i in shown.cells[("total",)][1] if i >= 0}
    small = [
        k
        for k, (_, p) in shown.cells.items()
        if 0 < sum(1 for i in p if i >= 0) <= 4 and {i for i in p if i >= 0} != everyone
    ]
    assert all(shown.cells[k][0] == rule.text for k in small)
