"""Small-cell suppression: the one module that decides which counts a role may see or take away.

Pages, downloads, chart datasets and both reports call these functions, so the rule is written
once. For roles whose figures leave the project group (`access.SUPPRESSED_ROLES`: styrgrupp),
counts 1..`privacy.small_cell_threshold` are replaced by `privacy.small_cell_text` BEFORE the data
leaves the server, and complementary cells are hidden so that a masked count cannot be recovered
from a total shown beside it (every row and every column of a table is treated as a group whose
total may be known). Other roles get their data unchanged. The rules are in `docs/access.md`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import pandas as pd

from dashboard.access import Viewer
from schema.config import StudyConfig

# Columns that make a table participant-level: such tables never leave the project group.
ROW_LEVEL_COLUMNS = {"study_code", "studiekod", "kod"}


@dataclass(frozen=True)
class Policy:
    """Counts 1..threshold are shown as `text`."""

    threshold: int
    text: str

    def is_small(self, value: object) -> bool:
        try:
            n = int(value)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return False
        return 0 < n <= self.threshold


def policy(viewer: Viewer, config: StudyConfig | None) -> Policy | None:
    """The suppression `viewer` is under, or None (figures shown as they are)."""
    if not viewer.suppress_small_cells or config is None:
        return None
    return Policy(config.privacy.small_cell_threshold, config.privacy.small_cell_text)


# --- the core rule --------------------------------------------------------------------------------


def mask_count(value: int, threshold: int, text: str) -> str:
    """One count on its own (a metric): 1..threshold shown as `text`."""
    return text if 0 < value <= threshold else str(value)


def hidden_cells(
    grid: Sequence[Sequence[int]],
    threshold: int,
    *,
    rows: bool = True,
    row_groups: Sequence[Hashable] | None = None,
    already: set[tuple[int, int]] | frozenset = frozenset(),
) -> set[tuple[int, int]]:
    """Cells (row, column) of a table of counts to hide.

    Primary: every count 1..threshold. Complementary: within every group whose total may be shown
    (each column, split by `row_groups` when the rows fall into separate blocks such as the levels
    of one characteristic; and each row when `rows`), a single hidden cell would be recoverable from
    the total, so the smallest visible non-zero cell of that group (else a visible zero) is hidden
    too; repeated until no group has exactly one hidden cell. `already`: cells hidden before (e.g. masked upstream)."""
    n_rows = len(grid)
    n_cols = len(grid[0]) if n_rows else 0
    hidden = {(i, j) for i in range(n_rows) for j in range(n_cols) if 0 < grid[i][j] <= threshold} | set(already)
    if not hidden:
        return hidden
    keys = list(row_groups) if row_groups is not None else [None] * n_rows
    groups: list[list[tuple[int, int]]] = []
    for j in range(n_cols):
        for key in dict.fromkeys(keys):
            groups.append([(i, j) for i in range(n_rows) if keys[i] == key])
    if rows:
        groups += [[(i, j) for j in range(n_cols)] for i in range(n_rows)]
    changed = True
    while changed:
        changed = False
        for cells in groups:
            if sum(c in hidden for c in cells) != 1:
                continue
            # The smallest visible non-zero cell; failing that a visible zero (a reader who sees
            # the zero can still subtract).
            others = sorted((grid[i][j] == 0, grid[i][j], i, j) for i, j in cells if (i, j) not in hidden)
            if others:
                hidden.add((others[0][2], others[0][3]))
                changed = True
    return hidden


def suppress_counts(counts: list[int], threshold: int, text: str) -> list[str]:
    """One group of counts (e.g. the reasons in one box): 1..threshold shown as `text`; if only one
    cell would be hidden, the next smallest non-zero cell is hidden too so it cannot be backed out."""
    hidden = hidden_cells([[c] for c in counts], threshold, rows=False)
    return [text if (i, 0) in hidden else str(c) for i, c in enumerate(counts)]


def _as_int(value: object) -> int | None:
    """A count cell as an int: missing → 0; text that is no number (a mask already applied) → None."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return 0
    try:
        return int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def suppress_frame(
    frame: pd.DataFrame,
    count_columns: list[str],
    rule: Policy | None,
    *,
    shares: dict[str, str] | None = None,
    group_by: str | None = None,
    rows: bool = True,
) -> pd.DataFrame:
    """`frame` with its `count_columns` suppressed under `rule` (None: unchanged). `shares` maps a
    share column to the count it is computed from: a share of a hidden count is hidden too (share ×
    n would give it back). `group_by` names a column whose values split the rows into blocks that
    each add up to a known total (the levels of one characteristic)."""
    if rule is None or frame.empty or not count_columns:
        return frame
    parsed = [[_as_int(v) for v in values] for values in frame[count_columns].itertuples(index=False)]
    masked = {(i, j) for i, values in enumerate(parsed) for j, v in enumerate(values) if v is None}
    grid = [[0 if v is None else v for v in values] for values in parsed]
    hide = hidden_cells(
        grid,
        rule.threshold,
        rows=rows,
        already=masked,
        row_groups=list(frame[group_by]) if group_by is not None else None,
    )
    out = frame.copy()
    for j, column in enumerate(count_columns):
        out[column] = [
            rule.text if (i, j) in hide else (v if v is None or pd.isna(v) else str(grid[i][j]))
            for i, v in enumerate(frame[column])
        ]
    for share, source in (shares or {}).items():
        j = count_columns.index(source)
        out[share] = [rule.text if (i, j) in hide else v for i, v in enumerate(out[share])]
    return out


