"""CONSORT flow diagram: every box against counts taken straight from the demo's source files
(remisslogg, randomisering, avslut, tilldelning), the boxes adding up, masking and blinding."""

from __future__ import annotations

from collections import Counter

import duckdb
import pytest

from dashboard import consort
from dashboard import queries as q
from dashboard.access import Gate, Viewer
from tests import independent as ind
from tests.conftest import render

# Source file's stage label → the diagram's label.
STAGE = {
    "Remiss": "Före informationsmöte",
    "Informationsmöte": "Informationsmöte/motivation",
    "Samtycke": "Erbjudande/samtycke",
    "Inskrivningssamtal": "Inskrivningssamtal",
    "Baslinje": "Baslinje",
}


@pytest.fixture(scope="module")
def frames(demo_db):
    # Closed at once: DuckDB refuses a second in-process connection to the file with another config
    # (the app's), so no connection may stay open across tests.
    con = duckdb.connect(str(demo_db.resolve()), read_only=True)
    try:
        gate = Gate(con.cursor(), Viewer("projektledare"))
        return q.referral_funnel.uncached(gate, gate.districts), q.participants.uncached(gate, gate.districts)
    finally:
        con.close()


@pytest.fixture(scope="module")
def counts(frames):
    return consort.consort_counts(*frames, arms=["IPS+TAU", "TVR+TAU"])


def _arm(counts, label):
    return next(a for a in counts["arms"] if a["arm"] == label)


def test_consort_enrolment_boxes_match_referral_log(counts, demo_dir):
    referrals = ind.rows(demo_dir, "remisslogg")
    randomised = ind.randomised(demo_dir)
    excluded = [r for r in referrals if r["Exkluderad vid"]]
    assert counts["assessed"] == len(referrals)
    assert counts["excluded"] == len(excluded)
    assert counts["randomised"] == len(randomised)
    assert counts["in_progress"] == sum(
        1 for r in referrals if not r["Exkluderad vid"] and r["Studiekod"] not in randomised
    )
    by_stage = Counter(STAGE[r["Exkluderad vid"]] for r in excluded)
    assert {s["label"]: s["n"] for s in counts["excluded_by_stage"]} == dict(by_stage)
    reasons = Counter((STAGE[r["Exkluderad vid"]], r["Exklusionsorsak"]) for r in excluded)
    shown = {(s["label"], reason): n for s in counts["excluded_by_stage"] for reason, n in s["reasons"]}
    assert shown == dict(reasons)


def test_consort_arm_boxes_match_randomisation_and_events(counts, demo_dir):
    randomised = ind.randomised(demo_dir)
    left = ind.left_study(demo_dir)
    assigned = {r["Studiekod"] for r in ind.rows(demo_dir, "tilldelning")}
    stopped: dict[str, str] = {}
    for r in sorted(ind.rows(demo_dir, "avslut"), key=lambda r: r["Datum"]):
        if r["Händelse"] == "Avslutat IPS" and r["Studiekod"] not in stopped:
            stopped[r["Studiekod"]] = r["Orsak"]
    for arm in ("IPS+TAU", "TVR+TAU"):
        codes = {c for c, p in randomised.items() if p["arm"] == arm}
        box = _arm(counts, arm)
        assert box["allocated"] == len(codes)
        assert box["left"] == sum(1 for c in codes if c in left)
        assert dict(box["left_reasons"]) == dict(Counter(left[c][1] for c in codes if c in left))
        # Intention to treat (changed deliberately, issue 14): everyone randomised is analysed in
        # their arm; those who left lack outcome data and are shown as such, not subtracted.
        # Issue 12: people found ineligible after randomisation are not analysed unless the study
        # configuration counts them (the demo's does not; it has one such person, in the control arm).
        excluded = {
            r["Studiekod"] for r in ind.rows(demo_dir, "randomisering") if r.get("Exkluderad efter randomisering")
        }
        counted = ind.config(demo_dir)["analysis"]["count_excluded_after_randomisation"]
        assert box["excluded_after"] == len(codes & excluded)
        assert box["analysed"] == len(codes) - (0 if counted else len(codes & excluded))
        assert box["lacking_outcome"] == sum(1 for c in codes if c in left)
    ips = _arm(counts, "IPS+TAU")
    ips_codes = {c for c, p in randomised.items() if p["arm"] == "IPS+TAU"}
    assert ips["received"] == len(ips_codes & assigned)
    assert ips["stopped"] == sum(1 for c in ips_codes if c in stopped)
    assert ips["stopped_still_in"] == sum(1 for c in ips_codes if c in stopped and c not in left)
    assert dict(ips["stopped_reasons"]) == dict(Counter(stopped[c] for c in ips_codes if c in stopped))
    control = _arm(counts, "TVR+TAU")
    assert control["stopped"] is None and control["received"] == control["allocated"]


