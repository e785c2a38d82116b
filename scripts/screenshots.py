"""Screenshots of every page at a laptop's (1366 px) and a projector's (1920 px) width, for
docs/screenshots/ (palette-quantised PNG, so the whole set stays small). Run from the repository root:
    .venv/bin/python scripts/screenshots.py [--db PATH]
Uses the demo study (scale 1) unless a store is given."""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "docs" / "screenshots"
WIDTHS = (1366, 1920)
MAX_HEIGHT = 2600  # the top of long pages: what a meeting sees first
# Streamlit's page scrolls inside its main block, not the document: its full height.
HEIGHT = """() => { const m = document.querySelector('[data-testid="stMain"]') ||
  document.querySelector('[data-testid="stAppViewContainer"]'); return m ? m.scrollHeight : 1000; }"""
DONE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
CHARTS_DRAWN = """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')]
  .filter(c => c.offsetParent !== null).every(c => c.querySelector('canvas, svg'))"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_store(work: Path) -> Path:
    folder, db = work / "demo", work / "store" / "ips.duckdb"
    subprocess.run(
        [sys.executable, "-m", "ipsdash.cli", "demo", "--out", str(folder)], cwd=ROOT, check=True, capture_output=True
    )
    db.parent.mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-m", "ipsdash.cli", "load", str(folder)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, "IPSDASH_DB": str(db)},
    )
    return db


def save(png: bytes, path: Path) -> None:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def main() -> int:
    from playwright.sync_api import sync_playwright

    from dashboard import navigation

    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or demo_store(Path(tmp))
        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dashboard.launch",
                "run",
                "dashboard/app.py",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            cwd=ROOT,
            env={**os.environ, "IPSDASH_DB": str(db), "IPSDASH_DEMO_ROLE": "projektledare"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(600):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
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
                for width in WIDTHS:
                    tab = chromium.new_page(viewport={"width": width, "height": 1000}, locale="sv-SE")
                    for p in navigation.PAGES:
                        if "projektledare" not in p.roles:
                            continue
                        tab.goto(f"http://127.0.0.1:{port}/{p.url}")
                        tab.wait_for_selector(DONE, timeout=300_000)
                        tab.wait_for_function(CHARTS_DRAWN, timeout=300_000)
                        height = tab.evaluate(HEIGHT)
                        tab.set_viewport_size({"width": width, "height": min(max(height, 900), MAX_HEIGHT)})
                        tab.wait_for_timeout(1200)
                        save(tab.screenshot(), OUT / f"{p.key}-{width}.png")
                        tab.set_viewport_size({"width": width, "height": 1000})
                        print(p.key, width, flush=True)
                    tab.close()
                chromium.close()
        finally:
            server.terminate()
            server.wait(20)
    total = sum(f.stat().st_size for f in OUT.glob("*.png"))
    print(f"{total / 1e6:.2f} MB in {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
