"""Benchmark: demo generation, load, DuckDB's bare read of the same files, every page's script time
(cold and warm, AppTest), the heaviest page's time to rendered in headless Chromium, the dashboard
process's memory, and store size — at scales 1, 10 and 100. Writes bench/RESULTS.md.

Run:  .venv/bin/python bench/run.py            (all scales; about 10–15 minutes)
      .venv/bin/python bench/run.py --scales 1 10
Kept out of the test suite on purpose: timings belong in a benchmark, not in assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import serve  # noqa: E402
from dashboard import navigation  # noqa: E402

PY = sys.executable
PAGES = [p.key for p in navigation.PAGES if p.needs_store and "projektledare" in p.roles]


def generate(scale: int, folder: Path) -> float:
    shutil.rmtree(folder, ignore_errors=True)
    t = time.perf_counter()
    subprocess.run(
        [PY, "-m", "ipsdash.cli", "demo", "--out", str(folder), "--scale", str(scale)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t


def load(folder: Path, db: Path) -> dict:
    shutil.rmtree(db.parent, ignore_errors=True)
    code = f"""
import io, json, resource, time
from pathlib import Path
from etl.load import load
t = time.perf_counter()
status = load(Path({str(folder)!r}), Path({str(db)!r}), io.StringIO(), io.StringIO())
print(json.dumps({{"seconds": time.perf_counter() - t, "status": status,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    return serve.child(code)


def bare_read(folder: Path) -> dict:
    """The floor: DuckDB reads every CSV, calamine (fastexcel) every xlsx — no validation at all.
    (DuckDB's own Excel reader is an extension that would have to be downloaded.)"""
    code = f"""
import json, time, duckdb, fastexcel
from pathlib import Path
folder = Path({str(folder)!r})
t = time.perf_counter(); rows = 0
con = duckdb.connect()
for p in sorted(folder.rglob("*.csv")):
    rows += con.execute("select count(*) from read_csv(?, all_varchar=true)", [str(p)]).fetchone()[0]
for p in sorted(folder.glob("*.xlsx")):
    rows += fastexcel.read_excel(str(p)).load_sheet(0).to_arrow().num_rows
print(json.dumps({{"seconds": time.perf_counter() - t, "rows": rows}}))
"""
    return serve.child(code)


def page_times(db: Path) -> dict:
    """Cold = first run of the page in a fresh process; warm = the second run in that process."""
    out = {}
    for page in PAGES:
        code = f"""
import json, time, os
from streamlit.testing.v1 import AppTest
def run():
    at = AppTest.from_file("dashboard/app.py", default_timeout=300)
    t = time.perf_counter(); at.run()
    if {page!r} != "oversikt":
        t = time.perf_counter(); at.switch_page({navigation.page(page).file!r}).run()
    assert not at.exception, [e.value for e in at.exception]
    return time.perf_counter() - t
cold = run(); warm = run()
print(json.dumps({{"cold": cold, "warm": warm}}))
"""
        out[page] = serve.child(code, {"IPSDASH_DB": str(db), "IPSDASH_DEMO_ROLE": "projektledare"})
    return out


def browser(db: Path, page: str) -> dict:
    """Time to rendered of `page` in headless Chromium (navigation until the app has finished a run and
    every chart has drawn), and the server's resident memory after every page has been visited once."""
    with serve.chromium() as chromium, serve.Dashboard(db) as server:
        tab = serve.new_tab(chromium, 1400, 1000)
        for p in PAGES:  # warm the server like a user session would
            serve.open_page(tab, f"{server.url}/{navigation.page(p).url}")
        times = [serve.open_page(tab, f"{server.url}/{navigation.page(page).url}") for _ in range(3)]
        return {"rendered": min(times), "rss_mb": server.rss_mb()}


def machine() -> str:
    cpu = ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    mem = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0]) / 1024 / 1024
    return f"{os.cpu_count()} cores ({cpu or platform.machine()}), {mem:.0f} GiB RAM, Python {platform.python_version()}, {date.today().isoformat()}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--work", default="/tmp/ipsdash-bench")
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    args = parser.parse_args()
    work = Path(args.work)
    results = {}
    for scale in args.scales:
        folder, db = work / f"demo-{scale}", work / f"store-{scale}" / "ips.duckdb"
        r = {"generate": generate(scale, folder)}
        r["load"] = load(folder, db)
        r["bare"] = bare_read(folder)
        r["store_mb"] = db.resolve().stat().st_size / 1e6
        r["participants"] = serve.child(f"""
import json, duckdb
c = duckdb.connect({str(db)!r}, read_only=True)
print(json.dumps({{"n": c.execute("select count(*) from mart.participants").fetchone()[0],
                  "rows": c.execute("select sum(rows_loaded) from meta.load_files where load_id = (select max(load_id) from meta.loads)").fetchone()[0]}}))
""")
        r["pages"] = page_times(db)
        heaviest = max(r["pages"], key=lambda p: r["pages"][p]["warm"])
        r["browser"] = {"page": heaviest, **browser(db, heaviest)}
        results[scale] = r
        print(f"scale {scale}: {json.dumps(r)}", flush=True)
    text = report(results)
    previous = Path(args.out).read_text(encoding="utf-8") if Path(args.out).exists() else ""
    # bench/loader.py's and bench/pages.py's sections: kept as they were measured.
    for start, end in [
        ("<!-- loader:start -->", "<!-- loader:end -->"),
        ("<!-- pages:begin -->", "<!-- pages:end -->"),
    ]:
        if start in previous and end in previous:
            text = text.rstrip("\n") + "\n\n" + previous[previous.index(start) : previous.index(end) + len(end)] + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    (Path(args.out).with_suffix(".json")).write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


def report(results: dict) -> str:
    scales = sorted(results)
    lines = [
        "# Benchmark",
        "",
        f"Machine: {machine()}.",
        "",
        "Produced by `.venv/bin/python bench/run.py`. Times in seconds (wall clock).",
        "",
        "| figure | " + " | ".join(f"scale {s}" for s in scales) + " | growth 1→10→100 |",
        "|---|" + "---|" * (len(scales) + 1),
    ]

    def row(label, get, fmt="{:.2f}"):
        values = [get(results[s]) for s in scales]
        growth = ""
        if len(values) > 1 and values[0]:
            growth = " → ".join(f"{v / values[0]:.1f}×" for v in values)
        lines.append(f"| {label} | " + " | ".join(fmt.format(v) for v in values) + f" | {growth} |")

    row("randomised participants", lambda r: r["participants"]["n"], "{:d}")
    row("source rows loaded", lambda r: r["participants"]["rows"], "{:d}")
    row("generate demo", lambda r: r["generate"])
    row("load (`ipsdash load`)", lambda r: r["load"]["seconds"])
    row("bare read (DuckDB CSV + calamine xlsx)", lambda r: r["bare"]["seconds"])
    row("load ÷ bare read", lambda r: r["load"]["seconds"] / r["bare"]["seconds"], "{:.1f}×")
    row("load peak memory (MB)", lambda r: r["load"]["peak_mb"], "{:.0f}")
    row("store size (MB)", lambda r: r["store_mb"], "{:.1f}")
    for page in PAGES:
        row(f"page {page} cold", lambda r, p=page: r["pages"][p]["cold"])
        row(f"page {page} warm", lambda r, p=page: r["pages"][p]["warm"])
    row("heaviest page rendered in Chromium", lambda r: r["browser"]["rendered"])
    row("dashboard process RSS after all pages (MB)", lambda r: r["browser"]["rss_mb"], "{:.0f}")
    lines += [
        "",
        "Heaviest page (warm) per scale: " + ", ".join(f"{s}: {results[s]['browser']['page']}" for s in scales) + ".",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