# --- per viewer -------------------------------------------------------------------------------------


def suppress_table(
    viewer: Viewer, config: StudyConfig | None, frame: pd.DataFrame, count_columns: list[str], **options
) -> pd.DataFrame:
    """A table as `viewer` may see it (see `suppress_frame` for the options)."""
    return suppress_frame(frame, count_columns, policy(viewer, config), **options)


def counter(viewer: Viewer, config: StudyConfig | None) -> Callable[[int], str]:
    """Formats a single count (a metric) for `viewer`."""
    rule = policy(viewer, config)

    def fmt(n: int) -> str:
        if rule is not None:
            return mask_count(int(n), rule.threshold, rule.text)
        return str(int(n))

    return fmt


def integer_columns(frame: pd.DataFrame) -> list[str]:
    return [
        c for c in frame.columns if pd.api.types.is_integer_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ]


def download_frame(
    viewer: Viewer, config: StudyConfig | None, frame: pd.DataFrame, count_columns: list[str] | None = None
) -> pd.DataFrame | None:
    """The frame as `viewer` may take it away. Under suppression: no row-level data (None), and the
    counts in `count_columns` (default: every integer column) suppressed as on screen."""
    rule = policy(viewer, config) if viewer.suppress_small_cells else None
    if not viewer.suppress_small_cells:
        return frame
    if any(str(c).strip().lower() in ROW_LEVEL_COLUMNS for c in frame.columns):
        return None
    columns = count_columns if count_columns is not None else integer_columns(frame)
    return suppress_frame(frame, columns, rule)


def chart_frame(
    viewer: Viewer,
    config: StudyConfig | None,
    frame: pd.DataFrame,
    count_columns: list[str],
    *,
    shares: list[str] | dict[str, str] | None = None,
    **options,
) -> pd.DataFrame:
    """A chart's dataset as `viewer` may receive it: the whole dataset is sent to the browser (and
    shown in tooltips), so counts are suppressed exactly as in a table (`suppress_frame`), but a
    masked cell becomes empty (no bar, no point) instead of text, keeping the column numeric.
    `shares` (a list: hidden with any count of the same row; a dict: share → its count column)."""
    rule = policy(viewer, config)
    if rule is None or frame.empty:
        return frame
    if isinstance(shares, list):
        out = suppress_frame(frame, count_columns, rule, **options)
        row_hidden = (out[count_columns] == rule.text).any(axis=1)
        for share in shares:
            out[share] = out[share].where(~row_hidden, rule.text)
        share_columns = list(shares)
    else:
        out = suppress_frame(frame, count_columns, rule, shares=shares, **options)
        share_columns = list(shares or {})
    for column in [*count_columns, *share_columns]:
        out[column] = pd.to_numeric(out[column].where(out[column] != rule.text), errors="coerce")
    return out


def mask_increments(values: list[int], threshold: int, start: int = 0) -> list[bool]:
    """For a cumulative series (nested cohorts, a running total), which values to hide so that no
    shown value differs from the previous shown one (or from `start`, e.g. 0 or a total that is
    shown anyway) by 1..threshold: a difference of a few would show a few people's events. Over a
    monotone series, any two shown values then differ by 0 or more than `threshold`. Returns True
    for each value to hide."""
    hidden = []
    last = start
    for v in values:
        step = int(v) - last
        if 0 < abs(step) <= threshold or 0 < int(v) <= threshold:
            hidden.append(True)
        else:
            hidden.append(False)
            last = int(v)
    return hidden


def funnel_frame(frame: pd.DataFrame, reached: str, parts: list[str], rule: Policy | None) -> pd.DataFrame:
    """A referral funnel (one row per stage in order) under `rule`. Those who reached a stage either
    reached the next, were excluded there or are still waiting there, so each stage's count is the
    total of (next stage's count, its `parts`): a hidden cell must not be recoverable from that
    relation either. The first stage's count is the overall total and is never hidden."""
    if rule is None or frame.empty:
        return frame
    n = len(frame)
    counts = [[_as_int(v) or 0 for v in frame[c]] for c in [reached, *parts]]
    # Row k: [reached at stage k+1, parts at stage k...]; its total (reached at k) is shown.
    grid = [[counts[0][k + 1] if k + 1 < n else 0] + [counts[j][k] for j in range(1, len(counts))] for k in range(n)]
    hide = hidden_cells(grid, rule.threshold, rows=True)
    out = frame.copy()
    out[reached] = [rule.text if (k - 1, 0) in hide else str(counts[0][k]) for k in range(n)]
    for j, column in enumerate(parts, start=1):
        out[column] = [rule.text if (k, j) in hide else str(counts[j][k]) for k in range(n)]
    return out
