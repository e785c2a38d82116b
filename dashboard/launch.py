"""Start the Streamlit server for the dashboard (`ipsdash serve` runs this).

Streamlit treats a `pages/` folder beside the entry point as a legacy (v1) multipage app until some
session calls `st.navigation`: `PagesManager` sets `uses_pages_directory` when the folder exists
and only a run of `st.navigation` clears it (streamlit/runtime/pages_manager.py and
commands/navigation.py in 1.67; introduced by https://github.com/streamlit/streamlit/pull/10276,
whose review notes that "pages folder + MPAv2" with a direct URL "sometimes completely switch back
to MPAv1"; see also https://github.com/streamlit/streamlit/issues/9992). If the first request after
start is a page URL (a bookmark to /uppfoljning), that page runs on its own, without app.py's frame
(the role-filtered navigation from the page registry, the wide layout), and the legacy mode sticks.

Why not public configuration (checked again against Streamlit 1.67 and its docs, 2026-11): there is
none for this. The st.navigation reference says "As soon as any session of your app executes the
st.navigation command, your app will ignore the pages/ directory (across all sessions)"
(https://docs.streamlit.io/develop/api-reference/navigation/st.navigation): the switch happens at a
session's first run of the entry point, which a bookmarked page URL as a fresh server's first request
never reaches. The legacy-directory guide (https://docs.streamlit.io/develop/concepts/multipage-apps/
pages-directory) and Streamlit's own multipage skill (github.com/streamlit/agent-skills,
"building-streamlit-multipage-apps": name the folder `app_pages/`, not `pages/`, which "conflicts with
Streamlit's old auto-discovery API") give renaming as the only public remedy.
`client.showSidebarNavigation = false` (https://docs.streamlit.io/develop/api-reference/configuration/config.toml) only hides the legacy
sidebar links ("This only applies when app's pages are defined by the `pages/` directory"); the
page scripts still run on their own. Renaming the folder would avoid the legacy mode, but the
project's agreed layout keeps `dashboard/pages/` beside `dashboard/app.py`. So the launcher clears
the flag once before the server starts; should a later Streamlit drop the attribute, the launcher
still starts, and every page's own `ui.page(key)` still builds the viewer's context and checks the
role against the page registry, so a page run on its own never shows more than its role allows.
"""

from __future__ import annotations

import sys

from streamlit.runtime.pages_manager import PagesManager
from streamlit.web import cli


def main() -> None:
    if hasattr(PagesManager, "uses_pages_directory"):  # see the module docstring for why
        PagesManager.uses_pages_directory = False
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
