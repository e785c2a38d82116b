"""A load never leaves the dashboard stale or stuck: the next page run after a load shows the new
data (caches are keyed on the store file), and a page run while a load is under way neither blocks
nor errors — it shows the previous store."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from etl.load import load
from tests import independent as ind
from tests.conftest import ROOT, render


def _randomised_metric(at) -> str:
    return next(m.value for m in at.metric if m.label == "Randomiserade")


def _drop_last_randomisation(folder: Path) -> None:
    path = folder / "randomisering.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    path.write_text("".join(lines[:-1]), encoding="utf-8-sig")


@pytest.fixture()
def two_versions(demo_dir, tmp_path):
    """The demo, and a copy with one randomisation fewer (the dropped code's other rows become
    rejected rows, which is what a real correction in progress looks like)."""
    first, second = tmp_path / "v1", tmp_path / "v2"
    shutil.copytree(demo_dir, first)
    shutil.copytree(demo_dir, second)
    _drop_last_randomisation(second)
    return first, second


def test_next_page_run_after_a_load_shows_the_new_data(two_versions, tmp_path):
    first, second = two_versions
    db = tmp_path / "store" / "ips.duckdb"
    assert load(first, db, io.StringIO(), io.StringIO()) == 0
    target = ind.config(first)["target_randomised"]
    n1 = len(ind.randomised(first))
    assert _randomised_metric(render(db)) == f"{n1} / {target}"
    assert load(second, db, io.StringIO(), io.StringIO()) in (0, 1)
    n2 = len(ind.randomised(second))
    assert n2 == n1 - 1
    assert _randomised_metric(render(db)) == f"{n2} / {target}"


def test_page_run_during_a_load_shows_previous_store_without_error(two_versions, tmp_path):
    first, second = two_versions
    db = tmp_path / "store" / "ips.duckdb"
    assert load(first, db, io.StringIO(), io.StringIO()) == 0
    target = ind.config(first)["target_randomised"]
    env = dict(os.environ, IPSDASH_TEST_PAUSE="before_swap")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ipsdash.cli", "load", str(second), "--db", str(db)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert "IPSDASH_PAUSE before_swap" in line, line + proc.stderr.read()
        # The new store is fully built and waiting to be swapped in: the dashboard still runs, on
        # the previous store, and no lock is in its way.
        at = render(db, timeout=30)
        assert not at.exception
        assert _randomised_metric(at) == f"{len(ind.randomised(first))} / {target}"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
