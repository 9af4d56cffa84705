"""Graceful shutdown: what a service does between SIGTERM and its exit.

uvicorn, on SIGTERM, stops accepting connections, closes the idle ones, lets the
requests it has accepted finish (for up to SHUTDOWN_GRACE_S) with `Connection: close` on
their answers, runs the lifespan's shutdown and exits 0. The bounded protocol tells the
app when that begins (`Draining.begin`), so /ready answers 503 from then on: a load
balancer that still asks stops sending, and nothing reports ready while going away.
"""

import logging

logger = logging.getLogger(__name__)

DRAINING_STATE_KEY = "draining"
"""The key of the Draining object in each service's lifespan state."""


class Draining:
    """Whether the server of this process has begun its graceful shutdown."""

    def __init__(self) -> None:
        self.active = False

    def begin(self) -> None:
        if not self.active:
            self.active = True
            logger.info(
                "Shutting down: /ready answers 503; finishing the accepted requests "
                "(up to SHUTDOWN_GRACE_S)"
            )
