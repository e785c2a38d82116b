"""Shared fixtures: the seeded demo study (source files and loaded store), an empty store and a
store with rejected rows, and a helper that renders a dashboard page with AppTest as a role."""

from __future__ import annotations

import io
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bench import serve
from dashboard import navigation

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
PAGES = [p.key for p in navigation.PAGES]  # the one page registry


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the whole session (bench/serve.py launches it as the benchmarks
    do): Playwright's sync API may run only once per process. Fails (does not skip) when Chromium or
    Playwright is missing: CI installs both."""
    with serve.chromium() as b:
        yield b


@pytest.fixture()
def tab(browser):
    """A fresh browser context's page (its own cookies, downloads accepted) that counts the app's
    finished script runs, which `serve.finished` and `serve.rerun` wait on."""
    context = serve.new_context(browser, 1400, 1000, accept_downloads=True)
    p = context.new_page()
    p.set_default_timeout(30_000)
    yield p
    context.close()


def load_quietly(folder: Path, db: Path) -> int:
    """`ipsdash load` with its summary swallowed; returns the exit status."""
    from etl.load import load

    return load(folder, db, io.StringIO(), io.StringIO())


@contextmanager
def environment(values: dict[str, str], unset: tuple[str, ...] = ()):
    """Set (and unset) environment variables for an AppTest run, then restore them exactly."""
    names = [*values, *unset]
    old = {k: os.environ.get(k) for k in names}
    for k in unset:
        os.environ.pop(k, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """The default demo study's source files (seed 42), generated once per test session."""
    from etl.demo import generate

    out = tmp_path_factory.mktemp("demo")
    generate(out, seed=42, scale=1)
    return out


@pytest.fixture(scope="session")
def demo_db(demo_dir, tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("demo_store") / "ips.duckdb"
    assert load_quietly(demo_dir, db) == 0
    return db


@pytest.fixture(scope="session")
def closed_demo_db(demo_dir, tmp_path_factory) -> Path:
    """The demo study loaded and then closed (the steering group's decision: outcomes by arm open),
    once per session; tests only read it."""
    from etl.close import close_study

    db = tmp_path_factory.mktemp("closed_demo_store") / "ips.duckdb"
    assert load_quietly(demo_dir, db) == 0
    assert close_study(db, "Projektledaren", "Styrgruppsbeslut", io.StringIO(), io.StringIO()) == 0
    return db


# A bad value typed into each sealed file (one arm's data, shown to nobody while the study is locked).
SEALED_SENTINELS = {"sysselsattning.csv": ("Inkomst kr", "12x345z"), "ips_aktivitet.csv": ("Timmar per vecka", "77q7")}


@pytest.fixture(scope="session")
def sealed_sentinel_dir(demo_dir, tmp_path_factory) -> Path:
    """The demo's source files with SEALED_SENTINELS typed into row 3 of each sealed file (each such
    row is rejected on load and kept, sealed, in the rejected rows). Tests only read it."""
    import csv

    src = tmp_path_factory.mktemp("sealed_sentinels") / "src"
    shutil.copytree(demo_dir, src)
    for name, (column, value) in SEALED_SENTINELS.items():
        path = src / name
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig")), delimiter=";"))
        rows[3][rows[0].index(column)] = value
        buf = io.StringIO()
        csv.writer(buf, delimiter=";", lineterminator="\n").writerows(rows)
        path.write_text(buf.getvalue(), encoding="utf-8-sig")
    return src


@pytest.fixture(scope="session")
def mistakes_dir(tmp_path_factory) -> Path:
    from etl.demo import generate

    out = tmp_path_factory.mktemp("demo_mistakes")
    generate(out, seed=42, scale=1, mistakes=True)
    return out


@pytest.fixture(scope="session")
def mistakes_db(mistakes_dir, tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("mistakes_store") / "ips.duckdb"
    assert load_quietly(mistakes_dir, db) == 1
    return db


@pytest.fixture(scope="session")
def empty_db(tmp_path_factory) -> Path:
    """A store path where nothing has been loaded yet."""
    return tmp_path_factory.mktemp("empty_store") / "ips.duckdb"


def render(db: Path, page: str | None = None, role: str = "projektledare", timeout: float = 60) -> AppTest:
    """Run the app on `db` as `role` (e.g. "enhetschef:Södermalm") and switch to `page`."""
    with environment({"IPSDASH_DB": str(db), "IPSDASH_DEMO_ROLE": role}):
        at = AppTest.from_file(APP, default_timeout=timeout)
        at.run()
        if page and page != "oversikt":
            at.switch_page(f"pages/{page}.py").run()
    return at


def page_text(at: AppTest) -> str:
    """Everything a user can read on the rendered page: text elements, metrics and table cells."""
    parts: list[str] = []
    for kind in (
        "title",
        "header",
        "subheader",
        "markdown",
        "caption",
        "info",
        "warning",
        "error",
        "success",
        "text",
        "expander",
    ):
        for el in at.get(kind):
            parts.append(str(getattr(el, "value", "") or getattr(el, "label", "")))
    for m in at.metric:
        parts.append(f"{m.label} {m.value} {m.delta or ''}")
    for df in at.dataframe:
        parts.append(df.value.to_csv(index=False))
    for t in at.get("table"):
        parts.append(str(t.value))
    for chart in at.get("vega_lite_chart"):
        parts.append(str(chart.proto.spec))
    return "\n".join(parts)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failure report (traceback, function arguments, assertion values, captured output) never
    shows a personnummer: tests generate valid numbers, and their failures must not log them. Masked
    bluntly (every 9–12-digit number, with or without a separator, becomes X), independently of the
    detector under test, before the report is printed or sent to the xdist controller."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        if report.longrepr is not None:
            text = str(report.longrepr)
            masked = _mask_numbers(text)
            if masked != text:
                report.longrepr = masked
        report.sections = [(key, _mask_numbers(value)) for key, value in report.sections]


_NUMBERS = re.compile(
    r"(?<!\d)(?:\d{2})?\d{6}(?:\\x[0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}|\D){0,3}\d{4}(?!\d)|(?<!\d)\d{9}(?!\d)"
    r"|\d(?=\\x00|\x00)"  # UTF-16 text (as shown in a repr): every digit
)


def _mask_numbers(text: str) -> str:
    return _NUMBERS.sub(lambda m: re.sub(r"\d", "X", m.group(0)), text)
