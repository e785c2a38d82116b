#!/usr/bin/env bash
# Install everything the project needs into .venv (idempotent): Python packages, and the Debian
# font the steering report's PDF embeds. With --test also the test dependencies and the Debian
# packages the browser and report tests use (Chromium, poppler), and what the benchmark imports.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi

# pip's output is kept quiet, but a failure stops the script with pip's own message (minus this
# machine's warnings about missing local package folders).
pip_install() {
  local log
  if ! log=$(.venv/bin/python -m pip install --quiet "$@" 2>&1); then
    printf '%s\n' "$log" | grep -v "^WARNING: Location" >&2
    echo "Installationen av Python-paket misslyckades." >&2
    exit 1
  fi
}

pip_install --upgrade pip
need=()
# The steering report's PDF embeds DejaVu Sans (Swedish characters); dashboard/reports.py reads it.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || need+=(fonts-dejavu-core)
if [ "${1:-}" = "--test" ]; then
  pip_install -e ".[test,bench]"
  command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-noto-color-emoji)
  command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
else
  pip_install -e .
fi
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
