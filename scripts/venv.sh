#!/usr/bin/env bash
# Create or refresh a virtual environment from a requirements file, plus the shared
# package in common/ (service_common), installed editable so code changes need no
# reinstall.
# Usage: scripts/venv.sh <venv-dir> <requirements-file>
# Re-installs only when the requirements (or common/pyproject.toml) changed since the
# last install, so every `make` target can call it cheaply.
set -euo pipefail

venv_dir=$1
requirements=$2
python=${PYTHON:-python3}
common_dir="$(cd "$(dirname "$0")/.." && pwd)/common"

if [ ! -x "$venv_dir/bin/python" ]; then
  echo "Creating $venv_dir with $($python --version 2>&1)"
  "$python" -m venv "$venv_dir"
fi

# The stamp holds a hash of every requirements file pulled in (-r lines included) and of
# the shared package's project file.
req_dir=$(dirname "$requirements")
stamp="$venv_dir/.requirements.sha256"
wanted=$(cat "$requirements" $(sed -n 's/^-r[[:space:]]*//p' "$requirements" | sed "s|^|$req_dir/|") \
  "$common_dir/pyproject.toml" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "Installing $requirements and common/ into $venv_dir"
  "$venv_dir/bin/python" -m pip install --quiet --upgrade pip
  "$venv_dir/bin/python" -m pip install --quiet -r "$requirements"
  # compat mode: a plain path entry, which type checkers and IDEs follow (no import hook).
  PYTHONWARNINGS=ignore "$venv_dir/bin/python" -m pip install --quiet --no-deps \
    --config-settings editable_mode=compat --editable "$common_dir"
  echo "$wanted" >"$stamp"
fi
