#!/usr/bin/env bash
# The one test command (`make test`): lint, format check, type check, security lint
# (bandit), then every test. The dependency audit needs the network and is apart
# (`make audit`).
# Unit and integration tests always run; the compose end-to-end test runs when
# a Docker engine is reachable (REQUIRE_DOCKER=1 makes its absence a failure),
# the browser test runs when Chromium is installed (REQUIRE_BROWSER=1 idem), and
# the Prometheus config and alert tests when promtool is (REQUIRE_PROMTOOL=1 idem),
# and the shared rate limit's tests when redis-server is (REQUIRE_REDIS=1 idem).
# Extra arguments go to pytest, e.g. `scripts/test.sh -k gateway`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/venv.sh .venv requirements-dev.txt

echo "== ruff check"
.venv/bin/ruff check .
echo "== ruff format --check"
.venv/bin/ruff format --check .
echo "== mypy (strict)"
.venv/bin/mypy
# The two entry points are both a module named `main`: one mypy run each.
.venv/bin/mypy service_a/main.py
.venv/bin/mypy service_b/main.py
echo "== bandit"
# The code the services run ([tool.bandit] in pyproject.toml says why only that).
.venv/bin/bandit -q -c pyproject.toml -r service_a/gateway service_a/main.py \
  service_b/predictor service_b/main.py common/service_common
echo "== pytest"
.venv/bin/python -m pytest "$@"
