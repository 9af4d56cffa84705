"""Bad settings and start-up problems, on both services as `python main.py` processes.

Each is refused in one line on stderr that names the setting and the bad value (no
traceback), with a non-zero exit; a fatal problem found after start-up (the predictor's
first training failing) also ends the process, non-zero, with one ERROR line.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devkit.ports import free_port
from devkit.processes import (
    GATEWAY_READY_TIMEOUT,
    INHERITED_VARIABLES,
    PREDICTOR_READY_TIMEOUT,
    REPO_ROOT,
    ServiceProcess,
)

pytestmark = pytest.mark.integration

RUN_TIMEOUT_S = 60.0  # a refusal comes within seconds; this only bounds a service that starts
TRAINING_FAILURE_GUARD_S = 90.0
SERVICES = ["service_a", "service_b"]
TRAINING_TOML = REPO_ROOT / "service_b" / "training.toml"
READY_TIMEOUT = {"service_a": GATEWAY_READY_TIMEOUT, "service_b": PREDICTOR_READY_TIMEOUT}

MetadataEdit = Callable[[Any], Any]


def run_main(service: str, settings: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python main.py` of `service` with only `settings` on top of a minimal environment."""
    inherited = {name: os.environ[name] for name in INHERITED_VARIABLES if name in os.environ}
    return subprocess.run(
        [sys.executable, "main.py"],
        cwd=REPO_ROOT / service,
        env=inherited | settings,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def refusal_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused start printed, after checking that it was one line and the
    exit status non-zero."""
    assert result.returncode != 0, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


@pytest.fixture
def empty_model_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "models"
    directory.mkdir()
    return directory


def base_settings(service: str, model_dir: Path) -> dict[str, str]:
    """Settings that start `service` on loopback: a free port; the gateway pointed at a
    port where nothing listens, the predictor at `model_dir`."""
    settings = {"HOST": "127.0.0.1", "PORT": str(free_port())}
    if service == "service_a":
        return settings | {"SERVICE_B_URL": f"http://127.0.0.1:{free_port()}"}
    return settings | {"MODEL_DIR": str(model_dir)}


# Settings both services have.
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "70000"),
        ("WORKERS", "0"),
        ("LOG_LEVEL", "verbose"),
        ("HEADER_TIMEOUT_S", "inf"),
        ("KEEPALIVE_TIMEOUT_S", "-1"),
        ("MAX_CONNECTIONS", "0"),
        ("MAX_BODY_BYTES", "0"),
        ("LOG_FORMAT", "xml"),
        ("NICE", "-1"),
        ("NICE", "20"),
    ],
)
@pytest.mark.parametrize("service", SERVICES)
def test_bad_common_setting_is_refused_in_one_line(
    service: str, name: str, value: str, empty_model_dir: Path
) -> None:
    result = run_main(service, base_settings(service, empty_model_dir) | {name: value})

    line = refusal_line(result)
    assert name in line
    assert value in line


@pytest.mark.parametrize("service", SERVICES)
def test_upper_case_log_level_is_accepted(service: str, model_dir: Path, tmp_path: Path) -> None:
    settings = base_settings(service, model_dir) | {"LOG_LEVEL": "DEBUG"}
    process = ServiceProcess(service, int(settings["PORT"]), settings, tmp_path / "service.log")
    try:
        process.start().wait_until_ok("/health", READY_TIMEOUT[service])
    finally:
        process.stop()


def nice_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


@pytest.mark.parametrize(
    ("service", "env", "lowered_by"),
    [("service_a", {}, 0), ("service_b", {}, 5), ("service_b", {"NICE": "0"}, 0)],
)
def test_the_predictor_serves_at_a_lower_cpu_priority_than_the_gateway(
    service: str, env: dict[str, str], lowered_by: int, model_dir: Path, tmp_path: Path
) -> None:
    settings = base_settings(service, model_dir) | env
    process = ServiceProcess(service, int(settings["PORT"]), settings, tmp_path / "service.log")
    try:
        process.start().wait_until_ok("/health", READY_TIMEOUT[service])
        served_at = nice_of(process.pid)
    finally:
        process.stop()

    assert served_at == os.getpriority(os.PRIO_PROCESS, 0) + lowered_by


# The gateway's own settings.
@pytest.mark.parametrize(
    ("name", "value", "explained"),
    [
        ("SERVICE_B_READ_TIMEOUT", "inf", "finite"),
        ("SERVICE_B_CONNECT_TIMEOUT", "nan", "finite"),
        ("SERVICE_B_READY_TIMEOUT", "0", "greater than 0"),
        ("SERVICE_B_URL", "http://127.0.0.1:8001/predict", "base URL"),
        ("SERVICE_B_URL", "not-a-url", "URL"),
    ],
)
def test_bad_gateway_setting_is_refused_in_one_line(
    name: str, value: str, explained: str, empty_model_dir: Path
) -> None:
    result = run_main("service_a", base_settings("service_a", empty_model_dir) | {name: value})

    line = refusal_line(result)
    assert name in line
    assert value in line
    assert explained in line


# The predictor's training config and model folder.
def edited(text: str, old: str, new: str) -> str:
    assert old in text, f"{old!r} is no longer in {TRAINING_TOML}"
    return text.replace(old, new)


def predictor_settings(model_dir: Path, **settings: str) -> dict[str, str]:
    return base_settings("service_b", model_dir) | settings


def test_missing_training_config_is_refused(empty_model_dir: Path) -> None:
    settings = predictor_settings(empty_model_dir, TRAINING_CONFIG="/nonexistent.toml")

    line = refusal_line(run_main("service_b", settings))

    assert "TRAINING_CONFIG" in line
    assert "/nonexistent.toml" in line


def test_invalid_value_in_training_config_is_refused(empty_model_dir: Path, tmp_path: Path) -> None:
    config_dir = tmp_path / "training"
    shutil.copytree(REPO_ROOT / "service_b" / "data", config_dir / "data")
    config = config_dir / "training.toml"
    config.write_text(edited(TRAINING_TOML.read_text(), "C = 10.0", "C = -1"))
    settings = predictor_settings(empty_model_dir, TRAINING_CONFIG=str(config))

    line = refusal_line(run_main("service_b", settings))

    assert "TRAINING_CONFIG" in line
    assert str(config) in line
    assert "classifier.C" in line


@pytest.fixture
def trained_copy(model_dir: Path, tmp_path: Path) -> Path:
    """A model folder of this test only, holding a copy of the module's trained v1."""
    copy = tmp_path / "trained"
    shutil.copytree(model_dir, copy)
    assert (copy / "v1" / "metadata.json").is_file()
    return copy


def test_unknown_model_version_is_refused_listing_published_ones(trained_copy: Path) -> None:
    settings = predictor_settings(trained_copy, MODEL_VERSION="v9")

    line = refusal_line(run_main("service_b", settings))

    assert "MODEL_VERSION" in line
    assert "v9" in line
    assert "published: v1" in line


def test_unwritable_model_dir_is_refused_when_training_is_needed() -> None:
    line = refusal_line(run_main("service_b", predictor_settings(Path("/proc/models"))))

    assert "MODEL_DIR" in line
    assert "/proc/models" in line
    assert "cannot write" in line


def test_model_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "models.txt"
    a_file.write_text("not a folder\n")

    line = refusal_line(run_main("service_b", predictor_settings(a_file)))

    assert "MODEL_DIR" in line
    assert str(a_file) in line
    assert "not a folder" in line


def without(field: str) -> MetadataEdit:
    """An edit of metadata.json that removes `field`."""

    def edit(metadata: Any) -> Any:
        assert isinstance(metadata, dict)
        assert field in metadata
        return {name: value for name, value in metadata.items() if name != field}

    return edit


@pytest.mark.parametrize(
    ("edit", "explained"),
    [
        pytest.param(lambda _: [], "not a JSON object", id="a-list"),
        pytest.param(without("version"), "version", id="no-version"),
        pytest.param(without("created_at"), "created_at", id="no-created_at"),
    ],
)
def test_version_with_invalid_metadata_is_refused(
    trained_copy: Path, edit: MetadataEdit, explained: str
) -> None:
    metadata_path = trained_copy / "v1" / "metadata.json"
    metadata_path.write_text(json.dumps(edit(json.loads(metadata_path.read_text()))))

    line = refusal_line(run_main("service_b", predictor_settings(trained_copy)))

    assert line.startswith(f"MODEL_DIR={trained_copy}: ")
    assert str(metadata_path) in line
    _, _, problem = line.partition(str(metadata_path))
    assert explained in problem


def test_empty_model_dir_without_training_is_refused(empty_model_dir: Path) -> None:
    settings = predictor_settings(empty_model_dir, TRAIN_IF_MISSING="false")

    line = refusal_line(run_main("service_b", settings))

    assert "TRAIN_IF_MISSING" in line
    assert "false" in line
    assert str(empty_model_dir) in line


# A problem after start-up.
@pytest.fixture
def one_class_training_config(tmp_path: Path) -> Path:
    """A training config that passes every start-up check but cannot be fitted: its train
    and holdout data have one class only."""
    folder = tmp_path / "one-class"
    folder.mkdir()
    rows = "".join(f"the cat number {n} purrs on the sofa,cat\n" for n in range(12))
    for name in ("train.csv", "holdout.csv"):
        (folder / name).write_text("text,label\n" + rows)
    text = edited(TRAINING_TOML.read_text(), '"data/animals.csv"', '"train.csv"')
    text = edited(text, '"data/holdout.csv"', '"holdout.csv"')
    config = folder / "training.toml"
    config.write_text(text)
    return config


def test_failing_start_up_training_ends_the_process_with_one_error_line(
    one_class_training_config: Path, empty_model_dir: Path, tmp_path: Path
) -> None:
    settings = predictor_settings(empty_model_dir, TRAINING_CONFIG=str(one_class_training_config))
    predictor = ServiceProcess(
        "service_b", int(settings["PORT"]), settings, tmp_path / "service_b.log"
    )
    deadline = time.monotonic() + TRAINING_FAILURE_GUARD_S
    try:
        predictor.start()
        while predictor.returncode() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        returncode = predictor.returncode()
    finally:
        predictor.stop()

    log = predictor.log_text()
    assert returncode is not None, f"still running after {TRAINING_FAILURE_GUARD_S} s:\n{log}"
    assert returncode != 0
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1, log
    assert "Start-up training failed" in errors[0]
    assert "Traceback" not in log


# The gateway's access settings: a start-up that cannot hang, fill the memory or show a
# secret, whatever file or URL it is given.
SECRET = "hunter2-secret-never-shown"


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "keys.fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("value", "explained"),
    [
        ("fifo", "is not a regular file"),
        ("/dev/zero", "is not a regular file"),
        ("big", "is larger than 1048576 bytes"),
    ],
    ids=["a FIFO no one writes to", "an endless device", "a file of 2 MiB"],
)
def test_api_keys_file_that_is_no_key_file_is_refused_at_once(
    value: str, explained: str, fifo: Path, empty_model_dir: Path, tmp_path: Path
) -> None:
    big = tmp_path / "big.txt"
    big.write_text(("k" * 31 + "\n") * 65_536)
    path = {"fifo": str(fifo), "big": str(big)}.get(value, value)
    settings = base_settings("service_a", empty_model_dir) | {"API_KEYS_FILE": path}

    line = refusal_line(run_main("service_a", settings))

    assert "API_KEYS_FILE" in line
    assert explained in line


@pytest.mark.parametrize(
    ("url", "explained"),
    [
        (f"redis://user:{SECRET}@127.0.0.1:99999/0", "Port out of range"),
        (f"redis://:{SECRET}@127.0.0.1:abc/0", "not a usable Redis URL"),
        (f"redis://127.0.0.1:6379/cache?password={SECRET}", "database number"),
        (f"redis://127.0.0.1:6379/0?socket_timeout=abc&password={SECRET}", "socket_timeout"),
    ],
    ids=["port out of range", "port not a number", "path not a database", "bad option"],
)
def test_unusable_redis_url_is_refused_in_one_line_without_its_password(
    url: str, explained: str, empty_model_dir: Path
) -> None:
    settings = base_settings("service_a", empty_model_dir) | {
        "RATE_LIMIT": "10/second",
        "RATE_LIMIT_STORAGE": url,
    }

    result = run_main("service_a", settings)

    line = refusal_line(result)
    assert "RATE_LIMIT_STORAGE" in line
    assert explained in line
    assert SECRET not in result.stderr + result.stdout
