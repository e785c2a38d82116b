"""The plumbing the benchmarks and the screenshot script share: a demo store, the dashboard served as
`ipsdash serve` serves it (through dashboard/launch.py) on a free loopback port, and Debian's headless
Chromium driven by Playwright, with the one definition of "the page has finished and drawn"."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

# The app reports a finished script run on its root element; every visible chart has drawn once each
# Vega-Lite element holds vega-embed's canvas or svg. No network-idle wait (the websocket never idles).
DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
CHARTS_DRAWN = """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
  .filter(c => c.offsetParent !== null).every(c => c.querySelector('canvas, svg'))"""
# Counts the app's finished script runs in this page load: before its first run the root element also
# says "notRunning", so waiting for DONE alone can return before the page has even started.
RUN_COUNTER = """
window.__ipsdashRuns = 0;
new MutationObserver((changes) => {
  for (const c of changes) {
    const state = c.target.getAttribute("data-test-script-state");
    if (c.oldValue === "running" && state === "notRunning") window.__ipsdashRuns += 1;
  }
}).observe(document, {attributes: true, attributeOldValue: true, subtree: true,
                      attributeFilter: ["data-test-script-state"]});
"""
# More than `after` finished runs in this page load, not running now, every visible chart drawn and, when
# asked, the sidebar's page links there (a run that stopped before drawing them also ends "notRunning").
FINISHED = f"""([after, links]) => window.__ipsdashRuns > after && document.querySelector('{DONE}') !== null
  && ({CHARTS_DRAWN})() && (!links || document.querySelector('[data-testid="stSidebar"] a[href]') !== null)"""
# What the page is doing, for a failed wait's message.
STATE = """() => ({runs: window.__ipsdashRuns,
  state: document.querySelector('[data-testid="stApp"]')?.getAttribute('data-test-script-state'),
  links: document.querySelectorAll('[data-testid="stSidebar"] a[href]').length,
  undrawn: [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
    .filter(c => c.offsetParent !== null && !c.querySelector('canvas, svg')).length,
  exceptions: [...document.querySelectorAll('[data-testid="stException"]')].map(e => e.innerText.slice(0, 500)),
  text: document.body.innerText.slice(0, 300)})"""
CHROMIUM = "/usr/bin/chromium"  # Debian's package: Playwright cannot download its own browser here
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def child(code: str, env: dict | None = None) -> dict:
    """Run Python `code` in a fresh process (repository root, this interpreter) that prints one JSON line
    last; return it. A failure raises with the end of the child's stderr."""
    out = subprocess.run(
        [PY, "-c", code], cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_store(work: Path, scale: int = 1) -> Path:
    """Generate the seeded demo study at `scale` under `work` and load it; the store's path."""
    folder, db = work / f"demo-{scale}", work / f"store-{scale}" / "ips.duckdb"
    subprocess.run(
        [PY, "-m", "ipsdash.cli", "demo", "--out", str(folder), "--scale", str(scale)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    db.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [PY, "-m", "ipsdash.cli", "load", str(folder)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, "IPSDASH_DB": str(db)},
    )
    return db


class Dashboard:
    """The dashboard on `db` in demo mode as `role`, with no login configured, started as `ipsdash serve`
    starts it (`python -m dashboard.launch run dashboard/app.py`; `module` only for a deliberate
    exception), its output to `log` if given; stopped by its own PID (`stop`, or leaving `with`).
    `env` adds to the environment (a roles file and a HOME with login secrets configure login) and
    `cwd` is where it runs (Streamlit reads `.streamlit/` there); `port` one chosen beforehand (a login
    redirect names it), else a free one."""

    def __init__(
        self,
        db: Path,
        role: str = "projektledare",
        log: Path | None = None,
        wait_s: float = 120,
        module: str = "dashboard.launch",
        env: dict[str, str] | None = None,
        cwd: Path = ROOT,
        port: int | None = None,
    ):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {**os.environ, "IPSDASH_DB": str(db), "IPSDASH_DEMO_ROLE": role}
        for name in ("IPSDASH_REQUIRE_LOGIN", "IPSDASH_ROLES"):
            environment.pop(name, None)
        environment.update(env or {})
        self.log = open(log, "w") if log else None  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                PY,
                "-m",
                module,
                "run",
                str(ROOT / "dashboard" / "app.py"),
                "--server.port",
                str(self.port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            cwd=cwd,
            env=environment,
            stdout=self.log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        where = f"; see {log}" if log else ""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"the dashboard exited ({self.proc.returncode}){where}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the dashboard did not answer on {self.url}{where}")

    def rss_mb(self) -> float:
        """The server process's resident memory."""
        return int(Path(f"/proc/{self.proc.pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.log and not self.log.closed:
            self.log.close()

    def __enter__(self) -> Dashboard:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@contextmanager
def chromium():
    """Headless Chromium (Playwright's browser object), closed on leaving. Playwright's sync API runs
    once per process, so the tests take one for their whole session (tests/conftest.py)."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} saknas: kör scripts/setup.sh --test (apt-get install chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def new_context(browser, width: int = 1366, height: int = 900, **options):
    """A browser context (its own cookies) whose pages count the app's finished runs (`finished` waits
    on the count); `options` as Playwright's `new_context` takes them."""
    context = browser.new_context(viewport={"width": width, "height": height}, locale="sv-SE", **options)
    context.add_init_script(RUN_COUNTER)
    return context


def new_tab(browser, width: int = 1366, height: int = 900):
    """A browser tab that counts the app's finished runs (`open_page` waits on the count); closing it
    closes its own context."""
    tab = browser.new_page(viewport={"width": width, "height": height}, locale="sv-SE")
    tab.add_init_script(RUN_COUNTER)
    return tab


def runs(tab) -> int:
    """How many script runs the app has finished since this page was loaded."""
    return tab.evaluate("() => window.__ipsdashRuns")


def finished(tab, after: int = 0, links: bool = False, timeout_ms: float = 120_000) -> None:
    """Wait until the app has finished more than `after` script runs since the page was loaded, is no
    longer running and every visible chart has drawn (and, with `links`, the sidebar's page links are
    there). Before its first run the app also says "notRunning", and right after a click it still says
    so until the rerun starts: the run count, not the state alone, tells a finished run. A wait that
    runs out fails with what the page shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        tab.wait_for_function(FINISHED, arg=[after, links], timeout=timeout_ms, polling=50)
    except PlaywrightTimeout as exc:
        raise AssertionError(
            f"the app did not finish a run within {timeout_ms / 1000:.0f} s: {tab.evaluate(STATE)}"
        ) from exc


@contextmanager
def rerun(tab, timeout_ms: float = 120_000):
    """`with rerun(tab): <click>`: wait until the script run the click started has finished."""
    before = runs(tab)
    yield
    finished(tab, after=before, timeout_ms=timeout_ms)


def open_page(tab, url: str, timeout_ms: int = 300_000, links: bool = False) -> float:
    """Go to `url` in a tab from `new_tab` and wait until the app has finished a script run, is no
    longer running and every visible chart has drawn; the seconds that took."""
    t = time.perf_counter()
    tab.goto(url)
    finished(tab, links=links, timeout_ms=timeout_ms)
    return time.perf_counter() - t
