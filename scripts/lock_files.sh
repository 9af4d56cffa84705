# Sourced by scripts/lock.sh and scripts/audit.sh (from the repository root): the lock
# files and the tools that write and audit them. Creates or refreshes the tools venv
# (pip-tools and pip-audit, from requirements-tools.txt; no common/) and sets:
#   lock_sources  each lock's list of direct dependencies, in compile order (a lock is
#                 the .in's name with .txt): the dev lock is constrained by the service
#                 locks, so they come first
#   tools_bin     the tools venv's bin folder
lock_sources=(requirements-tools.in service_a/requirements.in service_b/requirements.in
  requirements-dev.in)
tools_venv=.venv-tools
scripts/venv.sh --no-common "$tools_venv" requirements-tools.txt
tools_bin=$tools_venv/bin
