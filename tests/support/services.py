"""Both services as processes that a test starts by name, on ports chosen up front."""

from pathlib import Path

from devkit.ports import free_port
from devkit.processes import GATEWAY_READY_TIMEOUT, PREDICTOR_READY_TIMEOUT, ServiceProcess

CONNECT_TIMEOUT = 1.0  # the gateway's SERVICE_B_CONNECT_TIMEOUT in these tests


class Services:
    """Starts the services by name, on ports chosen once; `stop_all` stops what it started."""

    def __init__(self, model_dir: Path, log_dir: Path) -> None:
        predictor_port = free_port()
        self.ports = {"service_b": predictor_port, "service_a": free_port()}
        self.environments = {
            "service_b": {"MODEL_DIR": str(model_dir)},
            "service_a": {
                "SERVICE_B_URL": f"http://127.0.0.1:{predictor_port}",
                "SERVICE_B_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
            },
        }
        self.log_dir = log_dir
        self.started: list[ServiceProcess] = []

    def start(self, service: str, **env: str) -> ServiceProcess:
        """Start `service` (`env` adds settings) and wait until it answers."""
        process = ServiceProcess(
            service,
            self.ports[service],
            self.environments[service] | env,
            self.log_dir / f"{service}.log",
        )
        self.started.append(process.start())
        if service == "service_b":
            process.wait_until_ok("/ready", PREDICTOR_READY_TIMEOUT)
        else:
            process.wait_until_ok("/health", GATEWAY_READY_TIMEOUT)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()
