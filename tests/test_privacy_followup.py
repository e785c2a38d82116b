"""The follow-up family for the steering group (issue 10): everything styrgrupp sees of ASI follow-up
(Uppföljning's metrics, tables per timepoint, per unit and per quarter and their charts' datasets;
Översikt's completion share in every district scope; the steering report's key figures and its table per
district) in ONE system over the follow-up rows (participant × timepoint), counted independently from
the source files (`independent_followups`), solved exactly: no masked figure may come back.

On the code before (each table suppressed on its own, any district and any set of units could be chosen)
the adversary recovered dozens of masked figures, e.g. Södermalm's 18-month follow-ups done on time (1) as
the all-districts table's count minus the other units' when one unit was chosen at a time, and Järva's
6-month "done late" (5) from its district scope and the unit tables.
"""

from __future__ import annotations

import re

import pandas as pd
import pyarrow as pa

from tests import independent as ind
from tests.conftest import environment, render
from tests.test_page_uppfoljning import STATUS_LABEL, independent_followups
from tests.test_privacy_joint import Displays, _steering_figures, assert_complements_protect

LABEL_STATUS = {v: k for k, v in STATUS_LABEL.items()}
DONE = {"done_on_time", "done_late"}
CLOSED = {"done_on_time", "done_late", "overdue", "missed"}


def _quarter(day) -> str:
    return f"{day.year} K{(day.month - 1) // 3 + 1}"


def _status_cells(table: pd.DataFrame, group: str, pred_of, shown: Displays, key: tuple, who) -> int:
    """A status table's cells (one column per status and "Totalt") as figures."""
    read = 0
    for _, row in table.iterrows():
        value = row[group]
        for column in table.columns:
            if column in LABEL_STATUS or column == "Totalt":
                s = LABEL_STATUS.get(column)
                shown.add(
                    (*key, value, s or "total"),
                    row[column],
                    who(lambda r, v=value, s=s: pred_of(r, v) and (s is None or r["status"] == s)),
                )
                read += 1
    return read


def _chart_values(at) -> list[pd.DataFrame]:
    out = []
    for chart in at.get("vega_lite_chart"):
        for d in chart.proto.datasets:
            out.append(pa.ipc.open_stream(d.data.data).read_all().to_pandas())
    return out


def _uppfoljning(at, rows, who, shown: Displays, mask_text: str) -> None:
    months_of = {f"{m} mån": m for m in {r["months"] for r in rows}}
    tables = {tuple(df.value.columns[:1]): df.value for df in at.dataframe}
    by_tp = tables[("Tidpunkt",)]
    by_unit = tables[("Enhet",)]
    assert "Tidpunkt" not in by_unit.columns  # over all timepoints for this role
    assert _status_cells(by_tp, "Tidpunkt", lambda r, v: r["months"] == months_of[v], shown, ("tp",), who) > 0
    assert _status_cells(by_unit, "Enhet", lambda r, v: r["unit"] == v, shown, ("unit",), who) > 0
    quarters = tables[("Kvartal",)]
    for _, row in quarters.iterrows():
        q = row["Kvartal"]
        shown.add(
            ("q", q, "done"), row["Genomförda"], who(lambda r, q=q: _quarter(r["due"]) == q and r["status"] in DONE)
        )
        shown.add(
            ("q", q, "closed"),
            row["Stängda fönster"],
            who(lambda r, q=q: _quarter(r["due"]) == q and r["status"] in CLOSED),
        )
        masked = mask_text in (row["Genomförda"], row["Stängda fönster"])
        assert (row["Andel genomförda"] == mask_text) == masked, row
    metric = {m.label: m for m in at.metric}
    for label, key, pred in [
        ("Aktuella", "due", lambda r: r["status"] == "due"),
        ("Försenade", "overdue", lambda r: r["status"] == "overdue"),
        ("Missade", "missed", lambda r: r["status"] == "missed"),
    ]:
        shown.add((key,), metric[label].value, who(pred))
    done, closed = re.match(r"(\S+) genomförda av (\S+) med", metric["Andel genomförda"].proto.help).groups()
    shown.add(("done",), done, who(lambda r: r["status"] in DONE))
    shown.add(("closed",), closed, who(lambda r: r["status"] in CLOSED))
    assert (metric["Andel genomförda"].value == "–") == (mask_text in (done, closed))
    # The charts' datasets carry no count the tables mask: every count sent is a shown cell's.
    cells = {k: t for k, (t, _) in shown.cells.items()}
    for data in _chart_values(at):
        if {"Tidpunkt", "Status", "Antal"} <= set(data.columns) or {"Enhet", "Status", "Antal"} <= set(data.columns):
            x = "Tidpunkt" if "Tidpunkt" in data.columns else "Enhet"
            for v, s, n in zip(data[x], data["Status"], data["Antal"], strict=True):
                key = ("tp", v, LABEL_STATUS[s]) if x == "Tidpunkt" else ("unit", v, LABEL_STATUS[s])
                assert (cells[key] == mask_text) == pd.isna(n), (key, cells[key], n)
        elif {"Kvartal", "Genomförda"} <= set(data.columns):
            for q, d, c in zip(data["Kvartal"], data["Genomförda"], data["Stängda fönster"], strict=True):
                assert (cells[("q", q, "done")] == mask_text) == pd.isna(d)
                assert (cells[("q", q, "closed")] == mask_text) == pd.isna(c)


