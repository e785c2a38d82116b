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
FINISHED = f"""() => window.__ipsdashRuns > 0 && document.querySelector('{DONE}') !== null
  && ({CHARTS_DRAWN})()"""
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
    exception), its output to `log` if given; stopped by its own PID (`stop`, or leaving `with`)."""

    def __init__(
        self,
        db: Path,
        role: str = "projektledare",
        log: Path | None = None,
        wait_s: float = 120,
        module: str = "dashboard.launch",
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "IPSDASH_DB": str(db), "IPSDASH_DEMO_ROLE": role}
        for name in ("IPSDASH_REQUIRE_LOGIN", "IPSDASH_ROLES"):
            env.pop(name, None)
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
            cwd=ROOT,
            env=env,
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
    """Headless Chromium (Playwright's browser object), closed on leaving."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_tab(browser, width: int = 1366, height: int = 900):
    """A browser tab that counts the app's finished runs (`open_page` waits on the count)."""
    tab = browser.new_page(viewport={"width": width, "height": height}, locale="sv-SE")
    tab.add_init_script(RUN_COUNTER)
    return tab


def open_page(tab, url: str, timeout_ms: int = 300_000) -> float:
    """Go to `url` in a tab from `new_tab` and wait until the app has finished a script run, is no
    longer running and every visible chart has drawn; the seconds that took."""
    t = time.perf_counter()
    tab.goto(url)
    tab.wait_for_function(FINISHED, timeout=timeout_ms, polling=50)
    return time.perf_counter() - t
