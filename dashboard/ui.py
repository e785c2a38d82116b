"""What every page shares: the run context (store, viewer, gate, filters), the sidebar, headings,
empty states and downloads. The entry point builds the context once per script run; pages read it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date

import pandas as pd
import streamlit as st

from dashboard import auth, exports, navigation, privacy, store
from dashboard import queries as q
from dashboard.access import (
    ASOF_ROLES,
    ROLES,
    AccessDenied,
    Gate,
    StudyState,
    Viewer,
    parse_demo_role,
    read_config,
    scoped_config,
)
from etl.asof import as_of_text
from etl.paths import store_path
from schema.config import StudyConfig
from schema.vocab import normalize_token

_CTX_KEY = "_ipsdash_run_context"


@dataclass
class RunContext:
    gate: Gate | None
    viewer: Viewer
    config: StudyConfig | None
    target: str | None
    selected: tuple[str, ...]  # districts chosen in the filter (within the viewer's scope)
    loaded_at: object | None = None
    extract: date | None = None  # the load's extract date; the config's cut-off is the as-of date

    @property
    def as_of_text(self) -> str:
        """'per 2024-09-30', or 'per 2024-06-30 (datauttag 2024-09-30)' when the two differ."""
        return as_of_text(self.cutoff, self.extract)

    @property
    def cutoff(self) -> date | None:
        return self.config.data_cutoff if self.config else None

    @property
    def state(self) -> StudyState:
        return self.gate.state if self.gate else StudyState(closed=False)

    def district_name(self, district_id: str) -> str:
        if self.config is None:
            return district_id
        try:
            return self.config.district(district_id).display_name()
        except StopIteration:
            return district_id

    def short_name(self, district_id: str) -> str:
        try:
            return self.config.district(district_id).name if self.config else district_id
        except StopIteration:
            return district_id


def _resolve_districts(config: StudyConfig, names: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if names is None:
        return None
    lookup = config.district_lookup()
    out = []
    for name in names:
        key = lookup.get(normalize_token(name))
        if key is None:
            raise AccessDenied(f"Stadsdelen ”{name}” finns inte i studien.")
        out.append(key)
    return tuple(out)


def _demo_viewer(config: StudyConfig | None) -> Viewer:
    """Demo mode (no login configured): a role switcher, preselected by IPSDASH_DEMO_ROLE."""
    st.sidebar.warning("**Demoläge** – ingen inloggning är konfigurerad. Välj roll nedan.", icon="🧪")
    preset = os.environ.get("IPSDASH_DEMO_ROLE", "projektledare")
    default = parse_demo_role(preset) if preset else Viewer("projektledare")
    roles = list(ROLES)
    role = st.sidebar.selectbox(
        "Roll", roles, index=roles.index(default.role), format_func=lambda r: ROLES[r], key="demo_role"
    )
    districts = None
    if role == "enhetschef" and config is not None:
        options = [d.id for d in config.districts]
        preset_ids = (
            list(_resolve_districts(config, default.districts) or options[:1])
            if default.role == "enhetschef"
            else options[:1]
        )
        chosen = st.sidebar.multiselect(
            "Enhetschefens stadsdelar",
            options,
            default=preset_ids,
            format_func=lambda d: config.district(d).name,
            key="demo_districts",
            placeholder="Välj stadsdel",  # Streamlit's own is English ("Choose options")
        )
        districts = tuple(chosen) or tuple(options[:1])
    elif default.districts and config is not None and role == default.role:
        districts = _resolve_districts(config, default.districts)
    return Viewer(role=role, districts=districts, user="demo")


def _refuse(message: str) -> None:
    st.error(message, icon="⛔")
    st.stop()


def build_context() -> RunContext:
    """Decide the viewer (login or demo), open the store and build the gate. Called once per run by
    app.py. Nothing the browser sends (query parameters, widget or session state) decides the role
    when login is configured: only the login's identity claim and the roles file do."""
    st.session_state.pop(_CTX_KEY, None)
    mode = auth.login_mode()
    if mode == "broken":
        auth.stop_broken()
    login = auth.login_viewer(store_path()) if mode == "login" else None
    opened = store.cursor()
    if opened is None:
        viewer = login or _demo_viewer(None)
        ctx = RunContext(gate=None, viewer=viewer, config=None, target=None, selected=())
        st.session_state[_CTX_KEY] = ctx
        return ctx
    cur, target = opened
    full_config = read_config(cur)
    extract = full_config.data_cutoff
    try:
        if login is not None:
            viewer = Viewer(login.role, _resolve_districts(full_config, login.districts), login.user)
        else:
            viewer = _demo_viewer(full_config)
        store_id = target
        as_of = _as_of_choice(viewer, full_config)
        if as_of is not None and as_of != extract:
            # The same SQL on inputs cut at the chosen date, computed on demand and cached.
            cur, store_id = store.as_of_cursor(target, as_of)
            full_config = read_config(cur)
        gate = Gate(cur, viewer, store_id=store_id)
    except AccessDenied as exc:
        _refuse(str(exc))
    config = scoped_config(full_config, gate.districts)
    loaded_at = q.last_loaded_at(gate)["loaded_at"].iloc[0]
    loaded_at = None if pd.isna(loaded_at) else loaded_at
    options = list(gate.districts)
    if viewer.suppress_small_cells:
        # All districts or exactly one (docs/access.md, "Across scopes"): the suppression decides these
        # scopes together; any other subset would be a new difference of totals, so it is refused.
        selected = st.sidebar.multiselect(
            "Stadsdelar",
            options,
            default=[],
            max_selections=1,
            key="district_filter",
            format_func=lambda d: config.district(d).name if d in options else "–",
            help="Visa en stadsdel. Tomt val visar alla som din roll får se.",
            placeholder="Alla stadsdelar",  # an empty choice shows all; Streamlit's own text is English
        )
    else:
        selected = st.sidebar.multiselect(
            "Stadsdelar",
            options,
            default=options,
            key="district_filter",
            format_func=lambda d: config.district(d).name if d in options else "–",
            help="Visa bara valda stadsdelar. Tomt val visar alla som din roll får se.",
            placeholder="Alla stadsdelar",  # an empty choice shows all; Streamlit's own text is English
        )
    # The filter only narrows within the viewer's scope; the gate's views enforce the scope itself.
    chosen = tuple(d for d in selected if d in options)
    if viewer.suppress_small_cells:
        # The mask text also stands on complements (larger figures hidden so that a small one cannot be
        # worked out from sums): say so, or "<5" beside a hidden 33 reads as a false figure.
        st.sidebar.caption(privacy.mask_legend(config))
    if viewer.suppress_small_cells and len(set(chosen)) > 1 and set(chosen) != set(options):
        st.sidebar.warning("Din roll kan välja en stadsdel eller alla. Alla visas.", icon="🔒")
        chosen = ()
    ctx = RunContext(
        gate=gate,
        viewer=viewer,
        config=config,
        target=target,
        selected=chosen or tuple(options),
        loaded_at=loaded_at,
        extract=extract,
    )
    _sidebar_facts(ctx)
    st.session_state[_CTX_KEY] = ctx
    return ctx


