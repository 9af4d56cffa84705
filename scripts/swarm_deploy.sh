#!/usr/bin/env bash
# Deploy the two services as a Docker Swarm stack (deploy/swarm/stack.yml): 3 predictors,
# 2 gateways, on this engine. Builds and tags the images locally (the stand-in base
# images of scripts/standin_base_image.sh when no registry answers) and deploys them with
# --resolve-image never, so no registry is needed: a single-node swarm only. Runs
# `docker swarm init --advertise-addr 127.0.0.1` only if the engine is in no swarm, and
# then records that in SWARM_STATE_FILE, so scripts/swarm_remove.sh leaves the swarm again
# (and only then). Without the kernel's IPVS (no routing mesh) the gateway's port is
# published in host mode with one gateway (SERVICE_A_PUBLISH_MODE, SERVICE_A_REPLICAS).
# Usage: scripts/swarm_deploy.sh
#   STACK_NAME        stack name (default ml-microservice)
#   SWARM_STATE_FILE  where "this script initialised the swarm" is recorded
#                     (default .swarm-initialised-by-deploy in the repository)
#   SWARM_WAIT_S      seconds to wait for every task to run (default 300; 0: no wait)
#   and the stack file's variables: SERVICE_A_PORT, ADMIN_TOKEN, SERVICE_B_REPLICAS, ...
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo_root"
stack=${STACK_NAME:-ml-microservice}
state_file=${SWARM_STATE_FILE:-$repo_root/.swarm-initialised-by-deploy}
wait_s=${SWARM_WAIT_S:-300}

scripts/standin_base_image.sh
echo "swarm_deploy: building the images"
docker build -q -f service_b/Dockerfile -t "${SERVICE_B_IMAGE:-ml-microservice/service_b:latest}" .
docker build -q -f service_a/Dockerfile -t "${SERVICE_A_IMAGE:-ml-microservice/service_a:latest}" .

swarm_state=$(docker info --format '{{.Swarm.LocalNodeState}}')
if [ "$swarm_state" = inactive ]; then
  echo "swarm_deploy: the engine is in no swarm; initialising a single-node one"
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
  docker info --format '{{.Swarm.NodeID}}' >"$state_file"
else
  echo "swarm_deploy: the engine is already in a swarm ($swarm_state); using it"
fi

if [ -z "${SERVICE_A_PUBLISH_MODE:-}" ] && ! modprobe -q ip_vs 2>/dev/null &&
  [ ! -e /proc/net/ip_vs ]; then
  echo "swarm_deploy: no IPVS in this kernel, so no routing mesh: the gateway's port is" \
    "published in host mode, one gateway"
  export SERVICE_A_PUBLISH_MODE=host
  export SERVICE_A_REPLICAS=${SERVICE_A_REPLICAS:-1}
fi

docker stack deploy --resolve-image never --prune -c deploy/swarm/stack.yml "$stack"

# Every service at its replica count (tasks running, i.e. healthy) within wait_s.
if [ "$wait_s" -gt 0 ]; then
  deadline=$((SECONDS + wait_s))
  while true; do
    pending=$(docker stack services "$stack" --format '{{.Name}} {{.Replicas}}' |
      awk '{ split($2, r, "/"); if (r[1] != r[2]) print $1 " " $2 }')
    [ -z "$pending" ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "swarm_deploy: not every task runs after ${wait_s}s:" >&2
      echo "$pending" >&2
      docker stack ps "$stack" --no-trunc >&2 || true
      exit 1
    fi
    sleep 2
  done
  echo "swarm_deploy: stack $stack is up"
  docker stack services "$stack"
fi
