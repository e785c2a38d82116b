"""Entry point of the IPS-ADAS monitoring dashboard: shared frame, then the chosen page."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run dashboard/app.py` puts dashboard/ on the path, not the repository root.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dashboard import navigation, ui  # noqa: E402

st.set_page_config(page_title="IPS-studien · uppföljning", page_icon="📊", layout="wide")

# The page links go at the top of the sidebar, above the filters the shared frame draws.
links = st.sidebar.container()
ctx = ui.build_context()
allowed = ui.allowed_pages(ctx)
# Streamlit serves the default page at the app root and gives it no route of its own, so a bookmarked
# /oversikt opened an English "Page not found" dialog (issue 12). The default page is therefore
# registered twice: at the root (under a placeholder path nobody sees) and, unlisted, under its own
# URL. The navigation widget would list both, so it is hidden and the sidebar links are drawn from the
# listed pages with st.page_link (Streamlit's documented way to build a custom navigation).
listed = [
    st.Page(
        p.file,
        title=p.title,
        icon=p.icon,
        url_path="start" if p.key == navigation.DEFAULT else p.url,
        default=(p.key == navigation.DEFAULT),
    )
    for p in navigation.PAGES
    if p.key in allowed
]
aliases = [
    st.Page(p.file, title=p.title, icon=p.icon, url_path=p.url)
    for p in navigation.PAGES
    if p.key in allowed and p.key == navigation.DEFAULT
]
current = st.navigation(listed + aliases, position="hidden")
with links:
    for page in listed:
        st.page_link(page)
current.run()
