"""Every capability's router, included by name: the one registry of intents."""

from __future__ import annotations

from crmbot.intents import (
    calls, complaints, customers, deals, duplicates, followups, help, history, lists, merge, privacy, summary, tags, team,
    undo,
)
from crmbot.intents.router import Router


def build_router() -> Router:
    router = Router()
    for module in (calls, customers, duplicates, merge, deals, complaints, followups, summary, undo, history, help, team,
                   privacy, tags, lists):
        router.include(module.router)
    return router
