"""Every capability's router, included by name: the one registry of intents."""

from __future__ import annotations

from crmbot.intents import (
    calls, complaints, customer_edits, customers, deal_edits, deals, followups, help, privacy, summary, team, undo,
)
from crmbot.intents.router import Router


def build_router() -> Router:
    router = Router()
    for module in (calls, customers, customer_edits, deals, deal_edits, complaints, followups, summary, undo, help, team, privacy):
        router.include(module.router)
    return router
