"""Log format (text or JSON lines), the request id in every line, and escaping of untrusted
text (control characters, previews of inputs) so it cannot forge or disguise a log line."""

import json
import logging
import logging.config
import sys
import unicodedata
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any, TextIO

from service_common.settings import LogFormat
from service_common.tracing import current_trace_id

REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
"""A request id: a client's X-Request-ID is used only if it is such a token (safe in
headers and log lines), else replaced by a generated one (never refused: a proxy in front
of a client may set ids of its own). Every id answered in X-Request-ID matches it."""

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
"""Id of the request being served; set by the request-id middleware, "-" outside requests."""

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(trace_id)s] %(message)s"

# Control characters (C0, DEL, C1) and the Unicode line/paragraph separators could end a
# log line early or rewrite a terminal; format characters (Unicode category Cf: bidi
# overrides such as U+202E, zero-width spaces and joiners, U+FEFF) cannot, but they can
# disguise a line, reordering or hiding what is shown. All are shown as escapes instead.
_CONTROL_CODES = [
    *range(0x20),
    *range(0x7F, 0xA0),
    0x2028,
    0x2029,
    *(code for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) == "Cf"),
]
_SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape_of(code: int) -> str:
    char = chr(code)
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


_CONTROL_ESCAPES = {code: _escape_of(code) for code in _CONTROL_CODES}
_PREVIEW_ESCAPES = {**_CONTROL_ESCAPES, ord("\\"): "\\\\", ord('"'): '\\"'}

# Attributes every LogRecord has; anything else on a record came from `extra=` (uvicorn's
# `color_message` is its message with ANSI colours: left out).
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}


def escape_control_chars(text: str) -> str:
    """`text` with control characters replaced by visible escapes such as `\\n`."""
    return text.translate(_CONTROL_ESCAPES)


def preview(text: str, max_chars: int) -> str:
    """The first `max_chars` characters of `text`, escaped so it fits on one log line.

    Backslashes and double quotes are escaped too, so an escaped newline cannot be
    confused with the two characters a client may send literally, and the preview
    cannot close the quotes it is shown in.
    """
    shown = text[:max_chars].translate(_PREVIEW_ESCAPES)
    return shown + "..." if len(text) > max_chars else shown


def current_request_id() -> str:
    return request_id_var.get()


class RequestIdFilter(logging.Filter):
    """Adds `request_id` and `trace_id` (from the context of the running request, "-"
    outside one) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.trace_id = current_trace_id()
        return True


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [request-id trace-id] message`, with control characters in the
    message escaped."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        values = vars(record) | {"message": escape_control_chars(record.message)}
        return self._fmt % values if self._fmt else values["message"]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request_id, trace_id, message and any
    extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", request_id_var.get()),
            "trace_id": getattr(record, "trace_id", current_trace_id()),
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def make_formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


class ServiceLogHandler(logging.StreamHandler[TextIO]):
    """Writes to stderr in the chosen format, with the request id on every record.

    Thread, process and multiprocessing names are in no format; creating the handler
    turns their lookup off, which saves work on every record (the logging HOWTO's
    "Optimization" section). It is created in every process, workers included.
    """

    def __init__(self, log_format: LogFormat = "text") -> None:
        super().__init__(sys.stderr)
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False
        self.addFilter(RequestIdFilter())
        self.setFormatter(make_formatter(log_format))


def logging_config(
    level: str, log_format: LogFormat, service_loggers: Sequence[str]
) -> dict[str, Any]:
    """A `logging.config.dictConfig` for uvicorn's loggers and the service's own.

    uvicorn applies it in every process it starts (each worker too), so the service
    passes it as uvicorn's `log_config` rather than configuring logging itself.
    """
    handler = {"()": f"{__name__}.ServiceLogHandler", "log_format": log_format}
    logger = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": logger,
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": logger,
            "service_common": logger,
            **dict.fromkeys(service_loggers, logger),
        },
    }


def configure_logging(level: str, log_format: LogFormat, service_loggers: Sequence[str]) -> None:
    """Apply `logging_config` in this process (when no server of ours does it)."""
    logging.config.dictConfig(logging_config(level, log_format, service_loggers))
