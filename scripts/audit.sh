#!/usr/bin/env bash
# `make audit`: check every lock against a vulnerability database with pip-audit, from
# the tools venv (.venv-tools). It needs the network (the database), so `make test` does
# not run it. Each lock is audited as written (--require-hashes --disable-pip: no
# resolution, no install), and --strict fails on a package that could not be audited.
# Audits them all, then exits non-zero if any has a known vulnerability.
# Extra arguments go to every pip-audit, e.g. `scripts/audit.sh -s osv` (the default
# database is PyPI's).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lock_files.sh

status=0
for source in "${lock_sources[@]}"; do
  lock=${source%.in}.txt
  echo "== pip-audit $lock"
  "$tools_bin/pip-audit" --strict --require-hashes --disable-pip --progress-spinner off \
    -r "$lock" "$@" || status=1
done
exit "$status"
