#!/usr/bin/env bash
# Remove the stack scripts/swarm_deploy.sh deployed, wait until its containers and network
# are gone, and leave the swarm only if swarm_deploy.sh initialised it (SWARM_STATE_FILE
# names this node), removing the docker_gwbridge network the init made. The models volume
# is kept unless REMOVE_VOLUMES=1.
# Usage: scripts/swarm_remove.sh
#   STACK_NAME, SWARM_STATE_FILE  as for scripts/swarm_deploy.sh
#   REMOVE_VOLUMES                1: also remove the stack's volumes (<stack>_models)
#   SWARM_WAIT_S                  seconds to wait for the stack to go (default 120)
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
stack=${STACK_NAME:-ml-microservice}
state_file=${SWARM_STATE_FILE:-$repo_root/.swarm-initialised-by-deploy}
wait_s=${SWARM_WAIT_S:-120}

if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" = active ]; then
  docker stack rm "$stack" || true
fi

# `docker stack rm` returns before the containers and the network are gone.
label=com.docker.stack.namespace=$stack
deadline=$((SECONDS + wait_s))
while [ -n "$(docker ps -aq --filter "label=$label")$(docker network ls -q --filter "label=$label")" ]; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "swarm_remove: containers or networks of $stack still there after ${wait_s}s" >&2
    exit 1
  fi
  sleep 1
done

if [ "${REMOVE_VOLUMES:-0}" = 1 ]; then
  volumes=$(docker volume ls -q --filter "label=$label")
  if [ -n "$volumes" ]; then
    # shellcheck disable=SC2086  # one name per word
    docker volume rm $volumes
  fi
fi

if [ -f "$state_file" ]; then
  if [ "$(cat "$state_file")" = "$(docker info --format '{{.Swarm.NodeID}}')" ]; then
    echo "swarm_remove: swarm_deploy.sh initialised this swarm; leaving it"
    docker swarm leave --force
    # The bridge `swarm init` created for the node's containers; it outlives the swarm.
    docker network rm docker_gwbridge >/dev/null 2>&1 || true
  else
    echo "swarm_remove: $state_file names another swarm node; not leaving this one"
  fi
  rm -f "$state_file"
else
  echo "swarm_remove: the swarm was there before swarm_deploy.sh; staying in it"
fi
