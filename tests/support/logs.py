"""What a service logs, in the format it is configured with, captured for a test."""

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from service_common.logging_setup import ServiceLogHandler
from service_common.settings import LogFormat


@contextmanager
def captured_log(logger_name: str, log_format: LogFormat = "text") -> Iterator[io.StringIO]:
    """Lines the `logger_name` loggers write while the block runs, as the service writes them.

    The handler is the one the services log through (`ServiceLogHandler`, as configured by
    their log config), writing to a buffer; it is removed afterwards.
    """
    handler = ServiceLogHandler(log_format)
    buffer = io.StringIO()
    handler.setStream(buffer)
    logger = logging.getLogger(logger_name)
    previous_level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
