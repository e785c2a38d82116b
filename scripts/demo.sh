#!/usr/bin/env bash
# Fresh machine → dashboard on the bundled demo study: install, write the demo files, load them,
# serve on http://127.0.0.1:${PORT:-8501}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export IPSDASH_DB=${IPSDASH_DB:-data/ips.duckdb}
.venv/bin/ipsdash demo --out demo-data --seed 42
status=0; .venv/bin/ipsdash load demo-data || status=$?
if [ "$status" -ge 2 ]; then echo "Inläsningen misslyckades" >&2; exit "$status"; fi
exec .venv/bin/ipsdash serve --port "${PORT:-8501}" --address "${ADDRESS:-127.0.0.1}"
