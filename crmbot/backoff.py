"""How long to wait before trying a failed delivery again."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Exponential from `base`, capped at `cap`, each wait drawn between half and all of it, so
    rows that failed together (a platform outage) do not all come back in the same second.

    A rate limit is not an outage: when the platform says how long to wait (retry_after), that
    is the wait, whatever the exponential one has grown to. A row that failed often during an
    outage and then meets a 5-second rate limit goes again in 5 s, not minutes after the
    platform is back (python-telegram-bot's rate limiter and Slack's SDK already space out
    what a rate limit held back)."""

    base: float = 5.0
    cap: float = 300.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after:
            return retry_after
        ceiling = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return ceiling * (0.5 + self.rng.random() / 2)
