"""The `ipsdash` command: demo, load, serve and the study's administrative acts."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import dashboard
from etl import scan
from etl.paths import store_path


def _serve(args: argparse.Namespace) -> int:
    db = store_path(args.db)
    env = dict(os.environ, IPSDASH_DB=str(db.absolute()))
    app = Path(dashboard.__file__).resolve().parent / "app.py"
    cmd = [
        sys.executable,
        "-m",
        "dashboard.launch",
        "run",
        str(app),
        "--server.port",
        str(args.port),
        "--server.address",
        args.address,
        "--browser.gatherUsageStats",
        "false",
        "--server.headless",
        "true",
    ]
    return subprocess.call(cmd, env=env, cwd=app.parent.parent)


def _check(args: argparse.Namespace) -> int:
    """`ipsdash check DIR`: the page's dry run from the command line, and the fix-list workbooks.
    Sealed sources' values stay masked while the study is locked (the one rule in the access gate)."""
    from dashboard.access import StudyState, read_study_state, rejected_values_visible
    from etl import fixlist
    from etl.staging import check_folder
    from etl.store import open_store_readonly

    db = store_path(args.db)
    check = check_folder(Path(args.dir), db)
    if check.status >= 2:
        for message in check.refused:
            print(message, file=sys.stderr)
        print("Inläsningen skulle vägras; ingen felrapport skrevs.", file=sys.stderr)
        return 2
    state = StudyState(closed=False)
    try:
        con = open_store_readonly(db)
    except FileNotFoundError:
        con = None
    if con is not None:
        try:
            state = read_study_state(con)
        finally:
            con.close()

    def visible(key: str) -> bool:
        return rejected_values_visible(key, state)

    for f in check.files:
        if f.source_key:
            same = " (oförändrad)" if f.unchanged else ""
            print(f"{f.name}: {f.rows_read} rader, {f.rows_accepted} godkända, {f.rows_rejected} avvisade{same}")
    if args.out:
        print(f"Felrapport: {fixlist.write(check, Path(args.out), visible)}")
    if args.per_district:
        for path in fixlist.write_per_district(check, Path(args.per_district), visible):
            print(f"Felrapport: {path}")
    print("Inget har lästs in (kontroll).")
    return check.status


def _iso_date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"”{text}” är inget datum; skriv ÅÅÅÅ-MM-DD") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ipsdash", description="Uppföljning av IPS-studien")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="skriv en syntetisk demostudie (källfiler)")
    demo.add_argument("--out", required=True, help="mapp att skriva till")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--scale", type=int, default=1, help="multiplicera studien (fler stadsdelar och deltagare)")
    demo.add_argument("--mistakes", action="store_true", help="lägg in typiska felinmatningar")
    demo.add_argument(
        "--redcap", action="store_true", help="skriv baslinje och uppföljningar som en REDCap-export i DIR/redcap/"
    )

    load = sub.add_parser("load", help="läs in källfilerna i en mapp till databasen")
    load.add_argument("dir", help="mapp med studie.toml och källfilerna")
    load.add_argument("--db", help="databasens sökväg (standard $IPSDASH_DB eller data/ips.duckdb)")
    load.add_argument(
        "--extract-date",
        type=_iso_date,
        default=None,
        metavar="ÅÅÅÅ-MM-DD",
        help="datauttagets datum (standard: data_cutoff i studie.toml, annars senaste datum i filerna)",
    )

    check = sub.add_parser(
        "check",
        help="kontrollera källfilerna i en mapp utan att läsa in något (torrkörning); "
        "avslutas med 0 om allt godkänns, 1 om rader avvisas, 2 om inläsningen skulle vägras",
    )
    check.add_argument("dir", help="mapp med studie.toml och källfilerna")
    check.add_argument("--out", help="felrapport (.xlsx) med de avvisade raderna, ett blad per fil")
    check.add_argument(
        "--per-district", metavar="DIR", help="skriv en felrapport per stadsdel (felrapport-<stadsdel>.xlsx) i DIR"
    )
    check.add_argument("--db", help="jämför med databasen (standard $IPSDASH_DB eller data/ips.duckdb)")

    sync = sub.add_parser(
        "sync",
        help="hämta från REDCap (om konfigurerat) och läs in källmappen; för cron eller systemd-timer",
    )
    sync.add_argument("--sources", help="källmappen (standard $IPSDASH_SOURCES eller <databasens mapp>/sources)")
    sync.add_argument("--db", help="databasens sökväg (standard $IPSDASH_DB eller data/ips.duckdb)")

    pull = sub.add_parser(
        "pull-redcap",
        help="hämta REDCap-exporten över API:t (adress och token från IPSDASH_REDCAP_URL/"
        "IPSDASH_REDCAP_TOKEN eller .streamlit/secrets.toml [redcap])",
    )
    pull.add_argument(
        "--out", required=True, help="mapp att skriva records.csv, dictionary.csv och event_mapping.csv till"
    )

    template = sub.add_parser("template", help="skriv Excel-mallar (en per källfil) med instruktioner och listor")
    template.add_argument("dir", help="mapp att skriva mallarna till")
    template.add_argument("--config", help="studie.toml (standard config/studie.toml)")

    close = sub.add_parser(
        "close-study",
        help="stäng studien: låser upp utfallen i dashboarden (loggas i meta.audit_log, kan inte ångras)",
    )
    close.add_argument("--by", required=True, help="vem som stänger studien (namn)")
    close.add_argument("--note", required=True, help="varför, t.ex. styrgruppsbeslut med datum")
    close.add_argument("--db", help="databasens sökväg (standard $IPSDASH_DB eller data/ips.duckdb)")

    report = sub.add_parser(
        "report",
        help="skriv mötesrapporten: styrgrupp (PDF, kvartal) eller projektgrupp (Excel, månad); "
        "sparar en ögonblicksbild i databasen för jämförelse med nästa rapport",
    )
    report.add_argument("kind", choices=["styrgrupp", "projektgrupp"])
    report.add_argument("--out", required=True, help="filen att skriva (.pdf för styrgrupp, .xlsx för projektgrupp)")
    report.add_argument("--db", help="databasens sökväg (standard $IPSDASH_DB eller data/ips.duckdb)")
    report.add_argument(
        "--as-of",
        type=_iso_date,
        default=None,
        metavar="ÅÅÅÅ-MM-DD",
        help="rapportera per detta datum (standard: datauttagets datum)",
    )

    serve = sub.add_parser("serve", help="starta dashboarden")
    serve.add_argument("--db")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--address", default="127.0.0.1")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:  # every argument (paths, names, free text) before anything is read or written
        scan.scan_args(argv)
    except scan.PnrRefused as exc:
        print(f"{exc}\nInget har ändrats.", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from etl.demo import run_demo_command

        return run_demo_command(args)
    if args.command == "load":
        from etl.load import run_load_command

        return run_load_command(args)
    if args.command == "check":
        return _check(args)
    if args.command == "sync":
        from etl.sync import run_sync_command

        return run_sync_command(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "pull-redcap":
        from etl.redcap import run_pull_command

        return run_pull_command(args)
    if args.command == "close-study":
        from etl.close import run_close_command

        return run_close_command(args)
    if args.command == "report":
        from ipsdash.report import run_report_command

        return run_report_command(args)
    if args.command == "template":
        from etl.template import run_template_command

        return run_template_command(args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
