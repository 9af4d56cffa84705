#!/usr/bin/env bash
# Create or refresh a virtual environment from a lock file (a requirements.txt with a
# hash for every package, compiled by `make lock`), installed with --require-hashes, plus
# the shared package in common/ (service_common), installed editable so code changes need
# no reinstall. --no-common leaves common/ out (the tools venv, .venv-tools).
# Usage: scripts/venv.sh [--no-common] <venv-dir> <lock-file>
# Re-installs only when the lock (or common/pyproject.toml) changed since the last
# install, so every `make` target can call it cheaply.
set -euo pipefail

with_common=1
if [ "${1:-}" = "--no-common" ]; then
  with_common=0
  shift
fi
venv_dir=$1
lock=$2
python=${PYTHON:-python3}
common_dir="$(cd "$(dirname "$0")/.." && pwd)/common"

if [ ! -x "$venv_dir/bin/python" ]; then
  echo "Creating $venv_dir with $($python --version 2>&1)"
  "$python" -m venv "$venv_dir"
fi

# The stamp holds a hash of the lock (self-contained: pip-compile writes no -r lines into
# it) and, when common/ is installed, of the shared package's project file.
stamped=("$lock")
what=$lock
if [ "$with_common" = 1 ]; then
  stamped+=("$common_dir/pyproject.toml")
  what="$lock and common/"
fi
stamp="$venv_dir/.requirements.sha256"
wanted=$(cat "${stamped[@]}" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "Installing $what into $venv_dir"
  # The venv's own pip installs the lock, as in the images: with every file's hash fixed,
  # its version does not change what is installed (pip 23.0.1, Debian bookworm's, and
  # 23.2.1, Python 3.11.7's, both install these locks).
  "$venv_dir/bin/python" -m pip install --quiet --require-hashes -r "$lock"
  if [ "$with_common" = 1 ]; then
    # compat mode: a plain path entry, which type checkers and IDEs follow (no import hook).
    PYTHONWARNINGS=ignore "$venv_dir/bin/python" -m pip install --quiet --no-deps \
      --config-settings editable_mode=compat --editable "$common_dir"
  fi
  echo "$wanted" >"$stamp"
fi
