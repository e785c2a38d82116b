"""Production login: Streamlit's OIDC login plus the roles file. With login configured there is no
demo mode (no switcher, IPSDASH_DEMO_ROLE ignored), nothing a browser sends can pick the role, and
a logged-in user missing from the roles file sees a Swedish refusal only. The last test drives the
real flow: a `streamlit run` server, oidc-provider-mock on loopback and Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bench import serve
from dashboard import auth
from tests.conftest import APP, ROOT, environment, page_text

ROLES_TOML = """
[users."chef@stad.se"]
role = "enhetschef"
districts = ["Södermalm"]

[users."styr@stad.se"]
role = "styrgrupp"
"""
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "x" * 32,
    "client_id": "ipsdash",
    "client_secret": "secret",
    "server_metadata_url": "http://localhost:9/.well-known/openid-configuration",
}


@pytest.fixture(scope="session")
def roles_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("roles") / "roles.toml"
    path.write_text(ROLES_TOML, encoding="utf-8")
    return path


def run_app(db, roles_file, user=None, page=None, secrets=True, env=None, query=None, state=None):
    values = {"IPSDASH_DB": str(db), "IPSDASH_ROLES": str(roles_file), **(env or {})}
    with environment(values, unset=("IPSDASH_DEMO_ROLE",)):
        at = AppTest.from_file(APP, default_timeout=60)
        if secrets:
            at.secrets["auth"] = dict(AUTH) if secrets is True else secrets
        at.user = {"is_logged_in": True, "email": user} if user else {"is_logged_in": False}
        for k, v in (query or {}).items():
            at.query_params[k] = v
        for k, v in (state or {}).items():
            at.session_state[k] = v
        at.run()
        if page:
            at.switch_page(f"pages/{page}.py").run()
    return at


def _sidebar_text(at) -> str:
    return "\n".join(
        str(getattr(e, "value", ""))
        for kind in ("warning", "caption", "info", "markdown")
        for e in at.sidebar.get(kind)
    )


def test_login_logged_out_sees_only_login_button(demo_db, roles_file):
    at = run_app(demo_db, roles_file)
    assert not at.exception
    assert [b.label for b in at.button] == ["Logga in"]
    assert not at.metric and not at.dataframe and not at.sidebar.selectbox and not at.sidebar.multiselect
    assert "Demoläge" not in page_text(at) + _sidebar_text(at)


def test_login_unknown_user_sees_refusal_only(demo_db, roles_file):
    at = run_app(demo_db, roles_file, user="eve@stad.se", env={"IPSDASH_DEMO_ROLE": "admin"})
    assert not at.exception
    assert [e.value for e in at.error] == [auth.REFUSED_TEXT]
    assert not at.metric and not at.dataframe and not at.sidebar.selectbox and not at.sidebar.multiselect
    assert [b.label for b in at.button] == ["Logga ut"]


def test_login_enhetschef_sees_own_district_without_switcher(demo_db, roles_file):
    at = run_app(demo_db, roles_file, user="Chef@Stad.se", env={"IPSDASH_DEMO_ROLE": "admin"})
    assert not at.exception, [e.value for e in at.exception]
    assert not at.sidebar.selectbox  # no role switcher
    assert "Enhetschef (sodermalm)" in _sidebar_text(at)
    assert "Demoläge" not in _sidebar_text(at)
    assert at.sidebar.multiselect[0].options == ["Södermalm"]
    assert "Järva" not in page_text(at)


@pytest.mark.parametrize(
    "query",
    [{"roll": "admin"}, {"role": "projektledare"}, {"closed": "1"}, {"demo_role": "admin", "user": "chef@stad.se"}],
)
def test_login_query_params_cannot_change_role_or_lock(demo_db, roles_file, query):
    at = run_app(demo_db, roles_file, user="styr@stad.se", query=query)
    assert not at.exception
    assert "Styrgrupp" in _sidebar_text(at) and not at.sidebar.selectbox
    # (AppTest shows no sidebar after switch_page, so the lock is checked on a second run.)
    at = run_app(demo_db, roles_file, user="styr@stad.se", page="utfall", query=query)
    assert "Utfallen är låsta" in page_text(at) and not at.dataframe


def test_login_session_state_cannot_change_role(demo_db, roles_file):
    from dashboard.access import Viewer

    state = {
        "demo_role": "admin",
        "demo_districts": ["jarva"],
        "district_filter": ["jarva"],
        "_ipsdash_run_context": None,
        "viewer": Viewer("admin"),
    }
    at = run_app(demo_db, roles_file, user="chef@stad.se", state=state)
    assert not at.exception, [e.value for e in at.exception]
    assert "Enhetschef (sodermalm)" in _sidebar_text(at)
    assert "Järva" not in page_text(at)


@pytest.mark.parametrize("case", ["incomplete_auth", "roles_without_auth", "require_env"])
def test_login_misconfiguration_fails_closed(demo_db, roles_file, case):
    if case == "incomplete_auth":
        at = run_app(demo_db, roles_file, user="chef@stad.se", secrets={"redirect_uri": "http://x/oauth2callback"})
    elif case == "roles_without_auth":
        at = run_app(demo_db, roles_file, secrets=False)
    else:
        at = run_app(demo_db, roles_file.parent / "missing.toml", secrets=False, env={"IPSDASH_REQUIRE_LOGIN": "1"})
    assert [e.value for e in at.error] == [auth.BROKEN_TEXT]
    assert not at.metric and not at.sidebar.selectbox


def test_login_records_login_event(demo_db, roles_file, tmp_path):
    db = tmp_path / "ips.duckdb"
    shutil.copytree(demo_db.parent, tmp_path, dirs_exist_ok=True, symlinks=True)
    auth.audit_path(db).unlink(missing_ok=True)  # earlier tests logged in on the shared demo store
    run_app(db, roles_file, user="styr@stad.se")
    run_app(db, roles_file, user="eve@stad.se")
    log = auth.read_app_audit(db)
    assert list(zip(log["actor"], log["action"], strict=True)) == [
        ("eve@stad.se", "login_refused"),
        ("styr@stad.se", "login"),
    ]


# --- the real flow ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oidc_server(demo_db, roles_file, tmp_path_factory):
    """The dashboard with login configured (an [auth] section in the server's secrets, the roles file)
    and IPSDASH_DEMO_ROLE set to admin, which login mode must ignore; oidc-provider-mock on loopback."""
    mock = pytest.importorskip("oidc_provider_mock")
    if not Path(serve.CHROMIUM).exists():
        pytest.skip("chromium not installed")
    with mock.run_server_in_thread() as provider:
        port = serve.free_port()
        home = tmp_path_factory.mktemp("server")
        (home / ".streamlit").mkdir()
        shutil.copy(ROOT / ".streamlit" / "config.toml", home / ".streamlit" / "config.toml")
        (home / ".streamlit" / "secrets.toml").write_text(
            "[auth]\n"
            f'redirect_uri = "http://localhost:{port}/oauth2callback"\n'
            f'cookie_secret = "{"k" * 40}"\n'
            'client_id = "ipsdash"\nclient_secret = "secret"\n'
            f'server_metadata_url = "http://localhost:{provider.server_port}/.well-known/openid-configuration"\n',
            encoding="utf-8",
        )
        env = {"IPSDASH_ROLES": str(roles_file), "HOME": str(home)}
        log = home / "streamlit.log"
        with serve.Dashboard(demo_db, "admin", log=log, env=env, cwd=home, port=port) as server:
            yield f"http://localhost:{server.port}"


@pytest.mark.slow
@pytest.mark.parametrize(
    "email,expect,absent",
    [
        ("chef@stad.se", "Enhetschef (sodermalm)", "Järva"),
        ("eve@stad.se", "ingen behörighet", "Randomiserade"),
    ],
)
def test_login_real_oidc_flow(oidc_server, browser, email, expect, absent):
    context = serve.new_context(browser)  # a fresh cookie jar per user
    try:
        page = context.new_page()
        page.goto(oidc_server + "/?roll=admin")
        page.get_by_role("button", name="Logga in").click()
        page.wait_for_url("**/oauth2/authorize**")  # the provider's own form
        page.fill('input[name="sub"]', email)
        page.get_by_role("button", name="Authorize").click()
        page.wait_for_url(oidc_server + "/**")
        serve.finished(page)
        page.get_by_text(expect).first.wait_for(timeout=30000)
        serve.finished(page)
        body = page.inner_text("body")
        assert absent not in body and "Demoläge" not in body
        assert page.get_by_test_id("stSidebar").get_by_role("combobox").count() in (0, 1)
    finally:
        context.close()