def _sidebar_facts(ctx: RunContext) -> None:
    assert ctx.config is not None
    if ctx.extract is not None and ctx.extract != ctx.cutoff:
        st.sidebar.markdown(f"**Per:** {ctx.cutoff.isoformat()} · **Datauttag:** {ctx.extract.isoformat()}")
    else:
        st.sidebar.markdown(f"**Datauttag:** {ctx.cutoff.isoformat()}")
    if ctx.loaded_at is not None:
        st.sidebar.caption(f"Inläst {pd.Timestamp(ctx.loaded_at):%Y-%m-%d %H:%M} · {ctx.viewer.label()}")
    if not ctx.state.closed:
        st.sidebar.info(
            f"🔒 **Blindat.** Utfall per grupp visas inte förrän studien stängs "
            f"(planerat {ctx.config.planned_close.isoformat()}).",
        )


def _as_of_choice(viewer: Viewer, config: StudyConfig) -> date | None:
    """The as-of date chosen in the sidebar, for the roles that prepare meetings (access.ASOF_ROLES;
    not the steering group); None: the extract date."""
    if viewer.role not in ASOF_ROLES or config.data_cutoff is None:
        return None
    extract = config.data_cutoff
    start = min([config.recruitment_start, *(d.start for d in config.districts)])
    if start > extract:
        return None
    chosen = st.sidebar.date_input(
        "Per datum",
        value=extract,
        min_value=start,
        max_value=extract,
        format="YYYY-MM-DD",
        key="as_of",
        help="Visa siffrorna som de såg ut ett tidigare datum (t.ex. kvartalets sista dag). Steg daterade "
        "efter datumet räknas som inte inträffade än. Standard: datauttagets datum.",
    )
    return chosen if isinstance(chosen, date) else None


