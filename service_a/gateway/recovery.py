"""While the circuit breaker is open, the gateway asks the predictor's /ready every
BREAKER_READY_CHECK_S: as soon as it answers ready, the next forwarded call probes it, so
traffic comes back within a check of the predictor being ready, however long the breaker's
backed-off open time still had to run."""

import asyncio
import logging

from gateway.breaker import BreakerState, CircuitBreaker
from gateway.predictor_client import PredictorClient

logger = logging.getLogger(__name__)


async def watch_for_recovery(
    breaker: CircuitBreaker, predictor: PredictorClient, interval: float
) -> None:
    """Run until cancelled (the lifespan's end)."""
    while True:
        await asyncio.sleep(interval)
        if breaker.state is not BreakerState.OPEN:
            continue
        if await predictor.readiness_problem("breaker-readiness-check") is not None:
            continue
        logger.info("Predictor %s answers ready again: the next call probes it", breaker.upstream)
        breaker.probe_now()