def test_consort_boxes_add_up(counts):
    assert counts["assessed"] == counts["excluded"] + counts["in_progress"] + counts["randomised"]
    assert counts["randomised"] == sum(a["allocated"] for a in counts["arms"])
    for a in counts["arms"]:
        assert a["analysed"] == a["allocated"] - a["excluded_after"]  # ITT; none counted back by default (issue 12)
        assert a["lacking_outcome"] == a["left"]
        assert a["left"] == sum(n for _, n in a["left_reasons"])
    consort.check(counts)  # the module's own check agrees


def test_consort_check_refuses_boxes_that_do_not_add_up(counts):
    broken = {**counts, "in_progress": counts["in_progress"] + 1}
    with pytest.raises(consort.ConsortMismatch):
        consort.check(broken)
    arms = [dict(a) for a in counts["arms"]]
    arms[0]["analysed"] += 1
    with pytest.raises(consort.ConsortMismatch):
        consort.check({**counts, "arms": arms})


def test_consort_mask_hides_small_counts_with_a_complement(counts):
    table = consort.box_table(counts, (4, "<5"))
    reasons = table[(table["Ruta"] == "Lämnat studien") & (table["Orsak"] != "")]
    for arm, part in reasons.groupby("Grupp"):
        raw = dict(_arm(counts, arm)["left_reasons"])
        for reason, shown in zip(part["Orsak"], part["Antal"], strict=True):
            if 1 <= raw[reason] <= 4:
                assert shown == "<5"
        assert sum(1 for v in part["Antal"] if v == "<5") != 1  # never a single hidden cell
    stages = table[table["Ruta"].str.startswith("Exkluderade: ") & (table["Orsak"] == "")]
    assert sum(1 for v in stages["Antal"] if v == "<5") != 1
    plain = consort.box_table(counts)
    assert "<5" not in set(plain["Antal"])


def test_consort_blinded_viewer_gets_no_intervention_boxes(frames):
    refs, people = frames
    coded = people.assign(arm=people["arm"].map({"IPS+TAU": "Grupp A", "TVR+TAU": "Grupp B"}))
    counts = consort.consort_counts(refs, coded, intervention_arm=None)
    assert counts["blinded"]
    assert all(a["received"] is None and a["stopped"] is None for a in counts["arms"])
    text = consort.consort_chart(counts).to_json()
    for unblinding in ("Fick IPS", "Avslutat IPS", "arbetsspecialist", "IPS+TAU", "TVR+TAU"):
        assert unblinding not in text


def test_consort_chart_renders_to_png_with_swedish_labels(counts):
    import vl_convert as vlc

    chart = consort.consort_chart(counts)
    spec = chart.to_json()
    for label in (
        "Bedömda för behörighet",
        "Exkluderade n = ",
        "Randomiserade n = ",
        "Tilldelade IPS+TAU",
        "Lämnat studien n = ",
        "Analyseras n = ",
        consort.PRELIMINARY,
    ):
        assert label in spec
    png = vlc.vegalite_to_png(spec, scale=1)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_rekrytering_shows_consort_section(demo_db, demo_dir):
    at = render(demo_db, "rekrytering")
    assert not at.exception
    assert "Flödesschema (CONSORT)" in [h.value for h in at.subheader]
    specs = [str(c.proto) for c in at.get("vega_lite_chart")]
    flow = next(s for s in specs if "Analyseras n = " in s)  # (the proto escapes non-ASCII)
    assert f"Randomiserade n = {len(ind.randomised(demo_dir))}" in flow
