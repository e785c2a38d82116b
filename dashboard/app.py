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

ctx = ui.build_context()
allowed = ui.allowed_pages(ctx)
pages = [
    st.Page(p.file, title=p.title, icon=p.icon, url_path=p.url, default=(p.key == navigation.DEFAULT))
    for p in navigation.PAGES
    if p.key in allowed
]
st.navigation(pages).run()
