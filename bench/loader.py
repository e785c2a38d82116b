"""Loader benchmark against issue 11's targets, in ONE run: the bare read (the floor), this tree's
loader and, for "no slower than today", the loader of a base commit (from a git worktree), on the
demo at scales 1, 10, 100 and 1000 and on one big activity CSV (1.2 M rows, about 50 MB).

Each load runs in a fresh process; peak memory is that process's maximum RSS. The machine's load
average is recorded next to each figure, because the machine is shared.

Run:  .venv/bin/python bench/loader.py --base <commit> [--scales 1 10 100 1000] [--csv-rows 1200000]
Writes the section between the loader markers of bench/RESULTS.md (bench/run.py keeps it).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PY, ROOT, bare_read, generate, machine  # noqa: E402

START, END = "<!-- loader:start -->", "<!-- loader:end -->"

LOAD = """
import io, json, resource, sys, time
from pathlib import Path
import etl
from etl.load import load
t = time.perf_counter()
status = load(Path(sys.argv[1]), Path(sys.argv[2]), io.StringIO(), io.StringIO())
print(json.dumps({"seconds": time.perf_counter() - t, "status": status, "etl": etl.__file__,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def load_with(tree: Path, folder: Path, db: Path) -> dict:
    shutil.rmtree(db.parent, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    before = os.getloadavg()[0]
    done = subprocess.run([PY, "-c", LOAD, str(folder), str(db)], cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(out["etl"]).resolve().is_relative_to(tree.resolve()), out["etl"]
    out["loadavg"] = round((before + os.getloadavg()[0]) / 2, 1)
    return out


def big_activity(folder: Path, rows: int) -> Path:
    """The scale-1 demo with its activity file grown to `rows` rows by repeating its rows (every
    study code stays a randomised one, so every row is accepted)."""
    generate(1, folder)
    path = folder / "ips_aktivitet.csv"
    with open(path, encoding="utf-8-sig", newline="") as fh:
        header, *body = list(csv.reader(fh, delimiter=";"))
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(header)
        for i in range(rows):
            writer.writerow(body[i % len(body)])
    return path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="git revision of today's loader")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--csv-rows", type=int, default=1_200_000)
    parser.add_argument("--repeat", type=int, default=2, help="loads per figure; the fastest is kept")
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    args = parser.parse_args()
    base = subprocess.run(
        ["git", "rev-parse", "--short", args.base], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="loader-bench-") as tmp_name:
        tmp = Path(tmp_name)
        old_tree = tmp / "old-tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(old_tree), base], cwd=ROOT, check=True, capture_output=True
        )
        try:
            cases = [(f"scale {s}", s) for s in args.scales] + [("activity CSV", None)]
            for name, scale in cases:
                folder = tmp / name.replace(" ", "-")
                if scale is None:
                    path = big_activity(folder, args.csv_rows)
                    extra = {"csv_mb": round(path.stat().st_size / 1e6, 1), "csv_rows": args.csv_rows}
                else:
                    generate(scale, folder)
                    extra = {}
                r = {"bare": bare_read(folder), **extra}
                for label, tree in (("new", ROOT), ("old", old_tree)):
                    if label == "old" and scale is not None and scale >= 1000 and not os.environ.get("BENCH_OLD_1000"):
                        continue  # today's loader at scale 1000 takes minutes; set BENCH_OLD_1000=1 to include it
                    runs = [load_with(tree, folder, tmp / f"{label}-db" / "ips.duckdb") for _ in range(args.repeat)]
                    r[label] = min(runs, key=lambda x: x["seconds"])
                    r[label]["peak_mb"] = max(x["peak_mb"] for x in runs)
                results[name] = r
                print(f"{name}: {json.dumps(r)}", flush=True)
                shutil.rmtree(folder, ignore_errors=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old_tree)], cwd=ROOT, capture_output=True)
    section = report(results, base, head)
    out = Path(args.out)
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    if START in text:
        text = text[: text.index(START)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    out.write_text(text, encoding="utf-8")
    out.with_name("RESULTS-loader.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(section)
    return 0


def report(results: dict, base: str, head: str) -> str:
    lines = [
        START,
        "## Loader (issue 11 targets)",
        "",
        f"Machine: {machine()}; `nproc` {os.cpu_count()}. Produced by `.venv/bin/python bench/loader.py --base {base}` "
        f"in one run: the floor (bare read: DuckDB for CSV, fastexcel/calamine for xlsx), this loader (`{head}`) and "
        f"the older loader (`{base}`), each load in a fresh process, fastest of the repeats, peak = max RSS. "
        "The load average (1 min) is given per load: above about 1 on this 2-core machine the seconds are "
        "inflated, the ratios less so.",
        "",
        "| input | rows read | bare read s | load s (new) | ÷ bare | peak MB (new) | load avg | load s (old) | peak MB (old) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        new, old = r.get("new", {}), r.get("old")
        ratio = new["seconds"] / r["bare"]["seconds"] if r["bare"]["seconds"] else 0
        lines.append(
            f"| {name}{' (' + str(r['csv_mb']) + ' MB)' if 'csv_mb' in r else ''} | {r['bare']['rows']} "
            f"| {r['bare']['seconds']:.2f} | {new['seconds']:.2f} | {ratio:.1f}× | {new['peak_mb']:.0f} | {new['loadavg']} "
            f"| {old['seconds']:.2f} | {old['peak_mb']:.0f} |"
            if old
            else f"| {name}{' (' + str(r['csv_mb']) + ' MB)' if 'csv_mb' in r else ''} | {r['bare']['rows']} "
            f"| {r['bare']['seconds']:.2f} | {new['seconds']:.2f} | {ratio:.1f}× | {new['peak_mb']:.0f} | {new['loadavg']} | – | – |"
        )
    lines += ["", *targets(results), END]
    return "\n".join(lines)


def targets(results: dict) -> list[str]:
    """Issue 11's targets table, each verdict computed from this run's figures."""
    rows = []

    def add(target: str, measured: str, met: bool | None) -> None:
        rows.append(f"| {target} | {measured} | {'met' if met else 'missed' if met is not None else 'not measured'} |")

    s100, s1000, s1 = results.get("scale 100"), results.get("scale 1000"), results.get("scale 1")
    csv_case = results.get("activity CSV")
    if s100:
        sec, bare = s100["new"]["seconds"], s100["bare"]["seconds"]
        add("scale 100 ≤ 3 s", f"{sec:.2f} s", sec <= 3)
        add("scale 100 ≤ 3× the bare read", f"{sec / bare:.1f}× ({bare:.2f} s floor)", sec / bare <= 3)
        add("peak memory at scale 100 ≤ 400 MB", f"{s100['new']['peak_mb']:.0f} MB", s100["new"]["peak_mb"] <= 400)
    if s1000:
        sec = s1000["new"]["seconds"]
        add("scale 1000 completes, ≤ 30 s", f"{sec:.1f} s, {s1000['new']['peak_mb']:.0f} MB", sec <= 30)
        if s100:
            rows_x = s1000["bare"]["rows"] / s100["bare"]["rows"]
            time_x = sec / s100["new"]["seconds"]
            add(
                "time grows no faster than rows (100 → 1000)",
                f"rows ×{rows_x:.1f}, time ×{time_x:.1f}",
                time_x <= rows_x,
            )
    if s1 and s1.get("old"):
        new, old = s1["new"]["seconds"], s1["old"]["seconds"]
        # Within 10 % is "no slower": a fresh process's start varies by more than that on this machine.
        add("scale 1 no slower than the older loader", f"{new:.2f} s against {old:.2f} s", new <= old * 1.1)
    if csv_case:
        sec, peak = csv_case["new"]["seconds"], csv_case["new"]["peak_mb"]
        add("50 MB activity CSV ≤ 10 s and ≤ 1 GB", f"{sec:.2f} s, {peak:.0f} MB", sec <= 10 and peak <= 1024)
    if not rows:
        return []
    return [
        "Targets (issue 11), verdicts computed from this run:",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        *rows,
    ]


if __name__ == "__main__":
    sys.exit(main())
