"""What `POST /process` does: check the input against the configured limits, log it, and
forward it to the predictor when asked."""

from gateway.config import Settings
from gateway.errors import invalid_field
from gateway.logging_setup import log_input
from gateway.predictor_client import PredictorClient
from gateway.schemas import ProcessRequest, process_response_body


class InputProcessor:
    """Handles one input end to end; built once per app, in its lifespan."""

    def __init__(self, predictor: PredictorClient, settings: Settings) -> None:
        self._predictor = predictor
        self._max_data_chars = settings.MAX_DATA_CHARS
        self._preview_chars = settings.LOG_PREVIEW_CHARS

    def check(self, body: ProcessRequest) -> None:
        """Raise a 422 for the rules that depend on settings (the schema checks the rest)."""
        if len(body.data) > self._max_data_chars:
            raise invalid_field(
                "data",
                "string_too_long",
                f"String should have at most {self._max_data_chars} characters",
                {"max_length": self._max_data_chars},
            )
        if body.forward_to_model and not body.data.strip():
            raise invalid_field(
                "data", "blank", "data must contain a non-whitespace character to be forwarded"
            )

    async def process(self, body: ProcessRequest, request_id: str) -> bytes:
        """The JSON answer to an input: logged, and classified unless forward_to_model is false."""
        self.check(body)
        log_input(body.data, body.forward_to_model, self._preview_chars)
        prediction = None
        if body.forward_to_model:
            prediction = await self._predictor.predict(body.data, request_id)
        return process_response_body(prediction)