def _styrgrupp_followup(db, demo_dir) -> tuple[Displays, dict]:
    cfg = ind.config(demo_dir)
    mask_text = cfg["privacy"]["small_cell_text"]
    rows = independent_followups(demo_dir)
    ids = {(r["code"], r["months"]): i for i, r in enumerate(rows)}
    shown = Displays(mask_text)
    districts = [d["id"] for d in cfg["districts"]]
    name = {d["id"]: d["name"] for d in cfg["districts"]}
    seen = {}
    for scope in ["*", *districts]:
        inside = [r for r in rows if scope == "*" or r["district"] == scope]

        def who(pred, inside=inside):
            return {ids[(r["code"], r["months"])] for r in inside if pred(r)}

        with environment({"IPSDASH_DB": str(db), "IPSDASH_DEMO_ROLE": "styrgrupp"}):
            at = render(db, None, role="styrgrupp")
            at.multiselect(key="district_filter").set_value([] if scope == "*" else [scope]).run()
            assert not at.exception, [e.value for e in at.exception]
            share = next(m.value for m in at.metric if m.label == "Uppföljning genomförd")
            key = () if scope == "*" else ("district", scope)
            # A share shown gives both of its counts back (read so, the stronger reader).
            for part, pred in (("done", lambda r: r["status"] in DONE), ("closed", lambda r: r["status"] in CLOSED)):
                people = who(pred)
                shown.add((*key, part), mask_text if share == "–" else len(people), people)
            at.switch_page("pages/uppfoljning.py").run()
            assert not at.exception, [e.value for e in at.exception]
            assert not [w for w in at.multiselect if w.key == "followup_units"]  # no unit choice
            if scope == "*":
                _uppfoljning(at, inside, who, shown, mask_text)
            else:
                assert not at.dataframe and not at.metric  # one district: no figures for this role
                assert any("alla stadsdelar" in i.value for i in at.info)
            seen[scope] = share
    everyone = {(r["code"], r["months"]): r for r in rows}

    def who_all(pred):
        return {i for k, i in ids.items() if pred(everyone[k])}

    figures = _steering_figures(db)
    key_figures = {r["Nyckeltal"]: r["Nu"] for _, r in figures["key_figures"].iterrows()}
    overdue = key_figures["Försenade uppföljningar"]
    shown.add(("overdue",), overdue, who_all(lambda r: r["status"] == "overdue"))
    rate = key_figures["Uppföljning genomförd (stängda fönster)"]
    for part, pred in (("done", lambda r: r["status"] in DONE), ("closed", lambda r: r["status"] in CLOSED)):
        people = who_all(pred)
        shown.add((part,), mask_text if rate == "–" else len(people), people)
    by_name = {v: k for k, v in name.items()}
    for _, row in figures["followup"].iterrows():
        d = by_name[row["Stadsdel"].split(" (f.d.")[0]]
        for column, part, pred in (
            ("Genomförda", "done", lambda r: r["status"] in DONE),
            ("Stängda fönster", "closed", lambda r: r["status"] in CLOSED),
            ("Försenade", "overdue", lambda r: r["status"] == "overdue"),
        ):
            shown.add(("district", d, part), row[column], who_all(lambda r, d=d, p=pred: r["district"] == d and p(r)))
    return shown, seen


def test_joint_styrgrupp_followup_no_masked_count_recoverable(demo_db, demo_dir):
    shown, seen = _styrgrupp_followup(demo_db, demo_dir)
    assert set(seen) == {"*", *(d["id"] for d in ind.config(demo_dir)["districts"])}
    assert shown.n_masked > 0  # the demo has small follow-up cells: the check had something to try
    shown.check()
    assert_complements_protect(shown, ind.config(demo_dir)["privacy"]["small_cell_threshold"])


