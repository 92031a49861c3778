"""How many examples a hypothesis test tries: a fifth in the derandomized suite, all of them in
the exploring run with a fresh seed (`.ci/run`'s last step, CRMBOT_HYPOTHESIS_PROFILE=explore).

The suite replays the same examples every run, so it is a regression check whose cost is paid
on every `make test`; new inputs come from the exploring run, which is where the full count
buys something."""

from __future__ import annotations

import os

EXPLORING = os.environ.get("CRMBOT_HYPOTHESIS_PROFILE") == "explore"
SUITE_SHARE = 5
FLOOR = 10


def examples(full: int) -> int:
    return full if EXPLORING else max(min(full, FLOOR), full // SUITE_SHARE)
