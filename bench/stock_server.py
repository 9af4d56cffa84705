"""A service served by stock uvicorn (httptools, no connection limits): the benchmark's
baseline for what the bounded protocol costs. Not for anything but that comparison.

    cd service_a && PYTHONPATH=.. python -m bench.stock_server gateway

Reads the service's settings from the environment and logs as `python main.py` does
(the gateway's input line included); only the HTTP protocol differs.
"""

import sys

import uvicorn

from service_common.logging_setup import logging_config
from service_common.settings import ServiceSettings

PACKAGES = {"gateway": "gateway", "predictor": "predictor"}


def main() -> None:
    package = PACKAGES[sys.argv[1]]
    settings = ServiceSettings()
    uvicorn.run(
        f"{package}.main:create_served_app",
        factory=True,
        app_dir=".",
        host=settings.HOST,
        port=settings.PORT,
        workers=settings.WORKERS,
        log_level=settings.LOG_LEVEL,
        log_config=logging_config(settings.LOG_LEVEL, settings.LOG_FORMAT, [package]),
        access_log=settings.ACCESS_LOG,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
