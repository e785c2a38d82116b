"""What the server actually sends a browser: a real dashboard server (`dashboard.launch`) driven by
Debian's Chromium through Playwright, with every websocket frame (Streamlit's ForwardMsg protobuf)
and every download under /media captured and decoded, Arrow tables included.

Used by tests/test_payload.py. Helpers only; no tests here.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
from google.protobuf.message import Message
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from bench.serve import DONE as IDLE
from bench.serve import Dashboard


class Server(Dashboard):
    """The dashboard as `ipsdash serve` starts it (`python -m dashboard.launch`), in demo mode as `role`;
    with `declarations`, the server records there the declared count columns of every download it
    builds (`dashboard.privacy.record_download`)."""

    def __init__(self, db: Path, role: str, log: Path, declarations: Path | None = None):
        from dashboard.privacy import DOWNLOAD_DECLARATIONS

        env = {DOWNLOAD_DECLARATIONS: str(declarations)} if declarations else None
        super().__init__(db, role, log=log, wait_s=60, env=env)
        self.declarations = declarations


# --- decoding ---------------------------------------------------------------------------------------


@dataclass
class Decoded:
    """Everything found in some frames: readable strings (text elements, chart specs as JSON,
    Arrow column names and cell values), the Arrow tables themselves, chart specs and media URLs."""

    strings: list[str] = field(default_factory=list)
    tables: list[pa.Table] = field(default_factory=list)
    specs: list[dict] = field(default_factory=list)
    media: set[str] = field(default_factory=set)
    deferred: list[str] = field(default_factory=list)  # labels of download buttons built on click
    metrics: list[tuple[str, str]] = field(default_factory=list)  # (label, value) of every st.metric
    raw: bytes = b""

    def text(self) -> str:
        return "\n".join(self.strings)


def arrow_table(data: bytes) -> pa.Table | None:
    """An Arrow IPC stream (or file) as a table, dictionary columns decoded; None if it is none."""
    for opener in (pa.ipc.open_stream, pa.ipc.open_file):
        try:
            return opener(pa.BufferReader(data)).read_all()
        except (pa.ArrowInvalid, OSError, ValueError):
            continue
    return None


def table_strings(table: pa.Table) -> list[str]:
    out = [str(n) for n in table.column_names]
    meta = table.schema.metadata or {}
    out += [v.decode("utf-8", "replace") for v in meta.values()]  # pandas metadata: index and column names
    for column in table.columns:
        out += [str(v) for v in column.to_pylist() if v is not None]
    return out


def declared_counts(table: pa.Table) -> set[str]:
    """The columns the dashboard declared counts of people where it built the frame
    (`dashboard.privacy.declare_counts`: pandas attrs, carried in the Arrow schema metadata)."""
    from dashboard.privacy import COLUMN_KINDS

    attributes = (table.schema.pandas_metadata or {}).get("attributes") or {}
    return {name for name, kind in (attributes.get(COLUMN_KINDS) or {}).items() if kind == "count"}


def download_declarations(path: Path | None) -> dict[str, frozenset[str]]:
    """SHA-256 of each download file the server built -> the count columns declared on the frame it
    was built from (`dashboard.privacy.record_download`)."""
    out: dict[str, frozenset[str]] = {}
    if path is None or not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        out[record["sha256"]] = frozenset(record["counts"])
    return out


def download_declared(body: bytes, declarations: dict[str, frozenset[str]]) -> frozenset[str] | None:
    """The declared count columns of a downloaded file, None when the server recorded none for it."""
    return declarations.get(hashlib.sha256(body).hexdigest())


def _walk(msg: Message, into: Decoded) -> None:
    for desc, value in msg.ListFields():
        values = value if desc.is_repeated else [value]
        for v in values:
            if isinstance(v, Message):
                if desc.message_type is not None and desc.message_type.name == "Metric":
                    into.metrics.append((v.label, v.body))
                if desc.message_type is not None and desc.message_type.name == "DownloadButton":
                    if v.url:
                        into.media.add(v.url)
                    if v.deferred_file_id:
                        into.deferred.append(v.label)
                _walk(v, into)
            elif isinstance(v, bytes):
                table = arrow_table(v)
                if table is not None:
                    into.tables.append(table)
                    into.strings += table_strings(table)
                else:
                    into.strings.append(v.decode("utf-8", "replace"))
            elif isinstance(v, str):
                into.strings.append(v)
                if v.startswith("/media/"):
                    into.media.add(v)
                if v[:1] == "{":
                    try:
                        spec = json.loads(v)
                    except ValueError:
                        spec = None
                    if isinstance(spec, dict) and ({"mark", "layer", "$schema", "hconcat", "vconcat"} & set(spec)):
                        into.specs.append(spec)
            else:
                into.strings.append(str(v))


def decode(frames: list[bytes]) -> Decoded:
    out = Decoded(raw=b"".join(frames))
    for frame in frames:
        try:
            msg = ForwardMsg.FromString(frame)
        except Exception:  # noqa: BLE001 - not a ForwardMsg: keep its bytes in `raw` only
            continue
        _walk(msg, out)
    return out


def spec_fields(spec: object) -> set[str]:
    """Every key and string value in a chart spec (field names, encodings, inline data)."""
    found: set[str] = set()
    stack = [spec]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                found.add(str(k))
                stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            found.add(item)
    return found


# --- driving the browser ------------------------------------------------------------------------------


class Capture:
    """A browser page on the server with every websocket frame and /media response recorded."""

    def __init__(self, browser, server: Server):
        self.server = server
        self.context = browser.new_context(
            viewport={"width": 1400, "height": 1000}, accept_downloads=True, locale="sv-SE"
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(45_000)
        self.frames: list[bytes] = []
        self.gone = 0  # media URLs that had expired when fetched
        self.http: list[tuple[str, bytes]] = []
        self.page.on("websocket", self._socket)
        self.page.on("response", self._response)

    def _socket(self, ws) -> None:
        ws.on(
            "framereceived",
            lambda payload: self.frames.append(payload if isinstance(payload, bytes) else payload.encode("utf-8")),
        )

    def _response(self, response) -> None:
        url = response.url
        if "/_stcore/message" in url or "/media/" in url:
            try:
                self.http.append((url, response.body()))
            except Exception:  # noqa: BLE001 - a download's body is read over HTTP by fetch_media instead
                self.http.append((url, b""))

    def close(self) -> None:
        self.context.close()

    def take(self) -> list[bytes]:
        frames, self.frames = self.frames, []
        return frames

    def idle(self) -> None:
        self.page.wait_for_timeout(300)
        self.page.wait_for_selector(IDLE, timeout=60_000)
        self.page.wait_for_load_state("networkidle")

    def open(self) -> None:
        self.page.goto(self.server.url)
        # The page list is drawn as page links in the sidebar (navigation itself is hidden).
        self.page.get_by_test_id("stSidebar").get_by_role("link").first.wait_for()
        self.idle()

    def links(self) -> list[str]:
        links = self.page.get_by_test_id("stSidebar").get_by_role("link")
        return [links.nth(i).inner_text().strip().splitlines()[-1].strip() for i in range(links.count())]

    def visit(self, link: str) -> None:
        self.page.get_by_test_id("stSidebar").get_by_role("link", name=link, exact=True).click()
        self.idle()

    def _multiselect(self, label: str):
        return self.page.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect").filter(has_text=label)

    def choose_districts(self, names: list[str] | None) -> None:
        """Set the sidebar's district filter to `names` (None: every district the role may see)."""
        box = self._multiselect("Stadsdelar")
        clear = box.get_by_role("button", name="Clear all")
        if clear.count():
            clear.first.click()
            self.idle()
        for name in names or []:
            box.locator("input").click()
            self.page.get_by_role("option", name=name, exact=True).click()
            self.idle()
        self.page.keyboard.press("Escape")

    def select(self, label: str, option: str) -> None:
        """Choose `option` in the main area's selectbox labelled `label`."""
        box = self.page.get_by_test_id("stMain").get_by_test_id("stSelectbox").filter(has_text=label)
        box.click()
        self.page.get_by_role("option", name=option, exact=True).click()
        self.idle()

    def toggle(self, label: str) -> None:
        self.page.get_by_test_id("stMain").get_by_test_id("stCheckbox").filter(has_text=label).locator("label").click()
        self.idle()

    def select_options(self, label: str) -> list[str]:
        box = self.page.get_by_test_id("stMain").get_by_test_id("stSelectbox").filter(has_text=label)
        if not box.count():
            return []
        box.click()
        options = self.page.get_by_role("option")
        names = [options.nth(i).inner_text().strip() for i in range(options.count())]
        self.page.keyboard.press("Escape")
        self.page.wait_for_timeout(200)
        return names

    def fetch_media(self, urls: set[str]) -> dict[str, bytes]:
        """Download every /media URL over HTTP, as the browser would on a click. A URL from an
        earlier script run that a later run replaced answers 404: its bytes can no longer be had by
        anyone, so there is nothing to check (counted in `gone`)."""
        out = {}
        for url in sorted(urls):
            full = url if url.startswith("http") else self.server.url + url
            try:
                with urllib.request.urlopen(full, timeout=30) as r:
                    out[url] = r.read()
            except urllib.error.HTTPError as exc:
                if exc.code != 404:
                    raise
                self.gone += 1
        return out

    def click_download(self, label: str) -> bytes:
        """Click the download button labelled `label` (deferred ones are built on click)."""
        button = self.page.get_by_test_id("stDownloadButton").filter(has_text=label).first
        with self.page.expect_download(timeout=120_000) as info:
            button.click()
        return Path(info.value.path()).read_bytes()
