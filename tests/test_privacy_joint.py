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
from datetime import timedelta
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


PRIME = 2_147_483_647  # 2^31 - 1: products of two residues fit in int64


def recovered_mod_p(figures: dict, shown: set, masked: set, zeros: set = frozenset()) -> list:
    """`recovered` for systems too large for fractions, by exact elimination modulo a prime. Sound in
    the direction the tests need: the shown figures' rank mod p is checked equal to their rank over the
    rationals (by SVD), and then a figure that is a rational combination of them is one mod p too, so
    no recoverable figure is missed (a figure could only wrongly be reported recoverable: a failure,
    never a false pass)."""
    keys = list(figures)
    index = {k: j for j, k in enumerate(keys)}
    people = sorted(set().union(*figures.values())) if figures else []

    def times(k, p) -> int:  # a figure is a set of people, or a Counter: how many of its units are p's
        f = figures[k]
        return int(f.get(p, 0)) if isinstance(f, dict) else int(p in f)

    atoms: dict[tuple, int] = {}
    for p in people:
        atoms.setdefault(tuple(times(k, p) for k in keys), len(atoms))
    matrix = np.array(list(atoms), dtype=np.int64).T.reshape(len(keys), len(atoms))  # figure × atom
    rows = [matrix[index[k]] for k in shown]
    for k in zeros:
        rows.extend(np.eye(len(atoms), dtype=np.int64)[np.flatnonzero(matrix[index[k]])])
    known = np.array(rows, dtype=np.int64).reshape(len(rows), len(atoms))
    basis, pivots = known % PRIME, []
    for c in range(len(atoms)):
        r = len(pivots)
        below = np.flatnonzero(basis[r:, c]) if r < len(basis) else []
        if not len(below):
            continue
        basis[[r, r + below[0]]] = basis[[r + below[0], r]]
        basis[r] = basis[r] * pow(int(basis[r, c]), PRIME - 2, PRIME) % PRIME
        others = np.flatnonzero(basis[:, c])
        others = others[others != r]
        basis[others] = (basis[others] - basis[others, c][:, None] * basis[r][None, :] % PRIME) % PRIME
        pivots.append(c)
    assert len(pivots) == (np.linalg.matrix_rank(known.astype(float)) if len(known) else 0)
    basis = basis[: len(pivots)]

    def in_span(v: np.ndarray) -> bool:
        v = v % PRIME
        for row, c in zip(basis, pivots, strict=True):
            if v[c]:
                v = (v - v[c] * row % PRIME) % PRIME
        return not v.any()

    return [k for k in masked if in_span(matrix[index[k]])]


def plain(key) -> bool:
    """Figures shown by rule whatever their size (docs/access.md): referrals assessed, randomised in
    all, per district and per arm, a caseload family's total; with or without a scope in front."""
    k = tuple(key)
    if k[-1:] == ("total",):
        return True
    if len(k) < 2:
        return False
    return (
        k[-2:] in {("Remiss", "reached"), ("Randomiserad", "reached"), ("referral", "reached")}
        or k[-2] in ("randomised", "randomised_d", "cohort_n")
        or (
            k[-2] == "consort"
            and k[-1] in {"assessed", "randomised", "Bedömda för behörighet (remisser)", "Randomiserade"}
        )
    )


class Displays:
    """What one role saw in one scope: figure key → (shown text, the people it counts)."""

    def __init__(self, mask_text: str, fixed=plain, solve=recovered):
        self.mask_text = mask_text
        self.solve = solve  # `recovered`, or `recovered_mod_p` for a large system
        self.cells: dict = {}
        self.fixed = fixed  # key → True for a plain count shown by rule (docs/access.md)
        self.given_by_fixed: list = []  # masked figures the fixed figures alone give away (reported)

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
        back = [k for k in self.solve(figures, shown, masked, zeros) if figures[k]]
        # Policy (docs/access.md): a masked figure that the fixed figures ALONE give away is no leak
        # of the suppression (plain randomisation counts are public by rule); it is reported, and
        # allowed, exactly then.
        fixed = {k for k in shown if self.fixed(k)}
        self.given_by_fixed = self.solve(figures, fixed, back, zeros & fixed) if back else []
        detail = [(k, len(figures[k])) for k in back if k not in self.given_by_fixed]
        assert detail == [], f"masked figures recoverable from what the role was shown: {detail}"
        if self.given_by_fixed:
            print("given away by the fixed figures alone:", self.given_by_fixed)

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


def _every_kind_of_referral(refs: list[dict], start: int = 0) -> list[dict]:
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
                    "id": -1 - start - len(out),
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


def test_joint_styrgrupp_rekrytering_no_masked_count_recoverable_across_scopes(demo_db, demo_dir):
    """Every scope's recruitment figures in ONE system: a district's figure is also the difference
    of the all-districts total and the other districts' figures. The reader's unknowns: per
    district, every kind of referral its own reasons table leaves possible."""
    mask_text = ind.config(demo_dir)["privacy"]["small_cell_text"]
    all_refs = _referrals(demo_dir)
    names = {d["id"]: d["name"] for d in ind.config(demo_dir)["districts"]}
    kinds: list[dict] = []
    for d in names.values():
        kinds += _every_kind_of_referral([r for r in all_refs if r["district"] == d], start=len(kinds))
    union = Displays(mask_text)
    for scope in _scopes(demo_dir):
        with environment({"IPSDASH_DB": str(demo_db), "IPSDASH_DEMO_ROLE": "styrgrupp"}):
            at = render(demo_db, None, role="styrgrupp")
            choice = [] if len(scope) == len(names) else list(scope)
            at.multiselect(key="district_filter").set_value(choice).run()
            at.switch_page("pages/rekrytering.py").run()
        assert not at.exception
        inside = {names[d] for d in scope}
        refs = [r for r in all_refs + kinds if r["district"] in inside]
        tag = "*" if len(scope) == len(names) else scope[0]
        for key, cell in _collect(at, refs, mask_text).cells.items():
            union.cells[(tag, *key)] = cell
    assert {k[0] for k in union.cells} == {"*", *names}
    union.check()
    assert union.n_masked > 0


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


def _caseload_displays(cells: dict, shown_as, mask_text: str, shared: set, people: dict) -> Displays:
    """Every scope's caseload figures (all districts, each district alone) in ONE system, keyed
    (scope, figure): `cells` (specialist, district) → active count; `people` (specialist, district) →
    the ids counted there, with one possible participant (id < 0) per pair; `shown_as(scope, key, n)`
    → the text that scope shows for the figure (the count or the mask)."""
    shown = Displays(mask_text)
    districts = sorted({d for _, d in cells})
    specialists = sorted({s for s, _ in cells})
    shown.add(("total",), sum(cells.values()), set().union(*people.values()))
    for scope in ["*", *(districts if len(districts) > 1 else [])]:
        inside = {k: p for k, p in people.items() if scope == "*" or k[1] == scope}
        if scope != "*":
            shown.add((scope, "total"), sum(n for k, n in cells.items() if k in inside), set().union(*inside.values()))
        for s in specialists:
            mine = {k: p for k, p in inside.items() if k[0] == s}
            if not mine:
                continue
            n = sum(cells[k] for k in mine)
            shown.add((scope, "active", s), shown_as(scope, ("active", s), n), set().union(*mine.values()))
            if s in shared:
                for (_, d), p in mine.items():
                    shown.add((scope, "split", s, d), shown_as(scope, ("split", s, d), cells[(s, d)]), p)
    return shown


