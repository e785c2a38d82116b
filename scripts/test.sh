#!/usr/bin/env bash
# Fresh machine → the whole test suite: install what the tests need (Python packages, Debian's
# Chromium and poppler), then run pytest (browser tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
