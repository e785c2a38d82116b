"""Small-cell suppression (dashboard/privacy.py): the one rule behind pages, downloads, chart
datasets and reports. A masked cell must not be recoverable from any row or column total."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from dashboard import privacy
from dashboard.access import Viewer

RULE = privacy.Policy(4, "<5")


def _recoverable(grid: list[list[int]], hidden: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Hidden cells that a reader can compute from the row and column totals and the shown cells:
    a row or column with exactly one hidden cell gives it back (repeated, as a reader would). A
    line's total is known when the line has two cells or more and the total is not itself small
    (a small total is masked like any count)."""
    known = {(i, j) for i in range(len(grid)) for j in range(len(grid[0]))} - hidden
    lines = [[(i, j) for j in range(len(grid[0]))] for i in range(len(grid))]
    lines += [[(i, j) for i in range(len(grid))] for j in range(len(grid[0]))]
    lines = [line for line in lines if len(line) > 1 and not 0 < sum(grid[i][j] for i, j in line) <= 4]
    changed = True
    while changed:
        changed = False
        for line in lines:
            unknown = [c for c in line if c not in known]
            if len(unknown) == 1:
                known.add(unknown[0])
                changed = True
    return hidden & known


@pytest.mark.parametrize(
    "grid",
    [
        [[10, 3, 20]],
        [[10, 3], [20, 7], [1, 30]],
        [[2, 9, 9], [9, 9, 9], [9, 9, 9]],
        [[0, 3, 12], [12, 0, 3], [3, 12, 0]],
        [[5, 6], [7, 1]],
    ],
)
def test_hidden_cells_cannot_be_backed_out_of_row_or_column_totals(grid):
    hidden = privacy.hidden_cells(grid, 4)
    small = {(i, j) for i, row in enumerate(grid) for j, v in enumerate(row) if 0 < v <= 4}
    assert small <= hidden
    assert not _recoverable(grid, hidden) & small


def test_hidden_cells_random_tables_never_give_a_small_cell_back():
    import random

    rng = random.Random(42)
    for _ in range(300):
        rows, cols = rng.randint(1, 5), rng.randint(1, 5)
        grid = [[rng.choice([0, 1, 2, 3, 4, 5, 8, 13, 30]) for _ in range(cols)] for _ in range(rows)]
        hidden = privacy.hidden_cells(grid, 4)
        small = {(i, j) for i, j in itertools.product(range(rows), range(cols)) if 0 < grid[i][j] <= 4}
        assert not _recoverable(grid, hidden) & small, (grid, hidden)


def test_suppress_frame_masks_shares_of_hidden_counts_and_keeps_masked_cells():
    frame = pd.DataFrame({"Orsak": ["a", "b", "c"], "Antal": [3, 10, 12], "Andel": [0.12, 0.4, 0.48]})
    out = privacy.suppress_frame(frame, ["Antal"], RULE, shares={"Andel": "Antal"})
    assert list(out["Antal"]) == ["<5", "<5", "12"]
    assert list(out["Andel"]) == ["<5", "<5", 0.48]
    again = privacy.suppress_frame(out, ["Antal"], RULE)  # already masked: stays masked
    assert list(again["Antal"]) == ["<5", "<5", "12"]


def test_suppress_frame_groups_rows_by_block():
    # Two characteristics in one table: each block adds up to the arm's size on its own.
    frame = pd.DataFrame({"var": ["kön", "kön", "ålder", "ålder"], "n": [3, 20, 11, 12]})
    out = privacy.suppress_frame(frame, ["n"], RULE, group_by="var", rows=False)
    assert list(out["n"]) == ["<5", "<5", "11", "12"]


def test_suppress_table_only_for_suppressed_roles(demo_db):
    from tests.test_access import _config

    config = _config(demo_db)
    frame = pd.DataFrame({"x": ["a", "b"], "n": [2, 9]})
    assert privacy.suppress_table(Viewer("projektgrupp"), config, frame, ["n"]) is frame
    assert list(privacy.suppress_table(Viewer("styrgrupp"), config, frame, ["n"])["n"]) == ["<5", "<5"]
    assert privacy.counter(Viewer("styrgrupp"), config)(3) == "<5"
    assert privacy.counter(Viewer("forskare"), config)(3) == "3"
