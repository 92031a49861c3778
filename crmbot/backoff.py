"""How long to wait before trying a failed delivery again."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Exponential from `base`, capped at `cap`, each wait drawn between half and all of it, so
    rows that failed together (a platform outage) do not all come back in the same second. The
    platform's own retry_after wins when it is longer."""

    base: float = 5.0
    cap: float = 300.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return max(ceiling * (0.5 + self.rng.random() / 2), retry_after or 0.0)
