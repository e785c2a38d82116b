"""Start the Streamlit server for the dashboard (`ipsdash serve` runs this).

Streamlit treats a `pages/` folder beside the entry point as a legacy multipage app until some
session calls `st.navigation`. If the first request after start is a page URL (e.g. a bookmark to
/uppfoljning), that page would run on its own, without app.py's frame (role-filtered navigation,
page layout, blinding banner), and the legacy mode would stick. The folder must be called
`pages/` here, so the legacy mode is switched off before the server starts.
"""

from __future__ import annotations

import sys

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli


def main() -> None:
    PagesManager.uses_pages_directory = False
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
