"""Small-cell suppression: the one module that decides which counts a role may see or take away.

Pages, downloads, chart datasets and both reports call these functions, so the rule is written
once. For roles whose figures leave the project group (`access.SUPPRESSED_ROLES`: styrgrupp),
counts 1..`privacy.small_cell_threshold` are replaced by `privacy.small_cell_text` BEFORE the data
leaves the server, and complementary cells are hidden so that a masked count cannot be recovered
from a total shown beside it (every row and every column of a table is treated as a group whose
total may be known). Other roles get their data unchanged. The rules are in `docs/access.md`.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from dashboard.access import Viewer
from schema.config import StudyConfig

# Columns that make a table participant-level: such tables never leave the project group.
ROW_LEVEL_COLUMNS = {"study_code", "studiekod", "kod"}
# The kind of a frame's columns, declared beside the data: every count column a suppression function
# is given under a rule (a suppressed role) is marked "count" in `frame.attrs[COLUMN_KINDS]`. pandas attrs travel with the frame into
# the Arrow tables Streamlit sends (schema metadata), so the payload test (tests/test_payload.py)
# checks every column declared a count, whatever it is named.
COLUMN_KINDS = "ipsdash_column_kinds"


def declare_counts(frame: pd.DataFrame, count_columns: Iterable[Hashable]) -> pd.DataFrame:
    """`frame` (a shallow copy when something is added) with `count_columns` declared counts of
    people."""
    known = frame.attrs.get(COLUMN_KINDS, {})
    kinds = {**known, **{str(c): "count" for c in count_columns}}
    if kinds == known:
        return frame
    out = frame.copy(deep=False)
    out.attrs = {**frame.attrs, COLUMN_KINDS: kinds}
    return out


def count_columns_declared(frame: pd.DataFrame) -> list[str]:
    """The columns `declare_counts` marked counts of people on `frame`."""
    return sorted(name for name, kind in frame.attrs.get(COLUMN_KINDS, {}).items() if kind == "count")


# A download (CSV, Excel) carries nothing a reader does not see, so its declaration is kept on the
# server: where this variable names a file (the payload tests set it for the server they start),
# every file built for a download adds one JSON line to it, the file's SHA-256 and the count columns
# declared on the frame it was built from, and the test matches each file it fetched to its line.
# Unset, as when the dashboard serves people, nothing is written and no file changes.
DOWNLOAD_DECLARATIONS = "IPSDASH_DOWNLOAD_DECLARATIONS"


def record_download(frame: pd.DataFrame, files: Iterable[bytes]) -> None:
    """Record the count columns declared on `frame` for each file built from it (see above)."""
    target = os.environ.get(DOWNLOAD_DECLARATIONS)
    if not target:
        return
    counts = count_columns_declared(frame)
    lines = "".join(json.dumps({"sha256": hashlib.sha256(data).hexdigest(), "counts": counts}) + "\n" for data in files)
    with open(target, "a", encoding="utf-8") as fh:  # one write per call: lines from parallel sessions stay whole
        fh.write(lines)


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
    if rule is None:
        return frame
    if frame.empty or not count_columns:
        return declare_counts(frame, count_columns)
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
    return declare_counts(out, count_columns)


# --- per viewer -------------------------------------------------------------------------------------


def suppress_table(
    viewer: Viewer, config: StudyConfig | None, frame: pd.DataFrame, count_columns: list[str], **options
) -> pd.DataFrame:
    """A table as `viewer` may see it (see `suppress_frame` for the options)."""
    return suppress_frame(frame, count_columns, policy(viewer, config), **options)


def mask_legend(config: StudyConfig) -> str:
    """What the mask text means, in words, for every page, download and report that uses it."""
    text, threshold = config.privacy.small_cell_text, config.privacy.small_cell_threshold
    return (
        f"”{text}” = antal 1–{threshold}, eller ett större antal som döljs så att ett litet inte kan "
        "räknas fram ur summor och andra tabeller."
    )


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
    if rule is None:
        return frame
    if frame.empty:
        return declare_counts(frame, count_columns)
    if isinstance(shares, list):
        out = suppress_frame(frame, count_columns, rule, **options)
        row_hidden = (out[count_columns] == rule.text).any(axis=1)
        for share in shares:
            out[share] = out[share].where(~row_hidden, rule.text)
        share_columns = list(shares)
    else:
        out = suppress_frame(frame, count_columns, rule, shares=shares, **options)
        share_columns = list(shares or {})
    return numeric_counts(out, [*count_columns, *share_columns], rule)


def numeric_counts(frame: pd.DataFrame, columns: list[str], rule: Policy | None) -> pd.DataFrame:
    """A masked table as a chart's dataset: the masked cells empty (no bar, no point), the rest numbers."""
    if rule is None:
        return frame
    out = frame.copy()
    for column in columns:
        out[column] = pd.to_numeric(out[column].where(out[column] != rule.text), errors="coerce")
    return declare_counts(out, [c for c in columns if c in count_columns_declared(frame)])


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


# --- joint suppression across displays ------------------------------------------------------------
# Suppressing each display on its own is not enough: two displays shown to the same role in the same
# scope often share a figure or a total (a stage's exclusions in the funnel and the sum of that stage's
# reasons; the CONSORT boxes and both), so a cell hidden in one can be backed out with figures from
# the other. Here every figure of a family of displays is defined by WHO it counts (a boolean mask
# over the same rows: referrals, participants, …), so each figure is a sum of "atoms" (the groups of
# rows that no figure tells apart). A hidden figure is recoverable exactly when its atom vector is a
# linear combination of the shown figures' vectors (plus: a shown 0 tells that each of its atoms is
# 0). `joint_hidden` hides the small figures, then, while any hidden figure is recoverable, hides the
# smallest shown figure used in recovering it, until none is. Figures that count the same people are
# one figure: shown or hidden together in every display.


