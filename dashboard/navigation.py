"""The one page registry: each page's file, title, icon, URL, the question it answers and the roles
that may open it. The entry point builds the navigation from it, the access rules
(`access.PAGES_BY_ROLE`) and every page's own check read it, and the tests list pages from it.

Adding a page is one entry here (and its file in `pages/`). No Streamlit import: the gate's layer
and the command line read this too.
"""

from __future__ import annotations

from dataclasses import dataclass

# Role keys as in access.ROLES (tests/test_access.py checks that every role named here exists).
EVERY_ROLE = frozenset({"projektledare", "projektgrupp", "styrgrupp", "enhetschef", "forskare", "admin"})
PROJECT_LEAD = frozenset({"projektledare", "admin"})


@dataclass(frozen=True)
class Page:
    key: str  # the URL path and the file's stem in dashboard/pages/
    title: str  # navigation link and heading
    icon: str
    question: str  # the question the page answers, shown under its heading
    roles: frozenset[str]
    needs_store: bool = True  # False: the page works before anything is loaded (it loads the data)

    @property
    def file(self) -> str:
        """The page's script relative to dashboard/app.py, as st.Page and AppTest.switch_page take it."""
        return f"pages/{self.key}.py"

    @property
    def url(self) -> str:
        return self.key


PAGES: tuple[Page, ...] = (
    Page("oversikt", "Översikt", "🏠", "Hur går studien – i ett ögonkast?", EVERY_ROLE),
    Page(
        "rekrytering", "Rekrytering", "📈", "Hur går rekryteringen mot målet, och var fastnar remisserna?", EVERY_ROLE
    ),
    Page(
        "balans",
        "Balans",
        "⚖️",
        "Är grupperna lika vid baslinjen – vid varje tredjedel av rekryteringen och nu?",
        EVERY_ROLE,
    ),
    Page(
        "bortfall",
        "Bortfall",
        "🚪",
        "Hur många lämnar studien, när och varför – och räcker de som blir kvar till analysen?",
        EVERY_ROLE,
    ),
    Page(
        "uppfoljning",
        "Uppföljning (ASI)",
        "📋",
        "Vilka ASI-uppföljningar är gjorda, aktuella eller försenade – och vilka ska göras nu?",
        EVERY_ROLE,
    ),
    # Not for the blinded research lead: only the IPS arm has specialists, so caseloads next to
    # coded arms would reveal which code is IPS.
    Page(
        "belastning",
        "Belastning",
        "👥",
        "Hur många deltagare har varje arbetsspecialist, och har varje stadsdel tillräckligt många specialister?",
        EVERY_ROLE - {"forskare"},
    ),
    Page(
        "programtrohet",
        "Programtrohet",
        "✅",
        "Hur väl följer IPS-verksamheten modellen enligt programtrohetsskalan?",
        EVERY_ROLE,
    ),
    Page("utfall", "Utfall", "🔒", "Hur skiljer sig grupperna åt i arbete och försörjning?", EVERY_ROLE),
    Page(
        "datakvalitet",
        "Datakvalitet",
        "🧾",
        "Vilka filer lästes in, och vilka rader avvisades – och varför?",
        PROJECT_LEAD,
    ),
    # Upload, check, publish and roll back (access.PUBLISHING_ROLES; rolling back is admin only).
    Page(
        "inlasning",
        "Inläsning",
        "📥",
        "Är månadens filer rätta – och ska de publiceras?",
        PROJECT_LEAD,
        needs_store=False,
    ),
)
DEFAULT = "oversikt"

_BY_KEY = {p.key: p for p in PAGES}


def page(key: str) -> Page:
    return _BY_KEY[key]


def keys_for(role: str) -> tuple[str, ...]:
    """The pages `role` may open, in navigation order."""
    return tuple(p.key for p in PAGES if role in p.roles)
