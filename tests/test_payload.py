"""Leak tests against what the server SENDS, not what a page draws: a real dashboard server in
Debian's Chromium, every page the role can open × every district scope it can choose (and the
page's own choices: Kaplan–Meier grouping, per-district toggle), every websocket frame decoded
(ForwardMsg protobuf, Arrow tables inside, chart specs) and every download fetched over HTTP.

1. forskare (blinded, locked): no real arm label or key (read from config/studie.toml) as a value,
   column or field name, in frames or downloads; and in every scope where per-arm figures are
   sent, nothing only one arm can have (stopping IPS, specialists, their caseloads) is sent.
2. styrgrupp (locked and closed): no count 1..threshold in any count cell of any table, chart
   dataset, metric or download (the reports included) — masked before it leaves the server.
3. projektledare on a store with rejected rows from the sealed sources: the rejected value typed
   in the employment and activity files is never sent while the study is locked.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import independent as ind
from tests.conftest import ROOT, SEALED_SENTINELS, load_quietly
from tests.payload import (
    Capture,
    Decoded,
    Server,
    declared_counts,
    decode,
    download_declarations,
    download_declared,
    spec_fields,
)

pytestmark = pytest.mark.slow

VARIANTS = {
    "Bortfall": ("select", "Dela upp efter"),
    "Rekrytering": ("toggle", "Visa per stadsdel"),
    "Belastning": ("toggle", "Räkna om till heltid"),
}


@dataclass
class View:
    scope: str
    page: str
    variant: str
    data: Decoded
    downloads: dict[str, bytes]

    @property
    def where(self) -> str:
        return f"{self.page} [{self.scope}{' · ' + self.variant if self.variant else ''}]"


def sweep(browser, server: Server, districts: list[str], deferred: bool = True) -> list[View]:
    """Every page the role can open, in every district scope (all, then each district alone), with
    each page's own variants; the frames and downloads of each."""
    cap = Capture(browser, server)
    views: list[View] = []

    def keep(scope: str, page: str, variant: str = "") -> Decoded:
        data = decode(cap.take())
        bodies = [b for _, b in cap.http]
        cap.http.clear()
        data.raw += b"".join(bodies)
        downloads = cap.fetch_media(data.media)
        views.append(View(scope, page, variant, data, downloads))
        return data

    try:
        cap.open()
        links = cap.links()
        for scope in [None, *districts]:
            name = scope or "alla"
            cap.choose_districts([scope] if scope else None)
            keep(name, "(filter)")
            for link in links:
                cap.visit(link)
                data = keep(name, link)
                if deferred and scope is None:
                    for label in data.deferred:  # built on click (the reports)
                        views[-1].downloads[label] = cap.click_download(label)
                kind, label = VARIANTS.get(link, (None, None))
                if kind == "select":
                    # The options are read once: read again after the last choice, a page still
                    # redrawing on a loaded machine can show no selectbox yet (an IndexError, seen).
                    options = cap.select_options(label)
                    for option in options:
                        cap.select(label, option)
                        keep(name, link, option)
                    if options:
                        cap.select(label, options[0])
                        cap.take()
                elif (
                    kind == "toggle"
                    and cap.page.get_by_test_id("stMain").get_by_test_id("stCheckbox").filter(has_text=label).count()
                ):
                    cap.toggle(label)
                    keep(name, link, label)
                    cap.toggle(label)
                    cap.take()
    finally:
        cap.close()
    return views


# --- reading downloads ------------------------------------------------------------------------------