def allowed_pages(ctx: RunContext) -> tuple[str, ...]:
    return navigation.keys_for(ctx.viewer.role)


def context() -> RunContext:
    ctx = st.session_state.get(_CTX_KEY)
    if ctx is None:
        ctx = build_context()
    return ctx


def require_page(ctx: RunContext, key: str) -> None:
    """Stop the page `key` when the registry does not give it to the viewer's role (even when
    reached by URL). `page` does this for every page that needs a loaded store."""
    if key not in allowed_pages(ctx):
        st.error("Din roll har inte behörighet till den här sidan.")
        st.stop()


def page(key: str) -> RunContext:
    """Heading and question of the registry's page `key`, and the cut-off. Stops the page when the
    viewer's role may not open it (even when reached by URL) or when the store is empty (with an
    explanation)."""
    ctx = context()
    entry = navigation.page(key)
    require_page(ctx, key)
    st.title(entry.title)
    caption = entry.question
    if ctx.cutoff:
        caption += f" · Data **{ctx.as_of_text}**"
    st.caption(caption)
    if ctx.gate is None:
        st.info(
            "Det finns ingen inläst data än. Projektledaren läser in studiens filer på sidan "
            "**Inläsning** (eller med `ipsdash load MAPP`); prova demostudien med "
            "`ipsdash demo --out demo` följt av `ipsdash load demo`.",
            icon="📭",
        )
        st.stop()
    return ctx


def counter(ctx: RunContext):
    """Formats a count, masking small cells for roles whose figures leave the project group."""
    return privacy.counter(ctx.viewer, ctx.config)


def suppress_table(ctx: RunContext, frame: pd.DataFrame, count_columns: list[str], **options) -> pd.DataFrame:
    """`frame` as this run's viewer may see it (`privacy.suppress_table`)."""
    return privacy.suppress_table(ctx.viewer, ctx.config, frame, count_columns, **options)


def alerts(ctx: RunContext, people: pd.DataFrame, followups: pd.DataFrame) -> list[tuple[str, str, str]]:
    """The alert list for the selected districts; `people` and `followups` must be the queries'
    answers for `ctx.selected` (they are, given the key, so the cached list is theirs)."""
    from dashboard import alerts as alert_rules

    return memo(
        ctx,
        "alerts",
        lambda: alert_rules.collect(ctx.gate, ctx.config, ctx.selected, people, followups, ctx.short_name),
    )


def _scope_of(ctx: RunContext) -> tuple:
    """What a cached answer for `ctx` depends on: the store version, the viewer's scope (through the
    gate) and the districts chosen in the filter. The cache hashes this instead of the context."""
    return q.scope_digest((ctx.target, q.gate_scope(ctx.gate), ctx.selected))


@st.cache_data(max_entries=512, ttl=3600, show_spinner=False, hash_funcs={RunContext: _scope_of})
def _memo(ctx: RunContext, name: str, params: tuple, _compute):
    return _compute()


def _viewer_scope_of(ctx: RunContext) -> bytes:
    """The store version and the viewer's scope, without the districts chosen in the filter."""
    return q.scope_digest((ctx.target, q.gate_scope(ctx.gate)))


@st.cache_data(max_entries=8192, ttl=3600, show_spinner=False, hash_funcs={RunContext: _viewer_scope_of})
def _memo_whole(ctx: RunContext, name: str, params: tuple, _compute):
    return _compute()


def memo_whole(ctx: RunContext, name: str, compute, *params):
    """As `memo`, but keyed without the districts chosen in the filter: on the store version, the
    viewer's scope (`gate_scope`), the name and `params`. For a computation over every district the
    viewer may see (the suppression decided for all scopes at once, `privacy`), computed once per
    store version and scope and shared by every district choice. `compute` may only use data that
    those determine, never what the filter chose."""
    assert ctx.gate is not None
    return _memo_whole(ctx, name, params, compute)


def memo_each(ctx: RunContext, name: str, keys: tuple[str, ...], compute) -> dict:
    """`compute(key)` for each of `keys` (district ids, say), each cached on its own like `memo_whole`
    (keyed by the store version, the viewer's scope, `name` and the key): work that changes only when
    the data change is done once per key, whichever rows a page, filter or download asks for."""
    return {key: memo_whole(ctx, name, lambda key=key: compute(key), key) for key in keys}


