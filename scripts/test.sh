#!/usr/bin/env bash
# Fresh machine → the whole check: install what the tests need (Python packages, Debian's
# Chromium and poppler), then the linters (ruff check, ruff format --check), the layers contract
# (lint-imports, declared in pyproject.toml) and pytest (browser tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
