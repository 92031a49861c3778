"""Every capability's router, included by name: the one registry of intents."""

from __future__ import annotations

from crmbot.intents import (
    analysis, auto_followups, calls, complaints, customer_edits, customers, deal_edits, deals, duplicates, followups, help, history,
    imports, lists, merge, privacy, routing, summary, tags, team, undo,
)
from crmbot.intents.router import Router


def build_router() -> Router:
    router = Router()
    for module in (calls, customers, customer_edits, duplicates, merge, deals, deal_edits, complaints, followups, summary,
                   analysis, undo, history, help, team, privacy, tags, lists, routing, imports, auto_followups):
        router.include(module.router)
    return router