def scope(ctx: RunContext) -> str:
    """The chosen districts as a suppression scope (`privacy.scope_of`): all, or the one district."""
    return privacy.scope_of(ctx.selected, ctx.gate.districts if ctx.gate is not None else ctx.selected)


def intervention_label(ctx: RunContext) -> str | None:
    """The IPS arm's label as this viewer sees arms; None for a blinded viewer (coded arms)."""
    if ctx.gate is None or ctx.gate.coded or ctx.config is None:
        return None
    return next((a.label for a in ctx.config.arms if a.key == "ips"), None)


def _hidden_in_scope(ctx: RunContext, name: str, decide, *params, part: str | None = None):
    """The figures a family's decision (`decide(rule, gate)`: scope → hidden, every scope the viewer
    can choose decided together) hides in this run's scope (or in `part` of the decision), computed
    once per store version and viewer's scope (`memo_whole`); an empty set for a role without
    suppression."""
    rule = privacy.policy(ctx.viewer, ctx.config)
    if rule is None or ctx.gate is None or ctx.config is None:
        return frozenset()
    gate = ctx.gate
    return memo_whole(ctx, name, lambda: decide(rule, gate), *params)[part or scope(ctx)]


def _attrition_decide(ctx: RunContext):
    """`decide(rule, gate)` for the attrition family decided with the follow-up family over the same
    participants (`attrition.hidden_by_scope`): scope → hidden, and "followup" → the follow-up keys."""
    from dashboard import attrition, balance

    config = ctx.config

    def decide(rule, gate) -> dict:
        reached = q.balance_checkpoints_frozen(gate)
        return attrition.hidden_by_scope(
            q.participants(gate, gate.districts),
            rule,
            gate.districts,
            sizes=balance.checkpoint_sizes(config.target_randomised, config.balance.checkpoints),
            reached_on={int(r["checkpoint"]): pd.Timestamp(r["reached_on"]).date() for _, r in reached.iterrows()},
            cutoff=ctx.cutoff,
            intervention_arm=intervention_label(ctx),
            frozen=q.balance_checkpoint_rows(gate, tuple(gate.districts)),
            followups=q.followup_status(gate, tuple(gate.districts)),
        )

    return decide


def attrition_hidden(ctx: RunContext):
    """The attrition figures hidden in this run's scope (`privacy.attrition_hidden_scopes`)."""
    return _hidden_in_scope(ctx, "attrition_hidden", _attrition_decide(ctx))


def followup_hidden(ctx: RunContext) -> frozenset:
    """The follow-up figures hidden from this viewer (`privacy.followup_masks` keys): decided with the
    attrition family over the same participants, once per store version and viewer scope; empty for a
    role without suppression."""
    return _hidden_in_scope(ctx, "attrition_hidden", _attrition_decide(ctx), part="followup")


def recruitment_hidden(ctx: RunContext):
    """The recruitment figures hidden in this run's scope (`privacy.recruitment_hidden_scopes`)."""
    return _hidden_in_scope(
        ctx,
        "recruitment_hidden",
        lambda rule, gate: privacy.recruitment_hidden_scopes(
            q.referral_funnel(gate, gate.districts), rule, gate.districts
        ),
    )


def caseload_hidden(ctx: RunContext):
    """The caseload figures hidden in this run's scope (`privacy.caseload_hidden_scopes`)."""
    cutoff = ctx.config.data_cutoff if ctx.config is not None else None
    return _hidden_in_scope(
        ctx,
        "caseload_hidden",
        lambda rule, gate: privacy.caseload_hidden_scopes(
            q.caseload_by_district_on(gate, gate.districts, cutoff), rule, gate.districts
        ),
        str(cutoff),
    )


def memo(ctx: RunContext, name: str, compute, *params):
    """A heavy pure computation cached like the queries: keyed on the store version, the viewer's
    scope and the selected districts (`_scope_of`), the computation's name and its parameters.
    `compute` takes no arguments and may only use data that those determine (the cached queries for
    this gate and selection, the scoped configuration). Never for outcomes."""
    assert ctx.gate is not None
    return _memo(ctx, name, params, compute)


# The progress bar for "share of target" in the overview's and the recruitment page's tables.
SHARE_OF_TARGET = {
    "Andel av mål (%)": st.column_config.ProgressColumn("Andel av mål", format="%d %%", min_value=0, max_value=100)
}