def _people_of(cells: dict) -> dict:
    people, n = {}, 0
    for i, (key, count) in enumerate(sorted(cells.items())):
        people[key] = set(range(n, n + count)) | {-1 - i}
        n += count
    return people


def belastning_as_sent(db, scope: str):
    """Belastning rendered for styrgrupp in `scope` ("*" or a district id): (the app, its table of active
    caseload per specialist)."""
    with environment({"IPSDASH_DB": str(db), "IPSDASH_DEMO_ROLE": "styrgrupp"}):
        at = render(db, None, role="styrgrupp")
        at.multiselect(key="district_filter").set_value([] if scope == "*" else [scope]).run()
        at.switch_page("pages/belastning.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at, next(df.value for df in at.dataframe if "Aktiva vid datauttaget" in df.value.columns)


def split_as_sent(at, names: dict) -> list[tuple[str, str, str]]:
    """Belastning's shared specialists' split as sent: (specialist, district id, text shown)."""
    out = []
    frames = [df.value for df in at.dataframe if "Aktiva per stadsdel vid datauttaget" in df.value.columns]
    for _, row in frames[0].iterrows() if frames else []:
        for part in str(row["Aktiva per stadsdel vid datauttaget"]).split(", "):
            if part == "–":
                continue
            name, _, text = part.rpartition(" ")
            d = next(i for n, i in names.items() if n.startswith(name) or ind_short(name, n))
            out.append((row["Arbetsspecialist"], d, text))
    return out


def random_caseload(seed: int, size: str) -> dict:
    """A random caseload split (specialist, district) → active, small (up to 6 specialists in 4
    districts) or large (up to 24 in 7, many shared); the same for a seed wherever it is used."""
    rng = random.Random(seed)
    if size == "small":
        districts = [f"d{i}" for i in range(rng.randint(2, 4))]
        specialists = [f"S{i}" for i in range(rng.randint(1, 6))]
    else:
        districts = [f"d{i}" for i in range(rng.randint(4, 7))]
        specialists = [f"S{i}" for i in range(rng.randint(10, 24))]
    cells = {}
    for s in specialists:
        for d in rng.sample(districts, min(len(districts), rng.choice([1, 1, 2, 2, 3]))):
            cells[(s, d)] = rng.choice([0, 1, 2, 3, 5, 7, 9, 12])
    return cells


@pytest.mark.parametrize(
    "seed, size",
    [(seed, "small") for seed in range(60)] + [(seed, "large") for seed in range(100, 115)],
)
def test_joint_random_caseloads_no_masked_count_recoverable_across_scopes(seed, size):
    """Small studies, and larger ones (up to 24 specialists in 7 districts, many shared): every scope
    styrgrupp can choose (all, each district alone) read together, where a district's scope shows a
    shared specialist's split as their active count there."""
    from dashboard import privacy

    cells = random_caseload(seed, size)
    specialists = sorted({s for s, _ in cells})
    split = pd.DataFrame([{"specialist_id": s, "district_id": d, "active_n": n} for (s, d), n in cells.items()])
    shared = {s for s in specialists if sum(1 for k in cells if k[0] == s) > 1}
    rule = privacy.Policy(4, "<5")
    hidden = privacy.caseload_hidden_scopes(split, rule, sorted({d for _, d in cells}))

    def shown_as(scope, key, n):
        return rule.text if key in hidden[scope] else n

    shown = _caseload_displays(cells, shown_as, rule.text, shared, _people_of(cells))
    shown.check()
    # Every small count is masked (those the known sums alone give away included).
    small = [k for k, (_, p) in shown.cells.items() if not plain(k) and 0 < sum(1 for i in p if i >= 0) <= 4]
    assert all(shown.cells[k][0] == rule.text for k in small)


def test_joint_caseloads_per_scope_decisions_were_recoverable():
    """The rule before (each scope decided alone) on a caseload where the all-districts scope hides a
    shared specialist's split as a complement that the district's own scope shows: the adversary must
    find it, or the test above proves nothing."""
    from dashboard import privacy

    cells = {("S1", "d0"): 2, ("S1", "d1"): 9, ("S2", "d0"): 7, ("S3", "d1"): 12, ("S3", "d0"): 6}
    rule = privacy.Policy(4, "<5")
    districts = ["d0", "d1"]
    per_scope = {}
    for scope in ["*", *districts]:
        inside = {k: n for k, n in cells.items() if scope == "*" or k[1] == scope}
        split = pd.DataFrame([{"specialist_id": s, "district_id": d, "active_n": n} for (s, d), n in inside.items()])
        per_scope[scope] = privacy.caseload_hidden_scopes(split, rule, sorted({d for _, d in inside}))["*"]
    shared = {"S1", "S3"}

    def alone(scope, key, n):
        # A district's own scope, decided alone, knows its cells as ("active", s) and ("split", s, d).
        return rule.text if key in per_scope[scope] else n

    shown = _caseload_displays(cells, alone, rule.text, shared, _people_of(cells))
    with pytest.raises(AssertionError, match="recoverable"):
        shown.check()
    together = privacy.caseload_hidden_scopes(
        pd.DataFrame([{"specialist_id": s, "district_id": d, "active_n": n} for (s, d), n in cells.items()]),
        rule,
        districts,
    )
    _caseload_displays(
        cells, lambda scope, key, n: rule.text if key in together[scope] else n, rule.text, shared, _people_of(cells)
    ).check()


def test_joint_caseloads_scale_of_the_big_demo_decides_in_time():
    """600 specialists over 400 districts (the scale-100 demo's size): the decision must finish (the
    general solver never did); its time is measured in bench/, this only guards against a blow-up."""
    from dashboard import privacy

    rng = random.Random(7)
    districts = [f"d{i:03d}" for i in range(400)]
    rows = []
    for i in range(600):
        for d in rng.sample(districts, rng.choice([1, 1, 2, 3])):
            rows.append(
                {"specialist_id": f"S{i:03d}", "district_id": d, "active_n": rng.choice([0, 1, 2, 3, 6, 9, 14])}
            )
    split = pd.DataFrame(rows)
    hidden = privacy.caseload_hidden_scopes(split, privacy.Policy(4, "<5"), districts)
    assert set(hidden) == {"*", *districts}
    small = {(r.specialist_id, r.district_id) for r in split.itertuples() if 0 < r.active_n <= 4}
    assert all(("split", s, d) in hidden[d] for s, d in small)


def _demo_caseload(demo_dir):
    from tests.test_page_belastning import Demo

    demo = Demo(demo_dir)
    cells: dict = {}
    people: dict = {}
    for i, (s, d, a, b) in enumerate(demo.spans):  # one span per participant and specialist
        if a <= demo.cutoff <= b:
            people.setdefault((s, d), set()).add(i)
    # One possible participant for every pair a specialist works in (roster) or has worked in (spans).
    pairs = {(s, d) for s, d, _, _ in demo.spans} | {(r["id"], d) for r in demo.roster for d in r["districts"]}
    for j, key in enumerate(sorted(pairs)):
        people.setdefault(key, set()).add(-1 - j)
    for key, p in people.items():
        cells[key] = sum(1 for i in p if i >= 0)
    return demo, cells, people


def test_joint_styrgrupp_belastning_no_masked_count_recoverable_across_scopes(demo_db, demo_dir):
    """Belastning as sent to styrgrupp in every scope it can choose (all, each district alone): the
    active count per specialist and the shared specialists' split, counted independently from
    tilldelning.csv, avslut.xlsx, randomisering.csv and arbetsspecialister.csv, plus the steering
    report's caseload table; all scopes in ONE system, every masked figure solved exactly."""
    mask_text = ind.config(demo_dir)["privacy"]["small_cell_text"]
    names = {d["name"]: d["id"] for d in ind.config(demo_dir)["districts"]}
    districts = sorted(names.values())
    demo, cells, people = _demo_caseload(demo_dir)
    shown = Displays(mask_text)
    shown.add(("total",), sum(cells.values()), set().union(*people.values()))
    for scope in ["*", *districts]:
        inside = {k: p for k, p in people.items() if scope == "*" or k[1] == scope}
        if scope != "*":
            shown.add((scope, "total"), sum(cells[k] for k in inside), set().union(*inside.values()))
        at, table = belastning_as_sent(demo_db, scope)
        read = 0
        for s, text in zip(table["Arbetsspecialist"], table["Aktiva vid datauttaget"], strict=True):
            mine = [p for k, p in inside.items() if k[0] == s]
            if text is None or text != text or str(text) == "–":
                assert not any(i >= 0 for p in mine for i in p), (scope, s)  # not in service: nobody active
                continue
            shown.add((scope, "active", s), text, set().union(*mine) if mine else set())
            read += 1
        assert read > 0, scope
        highest = next(m.value for m in at.metric if m.label == "Högsta belastning nu")
        if highest != mask_text:
            # The highest count is some shown specialist's count: it gives no masked one back.
            values = [t for k, (t, _) in shown.cells.items() if k[:2] == (scope, "active")]
            assert highest in values, (scope, highest, values)
        for s, d, text in split_as_sent(at, names):
            shown.add((scope, "split", s, d), text, people.get((s, d), set()))
    _steering_caseload(demo_db, people, shown)
    assert {k[0] for k in shown.cells} >= {"*", *districts}
    shown.check()
    assert shown.n_masked > 0  # the demo has small caseloads: the check had something to try


def ind_short(short: str, name: str) -> bool:
    """A district's short name on the page (`config` short names) matches its full name."""
    return name.lower().startswith(short.lower().rstrip("."))


def _steering_figures(db) -> dict:
    """The steering report's figures as styrgrupp's copy has them (read-only on the store)."""
    import duckdb

    from dashboard import reports
    from dashboard.access import Gate, Viewer, read_config

    con = duckdb.connect(str(db.resolve()), read_only=True)
    try:
        cur = con.cursor()
        figures = reports.steering_figures(Gate(cur, Viewer("styrgrupp", user="test")), read_config(cur))
    finally:
        con.close()
    return figures


def _steering_caseload(db, people: dict, shown: Displays) -> None:
    figures = _steering_figures(db)
    for s, text in zip(figures["caseload"]["Arbetsspecialist"], figures["caseload"]["Aktiva deltagare"], strict=True):
        mine = [p for k, p in people.items() if k[0] == s]
        shown.add(("*", "active", s), text, set().union(*mine) if mine else set())


# --- the attrition family, across every scope styrgrupp can choose --------------------------------
# Figures over the randomised participants (ids: their study codes' positions), counted from the
# source files: randomisering (arm, district, allocation order, excluded after randomisation),
# avslut (the first "Lämnat studien" and "Avslutat IPS" with reasons), tilldelning (IPS received).
# Every scope's figures go into ONE system keyed (scope, figure): a district's figure is also the
# difference of two scopes' totals, and the adversary may use both.

ARM_BOX = re.compile(r"Tilldelade (.+) n = (\S+)$")


def _participants(demo_dir) -> dict[str, dict]:
    from dashboard import formats
    from schema import rounding

    cfg = ind.config(demo_dir)
    randomised = ind.randomised(demo_dir)
    log = ind.rows(demo_dir, "randomisering")

    def order(item):
        index, r = item
        number = r.get("Löpnummer")
        return (r["Randomiseringsdatum"], int(number) if number not in (None, "") else float("inf"), index)

    rank = {r["Studiekod"]: i + 1 for i, (_, r) in enumerate(sorted(enumerate(log), key=order))}
    after = {
        r["Studiekod"]: r["Orsak exklusion efter randomisering"] or "Uppgift saknas"
        for r in log
        if r["Exkluderad efter randomisering"]
    }
    left = ind.left_study(demo_dir)
    stopped: dict[str, str] = {}
    for r in sorted(ind.rows(demo_dir, "avslut"), key=lambda r: r["Datum"]):
        if r["Händelse"] == "Avslutat IPS" and r["Studiekod"] not in stopped:
            stopped[r["Studiekod"]] = r["Orsak"] or "Uppgift saknas"
    assigned = {r["Studiekod"] for r in ind.rows(demo_dir, "tilldelning")}
    cutoff = cfg["data_cutoff"]
    out = {}
    for i, (code, p) in enumerate(sorted(randomised.items())):
        out[code] = {
            "id": i,
            **p,
            "rank": rank[code],
            "left": left[code][1] if code in left else None,
            "stopped": stopped.get(code) if p["arm"] == "IPS+TAU" else None,
            "received": code in assigned,
            "after": after.get(code),
            "months_ago": {
                m: p["randomised_on"] <= cutoff - timedelta(days=rounding.round_int(m * formats.DAYS_PER_MONTH))
                for m in (6, 12)
            },
        }
    return out


def _cohorts(demo_dir, people: dict) -> dict[str, set]:
    """The Bortfall page's cohorts (reached checkpoints; randomised ≥ 6 / 12 months before the extract)."""
    cfg = ind.config(demo_dir)
    k_all = cfg["balance"]["checkpoints"]
    sizes = [-(-cfg["target_randomised"] * k // k_all) for k in range(1, k_all + 1)]
    out = {}
    for k, size in enumerate(sizes, start=1):
        if len(people) >= size:
            out[f"Kontrollpunkt {k}: de första {size} randomiserade"] = {
                c for c, p in people.items() if p["rank"] <= size
            }
    for m in (6, 12):
        out[f"Randomiserade minst {m} mån före datauttaget"] = {c for c, p in people.items() if p["months_ago"][m]}
    return out


class ScopedDisplays(Displays):
    """Displays of several scopes in one system; shares are checked against the independent count
    and read as the count they give back (share × the shown randomised)."""

    def share(self, key, text: str, people, n: int) -> None:
        from dashboard import formats

        text = str(text).strip()
        if text in ("–", self.mask_text):
            self.add(key, self.mask_text, people)
            return
        real = sum(1 for i in people if i >= 0)
        assert (
            text.removesuffix(" %") == formats.pct(real, n).removesuffix(" %")
            or text == formats.percent(real / n, 1)
            or float(text.replace(",", ".")) == float(formats.percent(real / n, 1))
        ), (key, text, real, n)
        self.add(key, real, people)


def _oversikt(at, scope, people, who, shown: ScopedDisplays, names: dict) -> None:
    in_scope = [p for p in people.values() if scope == "*" or p["district_id"] == scope]
    metric = {m.label: m.value for m in at.metric}
    shown.share((scope, "left"), metric["Bortfall"], who(lambda p: p["left"]), len(in_scope))
    for arm in ("IPS+TAU", "TVR+TAU"):
        if arm in metric:
            shown.add((scope, "active", arm), metric[arm], who(lambda p, a=arm: p["arm"] == a and not p["left"]))
    shown.add(
        (scope, "stopped_still_in"),
        metric["Har avslutat IPS (kvar i studien)"],
        who(lambda p: p["stopped"] and not p["left"]),
    )
    table = next(df.value for df in at.dataframe if list(df.value.columns)[:2] == ["Stadsdel", "Randomiserade"])
    for _, row in table.iterrows():
        d = names[row["Stadsdel"].split(" (f.d.")[0]]
        n = sum(1 for p in people.values() if p["district_id"] == d)
        shown.add((scope, "randomised_d", d), row["Randomiserade"], who(lambda p, d=d: p["district_id"] == d))
        shown.share((scope, "left_d", d), row["Bortfall"], who(lambda p, d=d: p["district_id"] == d and p["left"]), n)


def _bortfall(at, scope, people, who, shown: ScopedDisplays, names: dict, cohorts: dict) -> None:
    metric = {m.label: m.value for m in at.metric}
    shown.add((scope, "left"), str(metric["Har lämnat studien"]).split(" (")[0], who(lambda p: p["left"]))
    shown.add(
        (scope, "stopped_still_in"),
        metric["Avslutat IPS, kvar i studien"],
        who(lambda p: p["stopped"] and not p["left"]),
    )
    shown.add(
        (scope, "stopped_then_left"),
        metric["Avslutat IPS och sedan lämnat studien"],
        who(lambda p: p["stopped"] and p["left"]),
    )
    shown.add((scope, "stopped"), metric["Avslutat IPS totalt"], who(lambda p: p["stopped"]))
    seen = set()
    for df in at.dataframe:
        t = df.value
        cols = list(t.columns)
        if cols[:3] == ["Orsak", "Antal", "IPS+TAU"]:
            seen.add("reasons")
            for _, row in t.iterrows():
                r = row["Orsak"]
                shown.add((scope, "reason", r), row["Antal"], who(lambda p, r=r: p["left"] == r))
                for arm in cols[2:]:
                    shown.add(
                        (scope, "reason", r, arm), row[arm], who(lambda p, r=r, a=arm: p["left"] == r and p["arm"] == a)
                    )
        elif cols == ["Orsak", "Kvar i studien", "Totalt"]:
            seen.add("stopped")
            for _, row in t.iterrows():
                r = row["Orsak"]
                shown.add(
                    (scope, "stopped_reason_still", r),
                    row["Kvar i studien"],
                    who(lambda p, r=r: p["stopped"] == r and not p["left"]),
                )
                shown.add((scope, "stopped_reason", r), row["Totalt"], who(lambda p, r=r: p["stopped"] == r))
        elif cols[0] == "Kohort":
            seen.add("cohorts")
            for _, row in t.iterrows():
                c = row["Kohort"]
                if c == "Alla randomiserade":
                    shown.add((scope, "left"), row["Lämnat t.o.m. datauttaget"], who(lambda p: p["left"]))
                elif row["Lämnat t.o.m. datauttaget"] != "–":
                    members = cohorts[c]
                    shown.add(
                        (scope, "cohort_left", c),
                        row["Lämnat t.o.m. datauttaget"],
                        who(lambda p, m=members: p["code"] in m and p["left"]),
                    )
                    shown.add((scope, "cohort_n", c), row["Randomiserade"], who(lambda p, m=members: p["code"] in m))
        elif cols[:3] == ["Stadsdel", "Randomiserade", "Lämnat studien"]:
            seen.add("districts")
            for _, row in t.iterrows():
                d = names[row["Stadsdel"].split(" (f.d.")[0]]
                shown.add(
                    (scope, "left_d", d), row["Lämnat studien"], who(lambda p, d=d: p["district_id"] == d and p["left"])
                )
                shown.add(
                    (scope, "still_in_d", d),
                    row["Avslutat IPS, kvar i studien"],
                    who(lambda p, d=d: p["district_id"] == d and p["stopped"] and not p["left"]),
                )
    assert seen == {"reasons", "stopped", "cohorts", "districts"}, seen


def _retention(at, scope, choice, people, who, shown: ScopedDisplays, names: dict) -> None:
    t = next(df.value for df in at.dataframe if list(df.value.columns)[1:3] == ["Randomiserade", "Lämnat studien"])
    assert t.columns[0] == choice
    for _, row in t.iterrows():
        g = row[choice]
        if choice == "Alla":
            key, pred = ("left",), lambda p: True
        elif choice == "Stadsdel":
            d = names[g.split(" (f.d.")[0]]
            key, pred = ("left_d", d), lambda p, d=d: p["district_id"] == d
        else:
            key, pred = ("left", g), lambda p, a=g: p["arm"] == a
        shown.add((scope, *key), row["Lämnat studien"], who(lambda p, f=pred: f(p) and p["left"]))


def _arm_boxes(lines_by_box: dict, scope, who, shown: ScopedDisplays) -> None:
    """CONSORT's arm boxes (allocation, follow-up, analysis), one column per arm, as drawn."""
    arms = {}
    for key, lines in lines_by_box.items():
        if key.startswith("allocated_"):
            m = ARM_BOX.match(lines[0])
            assert m, lines
            arms[key.split("_")[1]] = m.group(1)
            arm = m.group(1)
            for line in lines[1:]:
                if m := re.match(r"• Fick inte IPS: (\S+)$", line):
                    shown.add(
                        (scope, "not_received", arm),
                        m.group(1),
                        who(lambda p, a=arm: p["arm"] == a and not p["received"]),
                    )
    assert arms, "no arm boxes read"
    for key, lines in lines_by_box.items():
        j = key.rsplit("_", 1)[-1]
        if j not in arms:
            continue
        arm = arms[j]
        section = None
        for line in lines:
            if m := re.match(r"Lämnat studien n = (\S+)$", line):
                section = "left"
                shown.add((scope, "left", arm), m.group(1), who(lambda p, a=arm: p["arm"] == a and p["left"]))
            elif m := re.match(r"Avslutat IPS n = (\S+)$", line):
                section = "stopped"
                shown.add((scope, "stopped", arm), m.group(1), who(lambda p, a=arm: p["arm"] == a and p["stopped"]))
            elif m := re.match(r"varav kvar i studien: (\S+)$", line):
                shown.add(
                    (scope, "stopped_still_in", arm),
                    m.group(1),
                    who(lambda p, a=arm: p["arm"] == a and p["stopped"] and not p["left"]),
                )
            elif m := re.match(r"Exkluderad efter randomisering n = (\S+)$", line):
                section = "after"
                shown.add((scope, "excl_after", arm), m.group(1), who(lambda p, a=arm: p["arm"] == a and p["after"]))
            elif m := re.match(r"Analyseras n = (\S+)$", line):
                section = None
                shown.add((scope, "analysed", arm), m.group(1), who(lambda p, a=arm: p["arm"] == a and not p["after"]))
            elif m := re.match(r"• saknar utfallsdata: (\S+)$", line):
                shown.add((scope, "left", arm), m.group(1), who(lambda p, a=arm: p["arm"] == a and p["left"]))
            elif (m := re.match(r"• (.+): (\S+)$", line)) and section:
                r = m.group(1)
                field = {"left": "left", "stopped": "stopped", "after": "after"}[section]
                shown.add(
                    (scope, section, arm, r),
                    m.group(2),
                    who(lambda p, a=arm, f=field, r=r: p["arm"] == a and p[f] == r),
                )


def _consort_boxes(at) -> dict[str, list[str]]:
    rows: dict[str, list] = {}
    for chart in at.get("vega_lite_chart"):
        for d in chart.proto.datasets:  # bold and plain lines are two datasets
            table = pa.ipc.open_stream(d.data.data).read_all().to_pandas()
            if {"text", "key", "ty", "tx"} <= set(table.columns):
                for key, ty, tx, text in zip(table["key"], table["ty"], table["tx"], table["text"], strict=True):
                    rows.setdefault(str(key), []).append((ty, tx, str(text)))
    out = {key: [t for _, _, t in sorted(lines)] for key, lines in rows.items()}
    # A reason wrapped over two lines: join the continuation (indented one more) to its bullet.
    joined = {}
    for key, lines in out.items():
        merged: list[str] = []
        for line in lines:
            if merged and merged[-1].startswith("•") and not re.search(r": \S+$", merged[-1]):
                merged[-1] = merged[-1] + " " + line
            else:
                merged.append(line)
        joined[key] = merged
    return joined


def _steering(db, who, shown: ScopedDisplays) -> None:
    figures = _steering_figures(db)
    for _, row in figures["attrition_arms"].iterrows():
        g = row["Grupp"]
        if g == "Totalt":
            shown.add(("*", "left"), row["Lämnat studien"], who(lambda p: p["left"]))
        else:
            shown.add(("*", "left", g), row["Lämnat studien"], who(lambda p, a=g: p["arm"] == a and p["left"]))
    for _, row in figures["attrition_reasons"].iterrows():
        shown.add(("*", "reason", row["Orsak"]), row["Antal"], who(lambda p, r=row["Orsak"]: p["left"] == r))
    s = figures["stopped_ips"]
    shown.add(("*", "stopped"), s["stopped"], who(lambda p: p["stopped"]))
    shown.add(("*", "stopped_still_in"), s["still_in"], who(lambda p: p["stopped"] and not p["left"]))
    key = {r["Nyckeltal"]: r["Nu"] for _, r in figures["key_figures"].iterrows()}
    shown.add(("*", "left"), key["Lämnat studien"], who(lambda p: p["left"]))
    shown.add(
        ("*", "stopped_still_in"), key["Avslutat IPS (kvar i studien)"], who(lambda p: p["stopped"] and not p["left"])
    )
    # The PDF's CONSORT arm boxes are drawn from the same figures: read them as laid out.
    from dashboard.consort import _layout  # the project's own layout: the text the PDF's diagram draws

    _, texts, _, _ = _layout(figures["consort"], figures["mask"])
    boxes: dict[str, list] = {}
    for t in sorted(texts, key=lambda t: (t["ty"], t["tx"])):
        boxes.setdefault(t["key"], []).append(t["text"])
    _arm_boxes(boxes, "*", who, shown)


def _styrgrupp_attrition(db, demo_dir, scopes) -> ScopedDisplays:
    mask_text = ind.config(demo_dir)["privacy"]["small_cell_text"]
    names = {d["name"]: d["id"] for d in ind.config(demo_dir)["districts"]}
    by_name = ind.district_of_name(demo_dir)
    people = _participants(demo_dir)
    for code, p in people.items():
        p["code"] = code
        p["district_id"] = names[by_name[p["district"].strip().lower()]]
    cohorts = _cohorts(demo_dir, people)
    shown = ScopedDisplays(mask_text)
    for scope in scopes:
        inside = [p for p in people.values() if scope == "*" or p["district_id"] == scope]

        def who(pred, inside=inside):
            return [p["id"] for p in inside if pred(p)]

        choice = [] if scope == "*" else [scope]
        with environment({"IPSDASH_DB": str(db), "IPSDASH_DEMO_ROLE": "styrgrupp"}):
            at = render(db, None, role="styrgrupp")
            at.multiselect(key="district_filter").set_value(choice).run()
            assert not at.exception, [e.value for e in at.exception]
            _oversikt(at, scope, people, who, shown, names)
            at.switch_page("pages/bortfall.py").run()
            assert not at.exception, [e.value for e in at.exception]
            _bortfall(at, scope, people, who, shown, names, cohorts)
            options = at.selectbox(key="km_group").options
            assert options == ["Alla", "Stadsdel", "Grupp"], options  # no gender / age band / specialist
            for choice_label in options:
                at.selectbox(key="km_group").set_value(choice_label).run()
                _retention(at, scope, choice_label, people, who, shown, names)
            at.switch_page("pages/rekrytering.py").run()
            assert not at.exception, [e.value for e in at.exception]
            _arm_boxes(_consort_boxes(at), scope, who, shown)
        if scope == "*":
            all_people = [p for p in people.values()]
            _steering(db, lambda pred, a=all_people: [p["id"] for p in a if pred(p)], shown)
    return shown


def test_joint_styrgrupp_attrition_no_masked_count_recoverable_across_scopes(demo_db, demo_dir):
    districts = [d["id"] for d in ind.config(demo_dir)["districts"]]
    shown = _styrgrupp_attrition(demo_db, demo_dir, ["*", *districts])
    kinds = {k[1] for k in shown.cells}
    assert {"left", "left_d", "reason", "stopped", "cohort_left", "not_received", "active"} <= kinds, kinds
    assert {k[0] for k in shown.cells} == {"*", *districts}  # every scope was read
    shown.check()
    assert shown.n_masked > 0  # the demo has small cells: the check had something to try


# --- random attrition studies, every scope, through the functions the pages use ----------------

LEFT_REASONS = ["relapse", "hvb", "custody", "moved", "lost_contact", None]
STOP_REASONS = ["relapse", "other", "withdrew_consent"]


def _random_people(rng: random.Random, districts: list[str]) -> pd.DataFrame:
    from datetime import date

    rows = []
    n = rng.randint(6, 70)
    days = sorted(rng.randint(0, 900) for _ in range(n))
    for i, day in enumerate(days):
        arm = rng.choice(["IPS+TAU", "TVR+TAU"])
        left = rng.random() < 0.3
        stopped = arm == "IPS+TAU" and rng.random() < 0.25
        after = rng.random() < 0.05
        rows.append(
            {
                "district_id": rng.choice(districts),
                "arm": arm,
                "is_left": left,
                "left_reason": rng.choice(LEFT_REASONS) if left else None,
                "left_on": date(2023, 1, 1) + timedelta(days=day + rng.randint(1, 200)) if left else None,
                "is_stopped_ips": stopped,
                "stopped_ips_reason": rng.choice(STOP_REASONS) if stopped else None,
                "specialist_id": ("S1" if rng.random() < 0.9 else None) if arm == "IPS+TAU" else None,
                "is_excluded_after_randomisation": after,
                "excluded_after_reason": "not_eligible" if after else None,
                "is_analysed": not after,
                "enrolment_rank": i + 1,
                "randomised_on": date(2023, 1, 1) + timedelta(days=day),
                "study_code": f"R{i + 1:03d}",
            }
        )
    return pd.DataFrame(rows)


# Seeds 149 ... 417: among 600 seeds the ones where, before the decision took Balans's group sizes per arm
# and checkpoint as known, those sizes with the cohorts' and arms' figures gave back a hidden count.
@pytest.mark.parametrize("seed", [*range(40), 149, 163, 181, 260, 266, 371, 417])
def test_joint_random_attrition_no_masked_count_recoverable_across_scopes(seed):
    from datetime import date

    from dashboard import attrition, consort, privacy
    from schema import vocab

    rng = random.Random(seed)
    districts = [f"d{i}" for i in range(rng.randint(1, 4))]
    people = _random_people(rng, districts)
    rule = privacy.Policy(4, "<5")
    cutoff = date(2025, 9, 1)
    sizes = [max(1, len(people) // 3), max(2, 2 * len(people) // 3), len(people) + 5]
    reached = {1: cutoff, 2: cutoff}
    # Balans's frozen checkpoints (the first `size` randomised), whose group sizes per arm the role sees.
    frozen = pd.concat(
        [people[people["enrolment_rank"] <= sizes[k - 1]].assign(checkpoint=k) for k in reached], ignore_index=True
    )
    hidden = attrition.hidden_by_scope(
        people,
        rule,
        districts,
        sizes=sizes,
        reached_on=reached,
        cutoff=cutoff,
        intervention_arm="IPS+TAU",
        frozen=frozen[["checkpoint", "study_code", "arm"]],
    )
    names = {k: vocab.EVENT_REASON.label(k) for k in LEFT_REASONS + STOP_REASONS if k}

    class Label(dict):
        def __missing__(self, key):  # no reason given (None, or NaN from the frame)
            return "Uppgift saknas"

    label = Label(names)
    rows = [
        {k: (None if not isinstance(v, str) and pd.isna(v) else v) for k, v in r.items()}
        for r in people.to_dict("records")
    ]
    shown = Displays(rule.text)
    scopes = [privacy.SCOPE_ALL, *(districts if len(districts) > 1 else [])]
    for scope in scopes:
        inside = [i for i, r in enumerate(rows) if scope == privacy.SCOPE_ALL or r["district_id"] == scope]
        part = people.iloc[inside]
        h = hidden[scope]

        def who(pred, inside=inside):
            return [i for i in inside if pred(rows[i])]

        def add(key, n, people_of, h=h, scope=scope):
            shown.add((scope, *key), rule.text if key in h else n, people_of)

        add(("left",), int(part["is_left"].sum()), who(lambda r: r["is_left"]))
        # The plain counts shown beside them (fixed): randomised per arm and per district, cohorts.
        for arm in ("IPS+TAU", "TVR+TAU"):
            add(("randomised", arm), int((part["arm"] == arm).sum()), who(lambda r, a=arm: r["arm"] == a))
            # Balans (all districts only): each frozen checkpoint's group size per arm.
            for k in reached if scope == privacy.SCOPE_ALL else ():
                group = who(lambda r, a=arm, s=sizes[k - 1]: r["arm"] == a and r["enrolment_rank"] <= s)
                add(("randomised", f"Kontrollpunkt {k} · {arm}"), len(group), group)
        for d in sorted(set(part["district_id"])):
            add(("randomised_d", d), int((part["district_id"] == d).sum()), who(lambda r, d=d: r["district_id"] == d))
        # Bortfall's reasons by arm and the stopped-IPS table, as the page reads them.
        reasons = attrition.reason_counts(part[part["is_left"]], "left_reason", by="arm")
        for _, row in reasons.iterrows():
            o = row["Orsak"]
            add(("reason", o), row["Antal"], who(lambda r, o=o: r["is_left"] and label[r["left_reason"]] == o))
            for arm in [c for c in reasons.columns if c not in ("Orsak", "Antal")]:
                add(
                    ("reason", o, arm),
                    row[arm],
                    who(lambda r, o=o, a=arm: r["is_left"] and label[r["left_reason"]] == o and r["arm"] == a),
                )
        stopped = attrition.stopped_ips_counts(part)
        add(("stopped",), stopped["stopped"], who(lambda r: r["is_stopped_ips"]))
        add(("stopped_still_in",), stopped["still_in"], who(lambda r: r["is_stopped_ips"] and not r["is_left"]))
        add(("stopped_then_left",), stopped["then_left"], who(lambda r: r["is_stopped_ips"] and r["is_left"]))
        for d, row in zip(
            sorted(set(part["district_id"]), key=list(part["district_id"]).index),
            attrition.district_attrition(part, {}).itertuples(index=False),
            strict=True,
        ):
            add(("left_d", d), row[2], who(lambda r, d=d: r["district_id"] == d and r["is_left"]))
            add(
                ("still_in_d", d),
                row[4],
                who(lambda r, d=d: r["district_id"] == d and r["is_stopped_ips"] and not r["is_left"]),
            )
        cohorts = attrition.cohort_attrition(part, sizes, reached, cutoff)
        for _, row in cohorts.iloc[:-1].iterrows():
            if pd.isna(row["Lämnat t.o.m. datauttaget"]):
                continue
            c = row["Kohort"]
            if c.startswith("Kontrollpunkt"):
                size = sizes[int(c.split()[1].rstrip(":")) - 1]
                members = lambda r, s=size: r["enrolment_rank"] <= s  # noqa: E731
            else:
                months = int(c.split()[2])
                limit = attrition._months_before(cutoff, months)
                members = lambda r, lim=limit: r["randomised_on"] <= lim  # noqa: E731
            add(
                ("cohort_left", c),
                int(row["Lämnat t.o.m. datauttaget"]),
                who(lambda r, m=members: m(r) and r["is_left"]),
            )
            add(("cohort_n", c), int(row["Randomiserade"]), who(lambda r, m=members: m(r)))
        # CONSORT's arm boxes through the page's own functions.
        refs = pd.DataFrame(
            {
                "is_excluded": False,
                "excluded_stage": None,
                "exclusion_reason": None,
                "is_in_progress": False,
                "is_randomised": True,
                "is_rereferral": False,
            },
            index=range(len(part)),
        )
        flow = consort.consort_counts(refs, part, arms=["IPS+TAU", "TVR+TAU"], intervention_arm="IPS+TAU")
        boxes = consort.shown({**flow, "hidden": frozenset(), "attrition_hidden": h}, (rule.threshold, rule.text))
        for box in boxes["arms"]:
            a = box["arm"]
            mine = lambda r, a=a: r["arm"] == a  # noqa: E731
            shown.add((scope, "left", a), box["left"], who(lambda r, m=mine: m(r) and r["is_left"]))
            shown.add((scope, "analysed", a), box["analysed"], who(lambda r, m=mine: m(r) and r["is_analysed"]))
            shown.add(
                (scope, "excl_after", a),
                box["excluded_after"],
                who(lambda r, m=mine: m(r) and r["is_excluded_after_randomisation"]),
            )
            for o, n in box["left_reasons"]:
                shown.add(
                    (scope, "reason", o, a),
                    n,
                    who(lambda r, m=mine, o=o: m(r) and r["is_left"] and label[r["left_reason"]] == o),
                )
            if box["stopped"] is not None:
                shown.add((scope, "stopped", a), box["stopped"], who(lambda r, m=mine: m(r) and r["is_stopped_ips"]))
                shown.add(
                    (scope, "stopped_still_in", a),
                    box["stopped_still_in"],
                    who(lambda r, m=mine: m(r) and r["is_stopped_ips"] and not r["is_left"]),
                )
                for o, n in box["stopped_reasons"]:
                    shown.add(
                        (scope, "stopped_reason", o, a),
                        n,
                        who(
                            lambda r, m=mine, o=o: m(r) and r["is_stopped_ips"] and label[r["stopped_ips_reason"]] == o
                        ),
                    )
            if box["not_received"] is not None and box["is_intervention"]:
                shown.add(
                    (scope, "not_received", a),
                    box["not_received"],
                    who(lambda r, m=mine: m(r) and r["specialist_id"] is None),
                )
    shown.check()
    # Every small count is masked (fixed plain counts aside, none is read here).
    # Plain randomisation counts (in a scope, per arm, per district) are shown, and so is a figure
    # counting the same people as one of them (analysed = allocated when nobody was excluded after).
    plain = set()
    for scope in scopes:
        inside = {i for i, r in enumerate(rows) if scope == privacy.SCOPE_ALL or r["district_id"] == scope}
        plain.add(frozenset(inside))
        for value in [*districts, "IPS+TAU", "TVR+TAU"]:
            plain.add(frozenset(i for i in inside if value in (rows[i]["district_id"], rows[i]["arm"])))
        for size in sizes[:2]:  # the cohorts' randomised (Bortfall's cohort table)
            plain.add(frozenset(i for i in inside if rows[i]["enrolment_rank"] <= size))
            for arm in ("IPS+TAU", "TVR+TAU") if scope == privacy.SCOPE_ALL else ():  # Balans's group sizes
                plain.add(frozenset(i for i in inside if rows[i]["enrolment_rank"] <= size and rows[i]["arm"] == arm))
        for months in (6, 12):
            limit = attrition._months_before(cutoff, months)
            plain.add(frozenset(i for i in inside if rows[i]["randomised_on"] <= limit))
    small = [k for k, (t, p) in shown.cells.items() if 0 < len(p) <= rule.threshold and p not in plain]
    assert [(k, shown.cells[k][0]) for k in small if shown.cells[k][0] != rule.text] == []


# --- the baseline family (Balans), across every scope styrgrupp can choose -------------------------
# Table 1 as sent, in every tab (now and each frozen checkpoint, nested cohorts) and every scope, in ONE
# system; people counted from randomisering.csv, remisslogg.xlsx and baslinje.csv. Only real people are
# unknowns (a reader who knows which kinds of person are absent): stronger than a real reader.

BASELINE_COLUMNS = {"Kön": "Kön", "Född i Sverige": "Född i Sverige", "Civilstånd": "Civilstånd", "Boende": "Boende"}


def _table_one_figures(tab, people: list[dict], scope: str, tab_key: str, shown: Displays, ids=None) -> int:
    """Table 1's counts as sent (per arm and in total, each level of each characteristic read), as the
    people they count: `ids` study code → id (default: positions in `people`)."""
    table = next((df.value for df in tab.dataframe if "Nivå" in df.value.columns), None)
    if table is None:
        return 0
    ids = ids or {p["code"]: i for i, p in enumerate(people)}
    columns = [c for c in table.columns if c.endswith("· n")]
    read = 0
    for column in columns:
        group = column.split(" (n=")[0]
        members = [p for p in people if group == "Totalt" or p["arm"] == group]
        shown.add((scope, tab_key, group, "total"), len(members), {ids[p["code"]] for p in members})
        for _, row in table.iterrows():
            label = str(row["Egenskap"]).split(" (n=")[0]
            if label not in BASELINE_COLUMNS:
                continue
            who = {ids[p["code"]] for p in members if p["baseline"][BASELINE_COLUMNS[label]] == row["Nivå"]}
            shown.add((scope, tab_key, group, label, row["Nivå"]), row[column], who)
            read += 1
    return read


def test_joint_styrgrupp_balans_no_masked_count_recoverable_across_scopes(demo_db, demo_dir):
    """On the code before (each scope's Table 1 suppressed on its own) the adversary gets e.g.
    Enheten för hemlösa's "Andrahandskontrakt" (4) back as the study's total minus the other districts'."""
    import csv as _csv

    from tests.test_page_balans import source_people

    with open(demo_dir / "baslinje.csv", encoding="utf-8-sig", newline="") as fh:
        base = {r["Studiekod"]: r for r in _csv.DictReader(fh, delimiter=";")}
    cfg = ind.config(demo_dir)
    mask_text = cfg["privacy"]["small_cell_text"]
    everyone = source_people(demo_dir)
    for p in everyone:
        p["baseline"] = base[p["code"]]
    name_of = {d["id"]: d["name"] for d in cfg["districts"]}
    shown = Displays(mask_text)
    read_scopes = set()
    for scope in ["*", *sorted(name_of)]:
        inside = [p for p in everyone if scope == "*" or p["district"] == name_of[scope]]
        with environment({"IPSDASH_DB": str(demo_db), "IPSDASH_DEMO_ROLE": "styrgrupp"}):
            at = render(demo_db, None, role="styrgrupp")
            at.multiselect(key="district_filter").set_value([] if scope == "*" else [scope]).run()
            at.switch_page("pages/balans.py").run()
        assert not at.exception, [e.value for e in at.exception]
        if not at.tabs:
            assert scope != "*"
            assert not [df for df in at.dataframe if "Nivå" in df.value.columns]
            continue
        read_scopes.add(scope)
        # styrgrupp's population is everyone randomised (intention to treat, docs/access.md).
        assert "intention att behandla" in " ".join(c.value for c in at.caption)
        assert _table_one_figures(at.tabs[0], inside, scope, "now", shown) > 0
        for tab in at.tabs[1:]:
            size = int(re.search(r"\((\d+)\)", tab.label).group(1))
            first = {p["code"] for p in everyone[:size]}
            cohort = [p for p in inside if p["code"] in first]
            _table_one_figures(tab, cohort, scope, tab.label, shown)
    assert "*" in read_scopes
    shown.check()
    assert shown.n_masked > 0 or len(read_scopes) == 1


# --- the attrition family with the baseline family ------------------------------------------------
# styrgrupp sees both: the attrition family in every scope, Balans's Table 1 for all districts in every
# tab. Nothing shown cross-classifies a baseline characteristic with an attrition event (the retention
# table by gender or age band is not offered), so a reader knows, within each group of people both
# families tell apart alike (arm × which checkpoints' first n they are in), which kinds of event and
# which baseline profiles occur, but not who has which together. The unknowns are therefore every
# pairing of an event kind with a baseline profile within such a group (only the real people are
# weight 1). An adversary that also knew the pairing (real people as unknowns) would know the very
# thing the two families keep apart: on the demo it "recovers" Södermalm's stopped-IPS-for-withdrawn-
# consent still in (1) only because it knows which baseline profiles nobody in that district has.


def _attrition_with_balans(db, demo_dir) -> tuple[ScopedDisplays, Displays, dict]:
    import csv as _csv

    from tests.test_page_balans import source_people

    districts = [d["id"] for d in ind.config(demo_dir)["districts"]]
    events = _styrgrupp_attrition(db, demo_dir, ["*", *districts])
    ids = {code: p["id"] for code, p in _participants(demo_dir).items()}
    with open(demo_dir / "baslinje.csv", encoding="utf-8-sig", newline="") as fh:
        base = {r["Studiekod"]: r for r in _csv.DictReader(fh, delimiter=";")}
    everyone = source_people(demo_dir)
    for p in everyone:
        p["baseline"] = base[p["code"]]
    profiles = Displays(events.mask_text)
    with environment({"IPSDASH_DB": str(db), "IPSDASH_DEMO_ROLE": "styrgrupp"}):
        at = render(db, None, role="styrgrupp")
        at.switch_page("pages/balans.py").run()
    assert not at.exception, [e.value for e in at.exception]
    tabs = {"now": {p["code"] for p in everyone}}
    assert _table_one_figures(at.tabs[0], everyone, "*", "now", profiles, ids) > 0
    for tab in at.tabs[1:]:
        size = int(re.search(r"\((\d+)\)", tab.label).group(1))
        if _table_one_figures(tab, everyone[:size], "*", tab.label, profiles, ids):
            tabs[tab.label] = {p["code"] for p in everyone[:size]}
    assert len(tabs) > 1  # the demo has reached a checkpoint: its group sizes are in
    group = {ids[p["code"]]: (p["arm"], tuple(p["code"] in members for members in tabs.values())) for p in everyone}
    return events, profiles, group


def _paired(events: Displays, profiles: Displays, group: dict) -> Displays:
    """Both families in one system over pairs (event kind of person i, baseline profile of person j)
    with i and j in the same group; the pair (i, i) is the real person i (id i), the others kinds
    nobody is (negative ids)."""
    n = len(group)
    members: dict = {}
    for i, g in group.items():
        members.setdefault(g, []).append(i)

    def pair(i: int, j: int) -> int:
        return i if i == j else -(1 + i * n + j)

    both = Displays(events.mask_text, solve=recovered_mod_p)
    for key, (text, people) in events.cells.items():
        both.add(("events", *key), text, {pair(i, j) for i in people for j in members[group[i]]})
    for key, (text, people) in profiles.cells.items():
        both.add(("profiles", *key), text, {pair(i, j) for j in people for i in members[group[j]]})
    return both


def test_joint_styrgrupp_attrition_with_balans_no_masked_count_recoverable(demo_db, demo_dir):
    events, profiles, group = _attrition_with_balans(demo_db, demo_dir)
    both = _paired(events, profiles, group)
    assert events.n_masked > 0 and profiles.n_masked > 0  # both families have small cells on the demo
    both.check()
    assert_complements_protect(both, ind.config(demo_dir)["privacy"]["small_cell_threshold"])


def assert_complements_protect(shown: Displays, threshold: int, tries: int = 20) -> None:
    """The adversary can fail: showing one of the complements the decision hid (a masked figure above
    the threshold) gives a masked figure back, for at least one of the first `tries`."""
    real = {k: sum(1 for i in p if i >= 0) for k, (_, p) in shown.cells.items()}
    complements = [k for k, (t, _) in shown.cells.items() if t == shown.mask_text and real[k] > threshold]
    assert complements
    leaks = 0
    for key in complements[:tries]:
        probe = Displays(shown.mask_text, fixed=shown.fixed, solve=shown.solve)
        probe.cells = dict(shown.cells)
        probe.cells[key] = (str(real[key]), shown.cells[key][1])
        try:
            probe.check()
        except AssertionError:
            leaks += 1
    assert leaks > 0
