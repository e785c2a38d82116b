"""Compare two versions of the loader on the same input: every table row for row, and the rejected rows.

The base version is checked out from git into a temporary worktree; the other is this tree. Each
version loads the same input folder into its own store (in a fresh process whose `PYTHONPATH`
points at that version), then every table of both stores is compared as a multiset of rows
(`EXCEPT ALL` both ways), columns that differ by nature between two loads left out (load times,
fingerprints, file names of the store). `meta.rejected_rows` is one of the tables, so the rejected
rows, their cells, values, reasons and rule ids are compared too.

Inputs (each a "case"): the demo at scales 1, 10 and 100, with --mistakes, with --redcap, the
filled-in templates and the quirky staff files of tests/test_staff_files.py.

Run:  .venv/bin/python bench/compare_loaders.py --base <commit> [--cases demo1 mistakes ...]
      [--report bench/COMPARISON.md]
Exit status 0 when every case is identical, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
CASES = ("demo1", "demo10", "demo100", "mistakes", "redcap", "filled", "quirky")
# Columns whose values differ between any two loads, whatever the loader.
VOLATILE = {"loaded_at", "fingerprint", "db_file", "seconds", "input_dir", "frozen_at", "created_at", "at", "load_id"}
EXAMPLES = 5


# --- inputs -------------------------------------------------------------------------------------


def make_input(case: str, folder: Path) -> Path:
    """Write the input folder of `case` (with this tree's generators) and return it."""
    sys.path.insert(0, str(ROOT))
    from etl.demo import generate

    folder.mkdir(parents=True, exist_ok=True)
    if case.startswith("demo"):
        generate(folder, seed=42, scale=int(case[4:]))
    elif case == "mistakes":
        generate(folder, seed=42, scale=1, mistakes=True)
    elif case == "redcap":
        generate(folder, seed=42, scale=1, redcap=True)
    elif case == "filled":
        _filled(folder)
    elif case == "quirky":
        _quirky(folder)
    else:
        raise SystemExit(f"unknown case {case}; known: {', '.join(CASES)}")
    return folder


def _filled(folder: Path) -> None:
    """The templates as `ipsdash template` writes them, filled in as in tests/test_staff_files.py."""
    import openpyxl

    from etl.template import data_sheet_name, write_templates
    from schema.config import load_config
    from schema.sources import SOURCES
    from tests.test_staff_files import FILLED

    shutil.copy(ROOT / "config" / "studie.toml", folder / "studie.toml")
    write_templates(folder, load_config(folder / "studie.toml"))
    for src in SOURCES:
        path = folder / f"{src.stems[0]}.xlsx"
        wb = openpyxl.load_workbook(path)
        ws = wb[data_sheet_name(src)]
        headers = [c.value for c in ws[1]]
        for r, row in enumerate(FILLED[src.key], start=2):
            for header, value in row.items():
                ws.cell(row=r, column=headers.index(header) + 1, value=value)
        wb.save(path)


def _quirky(folder: Path) -> None:
    """The demo with the referral log as staff keep it and yes/no typed as J/N/x (the tests' files)."""
    from etl.demo import generate
    from tests import independent as ind
    from tests.test_staff_files import _quirky_referral_log, _yes_no_variants

    clean = folder.with_name(folder.name + "-clean")
    generate(clean, seed=42, scale=1)
    for path in clean.iterdir():
        if path.is_file():
            shutil.copy(path, folder / path.name)
    (folder / "remisslogg.xlsx").unlink()
    _quirky_referral_log(ind.rows(clean, "remisslogg"), folder / "remisslogg.xlsx")
    _yes_no_variants(folder)


# --- loading with one version -------------------------------------------------------------------

LOAD = """
import io, json, sys, time
from pathlib import Path
import etl
from etl.load import load
out, err = io.StringIO(), io.StringIO()
t = time.perf_counter()
status = load(Path(sys.argv[1]), Path(sys.argv[2]), out, err)
print(json.dumps({"status": status, "seconds": time.perf_counter() - t, "etl": etl.__file__,
                  "out": out.getvalue(), "err": err.getvalue()}))
"""


def load_with(tree: Path, folder: Path, db: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-c", LOAD, str(folder), str(db)], cwd=tree, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"load with {tree} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not Path(result["etl"]).resolve().is_relative_to(tree.resolve()):
        raise RuntimeError(f"{tree}: imported etl from {result['etl']} instead")
    return result


# --- comparing two stores -----------------------------------------------------------------------


def tables(con: duckdb.DuckDBPyConnection, alias: str) -> dict[str, list[str]]:
    rows = con.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_catalog = ? order by table_schema, table_name, ordinal_position",
        [alias],
    ).fetchall()
    out: dict[str, list[str]] = {}
    for schema, table, column in rows:
        out.setdefault(f"{schema}.{table}", []).append(column)
    return out


def compare_stores(old_db: Path, new_db: Path) -> list[dict]:
    """One entry per table: rows in each, rows only in old / only in new, a few examples."""
    con = duckdb.connect()
    con.execute(f"attach '{old_db.resolve()}' as old (read_only)")
    con.execute(f"attach '{new_db.resolve()}' as new (read_only)")
    old_t, new_t = tables(con, "old"), tables(con, "new")
    report = []
    for name in sorted(set(old_t) | set(new_t)):
        entry: dict = {"table": name}
        if name not in old_t or name not in new_t:
            entry["missing_in"] = "old" if name not in old_t else "new"
            report.append(entry)
            continue
        columns = [c for c in old_t[name] if c in new_t[name] and c not in VOLATILE]
        entry["columns_only_old"] = [c for c in old_t[name] if c not in new_t[name]]
        entry["columns_only_new"] = [c for c in new_t[name] if c not in old_t[name]]
        cols = ", ".join(f'"{c}"' for c in columns)
        a, b = f"select {cols} from old.{name}", f"select {cols} from new.{name}"
        entry["rows_old"] = con.execute(f"select count(*) from old.{name}").fetchone()[0]
        entry["rows_new"] = con.execute(f"select count(*) from new.{name}").fetchone()[0]
        entry["only_old"] = con.execute(f"select count(*) from ({a} except all {b})").fetchone()[0]
        entry["only_new"] = con.execute(f"select count(*) from ({b} except all {a})").fetchone()[0]
        if entry["only_old"] or entry["only_new"]:
            entry["examples_old"] = [
                list(map(str, r)) for r in con.execute(f"{a} except all {b} limit {EXAMPLES}").fetchall()
            ]
            entry["examples_new"] = [
                list(map(str, r)) for r in con.execute(f"{b} except all {a} limit {EXAMPLES}").fetchall()
            ]
            entry["columns"] = columns
        report.append(entry)
    con.close()
    return report


def differs(entry: dict) -> bool:
    return bool(
        entry.get("missing_in")
        or entry.get("only_old")
        or entry.get("only_new")
        or entry.get("columns_only_old")
        or entry.get("columns_only_new")
    )


def markdown(base: str, head: str, results: list[dict]) -> str:
    lines = [
        "# Loader comparison",
        "",
        f"Base (old loader): `{base}`; compared (new loader): `{head}`. Written by `bench/compare_loaders.py`.",
        f"Columns left out as different by nature: {', '.join(sorted(VOLATILE))}.",
        "",
        "| case | exit old | exit new | s old | s new | tables | tables equal | rejected rows old/new |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rej = next((t for t in r["tables"] if t["table"] == "meta.rejected_rows"), {})
        equal = sum(1 for t in r["tables"] if not differs(t))
        lines.append(
            f"| {r['case']} | {r['old']['status']} | {r['new']['status']} | {r['old']['seconds']:.2f} "
            f"| {r['new']['seconds']:.2f} | {len(r['tables'])} | {equal} "
            f"| {rej.get('rows_old', '–')}/{rej.get('rows_new', '–')} |"
        )
    for r in results:
        bad = [t for t in r["tables"] if differs(t)]
        if r["old"]["status"] == 2 or r["new"]["status"] == 2:
            lines += ["", f"## {r['case']}: a load refused", "", "```", r["old"]["err"], r["new"]["err"], "```"]
        if not bad:
            continue
        lines += ["", f"## {r['case']}: differences", ""]
        for t in bad:
            lines.append(
                f"- `{t['table']}`: "
                + (
                    f"missing in {t['missing_in']}"
                    if t.get("missing_in")
                    else f"{t['rows_old']} vs {t['rows_new']} rows; {t['only_old']} only in old, "
                    f"{t['only_new']} only in new"
                )
            )
            for c in ("columns_only_old", "columns_only_new"):
                if t.get(c):
                    lines.append(f"  - {c.replace('_', ' ')}: {', '.join(t[c])}")
            if t.get("columns"):
                lines.append(f"  - columns: {', '.join(t['columns'])}")
                lines += [f"  - old: {' | '.join(e)}" for e in t["examples_old"]]
                lines += [f"  - new: {' | '.join(e)}" for e in t["examples_new"]]
    return "\n".join(lines) + "\n"


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision of the old loader")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--report", help="write the Markdown summary here as well")
    args = parser.parse_args(argv)
    base = git("rev-parse", "--short", args.base)
    head = git("rev-parse", "--short", "HEAD") + (
        "+changes" if git("status", "--porcelain", "--", "etl", "schema") else ""
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="compare-loaders-") as tmp_name:
        tmp = Path(tmp_name)
        old_tree = tmp / "old-tree"
        git("worktree", "add", "--detach", str(old_tree), base)
        try:
            for case in args.cases:
                folder = make_input(case, tmp / "input" / case)
                old = load_with(old_tree, folder, tmp / "old" / case / "ips.duckdb")
                new = load_with(ROOT, folder, tmp / "new" / case / "ips.duckdb")
                entry = {"case": case, "old": old, "new": new, "tables": []}
                if old["status"] != 2 and new["status"] != 2:
                    entry["tables"] = compare_stores(
                        tmp / "old" / case / "ips.duckdb", tmp / "new" / case / "ips.duckdb"
                    )
                results.append(entry)
                same = not any(differs(t) for t in entry["tables"]) and old["status"] == new["status"]
                print(
                    f"{case}: exit {old['status']}/{new['status']}, {old['seconds']:.2f} s/{new['seconds']:.2f} s, "
                    f"{'identical' if same else 'DIFFERENT'}",
                    file=sys.stderr,
                    flush=True,
                )
        finally:
            git("worktree", "remove", "--force", str(old_tree))
    text = markdown(base, head, results)
    print(text)
    if args.report:
        Path(args.report).write_text(text, encoding="utf-8")
    ok = all(r["old"]["status"] == r["new"]["status"] and not any(differs(t) for t in r["tables"]) for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
