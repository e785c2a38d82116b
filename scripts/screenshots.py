"""Screenshots of every page at a laptop's (1366 px) and a projector's (1920 px) width, for
docs/screenshots/ (palette-quantised PNG, so the whole set stays small). Run from the repository root:
    .venv/bin/python scripts/screenshots.py [--db PATH]
Uses the demo study (scale 1) unless a store is given; each page whole, as the project lead sees it."""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import serve  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
WIDTHS = (1366, 1920)
MAX_HEIGHT = 6000  # every page whole (the longest, Rekrytering at 1366 px, is ~5 400 px)
# Streamlit's page scrolls inside its main block, not the document: its full height.
HEIGHT = """() => { const m = document.querySelector('[data-testid="stMain"]') ||
  document.querySelector('[data-testid="stAppViewContainer"]'); return m ? m.scrollHeight : 1000; }"""


def save(png: bytes, path: Path) -> None:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def main() -> int:
    from dashboard import navigation

    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or serve.demo_store(Path(tmp))
        with serve.Dashboard(db) as server, serve.chromium() as chromium:
            for width in WIDTHS:
                tab = serve.new_tab(chromium, width, 1000)
                for p in navigation.PAGES:
                    if "projektledare" not in p.roles:
                        continue
                    serve.open_page(tab, f"{server.url}/{p.url}")
                    # A taller window draws more (charts sized to it, lazy tables): measure again until
                    # the page stops growing, so the shot is not cut above its true end.
                    height = tab.evaluate(HEIGHT)
                    for _ in range(4):
                        tab.set_viewport_size({"width": width, "height": min(max(height, 900), MAX_HEIGHT)})
                        tab.wait_for_timeout(1200)
                        grown = tab.evaluate(HEIGHT)
                        if grown <= height or height >= MAX_HEIGHT:
                            break
                        height = grown
                    save(tab.screenshot(), OUT / f"{p.key}-{width}.png")
                    tab.set_viewport_size({"width": width, "height": 1000})
                    print(p.key, width, flush=True)
                tab.close()
    total = sum(f.stat().st_size for f in OUT.glob("*.png"))
    print(f"{total / 1e6:.2f} MB in {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
