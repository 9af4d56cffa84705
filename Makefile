# Entry points for users and CI; each target calls a script in scripts/.
.PHONY: help run test lint format lock audit bench clean

help:
	@echo "make run     start both services locally (each in its own venv)"
	@echo "make test    lint + every test (the command CI runs)"
	@echo "make format  apply ruff format and safe fixes"
	@echo "make lock    re-compile the lock files from the requirements*.in (pip-compile)"
	@echo "make audit   check the lock files for known vulnerabilities (pip-audit; network)"
	@echo "make bench   run the throughput benchmark (README: Benchmark)"
	@echo "make clean   remove venvs, caches and locally trained models"

run:
	scripts/run_local.sh

test:
	scripts/test.sh

lint:
	scripts/venv.sh .venv requirements-dev.txt
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:
	scripts/venv.sh .venv requirements-dev.txt
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

lock:
	scripts/lock.sh

audit:
	scripts/audit.sh

bench:
	scripts/bench.sh

clean:
	rm -rf .venv .venv-tools service_a/.venv service_b/.venv service_b/models .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
