#!/usr/bin/env bash
# `make lock`: compile each lock (a requirements.txt with every transitive dependency
# pinned and hashed) from its list of direct dependencies (the .in next to it) with
# pip-compile, from the tools venv (.venv-tools: pip-tools pinned by
# requirements-tools.txt). Pins already in a lock are kept unless asked otherwise; extra
# arguments go to every pip-compile, e.g.
#   scripts/lock.sh --upgrade-package urllib3           # urllib3 to its newest release
#   scripts/lock.sh --upgrade-package urllib3==2.8.0    # or to that one
#   scripts/lock.sh --upgrade                           # every package no .in pins
# Resolution reads PyPI alone, whatever this machine's pip configuration adds (extra
# indexes, find-links, constraints), so every machine writes the same locks, with the
# hashes of every file of each release; PIP_CERT still applies.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lock_files.sh

export PIP_CONFIG_FILE=/dev/null
unset PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS PIP_NO_INDEX PIP_CONSTRAINT
# The header of each lock names the command that wrote it.
export CUSTOM_COMPILE_COMMAND="make lock"
# --allow-unsafe pins pip and setuptools too when something needs them (the tools do): a
# hash-checked install refuses any dependency left unpinned. --strip-extras: a lock used
# as a constraint (-c) must not name extras.
for source in "${lock_sources[@]}"; do
  echo "== pip-compile $source"
  "$tools_bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras \
    "$@" "$source"
done
