"""Every capability's router, included by name: the one registry of intents."""

from __future__ import annotations

from crmbot.intents import calls, complaints, customers, deals, followups, help, imports, privacy, summary, team, undo
from crmbot.intents.router import Router


def build_router() -> Router:
    router = Router()
    for module in (calls, customers, deals, complaints, followups, summary, undo, help, team, privacy, imports):
        router.include(module.router)
    return router
