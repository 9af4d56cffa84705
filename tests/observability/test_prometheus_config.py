"""The Prometheus server's files, checked by promtool as Prometheus itself would load them:
the scrape config, the alerting rules, and the rules' unit tests on synthetic series."""

import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = Path("observability") / "prometheus"


def run_promtool(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    # From the repository root with relative paths, as a person would type it; promtool
    # resolves rule_files relative to the file that names them.
    return subprocess.run(
        [promtool, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )


def test_scrape_config_is_valid(promtool: str) -> None:
    result = run_promtool(promtool, "check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerting_rules_are_valid(promtool: str) -> None:
    result = run_promtool(promtool, "check", "rules", str(PROMETHEUS_DIR / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_unit_tests_pass(promtool: str) -> None:
    result = run_promtool(promtool, "test", "rules", str(PROMETHEUS_DIR / "alerts_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
