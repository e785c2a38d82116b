"""The Inläsning page's parts: upload handling, the check's tables and diff, the fix-list
downloads, publish and roll back. Every act re-checks the viewer's role here, on the server,
before it touches a file: the page's own guard is not the only lock.

The files themselves are handled by `etl/staging.py` (private staging folder, personnummer scan,
dry run, publish, roll back) and `etl/fixlist.py` (the workbooks)."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pandas as pd
import streamlit as st

from dashboard import auth
from dashboard.access import (
    PUBLISHING_ROLES,
    ROLLBACK_ROLES,
    AccessDenied,
    StudyState,
    Viewer,
    rejected_values_visible,
)
from etl import audit, fixlist, read, staging
from etl.paths import store_path
from schema import rounding
from schema.sources import SOURCES

__all__ = ["staging"]  # the page reaches etl.staging through this module (pages import only dashboard)

# Session-state keys of the page's own state (widget keys are `inl_*`).
TOKEN = "_inl_session"
CHECK = "_inl_checked"
REFUSED = "_inl_refused"
DONE = "_inl_done"
UPLOADER = "_inl_uploader"
MASKED = "(dolt medan studien är låst)"
PLAIN_TABLE_ROWS = 60  # up to this many rejected rows are drawn as a plain table
ACTIONS_SV = {
    "publish": "Publicering",
    "rollback": "Återställning",
    "refused_upload": "Vägrad fil",
    "sync_failed": "Synkronisering misslyckades",
    "close_study": "Studien stängd",
}


def source_titles() -> dict[str, str]:
    return {s.key: s.title_sv for s in SOURCES}


def db_path():
    return store_path()


def actor(viewer: Viewer) -> str:
    return viewer.user if viewer.user != "demo" else f"demo:{viewer.role}"


def _require(viewer: Viewer, roles: set[str]) -> None:
    if viewer.role not in roles:
        raise AccessDenied("Din roll har inte behörighet att ändra den publicerade datan.")


# --- source folder -------------------------------------------------------------------------------


def folder_files(sources) -> pd.DataFrame:
    rows = []
    if sources.is_dir():
        for path in sorted(p for p in sources.rglob("*") if p.is_file()):
            rows.append(
                {
                    "Fil": path.relative_to(sources).as_posix(),
                    "SHA-256 (början)": read.sha256_file(path)[:12],
                    "Storlek (kB)": rounding.round_float(Fraction(path.stat().st_size, 1024), 1),
                }
            )
    return pd.DataFrame(rows, columns=["Fil", "SHA-256 (början)", "Storlek (kB)"])


# --- uploads -------------------------------------------------------------------------------------


def start(root) -> staging.Session:
    session = staging.new_session(root)
    st.session_state[TOKEN] = session.token
    st.session_state.pop(CHECK, None)
    return session


def take_uploads(session: staging.Session, files, redcap_files, db, who: str) -> None:
    """Keep each uploaded file (scanned first); refused files' messages for the next run."""
    viewer = ui_viewer()
    _require(viewer, PUBLISHING_ROLES)
    messages = []
    for item, is_redcap in [*((f, False) for f in files), *((f, True) for f in redcap_files)]:
        try:
            staging.add_upload(session, item.name, item.getvalue(), redcap=is_redcap, db=db, actor=who)
        except staging.UploadRefused as exc:
            messages.append(str(exc))
    st.session_state[REFUSED] = messages


def pull(session: staging.Session, db, who: str) -> None:
    _require(ui_viewer(), PUBLISHING_ROLES)
    from etl.redcap import RedcapApiError

    try:
        staging.pull_redcap(session, db, who)
    except (RedcapApiError, staging.UploadRefused) as exc:
        st.session_state[REFUSED] = [f"REDCap: {exc}"]


def cancel(session: staging.Session) -> None:
    staging.cancel(session)
    for key in (TOKEN, CHECK):
        st.session_state.pop(key, None)


def ui_viewer() -> Viewer:
    from dashboard import ui

    return ui.context().viewer


# --- check ---------------------------------------------------------------------------------------


def run_check(session: staging.Session, sources, db, extract: date | None = None) -> None:
    """The dry run of the staged set against `extract`; without one, against the newest date in
    the files (found by a first pass that only refuses dates after today)."""
    _require(ui_viewer(), PUBLISHING_ROLES)
    staged = staging.assemble(session, sources)
    if extract is None:
        first = staging.check_folder(staged, db, date.today())
        extract = first.newest_date if first.status < 2 else None
        if extract is None:
            st.session_state[CHECK] = (session.token, tuple(session.uploaded()), first)
            return
    check = staging.check_folder(staged, db, extract)
    st.session_state[CHECK] = (session.token, tuple(session.uploaded()), check)


def current_check(session: staging.Session | None) -> tuple[staging.Check | None, bool]:
    """The check of this session, and whether the uploads changed since."""
    saved = st.session_state.get(CHECK)
    if session is None or saved is None or saved[0] != session.token:
        return None, False
    return saved[2], saved[1] != tuple(session.uploaded())


def file_table(check: staging.Check, titles: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Fil": f.name,
                "Källa": titles.get(f.source_key or "", "–"),
                "Rader": f.rows_read,
                "Godkända": f.rows_accepted,
                "Avvisade": f.rows_rejected,
                "Oförändrad": "Ja" if f.unchanged else "Nej",
                "SHA-256 (början)": (f.sha256 or "")[:12],
            }
            for f in check.files
        ]
    )


