"""Inläsning: the month's files from upload to published dashboard, without a terminal — for the
project lead (upload, check, publish) and the admin (also roll back). See docs/access.md."""

from __future__ import annotations

from datetime import date

import streamlit as st

from dashboard import inlasning as inl
from dashboard import ui
from dashboard.access import PUBLISHING_ROLES, ROLLBACK_ROLES
from dashboard.inlasning import staging

ctx = ui.context()
st.title("Inläsning")
st.caption("Ladda upp månadens filer, kontrollera dem och publicera dem – eller återställ föregående version.")
ui.require_page(ctx, "inlasning")
if ctx.viewer.role not in PUBLISHING_ROLES:  # the page list says the same; a second lock on the door
    st.stop()

db = inl.db_path()
sources = staging.sources_dir(db)
root = staging.staging_root()
staging.sweep(root)
actor = inl.actor(ctx.viewer)
session = staging.open_session(root, st.session_state.get(inl.TOKEN))
if session is None:
    st.session_state.pop(inl.TOKEN, None)
    st.session_state.pop(inl.CHECK, None)
titles = inl.source_titles()

# --- after a publish or roll back ----------------------------------------------------------------
done = st.session_state.pop(inl.DONE, None)
if done:
    st.success(done, icon="✅")

# --- the source folder ---------------------------------------------------------------------------
st.subheader("Källmappen")
current = inl.folder_files(sources)
if current.empty:
    st.info(f"Källmappen `{sources}` är tom: inget har publicerats härifrån än.", icon="📭")
else:
    st.caption(
        f"`{sources}` · {len(current)} filer. Uppladdade filer ersätter filen för samma källa; "
        "övriga filer tas härifrån."
    )
    st.dataframe(current, hide_index=True, width="stretch")

# --- bring in files ------------------------------------------------------------------------------
st.subheader("1. Lägg till filer")
refused = st.session_state.pop(inl.REFUSED, [])
for message in refused:
    st.error(message, icon="⛔")
counter = st.session_state.setdefault(inl.UPLOADER, 0)
left, right = st.columns(2)
files = left.file_uploader(
    "Personalens loggar (.xlsx eller .csv) och studie.toml",
    type=["xlsx", "csv", "toml"],
    accept_multiple_files=True,
    key=f"inl_files_{counter}",
    help="Filnamnen avgör källan, t.ex. randomisering.xlsx eller uppfoljning.csv (se Datakvalitet).",
)
redcap_files = right.file_uploader(
    "REDCap-export (records, dictionary, event mapping)",
    type=["csv"],
    accept_multiple_files=True,
    key=f"inl_redcap_{counter}",
)
if files or redcap_files:
    session = session or inl.start(root)
    inl.take_uploads(session, files or [], redcap_files or [], db, actor)
    st.session_state[inl.UPLOADER] = counter + 1  # a new, empty uploader: the bytes leave memory
    st.rerun()
if staging.redcap_configured() and right.button("Hämta från REDCap", key="inl_pull"):
    session = session or inl.start(root)
    inl.pull(session, db, actor)
    st.rerun()

uploaded = session.uploaded() if session else []
if uploaded:
    st.markdown("**Uppladdade filer:** " + ", ".join(f"`{n}`" for n in uploaded))
    if st.button("Avbryt och ta bort uppladdade filer", key="inl_cancel"):
        inl.cancel(session)
        st.rerun()


# --- check and publish ---------------------------------------------------------------------------
def check_and_publish(session) -> None:
    """Steps 2 and 3: check the staged set (dry run), show what it would change, publish it."""
    st.subheader("2. Kontrollera")
    st.caption(
        "En torrkörning: filerna läses, söks igenom efter personnummer och kontrolleras precis som vid "
        "publicering, men inget skrivs till databasen."
    )
    if session is None and current.empty:
        st.info("Ladda upp filer för att kunna kontrollera dem.", icon="⬆️")
        return
    if st.button("Kontrollera", type="secondary", key="inl_check"):
        session = session or inl.start(root)
        inl.run_check(session, sources, db)
        st.rerun()

    check, stale = inl.current_check(session)
    if check is None:
        return
    if stale:
        st.warning("Filerna har ändrats sedan kontrollen: kontrollera igen innan du publicerar.", icon="🔁")
    if check.status >= 2:
        st.error(
            "**Filerna kan inte läsas in.** Inget har ändrats.\n\n" + "\n".join(f"- {m}" for m in check.refused),
            icon="⛔",
        )
        return

    extract = st.date_input(
        "Datauttagets datum",
        value=check.extract_date or date.today(),
        key="inl_extract",
        format="YYYY-MM-DD",
        help="Förvalt: det senaste datumet i filerna. Datum efter uttaget avvisas.",
    )
    if check.extract_date is not None and extract != check.extract_date:
        inl.run_check(session, sources, db, extract)  # the check always matches the date shown
        st.rerun()

    rejected = len(check.rejections)
    c1, c2, c3 = st.columns(3)
    c1.metric("Rader lästa", sum(f.rows_read for f in check.files))
    c2.metric("Godkända", sum(f.rows_accepted for f in check.files))
    c3.metric("Avvisade", sum(f.rows_rejected for f in check.files))
    st.dataframe(inl.file_table(check, titles), hide_index=True, width="stretch")

    if rejected:
        st.markdown("**Avvisade rader** (värdet som det står i den uppladdade filen)")
        table = inl.rejection_table(check, ctx.state)
        if len(table) <= inl.PLAIN_TABLE_ROWS:  # plain text: readable, searchable, copyable
            st.table(table, hide_index=True)
        else:
            st.dataframe(
                table,
                hide_index=True,
                width="stretch",
                column_config={"Varför raden avvisades": st.column_config.TextColumn(width="large")},
            )
        inl.fixlist_downloads(check, ctx)
    else:
        st.success("Alla rader godkändes.", icon="✅")

    diff = check.diff
    st.markdown(
        "**Vad som ändras mot de publicerade siffrorna**"
        if diff and diff.has_published
        else "**Vad som publiceras** (inget är publicerat än)"
    )
    if diff is not None:
        inl.show_diff(diff, check)

    # --- publish -------------------------------------------------------------------------------------
    st.subheader("3. Publicera")
    if st.button(
        "Publicera", type="primary", key="inl_publish", disabled=stale or session is None or not session.uploaded()
    ):
        inl.publish(ctx.viewer, session, sources, db, actor, check.extract_date)
        st.rerun()
    if session is None or not session.uploaded():
        st.caption("Inget är uppladdat: källmappen är redan publicerad.")


check_and_publish(session)

# --- roll back (admin) ---------------------------------------------------------------------------
if ctx.viewer.role in ROLLBACK_ROLES:
    st.subheader("Återställ")
    if staging.can_roll_back(sources):
        st.caption(
            "Läser in föregående källfiler igen som en ny version. Granskningsloggen, stängningen av "
            "studien och sparade rapporter följer med."
        )
        sure = st.checkbox("Jag vill återställa föregående version", key="inl_rollback_sure")
        if st.button("Återställ föregående version", key="inl_rollback", disabled=not sure):
            inl.roll_back(ctx.viewer, sources, db, actor)
            st.rerun()
    else:
        st.caption("Det finns ingen föregående version att återställa.")

# --- the trail -----------------------------------------------------------------------------------
trail = inl.recent_trail(db)
if not trail.empty:
    st.subheader("Senaste händelser")
    st.dataframe(
        trail,
        hide_index=True,
        width="stretch",
        column_config={"Tid (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
    )
