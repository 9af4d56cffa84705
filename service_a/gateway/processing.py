"""What `POST /process` does: check the input against the configured limits, log it, and
forward it to the predictor when asked."""

import logging
from typing import NamedTuple

from gateway.config import Settings
from gateway.metrics import GatewayMetrics
from gateway.predictor_client import PredictorClient
from gateway.schemas import ProcessRequest, process_response_body
from service_common.errors import InvalidField
from service_common.logging_setup import preview
from service_common.text import is_blank

input_logger = logging.getLogger("gateway.inputs")


class Processed(NamedTuple):
    """The JSON answer to an input, and the predictor replica that classified it."""

    body: bytes
    served_by: str | None


class InputProcessor:
    """Handles one input end to end; built once per app, in its lifespan."""

    def __init__(
        self, predictor: PredictorClient, settings: Settings, metrics: GatewayMetrics | None = None
    ) -> None:
        self._predictor = predictor
        self._metrics = metrics
        self._max_data_chars = settings.MAX_DATA_CHARS
        self._preview_chars = settings.LOG_PREVIEW_CHARS

    def check(self, body: ProcessRequest) -> None:
        """Raise InvalidField for the rules that depend on settings (the schema checks the rest)."""
        if len(body.data) > self._max_data_chars:
            raise InvalidField(
                "data",
                "string_too_long",
                f"String should have at most {self._max_data_chars} characters",
                {"max_length": self._max_data_chars},
            )
        if body.forward_to_model and is_blank(body.data):
            raise InvalidField(
                "data", "blank", "data must contain a non-whitespace character to be forwarded"
            )

    async def process(
        self, body: ProcessRequest, request_id: str, api_key_id: str | None = None
    ) -> Processed:
        """The JSON answer to an input: logged (with the id of the caller's API key, if
        any), and classified unless forward_to_model is false."""
        self.check(body)
        log_input(body.data, body.forward_to_model, self._preview_chars, api_key_id)
        if self._metrics is not None:
            self._metrics.input_logged(body.forward_to_model)
        if not body.forward_to_model:
            return Processed(process_response_body(None), None)
        forwarded = await self._predictor.predict(body.data, request_id, body.model_version)
        return Processed(process_response_body(forwarded.body), forwarded.served_by)


def log_input(
    data: str, forward_to_model: bool, preview_chars: int, api_key_id: str | None = None
) -> None:
    """The one INFO line every accepted input gets; `api_key_id` is a key's id, never a key."""
    if not input_logger.isEnabledFor(logging.INFO):
        return
    shown = preview(data, preview_chars)
    message = 'Input received: forward_to_model=%s length=%d preview="%s"'
    args: tuple[object, ...] = ("true" if forward_to_model else "false", len(data), shown)
    extra: dict[str, object] = {
        "forward_to_model": forward_to_model,
        "input_length": len(data),
        "preview": shown,
    }
    if api_key_id is not None:
        message += " api_key=%s"
        args += (api_key_id,)
        extra["api_key_id"] = api_key_id
    # The record is made and handled directly, as Logger.info would, minus its walk up the
    # stack for the caller's file and line, which no format shows (it runs per request).
    record = input_logger.makeRecord(
        input_logger.name,
        logging.INFO,
        __file__,
        0,
        message,
        args,
        None,
        extra=extra,
    )
    input_logger.handle(record)
