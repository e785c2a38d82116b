"""Who is looking: Streamlit's own OIDC login plus a roles file in production, a role switcher in
demo mode, and the app-side audit trail (logins, downloads). See docs/access.md.

The mode is decided from the server's configuration only, never from anything a browser sends:

- `login`: `.streamlit/secrets.toml` has an `[auth]` section. The viewer is the logged-in user's
  e-mail looked up in the roles file; demo mode, its switcher and IPSDASH_DEMO_ROLE do not exist.
- `demo`: no secrets file at all, no roles file and IPSDASH_REQUIRE_LOGIN unset.
- `broken`: anything in between (a secrets file that cannot be parsed, an incomplete `[auth]`, a
  roles file or IPSDASH_REQUIRE_LOGIN without `[auth]`). Nobody gets in: fail closed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.access import RoleFile, RoleFileError, Viewer, load_roles, normalize_email
from etl import audit

_LOG = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
ROLES_ENV = "IPSDASH_ROLES"
REQUIRE_LOGIN_ENV = "IPSDASH_REQUIRE_LOGIN"
IDENTITY_CLAIM_ENV = "IPSDASH_IDENTITY_CLAIM"
DEFAULT_ROLES = ROOT / ".streamlit" / "roles.toml"
_LOGIN_KEY = "_ipsdash_login_recorded"

REFUSED_TEXT = (
    "Du är inloggad men har ingen behörighet till IPS-studiens dashboard. "
    "Kontakta projektledaren om du behöver tillgång."
)
BROKEN_TEXT = "Inloggningen är inte korrekt konfigurerad, så dashboarden visar ingenting. Kontakta systemförvaltaren."


# --- mode ------------------------------------------------------------------------------------------


def roles_path() -> Path:
    return Path(os.environ.get(ROLES_ENV) or DEFAULT_ROLES)


def _secrets_files_exist() -> bool:
    from streamlit import config

    return any(Path(p).exists() for p in (config.get_option("secrets.files") or []))


def _auth_section() -> Mapping[str, Any] | None:
    """The `[auth]` secrets section; None when there is no secrets file. Raises ValueError when a
    secrets file exists but cannot be read (so the caller fails closed)."""
    from streamlit.errors import StreamlitSecretNotFoundError

    scan_secrets()
    try:
        section = st.secrets.get("auth")
    except StreamlitSecretNotFoundError:
        if _secrets_files_exist():
            raise ValueError("secrets file exists but cannot be parsed") from None
        return None
    return section


def scan_secrets() -> None:
    """Every secrets file Streamlit reads, scanned for personnummer like any other input before it is
    used. A hit fails closed (ValueError, so the mode is `broken`); the server log names the place
    with the number masked."""
    from streamlit import config

    from etl import scan

    for name in config.get_option("secrets.files") or []:
        path = Path(name)
        if not path.is_file():
            continue
        try:
            scan.scan_file(path, f".streamlit/{path.name}")
        except scan.PnrRefused as exc:
            _LOG.error("secrets file refused: %s", exc)
            raise ValueError("secrets file refused") from None


def provider_name(section: Mapping[str, Any]) -> str | None:
    """None for a provider configured directly in `[auth]`, else the first `[auth.NAME]`."""
    if "client_id" in section:
        return None
    for name, value in section.items():
        if isinstance(value, Mapping) and "client_id" in value:
            return str(name)
    return None


def _complete(section: Mapping[str, Any]) -> bool:
    if not section.get("redirect_uri") or not section.get("cookie_secret"):
        return False
    name = provider_name(section)
    provider = section if name is None else section[name]
    return all(provider.get(k) for k in ("client_id", "client_secret", "server_metadata_url"))


def login_mode() -> str:
    try:
        section = _auth_section()
    except ValueError:
        return "broken"
    if section is not None:
        return "login" if isinstance(section, Mapping) and _complete(section) else "broken"
    if os.environ.get(REQUIRE_LOGIN_ENV) or roles_path().exists():
        return "broken"
    return "demo"


# --- login -----------------------------------------------------------------------------------------


def identity(user: Mapping[str, Any]) -> str | None:
    """The logged-in user's e-mail (claim IPSDASH_IDENTITY_CLAIM, default `email`), or None."""
    if not user.get("is_logged_in", False):
        return None
    if user.get("email_verified") is False:
        return None
    value = user.get(os.environ.get(IDENTITY_CLAIM_ENV) or "email")
    return normalize_email(value) if value else None


def _stop_with(message: str, logout: bool) -> None:
    st.title("IPS-studien · uppföljning")
    st.error(message, icon="⛔")
    if logout:
        st.button("Logga ut", on_click=st.logout, key="logout_refused")
    st.stop()


def login_viewer(db: Path) -> Viewer:
    """The logged-in viewer as the roles file names them (districts not yet resolved). Shows the
    login screen or a refusal and stops the run otherwise."""
    section = _auth_section() or {}
    user = st.user
    if not user.get("is_logged_in", False):
        st.title("IPS-studien · uppföljning")
        st.info("Logga in med ditt konto i Stockholms stad för att se studiens uppföljning.", icon="🔐")
        name = provider_name(section)
        st.button("Logga in", type="primary", on_click=st.login, args=(name,) if name else (), key="login")
        st.stop()
    email = identity(user)
    try:
        roles: RoleFile = load_roles(roles_path())
    except RoleFileError as exc:
        _LOG.error("roles file refused: %s", exc)
        _stop_with(BROKEN_TEXT, logout=True)
    viewer = roles.viewer_for(email)
    if viewer is None:
        record_event(db, email or "(okänd)", "login_refused", "inte i rollfilen")
        _stop_with(REFUSED_TEXT, logout=True)
    if st.session_state.get(_LOGIN_KEY) != viewer.user:
        record_event(db, viewer.user, "login", viewer.label())
        st.session_state[_LOGIN_KEY] = viewer.user
    st.sidebar.button("Logga ut", on_click=st.logout, key="logout")
    return viewer


def stop_broken() -> None:
    _stop_with(BROKEN_TEXT, logout=False)


# --- the audit trail (one trail for the whole system: etl/audit.py) -------------------------------

AUDIT_COLUMNS = ["at", "actor", "action", "detail", "store_file"]


def audit_path(db: Path) -> Path:
    """`<db>.audit.sqlite` next to the store link: the one audit trail (see etl/audit.py)."""
    return audit.audit_path(db)


def record_event(db: Path, actor: str, action: str, detail: str = "", store_file: str = "") -> bool:
    """Append one event to the audit trail. Never raises: a failure is logged."""
    return audit.record(db, actor, action, detail, store_file)


def read_app_audit(db: Path) -> pd.DataFrame:
    """Every audit entry (logins, downloads, publishes, roll backs, refusals, close-study), newest
    first; empty when none was recorded."""
    rows = audit.entries(db)
    frame = pd.DataFrame([{k: r[k] for k in AUDIT_COLUMNS} for r in rows], columns=AUDIT_COLUMNS)
    frame["at"] = pd.to_datetime(frame["at"])
    return frame