def test_followup_project_group_keeps_units_and_timepoints(demo_db):
    """Roles without suppression keep the unit choice and the table per unit and timepoint."""
    at = render(demo_db, "uppfoljning")
    assert not at.exception
    assert [w for w in at.multiselect if w.key == "followup_units"]
    assert any(list(df.value.columns[:2]) == ["Enhet", "Tidpunkt"] for df in at.dataframe)


def test_followup_beyond_eight_districts_hides_units_and_districts():
    """Beyond `MAX_JOINT_DISTRICTS` the figures per unit and per district are hidden, not decided; the
    rest is decided with the attrition family (the pages' and the report's one decision), every small
    figure among them hidden."""
    import random
    from datetime import date, timedelta

    from dashboard import attrition, followup, privacy
    from tests.test_privacy_joint import _random_people

    rng = random.Random(3)
    statuses = list(followup.STATUS_LABEL)
    districts = [f"d{i}" for i in range(10)]
    people = _random_people(rng, districts)
    rows = pd.DataFrame(
        [
            {
                "study_code": p["study_code"],
                "district_id": p["district_id"],
                "unit": f"Enhet {p['district_id']}",
                "timepoint_months": t,
                "status": rng.choices(statuses, weights=[1, 1, 1, 1, 1, 0.01, 1])[0],  # a few "missed"
                "due_on": date(2024, 1, 1) + timedelta(days=rng.randint(0, 700)),
            }
            for p in people.to_dict("records")
            for t in (6, 12)
        ]
    )
    assert len(districts) > privacy.MAX_JOINT_DISTRICTS
    decision = attrition.hidden_by_scope(
        people,
        privacy.Policy(4, "<5"),
        districts,
        sizes=[10**6],
        reached_on={},
        cutoff=None,
        intervention_arm="IPS+TAU",
        followups=rows,
    )
    hidden = decision["followup"]
    for u in set(rows["unit"]):
        assert {("unit", u, s) for s in [*statuses, "total"]} <= hidden
    for d in districts:
        assert {("district", d, f) for f in ("done", "closed", "overdue")} <= hidden
    counts, fixed = privacy.followup_per_participant(rows, people, districts, statuses)
    small = {k for k, m in counts.items() if k not in fixed and 0 < int(m.sum()) <= 4}
    # A figure counting exactly the follow-ups of a plain (fixed) count is that count, shown by rule
    # (docs/access.md, "Joint suppression"): with 2 follow-ups each and few people, a quarter's closed
    # windows can be exactly one month's follow-ups.
    public = {tuple(counts[k]) for k in fixed}
    small = {k for k in small if tuple(counts[k]) not in public}
    assert small and small <= hidden


def test_joint_styrgrupp_followup_with_attrition_no_masked_count_recoverable(demo_db, demo_dir):
    """The follow-up and attrition families share "left": a follow-up is "not applicable" when its
    participant left before the window closed. Both families as styrgrupp gets them (attrition in every
    scope with the steering report; follow-up as above) in ONE system over the participants, a follow-up
    figure counting each participant's follow-ups (0 to one per timepoint); only real participants are
    unknowns (a reader who knows every empty kind, stronger than a real one). On the code before (the
    families decided apart) it recovers the study's "left" (55, hidden as a complement): "not applicable" at
    18 months is 55 too."""
    from collections import Counter

    from tests.test_privacy_joint import _participants, _styrgrupp_attrition, recovered_mod_p

    districts = [d["id"] for d in ind.config(demo_dir)["districts"]]
    events = _styrgrupp_attrition(demo_db, demo_dir, ["*", *districts])
    follow, _ = _styrgrupp_followup(demo_db, demo_dir)
    events.check()
    follow.check()
    pid = {code: p["id"] for code, p in _participants(demo_dir).items()}
    owner = {i: pid[r["code"]] for i, r in enumerate(independent_followups(demo_dir))}
    figures, shown_text = {}, {}
    for key, (text, people) in events.cells.items():
        figures[("events", *key)] = frozenset(i for i in people if i >= 0)
        shown_text[("events", *key)] = text
    for key, (text, rows) in follow.cells.items():
        figures[("follow-up", *key)] = Counter(owner[i] for i in rows)
        shown_text[("follow-up", *key)] = text
    masked = {k for k, t in shown_text.items() if t == events.mask_text and figures[k]}
    shown = {k for k, t in shown_text.items() if t != events.mask_text}
    zeros = {k for k in shown if not figures[k]}
    assert masked and ("events", "*", "left") in figures
    assert recovered_mod_p(figures, shown, masked, zeros) == []