def rejection_table(check: staging.Check, state: StudyState) -> pd.DataFrame:
    """Every rejected row of the staged files: cell, column, value as typed, reason. Sealed sources'
    values (and reasons, which may quote them) are masked while the study is locked."""
    rows = []
    for r in check.rejections:
        shown = rejected_values_visible(r.source_key, state)
        rows.append(
            {
                "Fil": r.file_name,
                "Cell": r.cell_ref,
                "Kolumn": r.column or "",
                "Värde": (r.value or "") if shown else MASKED,
                "Varför raden avvisades": r.reason if shown else fixlist.MASKED_REASON.format(column=r.column or "?"),
            }
        )
    return pd.DataFrame(rows, columns=["Fil", "Cell", "Kolumn", "Värde", "Varför raden avvisades"])


def diff_table(diff: staging.Diff, names: dict[str, str]) -> pd.DataFrame:
    rows = []
    for district, (before, after) in diff.randomised.items():
        change = after - before
        rows.append(
            {
                "Stadsdel": names.get(district, district),
                "Randomiserade nu": before,
                "Efter publicering": after,
                "Förändring": f"+{change}" if change > 0 else ("±0" if change == 0 else str(change)),
            }
        )
    return pd.DataFrame(rows, columns=["Stadsdel", "Randomiserade nu", "Efter publicering", "Förändring"])


def show_diff(diff: staging.Diff, check: staging.Check) -> None:
    names = {d.id: d.name for d in check.config.districts} if check.config else {}
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Nya randomiserade", f"+{sum(diff.randomised_added.values())}")
    c2.metric("Nya som lämnat studien", f"+{diff.new_leavers}")
    c3.metric("Nya uppföljningar", f"+{diff.new_followups}")
    c4.metric("Nya programtrohetsskattningar", f"+{len(diff.new_fidelity_reviews)}")
    st.dataframe(diff_table(diff, names), hide_index=True, width="stretch")
    if diff.new_fidelity_reviews:
        st.caption("Nya skattningar: " + ", ".join(d.isoformat() for d in diff.new_fidelity_reviews))
    if diff.unchanged_files:
        st.caption("Oförändrade filer (samma SHA-256 som publicerat): " + ", ".join(diff.unchanged_files))


def fixlist_downloads(check: staging.Check, ctx) -> None:
    """The fix-list workbooks, the same as `ipsdash check --out/--per-district` gives."""
    state = ctx.state

    def visible(key: str) -> bool:
        return rejected_values_visible(key, state)

    sheets = fixlist.fix_sheets(check)
    mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    left, right = st.columns(2)
    left.download_button(
        "⬇ Felrapport (alla rader)",
        fixlist.workbook_bytes(sheets, visible),
        "felrapport.xlsx",
        mime,
        key="inl_dl_all",
        on_click=_record_download,
        args=(ctx, "Felrapport (alla)"),
    )
    parts = fixlist.per_district(sheets)
    names = {d.id: d.name for d in check.config.districts} if check.config else {}
    options = list(parts)
    chosen = right.selectbox(
        "Felrapport per stadsdel",
        options,
        key="inl_dl_district",
        format_func=lambda d: names.get(d, "Utan känd stadsdel"),
    )
    if chosen is not None:
        note = f"Stadsdel: {names.get(chosen, 'rader utan känd stadsdel')}"
        right.download_button(
            f"⬇ Felrapport {names.get(chosen, 'utan stadsdel')}",
            fixlist.workbook_bytes(parts[chosen], visible, note),
            f"felrapport-{chosen}.xlsx",
            mime,
            key="inl_dl_district_btn",
            on_click=_record_download,
            args=(ctx, f"Felrapport {chosen}"),
        )


def _record_download(ctx, topic: str) -> None:
    auth.record_event(
        db_path(), actor(ctx.viewer), "download", f"{topic} (xlsx) · {ctx.viewer.label()}", ctx.target or ""
    )


# --- publish and roll back -----------------------------------------------------------------------


def publish(viewer: Viewer, session: staging.Session, sources, db, who: str, extract: date | None) -> None:
    _require(viewer, PUBLISHING_ROLES)
    try:
        done = staging.publish(session, sources, db, who, extract)
    except staging.PublishRefused as exc:
        st.session_state[REFUSED] = [f"Publiceringen gjordes inte: {exc}. Inget har ändrats."]
        return
    for key in (TOKEN, CHECK):
        st.session_state.pop(key, None)
    rejected = len(done.check.rejections)
    st.session_state[DONE] = f"Publicerat ({done.store_file}). " + (
        f"{rejected} avvisade rader finns på Datakvalitet." if rejected else "Alla rader godkändes."
    )


def roll_back(viewer: Viewer, sources, db, who: str) -> None:
    _require(viewer, ROLLBACK_ROLES)
    try:
        done = staging.roll_back(sources, db, who)
    except staging.PublishRefused as exc:
        st.session_state[REFUSED] = [f"Återställningen gjordes inte: {exc}. Inget har ändrats."]
        return
    st.session_state.pop(CHECK, None)
    st.session_state[DONE] = f"Föregående version återställd ({done.store_file})."


def recent_trail(db, limit: int = 15) -> pd.DataFrame:
    rows = [e for e in audit.entries(db) if e["action"] in ACTIONS_SV][:limit]
    return pd.DataFrame(
        [
            {
                "Tid (UTC)": pd.Timestamp(e["at"]),
                "Vem": e["actor"],
                "Händelse": ACTIONS_SV[e["action"]],
                "Detaljer": e["detail"],
            }
            for e in rows
        ],
        columns=["Tid (UTC)", "Vem", "Händelse", "Detaljer"],
    )
