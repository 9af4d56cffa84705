#!/usr/bin/env bash
# `make run`: start both services locally without Docker, each in its own venv
# (service_a/.venv, service_b/.venv, created or refreshed from the service's
# requirements.txt). Starts service_b, waits until it is ready (the first start
# trains a model into service_b/models), then starts service_a pointed at it.
# Ctrl-C stops both; if either one exits, the other is stopped too.
#   SERVICE_A_PORT  gateway port    (default 8000)
#   SERVICE_B_PORT  predictor port  (default 8001)
#   READY_TIMEOUT   seconds to wait for service_b to be ready (default 180)
# Other settings (HOST, LOG_LEVEL, MODEL_VERSION, ...) pass through to both services.
set -euo pipefail
cd "$(dirname "$0")/.."

a_port=${SERVICE_A_PORT:-8000}
b_port=${SERVICE_B_PORT:-8001}
ready_timeout=${READY_TIMEOUT:-180}

# Both ports must be free: a service that cannot bind exits, and polling its port would
# then reach whatever holds it.
if ! python3 scripts/check_ports.py "${HOST:-0.0.0.0}" "$b_port" "$a_port"; then
  echo "Set SERVICE_A_PORT / SERVICE_B_PORT to free ports, or stop what holds them." >&2
  exit 1
fi

scripts/venv.sh service_a/.venv service_a/requirements.txt
scripts/venv.sh service_b/.venv service_b/requirements.txt

pids=()
stop_all() {
  trap - EXIT INT TERM
  if [ ${#pids[@]} -gt 0 ]; then
    echo "Stopping services"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap stop_all EXIT
# Ctrl-C or a TERM is the normal way to stop: a clean exit, not an error for make.
trap 'exit 0' INT TERM

echo "Starting service_b on port $b_port"
(cd service_b && PORT=$b_port exec .venv/bin/python main.py) &
b_pid=$!
pids+=("$b_pid")

# wait_for NAME PID URL TIMEOUT: poll URL until it answers 2xx, the process dies or time runs out.
wait_for() {
  local name=$1 pid=$2 url=$3 deadline=$((SECONDS + $4))
  until service_b/.venv/bin/python -c \
    "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
    "$url" 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited before becoming ready (its log above says why)" >&2
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "$name not ready after $4s ($url)" >&2
      exit 1
    fi
    sleep 1
  done
}

echo "Waiting up to ${ready_timeout}s for service_b to be ready (the first start trains a model)"
wait_for service_b "$b_pid" "http://127.0.0.1:$b_port/ready" "$ready_timeout"

echo "Starting service_a on port $a_port"
(cd service_a && PORT=$a_port SERVICE_B_URL="http://127.0.0.1:$b_port" \
  exec .venv/bin/python main.py) &
a_pid=$!
pids+=("$a_pid")
wait_for service_a "$a_pid" "http://127.0.0.1:$a_port/health" 60

cat <<EOT

  service_a (gateway):   http://localhost:$a_port   docs: http://localhost:$a_port/docs
  service_b (predictor): http://localhost:$b_port   docs: http://localhost:$b_port/docs
  smoke test:            SERVICE_A_URL=http://localhost:$a_port SERVICE_B_URL=http://localhost:$b_port ./test_services.sh
  Press Ctrl-C to stop both.

EOT

# Run until either service exits; the EXIT trap then stops the other one.
while kill -0 "${pids[0]}" 2>/dev/null && kill -0 "${pids[1]}" 2>/dev/null; do
  sleep 1
done
echo "service_a or service_b stopped; stopping both" >&2
exit 1
