"""While a replica's circuit breaker is open, the gateway asks that replica's /ready every
BREAKER_READY_CHECK_S: as soon as it answers ready, the next forwarded call probes it, so
traffic comes back within a check of the replica being ready, however long the breaker's
backed-off open time still had to run."""

import asyncio
import logging

from gateway.breaker import BreakerState
from gateway.predictor_client import PredictorClient

logger = logging.getLogger(__name__)


async def watch_for_recovery(predictor: PredictorClient, interval: float) -> None:
    """Run until cancelled (the lifespan's end)."""
    while True:
        await asyncio.sleep(interval)
        ejected = [
            replica
            for replica in predictor.replicas.replicas
            if replica.breaker is not None and replica.breaker.state is BreakerState.OPEN
        ]
        if not ejected:
            continue
        checks = await asyncio.gather(
            *(predictor.ready_behind_breaker(r, "breaker-readiness-check") for r in ejected)
        )
        for replica, check in zip(ejected, checks, strict=True):
            if check.ready and replica.breaker is not None:
                logger.info(
                    "Predictor %s answers ready again: the next call probes it", replica.address
                )
                replica.breaker.probe_now()
