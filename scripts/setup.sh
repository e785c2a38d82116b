#!/usr/bin/env bash
# Install everything the project needs into .venv (idempotent). With --test also the test
# dependencies and the Debian packages the browser and report tests use (Chromium, poppler, DejaVu fonts).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true

if [ "${1:-}" = "--test" ]; then
  .venv/bin/python -m pip install --quiet -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
  need=()
  command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-noto-color-emoji)
  command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
  # The steering report's PDF embeds DejaVu Sans (Swedish characters); dashboard/reports.py reads it here.
  [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || need+=(fonts-dejavu-core)
  if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
else
  .venv/bin/python -m pip install --quiet -e . 2>&1 | grep -v "^WARNING: Location" || true
fi