def _atoms(masks: list[np.ndarray], weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(atom × figure 0/1 matrix, people per atom) of boolean masks over the same rows; a row of
    weight 0 is a possible kind of person nobody is (so a figure shown as 0 still says something)."""
    if not masks:
        return np.zeros((0, 0)), np.zeros(0)
    bits = np.column_stack([np.asarray(m).astype(np.int64) for m in masks])  # 0/1, or counts per row
    if bits.shape[0] == 0:
        return np.zeros((0, len(masks))), np.zeros(0)
    patterns, inverse = np.unique(bits, axis=0, return_inverse=True)
    w = np.ones(bits.shape[0]) if weights is None else np.asarray(weights, dtype=float)
    return patterns.astype(float), np.bincount(inverse.ravel(), weights=w, minlength=len(patterns))


def _known_rows(vectors: np.ndarray, values: np.ndarray) -> np.ndarray:
    """What a reader knows, as rows over atoms: each shown figure, and each atom of a shown 0."""
    rows = [vectors]
    for v, value in zip(vectors, values, strict=True):
        if value == 0:
            rows.append(np.diag(v)[v > 0])
    return np.vstack(rows) if len(vectors) else np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0))


def _row_basis(known: np.ndarray) -> np.ndarray:
    """Orthonormal rows spanning the row space of `known` (0/1 and small integer rows)."""
    if not len(known):
        return np.zeros((0, known.shape[1] if known.ndim == 2 else 0))
    _, sv, vt = np.linalg.svd(known, full_matrices=False)
    return vt[sv > 1e-9 * max(float(sv.max(initial=0.0)), 1.0)]


def recoverable(vector: np.ndarray, known: np.ndarray, tol: float = 1e-8) -> np.ndarray | None:
    """None when `vector` is not in the row space of `known`; else the coefficients (over `known`'s
    rows) that give it: the recipe for recovering the hidden figure."""
    if not len(known):
        return None if np.any(vector) else np.zeros(0)
    coef, *_ = np.linalg.lstsq(known.T, vector, rcond=None)
    if np.max(np.abs(known.T @ coef - vector), initial=0.0) > tol:
        return None
    return coef


def joint_hidden(
    masks: dict[Hashable, Sequence[bool]],
    threshold: int,
    *,
    fixed: set | frozenset = frozenset(),
    insensitive: set | frozenset = frozenset(),
    weights: Sequence[float] | None = None,
    forced: set | frozenset = frozenset(),
) -> set[Hashable]:
    """The keys of the figures to hide. `masks`: figure key → which rows it counts (all over the same
    rows). `fixed`: figures always shown (plain totals that describe no one); never hidden, and a
    figure counting the same people is shown too. `insensitive`: figures never hidden for being
    small, only as a complement. `weights`: 1 per row, 0 for rows that stand for a possible kind of
    person nobody is (see `recruitment_masks`). `forced`: figures hidden whatever their size (for a
    rule of their own, such as a small difference of nested cohorts), protected like small ones."""
    # Many small SVDs and least-squares solves: with one BLAS thread per core they ran 16-28 s instead
    # of 0.4-1 s on a loaded two-core server (the threads wait on each other). One thread for the
    # decision; the limit is restored afterwards (threadpoolctl, public API).
    with threadpool_limits(limits=1, user_api="blas"):
        return _joint_hidden(masks, threshold, fixed, insensitive, weights, forced)


def _joint_hidden(masks, threshold, fixed, insensitive, weights, forced) -> set[Hashable]:
    keys = list(masks)
    if not keys:
        return set()
    patterns, sizes = _atoms([np.asarray(masks[k]) for k in keys], None if weights is None else np.asarray(weights))
    if not len(sizes):
        return set()
    # One class per distinct set of atoms: the same people, the same figure, everywhere.
    classes: dict[tuple, list[Hashable]] = {}
    for j, key in enumerate(keys):
        classes.setdefault(tuple(patterns[:, j].astype(int)), []).append(key)
    vectors = np.array([list(c) for c in classes], dtype=float)  # class × atom
    values = vectors @ sizes
    members = list(classes.values())
    is_fixed = [any(k in fixed for k in m) for m in members]
    hidden = {
        i
        for i, m in enumerate(members)
        if not is_fixed[i]
        and ((0 < values[i] <= threshold and any(k not in insensitive for k in m)) or any(k in forced for k in m))
    }
    exposed: set[int] = set()  # recoverable whatever is hidden (only fixed figures explain it)
    while True:
        shown = [i for i in range(len(members)) if i not in hidden]
        known = _known_rows(vectors[shown], values[shown]) if shown else np.zeros((0, len(sizes)))
        # map each known row back to the class it comes from
        origin = list(shown) + [i for i in shown if values[i] == 0 for _ in range(int(vectors[i].sum()))]
        if len(known):  # the same row twice (a figure and a zero's atom) says nothing more
            known, first = np.unique(known, axis=0, return_index=True)
            origin = [origin[r] for r in first]
        pending = sorted(hidden - exposed, key=lambda i: values[i])
        # Which hidden figures lie in the shown figures' span: one orthonormal basis of that span and a
        # projection of them all (a least-squares solve each only for the recipe of the one handled).
        basis = _row_basis(known)
        target = vectors[pending] if pending else np.zeros((0, len(sizes)))
        rest = target - (target @ basis.T) @ basis if len(basis) else target
        reach = [h for h, r in zip(pending, rest, strict=True) if np.max(np.abs(r), initial=0.0) <= 1e-6]
        added = False
        for h in reach:
            coef = recoverable(vectors[h], known, tol=1e-6)
            if coef is None:
                continue
            used = {origin[r] for r in np.flatnonzero(np.abs(coef) > 1e-9)}
            candidates = [i for i in used if not is_fixed[i]]
            if not candidates:
                # Only fixed figures (and zeros) give it away: hide any other figure sharing its people.
                candidates = [i for i in shown if not is_fixed[i] and np.any(vectors[i] * vectors[h]) and values[i] > 0]
            if not candidates:
                exposed.add(h)
                continue
            hidden.add(min(candidates, key=lambda i: (values[i] == 0, values[i], i)))
            added = True
            break
        if not added:
            break
    # A complement that fixed figures give away anyway protects nothing: show it (it adds nothing to
    # what a reader can work out). A small figure given away by fixed figures stays masked.
    primary = {
        i
        for i in hidden
        if (0 < values[i] <= threshold and any(k not in insensitive for k in members[i]))
        or any(k in forced for k in members[i])
    }
    hidden -= exposed - primary
    return {k for i in hidden for k in members[i]}


# --- the recruitment family: funnel, exclusions by stage and reason, waits, CONSORT -----------------

FUNNEL_REACHED = {  # stage key → the column saying a referral reached it (None: every referral)
    "referral": None,
    "info_meeting": "reached_info_meeting",
    "consent": "reached_consent",
    "enrolment": "reached_enrolment",
    "baseline": "reached_baseline",
    "randomised": "is_randomised",
}
MAX_JOINT_DISTRICTS = 8  # beyond this, the waits per district are hidden rather than decided jointly
WAITS = {
    "Remiss → informationsmöte": "days_referral_to_info",
    "Baslinje → randomisering": "days_baseline_to_randomisation",
}


def _flag(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].fillna(False).astype(bool).to_numpy()


def _possible_referrals(ref: pd.DataFrame, districts: Sequence[str]) -> pd.DataFrame:
    """One row for every kind of referral that could exist in this scope (district × excluded at a
    stage for a reason, or waiting at a stage, or randomised × re-referral or not), with the stages
    it reached as real referrals of that kind reached them (else: every stage before, and the stage
    itself except consent, which an exclusion there precedes). They weigh 0: they let a figure
    shown as 0 count as information, as it is for a reader."""

    stages = list(FUNNEL_REACHED)
    reached_cols = [c for c in FUNNEL_REACHED.values() if c]

    def patterns(rows: pd.DataFrame, canonical: tuple) -> list[tuple]:
        found = {tuple(bool(v) for v in r) for r in rows[reached_cols].fillna(False).itertuples(index=False)}
        return sorted(found) or [canonical]

    def canonical(stage: str, *, at_stage: bool) -> tuple:
        i = stages.index(stage)
        return tuple(j < i or (j == i and at_stage) for j in range(1, len(stages)))

    kinds = []
    # Only (stage, reason) pairs that occur: the reasons table and CONSORT list exactly those, so a
    # reader knows every other pair is empty.
    excluded = ref[ref["excluded_stage"].notna()]
    pairs = sorted(
        {
            (str(s), None if pd.isna(r) else str(r))
            for s, r in zip(excluded["excluded_stage"], excluded["exclusion_reason"], strict=True)
        },
        key=str,
    )
    for stage in sorted({s for s, _ in pairs}):
        rows = excluded[excluded["excluded_stage"].astype("string") == stage]
        known = stage in stages
        for flags in patterns(rows, canonical(stage, at_stage=stage != "consent") if known else (False,) * 5):
            kinds += [(flags, stage, r, False) for s, r in pairs if s == stage]
    for stage in stages[:-1]:
        rows = ref[(ref["furthest_stage"].astype("string") == stage) & ref["is_in_progress"].fillna(False).astype(bool)]
        kinds += [(flags, None, None, True) for flags in patterns(rows, canonical(stage, at_stage=True))]
    rand = ref[ref["is_randomised"].fillna(False).astype(bool)]
    kinds += [(flags, None, None, False) for flags in patterns(rand, (True,) * 5)]
    out = []
    for d in districts:
        for flags, stage, reason, waiting in kinds:
            if not waiting and stage is None and not flags[-1]:
                continue
            furthest = stages[max([0] + [j + 1 for j, f in enumerate(flags) if f])]
            for again in (False, True) if stage is None and not waiting else (False,):
                out.append(
                    {
                        "district_id": d,
                        **dict(zip(reached_cols, flags, strict=True)),
                        "excluded_stage": stage,
                        "exclusion_reason": reason,
                        "is_excluded": stage is not None,
                        "is_in_progress": waiting,
                        "furthest_stage": furthest,
                        "is_rereferral": again,
                        "days_referral_to_info": 0.0 if flags[0] else np.nan,
                        "days_baseline_to_randomisation": 0.0 if flags[-1] and flags[3] else np.nan,
                    }
                )
    return pd.DataFrame(out)


def recruitment_masks(referrals: pd.DataFrame, districts: Sequence[str] = ()) -> tuple[dict, set, np.ndarray]:
    """Every recruitment figure a role can see in one scope, as the referrals it counts: the funnel
    (reached, excluded at, waiting at each stage), the exclusions by stage and reason, the waits'
    `n` per district, the CONSORT boxes before allocation, the count of re-referrals, and the
    randomised per district (a plain count, always shown). Returns (masks, fixed keys, weights):
    the masks run over the referrals and then `_possible_referrals` (weight 0)."""
    masks, fixed, weights, _ = _recruitment_masks(referrals, districts)
    return masks, fixed, weights


def _recruitment_masks(referrals: pd.DataFrame, districts: Sequence[str]) -> tuple[dict, set, np.ndarray, np.ndarray]:
    """`recruitment_masks` and the district of every row the masks run over."""
    from schema import vocab

    real = referrals.reset_index(drop=True)
    scope = sorted(set(districts) | set(real["district_id"].dropna().astype(str)))
    per_district = len(scope) <= MAX_JOINT_DISTRICTS
    possible = _possible_referrals(real, scope if per_district else ["*"])
    keep = [c for c in possible.columns if c in real.columns]
    ref = pd.concat([real[keep], possible[keep]], ignore_index=True) if len(possible) else real
    weights = np.r_[np.ones(len(real)), np.zeros(len(ref) - len(real))]
    every = np.ones(len(ref), dtype=bool)
    stage = ref["excluded_stage"].astype("string").fillna("").to_numpy()
    reason = ref["exclusion_reason"].astype("string").fillna("").to_numpy()
    excluded = _flag(ref, "is_excluded")
    waiting = _flag(ref, "is_in_progress")
    furthest = ref["furthest_stage"].astype("string").fillna("").to_numpy()
    masks: dict[Hashable, np.ndarray] = {}
    for key, column in FUNNEL_REACHED.items():
        masks[("funnel", key, "reached")] = every if column is None else _flag(ref, column)
        masks[("funnel", key, "excluded")] = stage == key
        masks[("funnel", key, "waiting")] = (furthest == key) & waiting
    masks[("funnel", "rereferrals")] = _flag(ref, "is_rereferral") if "is_rereferral" in ref else ~every
    for s, r in sorted({(s, r) for s, r in zip(stage[: len(real)], reason[: len(real)], strict=True) if s and r}):
        masks[("reasons", s, r)] = (stage == s) & (reason == r)
    # CONSORT (dashboard/consort.py): the boxes before allocation.
    known_stage = np.isin(stage, list(vocab.EXCLUSION_STAGES.keys))
    masks[("consort", "assessed")] = every
    masks[("consort", "excluded")] = excluded
    masks[("consort", "in_progress")] = waiting
    masks[("consort", "randomised")] = _flag(ref, "is_randomised")
    for s in [*vocab.EXCLUSION_STAGES.keys, None]:
        in_stage = excluded & ((stage == s) if s is not None else ~known_stage)
        masks[("consort", "stage", s)] = in_stage
        for r in sorted(set(reason[: len(real)][in_stage[: len(real)]])):
            masks[("consort", "reason", s, r or None)] = in_stage & (reason == r)
    district = ref["district_id"].astype("string").fillna("").to_numpy()
    fixed = {("funnel", "referral", "reached"), ("consort", "assessed"), ("consort", "randomised")}
    fixed.add(("funnel", "randomised", "reached"))
    for d in sorted(districts) if per_district else []:
        masks[("randomised", d)] = (district == d) & _flag(ref, "is_randomised")
        fixed.add(("randomised", d))
        for label, column in WAITS.items():
            masks[("waits", d, label)] = (district == d) & ref[column].notna().to_numpy()
    return masks, fixed, weights, district


def recruitment_hidden(referrals: pd.DataFrame, rule: Policy | None, districts: Sequence[str] = ()) -> frozenset:
    """The recruitment figures `rule` hides in this scope, decided jointly (see `joint_hidden`): the
    page, its downloads and the steering report all mask exactly these. Beyond
    `MAX_JOINT_DISTRICTS` districts the waits' `n` per district are all hidden instead of decided
    (the joint problem grows with districts × kinds of referral)."""
    if rule is None or referrals.empty:
        return frozenset()
    masks, fixed, weights = recruitment_masks(referrals, districts)
    real = weights > 0
    small = any(
        k not in fixed and 0 < int(np.count_nonzero(np.asarray(m, dtype=bool) & real)) <= rule.threshold
        for k, m in masks.items()
    )
    every_wait = set()
    if len(set(districts) | set(referrals["district_id"].dropna().astype(str))) > MAX_JOINT_DISTRICTS:
        every_wait = {("waits", d, label) for d in districts for label in WAITS}
    if not small:  # nothing small: nothing to protect
        return frozenset(every_wait)
    return frozenset(joint_hidden(masks, rule.threshold, fixed=fixed, weights=weights) | every_wait)


# --- across scopes ------------------------------------------------------------------------------------
# A role that may choose its district scope sees every scope's figures, and a figure of one district is
# a difference of two scopes' totals (all districts minus the others). So the scopes a suppressed role
# can choose (`ui`: all its districts, or exactly one) are decided together: every scope's figures are
# masks over the same rows, keyed by (scope, figure), and `joint_hidden` decides them at once. Beyond
# `MAX_JOINT_DISTRICTS` districts only the all-districts scope is decided; a single district's scope
# then shows its fixed figures and those figures the all-districts scope shows of that district, and
# hides the rest (`ShownOnly`).

SCOPE_ALL = "*"


@dataclass(frozen=True)
class ShownOnly:
    """A hidden set given by what is shown: every key not in `shown` is hidden."""

    shown: frozenset

    def __contains__(self, key: object) -> bool:
        return key not in self.shown


def scope_of(selected: Sequence[str], districts: Sequence[str]) -> str:
    """The scope key of a district choice: `SCOPE_ALL` for every district in `districts`, else the one
    district chosen (a suppressed role may choose no other subset, see `ui`)."""
    chosen = set(selected)
    if chosen == set(districts):
        return SCOPE_ALL
    if len(chosen) == 1:
        return next(iter(chosen))
    raise ValueError(f"a scope of {len(chosen)} of {len(districts)} districts is not decided")


def _decided_scopes(districts: Sequence[str]) -> list[str]:
    return [SCOPE_ALL, *(sorted(districts) if 1 < len(districts) <= MAX_JOINT_DISTRICTS else [])]


def _split_by_scope(hidden: set, scopes: Sequence[str]) -> dict:
    return {s: frozenset(k[1:] for k in hidden if k[0] == s) for s in scopes}


def recruitment_hidden_scopes(referrals: pd.DataFrame, rule: Policy | None, districts: Sequence[str]) -> dict:
    """scope → the recruitment figures hidden in it, for every scope a suppressed role can choose
    (`SCOPE_ALL` and each of `districts`), decided together. `referrals`: every referral of `districts`."""
    districts = tuple(sorted(districts))
    scopes = [SCOPE_ALL, *(districts if len(districts) > 1 else [])]
    if rule is None or referrals.empty:
        return dict.fromkeys(scopes, frozenset())
    if len(districts) <= 1 or len(districts) > MAX_JOINT_DISTRICTS:
        every = recruitment_hidden(referrals, rule, districts)
        out = {SCOPE_ALL: every, **dict.fromkeys(districts, every)}
        if len(districts) > 1:
            for d in districts:
                out[d] = ShownOnly(
                    frozenset(
                        {
                            ("funnel", "referral", "reached"),
                            ("funnel", "randomised", "reached"),
                            ("consort", "assessed"),
                            ("consort", "randomised"),
                            ("randomised", d),
                        }
                    )
                )
        return out
    masks, fixed, weights, district = _recruitment_masks(referrals, districts)
    real = weights > 0
    listed_only = {"reasons", "stage", "reason"}  # displays that list only what occurs
    union: dict[Hashable, np.ndarray] = {}
    ufixed: set = set()
    for scope in _decided_scopes(districts):
        inside = np.ones(len(weights), dtype=bool) if scope == SCOPE_ALL else district == scope
        for k, m in masks.items():
            if scope != SCOPE_ALL and k[0] in ("randomised", "waits") and k[1] != scope:
                continue
            mask = np.asarray(m, dtype=bool) & inside
            union[(scope, *k)] = mask
            n = int(np.count_nonzero(mask & real))
            # Not drawn when 0 (a stage or reason that does not occur): known to be 0, never hidden.
            if k in fixed or (n == 0 and (k[0] in listed_only or (k[0] == "consort" and k[1] in listed_only))):
                ufixed.add((scope, *k))
    small = any(k not in ufixed and 0 < int(np.count_nonzero(m & real)) <= rule.threshold for k, m in union.items())
    if not small:
        return dict.fromkeys(scopes, frozenset())
    return _split_by_scope(joint_hidden(union, rule.threshold, fixed=ufixed, weights=weights), scopes)


def mask_rows(frame: pd.DataFrame, keys: Sequence[Hashable], hidden: frozenset | set, columns: list[str], text: str):
    """`frame` with `columns` shown as `text` in every row whose key (`keys`, one per row) is hidden."""
    out = frame.copy()
    hide = [k in hidden for k in keys]
    if not any(hide):
        return out
    for column in columns:  # text throughout (as `suppress_frame`): one type per column for the grid
        out[column] = [
            text if h else (None if v is None or pd.isna(v) else str(v)) for h, v in zip(hide, out[column], strict=True)
        ]
    return out


def mask_cells(frame: pd.DataFrame, columns: list[str], key: Callable[[dict, str], Hashable], hidden, text: str):
    """`frame` with each cell of the count `columns` shown as `text` where `key(row, column)` (the row
    as a dict) is a hidden figure, and as its number in text otherwise (as `suppress_frame`): a family's
    joint decision applied to one of its tables. The count columns are declared."""
    records = frame.to_dict("records")
    out = frame.copy()
    for column in columns:
        out[column] = [
            text if key(r, column) in hidden else (v if v is None or pd.isna(v) else str(int(v)))
            for r, v in zip(records, frame[column], strict=True)
        ]
    return declare_counts(out, columns)


def funnel_masked(frame: pd.DataFrame, reached: str, parts: list[str], rule: Policy | None, hidden: frozenset):
    """The funnel table (one row per stage, with its `stage` key) masked as `recruitment_hidden`
    decided: `reached`, then `parts` = (excluded at the stage, waiting at it)."""
    if rule is None or frame.empty:
        return frame
    out = frame.copy()
    for column, what in zip([reached, *parts], ["reached", "excluded", "waiting"], strict=False):
        out[column] = [
            rule.text if ("funnel", s, what) in hidden else str(int(v))
            for s, v in zip(frame["stage"], frame[column], strict=True)
        ]
    return out


def reasons_masked(frame: pd.DataFrame, rule: Policy | None, hidden: frozenset) -> pd.DataFrame:
    """The exclusions-by-stage-and-reason table (Swedish labels `Steg`, `Orsak`) masked as
    `recruitment_hidden` decided."""
    from schema import vocab

    if rule is None or frame.empty:
        return frame
    stage_of = {vocab.EXCLUSION_STAGES.label(k): k for k in vocab.EXCLUSION_STAGES.keys}
    reason_of = {vocab.EXCLUSION_REASON.label(k): k for k in vocab.EXCLUSION_REASON.keys}
    out = frame.copy()
    out["Antal"] = [
        rule.text if ("reasons", stage_of.get(s, s), reason_of.get(r, r)) in hidden else str(int(n))
        for s, r, n in zip(frame["Steg"], frame["Orsak"], frame["Antal"], strict=True)
    ]
    return out


# --- the caseload family: active per specialist and a shared specialist's split per district -----


def caseload_hidden_scopes(split: pd.DataFrame, rule: Policy | None, districts: Sequence[str]) -> dict:
    """scope → the caseload figures `rule` hides in it, for `SCOPE_ALL` and each of `districts` (a
    suppressed role may choose all or one), decided together. `split`: specialist_id, district_id,
    active_n at the cut-off for every specialist of `districts`. Keys per scope: `("active", s)` (the
    per-specialist table, its download, the steering PDF) and `("split", s, d)` (the shared
    specialists' table). In the all-districts scope a specialist's active count is the sum of their
    split; in one district's scope it is their split for that district, the same figure as the
    all-districts scope's split: so every scope's figures are one table, specialists × districts, with
    each row's sum (active in all) and each column's sum (everyone active in a district) and the grand
    total, the column sums and the total taken as known.

    In such a table a hidden figure can be worked out exactly when, in the graph whose nodes are the
    specialists, the districts and "the row sums" and whose edges are the hidden figures, its edge is a
    bridge (on no cycle): every sum around a cycle can trade an amount along it, and nothing else can
    change. So: hide every small figure, then, for each hidden figure that is a bridge, hide the
    cheapest path of shown figures that closes a cycle through it (small figures first, a shown 0
    last), until no hidden figure is a bridge. A figure that is a bridge of the whole table is given by
    the known sums alone (a district's only specialist, say): it is masked when small, and since no
    display shows the sums it is also kept on a cycle of hidden figures of the table without them
    (districts and the row sums one node of unknown sum), so the specialist's active count in all
    districts minus their other splits does not give it back. Linear-time per round; at scale 100 (600
    specialists, 400 districts) well under a second."""
    districts = tuple(sorted(districts))
    scopes = [SCOPE_ALL, *(districts if len(districts) > 1 else [])]
    if rule is None or split.empty:
        return dict.fromkeys(scopes, frozenset())
    cells: dict[tuple[str, str], int] = {}
    for s, d, n in split[["specialist_id", "district_id", "active_n"]].itertuples(index=False):
        key = (str(s), str(d))
        cells[key] = cells.get(key, 0) + (0 if pd.isna(n) else int(n))
    rows: dict[str, int] = {}
    for (s, _), n in cells.items():
        rows[s] = rows.get(s, 0) + n
    # Nodes: ("s", specialist), ("d", district), ("T",) the row sums. Edges: a cell joins its specialist
    # and district; a row sum joins its specialist and T. Every node's sum is known.
    total = ("T",)
    edges: dict[tuple, tuple] = {("cell", s, d): (("s", s), ("d", d)) for s, d in cells}
    edges |= {("row", s): (("s", s), total) for s in rows}
    value = {("cell", s, d): n for (s, d), n in cells.items()} | {("row", s): n for s, n in rows.items()}
    # A specialist with nobody active shows 0: while that 0 is shown their split is known to be 0 too
    # (counts are never negative), so a cycle may pass them only through their row sum.
    empty = {("s", s) for s, n in rows.items() if n == 0}
    fixed_bridges = _bridges(edges, edges)
    adjacent = _adjacency(edges, edges)
    # The sums are taken as known to decide, but no display shows them: a figure they alone give away
    # (a district's only specialist's split) must still not follow from the SHOWN figures, e.g. their
    # active count in all districts minus their other splits. Without the sums every district and T is
    # one node of unknown sum, and there a hidden figure is given back exactly when it is a bridge.
    loose = {("T",): ("F",)} | {("d", d): ("F",) for _, d in cells}
    unsummed = {e: (loose.get(u, u), loose.get(v, v)) for e, (u, v) in edges.items()}
    adjacent_unsummed = _adjacency(unsummed, unsummed)
    hidden = {e for e, n in value.items() if 0 < n <= rule.threshold}
    while True:
        open_ = [e for e in _bridges(edges, hidden) if e not in fixed_bridges]
        exposed = [e for e in _bridges(unsummed, hidden) if e in fixed_bridges]
        more: set = set()
        for e in sorted(open_, key=lambda e: (value[e], e)):
            more |= _cheapest_cycle(edges, adjacent, value, hidden | more, e, empty)
        for e in sorted(exposed, key=lambda e: (value[e], e)):
            more |= _cheapest_cycle(unsummed, adjacent_unsummed, value, hidden | more, e, empty)
        if not more:  # what is left open only the known sums give away
            break
        hidden |= more
    out: dict[str, frozenset] = {}
    out[SCOPE_ALL] = frozenset(
        {("active", e[1]) for e in hidden if e[0] == "row"} | {("split", e[1], e[2]) for e in hidden if e[0] == "cell"}
    )
    for d in scopes[1:]:
        out[d] = frozenset(
            key for e in hidden if e[0] == "cell" and e[2] == d for key in (("active", e[1]), ("split", e[1], d))
        )
    return out


def _adjacency(edges: dict, among: Iterable) -> dict:
    adjacent: dict = {}
    for e in among:
        u, v = edges[e]
        adjacent.setdefault(u, []).append((v, e))
        adjacent.setdefault(v, []).append((u, e))
    return adjacent


def _bridges(edges: dict, among: Iterable) -> set:
    """The edges of `among` that lie on no cycle of the graph they make (Tarjan's low-link, iterative;
    two edges joining the same two nodes, as without the sums, make a cycle: an edge is skipped by
    its key, not by the node it came from)."""
    adjacent = _adjacency(edges, among)
    order: dict = {}
    low: dict = {}
    out: set = set()
    for root in adjacent:
        if root in order:
            continue
        order[root] = low[root] = len(order)
        stack = [(root, None, iter(adjacent[root]))]
        while stack:
            node, via, todo = stack[-1]
            step = next(todo, None)
            if step is None:
                stack.pop()
                if stack:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[node])
                    if low[node] > order[parent]:
                        out.add(via)
                continue
            other, e = step
            if e == via:
                continue
            if other in order:
                low[node] = min(low[node], order[other])
            else:
                order[other] = low[other] = len(order)
                stack.append((other, e, iter(adjacent[other])))
    return out


def _cheapest_cycle(edges: dict, adjacent: dict, value: dict, hidden: set, bridge: tuple, empty: set) -> set:
    """The shown figures to hide so that `bridge` lies on a cycle of hidden figures: the cheapest path
    between its ends without it (Dijkstra; a hidden figure costs nothing, a shown one its value, a
    shown 0 the most, since small figures are what the cycle should spread over). At a node of
    `empty` (a specialist with nobody active) the path must enter or leave by the row sum."""
    start, goal = edges[bridge]
    # A state is a node, and at a node of `empty` also the kind of figure the path came in by.
    begin = (start, None)
    cost = {begin: 0}
    back: dict = {}
    queue = [(0, 0, begin)]
    tie = 0
    end = None
    while queue:
        c, _, state = heapq.heappop(queue)
        node, came = state
        if node == goal:
            end = state
            break
        if c > cost[state]:
            continue
        for other, e in adjacent[node]:
            if e == bridge or (came == "cell" and e[0] == "cell"):
                continue  # through a specialist with nobody active only by way of their row sum
            step = 0 if e in hidden else (value[e] if value[e] > 0 else 10_000)
            after = (other, e[0] if other in empty else None)
            if c + step < cost.get(after, float("inf")):
                cost[after] = c + step
                back[after] = (state, e)
                tie += 1
                heapq.heappush(queue, (c + step, tie, after))
    if end is None:
        return set()
    path, state = set(), end
    while state != begin:
        state, e = back[state]
        path.add(e)
    return path - hidden


# --- the attrition family: dropout, its reasons, stopped IPS, cohorts, CONSORT's arm boxes -----------

MISSING_REASON = "Uppgift saknas"


def _reason_labels(values: pd.Series, labels) -> np.ndarray:
    return np.array([labels.label(k) if isinstance(k, str) and k else MISSING_REASON for k in values], dtype=object)


@dataclass(frozen=True)
class Cohort:
    """A cohort of the Bortfall page: who is in it (a mask over the participants) and the nested chain
    it belongs to ("checkpoint": the first n randomised; "time": randomised long enough ago)."""

    key: str
    members: np.ndarray
    chain: str


def attrition_masks(
    people: pd.DataFrame,
    districts: Sequence[str],
    scopes: Sequence[str] = (SCOPE_ALL,),
    *,
    intervention_arm: str | None = None,
    cohorts: Sequence[Cohort] = (),
    per_district: bool = True,
    public: Mapping[Hashable, np.ndarray] | None = None,
) -> tuple[dict, set]:
    """Every attrition figure a role can see in each of `scopes`, as the participants it counts
    (keys (scope, figure...)); returns (masks, fixed keys). Fixed (plain randomisation counts):
    randomised in the scope, per arm, per district and per cohort. The rest: left the study (in all,
    per arm, per district), its reasons (in all and per arm; CONSORT's "lacking outcome data" is
    "left"), excluded after randomisation per arm with reasons and analysed per arm; with
    `intervention_arm` (not for a blinded role): stopped IPS (in all and the arm; still in, then
    left), its reasons (in all and still in), stopped and still in per district, and not received
    IPS; left per cohort. Without `per_district` the figures per district (left, stopped and
    still in) are left out (hidden without a decision, see `attrition_hidden_scopes`), and so is the
    randomised per district. Still in the study per arm (Översikt) is a figure too. `public`: plain
    counts another family shows in the all-districts scope (key → who they count; Balans's group sizes
    per arm at each frozen checkpoint), fixed figures here. Masks run over `people`'s rows: there are no rows for kinds of person
    nobody is, so a reader is taken to know every empty kind (more than a reader can: safe)."""
    from schema import vocab

    p = people.reset_index(drop=True)
    n = len(p)
    district = p["district_id"].astype("string").fillna("").to_numpy()
    arm = p["arm"].astype("string").fillna("").to_numpy()
    arms = sorted(set(arm))
    left = _flag(p, "is_left")
    reason = np.where(left, _reason_labels(p["left_reason"], vocab.EVENT_REASON), "")
    after = _flag(p, "is_excluded_after_randomisation") if "is_excluded_after_randomisation" in p else np.zeros(n, bool)
    after_reason = (
        np.where(after, _reason_labels(p["excluded_after_reason"], vocab.EXCLUSION_REASON), "")
        if "excluded_after_reason" in p
        else np.full(n, "", dtype=object)
    )
    analysed = _flag(p, "is_analysed") if "is_analysed" in p else np.ones(n, bool)
    stopped = _flag(p, "is_stopped_ips") if intervention_arm is not None else np.zeros(n, bool)
    stop_reason = np.where(stopped, _reason_labels(p["stopped_ips_reason"], vocab.EVENT_REASON), "")
    no_specialist = p["specialist_id"].isna().to_numpy() if "specialist_id" in p else np.zeros(n, bool)
    masks: dict[Hashable, np.ndarray] = {}
    fixed: set = set()
    for scope in scopes:
        inside = np.ones(n, dtype=bool) if scope == SCOPE_ALL else district == scope
        in_scope = sorted(set(districts)) if scope == SCOPE_ALL else [scope]

        def add(key: tuple, mask: np.ndarray, is_fixed: bool = False, scope=scope, inside=inside) -> None:
            masks[(scope, *key)] = inside & mask
            if is_fixed:
                fixed.add((scope, *key))

        add(("randomised",), np.ones(n, bool), True)
        for a in arms:
            add(("randomised", a), arm == a, True)
        for d in in_scope if per_district else ():
            add(("randomised_d", d), district == d, True)
        add(("left",), left)
        for a in arms:
            add(("left", a), left & (arm == a))
            add(("active", a), ~left & (arm == a))
            add(("analysed", a), analysed & (arm == a))
            add(("excl_after", a), after & (arm == a))
            for r in sorted(set(after_reason[inside & after & (arm == a)])):
                add(("excl_after", a, r), after & (arm == a) & (after_reason == r))
        for d in in_scope if per_district else ():
            add(("left_d", d), left & (district == d))
        for r in sorted(set(reason[inside & left])):
            add(("reason", r), reason == r)
            for a in arms:
                add(("reason", r, a), (reason == r) & (arm == a))
        if intervention_arm is not None:
            add(("stopped",), stopped)
            add(("stopped_still_in",), stopped & ~left)
            add(("stopped_then_left",), stopped & left)
            ips = arm == intervention_arm
            add(("stopped", intervention_arm), stopped & ips)
            add(("stopped_still_in", intervention_arm), stopped & ips & ~left)
            add(("not_received", intervention_arm), ips & no_specialist)
            for r in sorted(set(stop_reason[inside & stopped])):
                add(("stopped_reason", r), stop_reason == r)
                add(("stopped_reason_still", r), (stop_reason == r) & ~left)
                add(("stopped_reason", r, intervention_arm), (stop_reason == r) & ips)
            for d in in_scope if per_district else ():
                add(("still_in_d", d), stopped & ~left & (district == d))
        for c in cohorts:
            members = np.asarray(c.members, dtype=bool)
            add(("cohort_n", c.key), members, True)
            add(("cohort_left", c.key), members & left)
        if scope == SCOPE_ALL:
            for key, members in (public or {}).items():
                add(("public", key), np.asarray(members, dtype=bool), True)
    return masks, fixed


def _districts_linked(people: pd.DataFrame, masks: dict) -> bool:
    """True when the randomised per district (fixed, shown) add nothing to figures that are the same
    for every district: every district shares a kind of participant (a pattern over `masks`) with
    another, chained over all districts. Then any combination of those per-district totals that is a
    combination of the other figures is a multiple of the overall total (at an atom (d, p) the
    coefficient of district d's total must equal the others' wherever p occurs in two districts)."""
    if not masks or people.empty:
        return True
    bits = np.column_stack([np.asarray(m).astype(np.int64) for m in masks.values()])
    _, kind = np.unique(bits, axis=0, return_inverse=True)
    district = people["district_id"].astype(str).to_numpy()
    parent: dict[str, str] = {d: d for d in district}

    def root(d: str) -> str:
        while parent[d] != d:
            parent[d] = parent[parent[d]]
            d = parent[d]
        return d

    first: dict[int, str] = {}
    for k, d in zip(kind.ravel(), district, strict=True):
        if k in first:
            parent[root(d)] = root(first[k])
        else:
            first[k] = d
    return len({root(d) for d in parent}) == 1


def _increments_hidden(values: dict, is_hidden: Callable[[Hashable], bool], chains: dict, total: int, threshold: int):
    """Cohort figures to hide so that along each nested chain (largest cohort first, starting from
    the scope's total "left", shown anyway) no shown "left" differs from the previous shown one by
    1..threshold: that difference would be a few people's events."""
    out = set()
    for chain in chains.values():
        last = total
        for key in chain:
            if is_hidden(key):
                continue
            step = values[key] - last
            if 0 < abs(step) <= threshold:
                out.add(key)
            else:
                last = values[key]
    return out


def attrition_hidden_scopes(
    people: pd.DataFrame,
    rule: Policy | None,
    districts: Sequence[str],
    *,
    intervention_arm: str | None = None,
    cohorts: Sequence[Cohort] = (),
    public: Mapping[Hashable, np.ndarray] | None = None,
    extra: tuple[Mapping[Hashable, np.ndarray], set] | None = None,
) -> dict:
    """scope → the attrition figures (`attrition_masks` keys without the scope) hidden in it, for
    `SCOPE_ALL` and each of `districts` (a suppressed role may choose all or one), decided together
    with `joint_hidden`; nested cohorts also keep their "left" counts apart by more than the
    threshold (`_increments_hidden`, repeated with the joint decision until both hold). `people`:
    every participant of `districts`. `public`: plain counts over these participants that another
    family shows in the all-districts scope (`attrition_masks`), known to the reader; without them the
    Balans tabs' group sizes per arm and checkpoint gave back, on some random studies, a hidden "left"
    per arm. `extra`: (figures, fixed keys) of another family over the same participants, as counts per
    participant (the follow-up family: a participant has one follow-up per timepoint), decided in the
    same system; their hidden keys come back under "extra". Pages, downloads and the steering report
    mask exactly these."""
    districts = tuple(sorted(districts))
    scopes = [SCOPE_ALL, *(districts if len(districts) > 1 else [])]
    if rule is None or people.empty:
        return dict.fromkeys(scopes, frozenset())
    decided = _decided_scopes(districts)
    per_district = len(districts) <= MAX_JOINT_DISTRICTS
    masks, fixed = attrition_masks(
        people,
        districts,
        decided,
        intervention_arm=intervention_arm,
        cohorts=cohorts,
        per_district=per_district,
        public=public,
    )
    if not per_district and not _districts_linked(people, masks):
        masks, fixed = attrition_masks(
            people, districts, decided, intervention_arm=intervention_arm, cohorts=cohorts, public=public
        )
        masks = {k: m for k, m in masks.items() if k[1] not in ("left_d", "still_in_d")}
    if extra is not None:
        masks.update({("extra", *k): m for k, m in extra[0].items()})
        fixed |= {("extra", *k) for k in extra[1]}
    values = {k: int(np.asarray(m, dtype=np.int64).sum()) for k, m in masks.items()}
    chains: dict = {}
    for scope in decided:
        for c in sorted(cohorts, key=lambda c: -int(np.count_nonzero(c.members))):
            chains.setdefault((scope, c.chain), []).append((scope, "cohort_left", c.key))
    forced: set = set()
    hidden: set = set()
    while True:
        small = forced or any(k not in fixed and 0 < v <= rule.threshold for k, v in values.items())
        hidden = joint_hidden(masks, rule.threshold, fixed=fixed, forced=forced) if small else set()
        more = set()
        for (scope, _), chain in chains.items():
            more |= _increments_hidden(values, hidden.__contains__, {0: chain}, values[(scope, "left")], rule.threshold)
        if more <= hidden | forced:  # (a forced figure counting the same people as a fixed one stays shown)
            break
        forced |= more
    out = _split_by_scope(hidden, [*scopes, *(["extra"] if extra is not None else [])])
    if not per_district:
        # Beyond MAX_JOINT_DISTRICTS districts (the problem grows with districts × kinds of person) the
        # figures per district are hidden in the all-districts scope, and a district's own scope shows
        # its fixed figures only: nothing there is decided, so nothing can be differenced.
        out[SCOPE_ALL] = out[SCOPE_ALL] | {(f, d) for d in districts for f in ("left_d", "still_in_d")}
        arms = {str(a) for a in people["arm"].dropna()}
        for d in districts:
            shown = {("randomised",), ("randomised_d", d), *(("randomised", a) for a in arms)}
            out[d] = ShownOnly(frozenset(shown | {("cohort_n", c.key) for c in cohorts}))
    return out


# --- the follow-up family: Uppföljning, Översikt's completion, the steering report ------------------

FOLLOWUP_DONE = ("done_on_time", "done_late")
FOLLOWUP_CLOSED = ("done_on_time", "done_late", "overdue", "missed")


def due_quarter(due_on: pd.Series) -> np.ndarray:
    """The completion table's quarter of a due date, as its row label ("2024 K3")."""
    days = pd.to_datetime(due_on)
    return np.array([f"{d.year} K{d.quarter}" for d in days], dtype=object)


def followup_masks(rows: pd.DataFrame, districts: Sequence[str], statuses: Sequence[str], *, per_unit: bool = True):
    """Every follow-up figure a suppressed role sees (all districts), as the follow-up rows (one per
    participant and timepoint) it counts; returns (masks, fixed). Keys: ("tp", months, status or
    "total") for the table per timepoint; ("unit", unit, status or "total") for the table per unit
    (over all timepoints: per unit and timepoint, with the randomisations per district and month
    known, most cells of a small study had to be hidden); ("done",), ("closed",), ("due",), ("overdue",), ("missed",), ("actions",) for the metrics and
    the overview; ("q", quarter, "done" or "closed") for the completion per quarter of the due date;
    ("district", d, "done" / "closed" / "overdue") for the completion per district (the overview in
    one district, the steering report). Fixed (plain randomisation counts): every timepoint's total
    (everyone randomised has one row per timepoint), and the rows per district, timepoint and month of
    the due date (randomisations per month and district are shown on Rekrytering). A table lists only
    the groups that occur, so a group it does not list is a fixed 0 (quarters without a closed
    window). Without `per_unit` the unit and district figures are left out."""
    r = rows.reset_index(drop=True)
    status = r["status"].astype(str).to_numpy()
    months = r["timepoint_months"].astype(int).to_numpy()
    unit = r["unit"].astype("string").fillna("").to_numpy()
    district = r["district_id"].astype(str).to_numpy()
    quarter = due_quarter(r["due_on"])
    due_month = pd.to_datetime(r["due_on"]).dt.strftime("%Y-%m").to_numpy()
    done = np.isin(status, FOLLOWUP_DONE)
    closed = np.isin(status, FOLLOWUP_CLOSED)
    masks: dict[Hashable, np.ndarray] = {}
    fixed: set = set()

    def add(key, mask, is_fixed=False):
        masks[key] = np.asarray(mask, dtype=bool)
        if is_fixed:
            fixed.add(key)

    timepoints = sorted(set(months))
    for t in timepoints:
        add(("tp", t, "total"), months == t, True)
        for s in statuses:
            add(("tp", t, s), (months == t) & (status == s))
    add(("done",), done)
    add(("closed",), closed)
    for s in ("due", "overdue", "missed"):
        add((s,), status == s)
    if "is_on_action_list" in r:
        add(("actions",), r["is_on_action_list"].astype(bool).to_numpy())
    for q in sorted(set(quarter)):
        in_q = quarter == q
        listed = bool((in_q & closed).any())
        add(("q", q, "closed"), in_q & closed, not listed)
        if listed:
            add(("q", q, "done"), in_q & done)
    if per_unit:
        for d, t, m in sorted(set(zip(district, months, due_month, strict=True))):
            add(("month", d, t, m), (district == d) & (months == t) & (due_month == m), True)
    else:
        # No figure tells districts apart, so per district the months add nothing a reader could use
        # that their sums over districts do not (unless the reader knew each district's statuses,
        # which nothing shows); the rows per district and month would make the system 400 times larger.
        for t, m in sorted(set(zip(months, due_month, strict=True))):
            add(("month", t, m), (months == t) & (due_month == m), True)
    if per_unit:
        for u in sorted(set(unit)):
            here = unit == u
            add(("unit", u, "total"), here)
            for s in statuses:
                add(("unit", u, s), here & (status == s))
        for d in sorted(set(districts)):
            mine = district == d
            add(("district", d, "done"), mine & done)
            add(("district", d, "closed"), mine & closed)
            add(("district", d, "overdue"), mine & (status == "overdue"))
    return masks, fixed


def followup_per_participant(
    rows: pd.DataFrame, people: pd.DataFrame, districts: Sequence[str], statuses: Sequence[str]
) -> tuple[dict, set]:
    """The follow-up figures (`followup_masks`) as counts per participant of `people` (one follow-up per
    timepoint each), to be decided with the attrition family over the same participants: a follow-up is
    "not applicable" when its participant left before the window closed, so the two families share
    "left" (docs/access.md)."""
    per_unit = len(set(districts)) <= MAX_JOINT_DISTRICTS
    masks, fixed = followup_masks(rows, districts, statuses, per_unit=per_unit)
    position = pd.Series(np.arange(len(people)), index=people["study_code"].astype(str).to_numpy())
    owner = rows["study_code"].astype(str).map(position)
    known = owner.notna().to_numpy()
    owner = owner.fillna(-1).astype(np.int64).to_numpy()
    counts = {k: np.bincount(owner[np.asarray(m, dtype=bool) & known], minlength=len(people)) for k, m in masks.items()}
    return counts, fixed


def followup_hidden_beyond(rows: pd.DataFrame, districts: Sequence[str], statuses: Sequence[str]) -> set:
    """Beyond `MAX_JOINT_DISTRICTS`: every figure per unit and per district, hidden without a decision
    (the system grows with units; `followup_per_participant` leaves them out there)."""
    units = sorted(set(rows["unit"].astype("string").fillna("")))
    return {("unit", u, s) for u in units for s in [*statuses, "total"]} | {
        ("district", d, f) for d in districts for f in ("done", "closed", "overdue")
    }
