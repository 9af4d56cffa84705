"""A clock for the code that takes one (`clock=`): it moves only when a test moves it."""


class ManualClock:
    """Reads `now`; an idle pause of any length is `clock.now += seconds`, at once."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now