PAGE_ROWS = 100  # a longer table is shown a page at a time; its download holds every row


def pager(n_rows: int, key: str) -> slice:
    """Which rows of a table of `n_rows` to show in this run: all of them up to `PAGE_ROWS`, else the
    page chosen in a small page picker (`key` names it). Long tables are never sent to the browser
    whole (issue 14): a page of a 400-district table needs only its own rows computed."""
    if n_rows <= PAGE_ROWS:
        return slice(0, n_rows)
    pages = -(-n_rows // PAGE_ROWS)
    left, right = st.columns([1, 5], vertical_alignment="bottom")
    number = left.number_input("Sida", min_value=1, max_value=pages, value=1, step=1, key=f"{key}_page")
    first = (int(number) - 1) * PAGE_ROWS
    last = min(first + PAGE_ROWS, n_rows)
    right.caption(f"Rad {first + 1}–{last} av {n_rows} ({pages} sidor). Nedladdningen innehåller hela tabellen.")
    return slice(first, last)


def short_headers(labels: dict[str, tuple[str, str]]) -> dict:
    """Column settings showing each column named in `labels` under a short header, with its full name
    and meaning as the header's help (the grid's tooltip), so that a table fits a laptop's width
    (1366 px, sidebar open) without scrolling sideways. The frame keeps its full column names, and so
    do its downloads. `labels`: column → (short header, help)."""
    return {c: st.column_config.Column(label, help=text) for c, (label, text) in labels.items()}


def date_columns(*names: str) -> dict:
    """Column settings showing the columns `names` as YYYY-MM-DD."""
    return {c: st.column_config.DateColumn(c, format="YYYY-MM-DD") for c in names}


def grid(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` for the grid: a column holding text (a dash, a mask) beside numbers is text throughout,
    as the grid would show it anyway (Streamlit otherwise logs a failed Arrow conversion on every run
    and converts it itself). Downloads keep the numbers."""
    mixed = [c for c in frame.columns if frame[c].dtype == object and any(isinstance(v, str) for v in frame[c])]
    if not mixed:
        return frame
    out = frame.copy()
    for column in mixed:
        out[column] = [None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v) for v in out[column]]
    return out


def table(
    frame: pd.DataFrame,
    key: str,
    *,
    dates: tuple[str, ...] = (),
    times: tuple[str, ...] = (),
    download: tuple[str, str] | None = None,
    count_columns: list[str] | None = None,
    **options,
) -> None:
    """`st.dataframe` of a table, a page at a time when it is long (`pager`), the columns in `dates`
    shown as YYYY-MM-DD and those in `times` as YYYY-MM-DD HH:mm, and with `download` = (topic, key)
    the whole table's CSV and Excel under it (`downloads`)."""
    config = date_columns(*dates) | {c: st.column_config.DatetimeColumn(c, format="YYYY-MM-DD HH:mm") for c in times}
    config |= options.pop("column_config", None) or {}
    rows = frame.iloc[pager(len(frame), key)]
    # A missing date in a column of Python dates reaches the browser as the text "None": as a date column
    # (NaT) it shows empty.
    rows = rows.assign(**{c: pd.to_datetime(rows[c]) for c in dates if rows[c].isna().any()})
    st.dataframe(grid(rows), hide_index=True, width="stretch", column_config=config or None, **options)
    if download is not None:
        downloads(frame, download[0], download[1], count_columns)


def empty(message: str = "Inga deltagare i urvalet.") -> None:
    st.info(message + " Ändra stadsdelsfiltret i sidomenyn för att se fler.", icon="🔎")


LAZY_DOWNLOAD_CELLS = 20_000  # tables larger than this are built on click, not on every run


def download_frame(
    viewer: Viewer, config: StudyConfig | None, frame: pd.DataFrame, count_columns: list[str] | None = None
) -> pd.DataFrame | None:
    """The frame as `viewer` may take it away (`privacy.download_frame`)."""
    return privacy.download_frame(viewer, config, frame, count_columns)


def download_bytes(
    viewer: Viewer, config: StudyConfig | None, frame: pd.DataFrame, topic: str, count_columns: list[str] | None = None
) -> tuple[bytes, bytes] | None:
    """CSV and Excel bytes exactly as `downloads` offers them to `viewer` (None: no download)."""
    shown = download_frame(viewer, config, frame, count_columns)
    if shown is None:
        return None
    cutoff = config.data_cutoff if config else None
    # The run's extract date (an as-of view's configuration carries the as-of date as its cut-off).
    ctx = st.session_state.get(_CTX_KEY)
    extract = ctx.extract if isinstance(ctx, RunContext) else None
    note = f"{topic} · data {as_of_text(cutoff, extract)}"
    if viewer.suppress_small_cells and config is not None:
        note += " · " + privacy.mask_legend(config)
    files = _file_bytes(shown, frame_digest(shown), topic, note)
    privacy.record_download(shown, files)  # the declaration of its count columns, kept on the server
    return files


def frame_digest(frame: pd.DataFrame) -> str:
    """A digest of a frame's whole content: column names, dtypes, index and every value.
    (Streamlit's own hashing samples frames of 50 000 rows or more, too weak for a cache key.)"""
    import hashlib

    h = hashlib.sha256()
    h.update(repr((list(map(str, frame.columns)), list(map(str, frame.dtypes)), frame.shape)).encode())
    try:
        h.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    except TypeError:  # unhashable cells (lists, dicts): fall back to their text
        h.update(frame.to_csv(index=True).encode())
    return h.hexdigest()


@st.cache_data(max_entries=256, ttl=3600, show_spinner=False)
def _file_bytes(_shown: pd.DataFrame, digest: str, topic: str, note: str) -> tuple[bytes, bytes]:
    """CSV and Excel bytes of exactly the frame to be downloaded, keyed on its full content (as
    the viewer may take it away, masking already applied), the topic and the note: the same key
    can only give the same bytes, so nothing a viewer may not see can be served to them."""
    return exports.csv_bytes(_shown), exports.xlsx_bytes(_shown, topic, note)


def _record_download(viewer: Viewer, target: str | None, topic: str, kind: str) -> None:
    actor = viewer.user if viewer.user != "demo" else f"demo:{viewer.role}"
    auth.record_event(store_path(), actor, "download", f"{topic} ({kind}) · {viewer.label()}", target or "")


def downloads(frame: pd.DataFrame, topic: str, key: str, count_columns: list[str] | None = None, *, whole=None) -> None:
    """CSV and Excel of the table behind a chart or table, side by side; suppressed for roles whose
    figures leave the project group; every download is recorded in the app audit trail. `whole`: a
    function giving the whole table when `frame` is only the page on screen (same columns); it runs
    when a button is clicked, not on every page run."""
    ctx = context()
    if whole is not None or frame.size > LAZY_DOWNLOAD_CELLS:
        # Large tables: the same bytes, built (and cached) when the button is clicked rather than
        # on every page run (an Excel file of tens of thousands of cells takes over a second).
        if download_frame(ctx.viewer, ctx.config, frame, count_columns) is None:
            st.caption("Tabeller på deltagarnivå laddas inte ned i den här rollen.")
            return
        viewer, config = ctx.viewer, ctx.config

        def csv():
            return download_bytes(viewer, config, frame if whole is None else whole(), topic, count_columns)[0]

        def xlsx():
            return download_bytes(viewer, config, frame if whole is None else whole(), topic, count_columns)[1]
    else:
        made = download_bytes(ctx.viewer, ctx.config, frame, topic, count_columns)
        if made is None:
            st.caption("Tabeller på deltagarnivå laddas inte ned i den här rollen.")
            return
        csv, xlsx = made
    stem = exports.file_stem(topic, ctx.cutoff)
    xlsx_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    left, right, _ = st.columns([1, 1, 4])
    for column, label, data, kind, mime in [
        (left, "⬇ CSV", csv, "csv", "text/csv"),
        (right, "⬇ Excel", xlsx, "xlsx", xlsx_type),
    ]:
        column.download_button(
            label,
            data,
            f"{stem}.{kind}",
            mime,
            key=f"{key}_{kind}",
            on_click=_record_download,
            args=(ctx.viewer, ctx.target, topic, kind),
        )


def chart(ctx: RunContext, name: str, build, *params, width: str = "stretch") -> None:
    """Draw an Altair chart whose Vega-Lite spec is cached like `memo` (same key rules): building
    the chart and turning it into a spec (Altair's public `to_dict`) costs ~0.1–0.3 s per run, the
    cached spec is drawn as is. `build` takes no arguments and may only use data the key determines."""
    spec = memo(ctx, f"chart:{name}", lambda: build().to_dict(), *params)
    st.vega_lite_chart(spec, width=width)
