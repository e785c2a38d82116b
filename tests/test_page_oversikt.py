"""Översikt: headline figures against counts taken straight from the demo's source files."""

from __future__ import annotations

from collections import Counter

from tests import independent as ind
from tests.conftest import render


def _metric(at, label):
    return next(m for m in at.metric if m.label == label)


def test_oversikt_headline_figures_match_source_files(demo_db, demo_dir):
    at = render(demo_db, "oversikt")
    assert not at.exception
    randomised = ind.randomised(demo_dir)
    left = ind.left_study(demo_dir)
    cfg = ind.config(demo_dir)
    assert _metric(at, "Randomiserade").value == f"{len(randomised)} / {cfg['target_randomised']}"
    share = round(100 * len(left) / len(randomised))
    assert _metric(at, "Bortfall").value == f"{share} %"
    active = Counter(p["arm"] for code, p in randomised.items() if code not in left)
    for arm, n in active.items():
        assert _metric(at, arm).value == str(n)
    newest = max(r["Skattningsdatum"] for r in ind.rows(demo_dir, "programtrohet"))
    total = sum(int(r["Poäng"]) for r in ind.rows(demo_dir, "programtrohet") if r["Skattningsdatum"] == newest)
    assert _metric(at, "Programtrohet").value == f"{total} p"


def test_oversikt_alerts_link_to_pages(demo_db):
    at = render(demo_db, "oversikt")
    texts = [w.value for w in at.warning]
    assert any("uppföljningar är försenade" in t for t in texts)


def test_oversikt_for_steering_group_masks_small_counts(demo_db, demo_dir):
    at = render(demo_db, "oversikt", role="styrgrupp")
    assert not at.exception
    table = next(df.value for df in at.dataframe if "Randomiserade" in df.value.columns)
    for value in table["Randomiserade"]:
        assert value == "<5" or int(value) > 4
