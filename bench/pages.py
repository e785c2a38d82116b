"""Page speed at national scale (issue 14): every page warm and cold (AppTest script time), the first
page in a fresh process split into imports and page, the heaviest page in headless Chromium from
navigation until the app is no longer running and every chart has drawn, and the dashboard's memory
after every page for three roles. Writes its own section of bench/RESULTS.md (between the
`pages:begin` and `pages:end` markers), leaving the rest of the file as it is.

Run:  .venv/bin/python bench/pages.py                 (scale 100; about 5–10 minutes)
      .venv/bin/python bench/pages.py --scale 10 --db PATH   (reuse a loaded store)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PY = sys.executable
RESULTS = ROOT / "bench" / "RESULTS.md"
BEGIN, END = "<!-- pages:begin -->", "<!-- pages:end -->"
ROLES = ["projektledare", "styrgrupp", "enhetschef:Södermalm"]
TARGETS = {"warm": 0.25, "cold": 1.0, "first": 2.5, "browser": 1.5, "rss": 600}


def _child(code: str, env: dict) -> dict:
    out = subprocess.run(
        [PY, "-c", code], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def prepare(scale: int, work: Path) -> Path:
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


def app_times(db: Path) -> dict:
    """In ONE fresh process: imports, the first page (oversikt), then every other page cold (its first
    run in a process that has served a page) and warm (its second run). Script time of AppTest."""
    code = """
import json, time
t0 = time.perf_counter()
from streamlit.testing.v1 import AppTest
from dashboard import navigation, ui, queries, recruitment, balance, attrition, followup, caseload, fidelity, reports  # noqa
import altair, pandas, duckdb  # noqa
imports = time.perf_counter() - t0
at = AppTest.from_file("dashboard/app.py", default_timeout=600)
t = time.perf_counter(); at.run(); first = time.perf_counter() - t
assert not at.exception, [e.value for e in at.exception]
out = {"imports": imports, "first_page": first, "pages": {}}
for p in navigation.PAGES:
    if "projektledare" not in p.roles or not p.needs_store:
        continue
    runs = []
    for _ in range(3):
        t = time.perf_counter(); at.switch_page(p.file).run(); runs.append(time.perf_counter() - t)
        assert not at.exception, (p.key, [e.value for e in at.exception])
    out["pages"][p.key] = {"cold": runs[0], "warm": min(runs[1:])}
print(json.dumps(out))
"""
    return _child(code, {"IPSDASH_DB": str(db), "IPSDASH_DEMO_ROLE": "projektledare"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, db: Path, role: str):
        import urllib.request

        self.port = _free_port()
        self.proc = subprocess.Popen(
            [
                PY,
                "-m",
                "dashboard.launch",
                "run",
                "dashboard/app.py",
                "--server.port",
                str(self.port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            cwd=ROOT,
            env={**os.environ, "IPSDASH_DB": str(db), "IPSDASH_DEMO_ROLE": role},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_stcore/health", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def rss_mb(self) -> float:
        return int(Path(f"/proc/{self.proc.pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
# Every chart on the page has drawn: each Vega-Lite element holds a canvas or svg from vega-embed.
CHARTS_DRAWN = """() => {
  const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
  return charts.filter(c => c.offsetParent !== null).every(c => c.querySelector('canvas, svg'));
}"""


def browser(db: Path, heaviest: str) -> dict:
    from playwright.sync_api import sync_playwright

    from dashboard import navigation

    out: dict = {"rss": {}}
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        for role in ROLES:
            server = Server(db, role)
            try:
                tab = chromium.new_page(viewport={"width": 1366, "height": 900})
                base = f"http://127.0.0.1:{server.port}"
                keys = [p.key for p in navigation.PAGES if role.split(":")[0] in p.roles]
                for key in keys:
                    tab.goto(f"{base}/{key}")
                    tab.wait_for_selector(DONE, timeout=300_000)
                    tab.wait_for_function(CHARTS_DRAWN, timeout=300_000)
                if role == "projektledare":
                    times = []
                    for _ in range(3):
                        tab.goto(f"{base}/oversikt")
                        tab.wait_for_selector(DONE, timeout=300_000)
                        t = time.perf_counter()
                        tab.goto(f"{base}/{heaviest}")
                        tab.wait_for_selector(DONE, timeout=300_000)
                        tab.wait_for_function(CHARTS_DRAWN, timeout=300_000)
                        times.append(time.perf_counter() - t)
                    out["browser"] = {"page": heaviest, "seconds": min(times), "all": times}
                out["rss"][role] = server.rss_mb()
                tab.close()
            finally:
                server.stop()
        chromium.close()
    return out


def section(scale: int, r: dict) -> str:
    def mark(value: float, target: float) -> str:
        return "✅" if value <= target else f"❌ (+{value - target:.2f})"

    load = os.getloadavg()
    lines = [
        BEGIN,
        f"## Pages at scale {scale} (issue 14; `bench/pages.py`)",
        "",
        f"Measured {date.today().isoformat()} on the shared 2-core machine (six engineers; load average "
        f"{load[0]:.1f} at the end of the run), so the figures are upper bounds; re-run when the machine is quiet.",
        "",
        "| page | cold (s) | warm (s) | cold ≤ 1.0 | warm ≤ 0.25 |",
        "|---|---|---|---|---|",
    ]
    for key, t in r["app"]["pages"].items():
        lines.append(
            f"| {key} | {t['cold']:.2f} | {t['warm']:.2f} | {mark(t['cold'], 1.0)} | {mark(t['warm'], 0.25)} |"
        )
    first = r["app"]["imports"] + r["app"]["first_page"]
    lines += [
        "",
        "| figure | measured | target | |",
        "|---|---|---|---|",
        f"| first page in a fresh process | {first:.2f} s (imports {r['app']['imports']:.2f} + page "
        f"{r['app']['first_page']:.2f}) | ≤ 2.5 s | {mark(first, 2.5)} |",
        f"| heaviest page ({r['browser']['page']}) in Chromium, navigation → not running and every chart drawn | "
        f"{r['browser']['seconds']:.2f} s | ≤ 1.5 s | {mark(r['browser']['seconds'], 1.5)} |",
    ]
    for role, mb in r["rss"].items():
        lines.append(f"| dashboard RSS after every page, {role} | {mb:.0f} MB | ≤ 600 MB | {mark(mb, 600)} |")
    lines += ["", END]
    return "\n".join(lines)


def write(text: str) -> None:
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        RESULTS.write_text(head + text + tail, encoding="utf-8")
    else:
        RESULTS.write_text(current.rstrip() + "\n\n" + text + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=100)
    parser.add_argument("--db", type=Path, help="a loaded store to reuse instead of generating one")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or prepare(args.scale, Path(tmp))
        app = app_times(db)
        print(json.dumps(app), flush=True)
        heaviest = max(app["pages"], key=lambda k: app["pages"][k]["warm"])
        r = {"app": app, **browser(db, heaviest)}
        print(json.dumps(r), flush=True)
    text = section(args.scale, r)
    print(text)
    if not args.no_write:
        write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
