"""Entry point of the IPS-ADAS monitoring dashboard: shared frame, then the chosen page."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run dashboard/app.py` puts dashboard/ on the path, not the repository root.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dashboard import ui  # noqa: E402

st.set_page_config(page_title="IPS-studien · uppföljning", page_icon="📊", layout="wide")

PAGES = [
    ("pages/oversikt.py", "Översikt", "🏠", "oversikt"),
    ("pages/rekrytering.py", "Rekrytering", "📈", "rekrytering"),
    ("pages/balans.py", "Balans", "⚖️", "balans"),
    ("pages/bortfall.py", "Bortfall", "🚪", "bortfall"),
    ("pages/uppfoljning.py", "Uppföljning (ASI)", "📋", "uppfoljning"),
    ("pages/belastning.py", "Belastning", "👥", "belastning"),
    ("pages/programtrohet.py", "Programtrohet", "✅", "programtrohet"),
    ("pages/utfall.py", "Utfall", "🔒", "utfall"),
    ("pages/datakvalitet.py", "Datakvalitet", "🧾", "datakvalitet"),
    ("pages/inlasning.py", "Inläsning", "📥", "inlasning"),
]

ctx = ui.build_context()
allowed = ui.allowed_pages(ctx)
pages = [
    st.Page(path, title=title, icon=icon, url_path=url, default=(url == "oversikt"))
    for path, title, icon, url in PAGES
    if url in allowed
]
st.navigation(pages).run()
