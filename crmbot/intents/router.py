"""Explicit registration: handlers are plain async functions, registered by intent name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crmbot.intents.context import Context
    from crmbot.intents.parse import Intent
    from crmbot.messages import Reply

Handler = Callable[["Context", "Intent"], Awaitable[list["Reply"]]]

ROLE_RANK = {"rep": 0, "manager": 1, "admin": 2}


@dataclass(frozen=True)
class Route:
    handler: Handler
    role: str  # the least role allowed to run it


@dataclass
class Router:
    routes: dict[str, Route] = field(default_factory=dict)

    def intent(self, name: str, *, role: str = "rep") -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if name in self.routes:
                raise ValueError(f"intent {name!r} registered twice")
            self.routes[name] = Route(handler, role)
            return handler

        return register

    def include(self, other: Router) -> None:
        for name, route in other.routes.items():
            if name in self.routes:
                raise ValueError(f"intent {name!r} registered twice")
            self.routes[name] = route


def allowed(role: str, needed: str) -> bool:
    return ROLE_RANK.get(role, -1) >= ROLE_RANK[needed]
