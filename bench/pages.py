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
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import serve  # noqa: E402

PY = sys.executable
RESULTS = ROOT / "bench" / "RESULTS.md"
BEGIN, END = "<!-- pages:begin -->", "<!-- pages:end -->"
ROLES = ["projektledare", "styrgrupp", "enhetschef:Södermalm"]
TARGETS = {"warm": 0.25, "cold": 1.0, "first": 2.5, "browser": 1.5, "rss": 600}


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
    return serve.child(code, {"IPSDASH_DB": str(db), "IPSDASH_DEMO_ROLE": "projektledare"})


def browser(db: Path, heaviest: str, page_s: float = 180) -> dict:
    """Every page of each role in headless Chromium (the server's memory after them, each page's time),
    then the heaviest page three times from the overview: navigation until the app has finished a run,
    is no longer running and every chart has drawn (`serve.open_page`). A page that has not finished
    after `page_s` is recorded as such (with what it showed) and the run goes on in a new server."""
    from dashboard import navigation

    out: dict = {"rss": {}, "pages": {}, "unfinished": {}}
    with serve.chromium() as chromium:
        for role in ROLES:
            pages = [p for p in navigation.PAGES if role.split(":")[0] in p.roles]
            done: list[str] = []
            while len(done) < len(pages):
                with serve.Dashboard(db, role) as server:
                    tab = serve.new_tab(chromium)
                    for p in pages:
                        if p.key in done:
                            continue
                        done.append(p.key)
                        try:
                            seconds = serve.open_page(tab, f"{server.url}/{p.url}", timeout_ms=page_s * 1000)
                        except AssertionError as exc:  # a server busy with a page that never ends: start anew
                            out["unfinished"][f"{role} {p.key}"] = str(exc)[:300]
                            print(f"{role} {p.key}: not finished after {page_s:.0f} s", flush=True)
                            tab.close()
                            break
                        out["pages"][f"{role} {p.key}"] = seconds
                        print(f"{role} {p.key}: {seconds:.2f} s", flush=True)
                    else:
                        tab.close()
                        if not any(where.startswith(f"{role} ") for where in out["unfinished"]):
                            out["rss"][role] = server.rss_mb()  # one server has served every page
        with serve.Dashboard(db, "projektledare") as server:
            tab = serve.new_tab(chromium)
            times = []
            for _ in range(3):
                serve.open_page(tab, f"{server.url}/{navigation.DEFAULT}")
                times.append(serve.open_page(tab, f"{server.url}/{navigation.page(heaviest).url}"))
            out["browser"] = {"page": heaviest, "seconds": min(times), "all": times}
            tab.close()
    return out


def section(scale: int, r: dict) -> str:
    def mark(value: float, target: float) -> str:
        return "✅" if value <= target else f"❌ (+{value - target:.2f})"

    load = os.getloadavg()[0]
    busy = max(load, r.get("load_at_start", 0.0))
    quiet = "" if busy < 1.5 else ", so the figures are upper bounds; re-run when the machine is quiet"
    lines = [
        BEGIN,
        f"## Pages at scale {scale} (issue 14; `bench/pages.py`)",
        "",
        f"Measured {date.today().isoformat()} on {os.cpu_count()} cores; load average "
        f"{r.get('load_at_start', float('nan')):.1f} at the start of the run and {load:.1f} at the end{quiet}.",
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
    # Each role's slowest page on its first visit in a fresh session (for a suppressed role the
    # small-cell decisions of every family run then, once per store version): no target of its own.
    for role in r["rss"]:
        visits = {k.split(" ", 1)[1]: v for k, v in r.get("pages", {}).items() if k.split(" ", 1)[0] == role}
        if visits:
            page = max(visits, key=visits.get)
            lines.append(f"| slowest first visit, {role} ({page}) | {visits[page]:.2f} s | – | |")
    for where, state in r.get("unfinished", {}).items():
        lines.append(f"| {where} in Chromium | not finished ({state}) | ≤ 1.5 s | ❌ |")
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
        db = args.db or serve.demo_store(Path(tmp), args.scale)
        load_at_start = os.getloadavg()[0]
        app = app_times(db)
        print(json.dumps(app), flush=True)
        heaviest = max(app["pages"], key=lambda k: app["pages"][k]["warm"])
        r = {"app": app, **browser(db, heaviest), "load_at_start": load_at_start}
        print(json.dumps(r), flush=True)
    text = section(args.scale, r)
    print(text)
    if not args.no_write:
        write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
