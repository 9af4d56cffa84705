#!/usr/bin/env bash
# The throughput benchmark (`make bench`): creates each service's venv, then runs
# bench/run.py (python -m bench.run), which starts both services locally and drives them with wrk.
# Options go to bench/run.py, e.g. `scripts/bench.sh --duration 5`.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
scripts/venv.sh service_a/.venv service_a/requirements.txt
scripts/venv.sh service_b/.venv service_b/requirements.txt
exec service_b/.venv/bin/python -m bench.run "$@"