def download_text(data: bytes) -> str:
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))
    if data[:5] == b"%PDF-":
        return subprocess.run(
            ["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True
        ).stdout.decode()
    return data.decode("utf-8-sig", "replace")


def download_tables(data: bytes) -> list[tuple[list[str], list[list[object]]]]:
    """(header, rows) of each table in a CSV or Excel download (sheets start at their header row)."""
    if data[:4] == b"PK\x03\x04":
        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
        out = []
        for ws in book.worksheets:
            rows = [list(r) for r in ws.iter_rows(values_only=True)]
            # The header is the first row with more than one filled cell (notes above it).
            start = next((i for i, r in enumerate(rows) if sum(v is not None for v in r) > 1), None)
            if start is not None:
                out.append(([str(v) for v in rows[start]], rows[start + 1 :]))
        return out
    if data[:5] == b"%PDF-":
        return []
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    return [(rows[0], rows[1:])] if rows else []


# --- stores ---------------------------------------------------------------------------------------


def study_config() -> dict:
    return tomllib.loads((ROOT / "config" / "studie.toml").read_text(encoding="utf-8"))


def district_names(demo_dir: Path) -> list[str]:
    return [d["name"] for d in ind.config(demo_dir)["districts"]]


def _server(db: Path, role: str, tmp_path_factory, declarations: bool = False) -> Server:
    folder = tmp_path_factory.mktemp("payload_logs")
    name = role.replace(":", "_")
    return Server(db, role, folder / f"{name}.log", folder / f"{name}-nedladdningar.jsonl" if declarations else None)


# === 1. the blinded role ===========================================================================


def arm_words() -> tuple[set[str], set[str]]:
    """The real arm labels and keys, as the study configuration names them."""
    arms = study_config()["arms"]
    return {a["label"] for a in arms}, {a["key"] for a in arms}


ONE_ARM_COLUMNS = re.compile(
    r"specialist|stopped|avslutat ips|arbetsspecialist|caseload|belastning|active_n|"
    r"ips_aktivitet|activity",
    re.I,
)


@pytest.fixture(scope="module")
def forskare_views(browser, demo_db, demo_dir, tmp_path_factory) -> list[View]:
    server = _server(demo_db, "forskare", tmp_path_factory)
    try:
        return sweep(browser, server, district_names(demo_dir))
    finally:
        server.stop()


def test_payload_forskare_gets_coded_arms_only_and_nothing_only_one_arm_has(forskare_views, demo_dir):
    """One test for both checks, so the sweep (minutes) runs once even when tests are spread over workers."""
    problems = real_arm_problems(forskare_views) + one_arm_problems(forskare_views, demo_dir)
    assert not problems, "\n".join(sorted(set(problems))[:60])


def real_arm_problems(forskare_views: list[View]) -> list[str]:
    """The real arm labels and keys, as values, column or field names, in frames and downloads."""
    labels, keys = arm_words()
    problems = []
    for view in forskare_views:
        d = view.data
        for label in labels:
            if label.encode() in d.raw or label in d.text():
                problems.append(f"{view.where}: ”{label}” i det som skickas")
        names = {str(n) for t in d.tables for n in t.column_names} | {f for s in d.specs for f in spec_fields(s)}
        values = {str(v) for t in d.tables for c in t.columns for v in c.to_pylist() if isinstance(v, str)}
        for key in keys:
            parts = {p for n in names for p in re.split(r"[^A-Za-z]+", n)}
            if key in parts:
                problems.append(f"{view.where}: nyckeln ”{key}” i ett kolumn- eller fältnamn")
            if key in values:
                problems.append(f"{view.where}: nyckeln ”{key}” som värde")
        for url, body in view.downloads.items():
            text = download_text(body)
            for label in labels:
                if label in text:
                    problems.append(f"{view.where}: ”{label}” i nedladdningen {url}")
            for header, rows in download_tables(body):
                if {p for h in header for p in re.split(r"[^A-Za-z]+", h)} & keys:
                    problems.append(f"{view.where}: arm-nyckel i kolumnnamn i {url}")
                if {str(v) for r in rows for v in r} & keys:
                    problems.append(f"{view.where}: arm-nyckel som värde i {url}")
    return problems


def one_arm_problems(forskare_views: list[View], demo_dir: Path) -> list[str]:
    """Wherever coded per-arm figures are sent in a scope, nothing only the IPS arm can have is sent in
    that scope: no stopped-IPS figure, no specialist (names from the source file), no caseload."""
    specialists = {
        r["Namn"]
        for r in csv.DictReader(
            io.StringIO((demo_dir / "arbetsspecialister.csv").read_text(encoding="utf-8-sig")), delimiter=";"
        )
    }
    coded = {a["blinded_label"] for a in study_config()["arms"]}
    per_arm_scopes = {
        v.scope
        for v in forskare_views
        if any(
            c
            in {str(x) for t in v.data.tables for col in t.columns for x in col.to_pylist()}
            | {str(n) for t in v.data.tables for n in t.column_names}
            for c in coded
        )
    }
    assert per_arm_scopes == {v.scope for v in forskare_views}, "positive control: coded arms are sent in every scope"
    problems = []
    for view in forskare_views:
        d = view.data
        for t in d.tables:
            for name in t.column_names:
                if ONE_ARM_COLUMNS.search(str(name)):
                    problems.append(f"{view.where}: kolumnen ”{name}” (bara IPS-armen har den)")
        for s in d.specs:
            for f in spec_fields(s):
                if ONE_ARM_COLUMNS.search(f) and len(f) < 80:
                    problems.append(f"{view.where}: diagramfältet ”{f}”")
        for label, body in d.metrics:
            if re.search(r"avslutat ips|arbetsspecialist|belastning", label, re.I) and re.search(r"\d", body):
                problems.append(f"{view.where}: nyckeltalet ”{label}” = {body}")
        text = d.text()
        for name in specialists:
            if re.search(rf"\b{re.escape(name)}\b", text):
                problems.append(f"{view.where}: arbetsspecialisten {name}")
        if re.search(r"Arbetsspecialist \w+ har \d+", text):
            problems.append(f"{view.where}: en specialists belastning i larmlistan")
        for url, body in view.downloads.items():
            for header, _rows in download_tables(body):
                for h in header:
                    if ONE_ARM_COLUMNS.search(str(h)):
                        problems.append(f"{view.where}: kolumnen ”{h}” i {url}")
    return problems


# === 2. small cells for styrgrupp ====================================================================

# Columns (in tables, chart datasets and downloads) whose numbers are not counts of people: dates and
# days, ages, months, scores, shares, targets, planned sizes, ordering keys, staff counts.
NOT_COUNTS = re.compile(
    r"^(mål|målet|start|dag|day|datum|från|till|vecka|month|månad|kvartal|tidpunkt|timepoint_months|"
    r"kontrollpunkt|checkpoint|randomiserade i studien|order|o|x|y|y2|target|cap|ålder.*|age|lägst|högst|q1|q3|"
    r"median|medel.*|poäng|punkt|punkter|skattning|item_number|score|smd|andel.*|share.*|retention|"
    r".*%.*|per heltid|per_fte|tjänstgöringsgrad|fte|arbetsspecialister.*|minst|dagar.*|sekunder|nr|"
    r"behövs.*|återstår.*|förväntat.*|nedre|övre|.*\(år\)|stratum|rad|row_number|__index_level_\d+__|"
    r"nådd|dagar försenad|days_overdue|antal arbetsspecialister|specialister.*|över taket nu|under minimum|"
    r"personal|organisation|tjänster|fas|index|level_\d+|need|antal stadsdelar|förändring|\d{4}-\d{2}-\d{2}|"
    # plain counts of randomisations over time describe no one (docs/access.md): not suppressed
    r"randomised_n|cumulative_n|kumulativt|randomiserade i kvartalet)$",
    re.I,
)
# Metrics that are not counts of people.
NOT_COUNT_METRICS = re.compile(
    r"programtrohet|totalpoäng|nivå|nästa|specialister i tjänst|över taket|"
    r"under minimum|takt|andel|målet|förväntat|bortfall$|uppföljning genomförd|"
    r"datauttag|inläst",
    re.I,
)


# Tables (by their columns) where one generic column is not a count of people.
NOT_COUNTS_IN = {("district_id", "day", "n", "Stadsdel"): "n"}  # specialists per district over time (staff)


def small_counts(
    header: list[str], rows: list[list[object]], threshold: int, counts: set[str] | frozenset[str] = frozenset()
) -> list[str]:
    """Counts 1..threshold in the count columns: those the dashboard declared counts (`counts`,
    `payload.declared_counts`), whatever they are named, and every column not named as a non-count."""
    found = []
    for j, name in enumerate(header):
        if name not in counts and (NOT_COUNTS.match(str(name).strip()) or NOT_COUNTS_IN.get(tuple(header)) == name):
            continue
        for r in rows:
            v = r[j] if j < len(r) else None
            if isinstance(v, bool):
                continue
            if isinstance(v, int | float) and float(v).is_integer() and 0 < v <= threshold:
                found.append(f"{name}={v}")
            elif isinstance(v, str) and re.fullmatch(r"\d+", v.strip()) and 0 < int(v) <= threshold:
                found.append(f"{name}={v}")
    return found


# --- the steering PDF, read as text --------------------------------------------------------------
# pdftotext -layout keeps each table row on one line. In the steering report every number that
# stands alone is a count of people, except these (by what they are, not by a column name):
PDF_NOT_COUNTS = re.compile(
    r"^\d+\. \S|"  # a section heading "5. Bortfall"
    r"Kontrollpunkt \d|"  # the checkpoint's number
    r"· sida \d|"  # the page footer
    r"\d+ av \d+$",  # fidelity items scored "25 av 25"
)
PDF_NUMBER = re.compile(r"(?<![\w.,:/–−+-])(\d+)(?![\w.,:/%–−-])(?!\s?%)")


def pdf_small_counts(text: str, threshold: int) -> list[str]:
    """Every number 1..threshold standing alone in the PDF's text (a count of a few people), with its
    line; the CONSORT diagram is an image and is checked through its data (`steering_figures`)."""
    found = []
    for line in text.splitlines():
        if PDF_NOT_COUNTS.search(line.strip()):
            continue
        for m in PDF_NUMBER.finditer(line):
            if 0 < int(m.group(1)) <= threshold:
                found.append(line.strip())
    return found


def _steering_pdf_text(db: Path, role: str) -> str:
    import duckdb

    from dashboard import reports
    from dashboard.access import Gate, Viewer, read_config

    con = duckdb.connect(str(db.resolve()), read_only=True)
    try:
        cur = con.cursor()
        gate = Gate(cur, Viewer(role, user="test"))
        figures = reports.steering_figures(gate, read_config(cur))
        return download_text(reports.steering_pdf(figures, reports.steering_charts(figures)))
    finally:
        con.close()


@pytest.mark.parametrize("state", ["låst", "stängd"])
def test_payload_steering_pdf_text_has_no_small_count_for_styrgrupp(state, demo_db, request):
    db = demo_db if state == "låst" else request.getfixturevalue("closed_demo_db")
    threshold = study_config()["privacy"]["small_cell_threshold"]
    # Positive control: the project group's copy of the same report does have small counts in it.
    assert pdf_small_counts(_steering_pdf_text(db, "projektledare"), threshold)
    found = pdf_small_counts(_steering_pdf_text(db, "styrgrupp"), threshold)
    assert found == [], "små tal i styrgruppens PDF:\n" + "\n".join(found)


@pytest.fixture(scope="module", params=["låst", "stängd"])
def styrgrupp_views(request, browser, demo_db, demo_dir, tmp_path_factory) -> tuple[list[View], dict]:
    """One sweep per study state, each its own fixture instance (test workers each build only theirs),
    and the declarations the server recorded for the downloads it built."""
    db = demo_db if request.param == "låst" else request.getfixturevalue("closed_demo_db")
    districts = district_names(demo_dir)
    # Every district scope in both states (closed adds Utfall, and closing changes what the gate
    # hands out): one server for the whole sweep.
    server = _server(db, "styrgrupp", tmp_path_factory, declarations=True)
    try:
        views = sweep(browser, server, districts)
    finally:
        server.stop()
    return views, download_declarations(server.declarations)


def test_payload_styrgrupp_gets_no_small_count(styrgrupp_views):
    threshold = study_config()["privacy"]["small_cell_threshold"]
    problems = []
    views, declarations = styrgrupp_views
    assert any(v.downloads for v in views), "positive control: downloads were captured"
    pdfs = declared = declared_files = 0
    for view in views:
        for t in view.data.tables:
            header = [str(n) for n in t.column_names]
            rows = [list(r.values()) for r in t.to_pylist()]
            declared += bool(declared_counts(t))
            for hit in small_counts(header, rows, threshold, declared_counts(t))[:3]:
                problems.append(f"{view.where}: {hit} i tabell/diagramdata ({', '.join(header[:6])})")
        for label, body in view.data.metrics:
            if (
                not NOT_COUNT_METRICS.search(label)
                and re.fullmatch(r"\d+", body.strip())
                and 0 < int(body) <= threshold
            ):
                problems.append(f"{view.where}: nyckeltalet ”{label}” = {body}")
        for url, body in view.downloads.items():
            if body[:5] == b"%PDF-":  # the steering report as downloaded: its text, not its figures
                pdfs += 1
                for line in pdf_small_counts(download_text(body), threshold)[:5]:
                    problems.append(f"{view.where}: ”{line}” i PDF:en {url}")
                continue
            # A table download (CSV, Excel): its count columns as the server declared them when it
            # built the file (the same declaration as the table on screen), and every column the
            # name list does not exempt. Every such file must have its declaration recorded.
            counts = download_declared(body, declarations)
            if counts is None:
                problems.append(f"{view.where}: nedladdningen {url} saknar deklaration av sina antalskolumner")
                counts = frozenset()
            declared_files += bool(counts)
            for header, rows in download_tables(body):
                for hit in small_counts(header, rows, threshold, counts)[:3]:
                    problems.append(f"{view.where}: {hit} i nedladdningen {url}")
    assert pdfs, "positive control: the steering PDF was downloaded and read"
    assert declared, "positive control: tables carry the dashboard's declaration of their count columns"
    assert declared_files, "positive control: downloads carry the server's declaration of their count columns"
    assert not problems, f"{len(problems)} små tal:\n" + "\n".join(sorted(set(problems))[:200])


# === 3. sealed values in rejected rows ===============================================================


@pytest.fixture(scope="module")
def rejected_store(sealed_sentinel_dir, tmp_path_factory) -> Path:
    """The demo with one bad value typed into each sealed file (rejected on load)."""
    db = tmp_path_factory.mktemp("payload_rejected") / "store" / "ips.duckdb"
    assert load_quietly(sealed_sentinel_dir, db) == 1  # loaded with rejections
    return db


def test_payload_rejected_sealed_values_never_sent_while_locked(browser, rejected_store, tmp_path_factory):
    server = _server(rejected_store, "projektledare", tmp_path_factory)
    cap = Capture(browser, server)
    try:
        cap.open()
        cap.take()
        cap.visit("Datakvalitet")
        data = decode(cap.take())
        downloads = cap.fetch_media(data.media)
    finally:
        cap.close()
        server.stop()
    text = data.text()
    for name, (column, value) in SEALED_SENTINELS.items():
        assert name in text and column in text, f"positive control: the rejection of {name} is listed"
        assert value.encode() not in data.raw and value not in text, f"{value} from {name} was sent"
        for url, body in downloads.items():
            assert value not in download_text(body), f"{value} from {name} in {url}"
    assert any(name in download_text(b) for b in downloads.values() for name in SEALED_SENTINELS)
