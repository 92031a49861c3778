"""Local HTTP stand-ins of the Telegram Bot API and the Slack Web API.

The real libraries (python-telegram-bot, slack_sdk / slack-bolt) are pointed at these
servers by base URL, so tests exercise real HTTP, real serialisation and real error paths
without the network. Every server binds 127.0.0.1 on port 0: tests never share a port.

This module holds what both stand-ins share: the call record and the server lifecycle.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web


@dataclass(frozen=True)
class Call:
    """One request the stand-in answered, as the platform would have seen it."""

    method: str
    params: dict[str, Any]
    path: str = ""
    authorization: str | None = None  # Slack only: the Authorization header as sent
    headers: dict[str, str] = field(default_factory=dict, repr=False)


class StandInServer:
    """An aiohttp server on 127.0.0.1:0 that records calls; subclasses add the routes."""

    # Handlers still running when the test ends (e.g. a long poll) get this long to finish.
    shutdown_timeout = 1.0

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.port: int = 0
        self._runner: web.AppRunner | None = None
        # Replaced on every change: waiters hold the current one, _notify sets it.
        self._changed = asyncio.Event()
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def start(self) -> None:
        self._closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.add_routes(app)
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=self.shutdown_timeout
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        # Wake anything parked in a wait (long polls, wait_for) before tearing down.
        self._closing = True
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- the call record -------------------------------------------------------------

    def record(self, call: Call) -> None:
        self.calls.append(call)
        self._notify()

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def clear_calls(self) -> None:
        self.calls.clear()

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until at least `count` calls of `method` were recorded; return them all."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.calls_to(method)) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or self._closing:
                seen = ", ".join(c.method for c in self.calls) or "nothing"
                raise AssertionError(
                    f"expected {count} call(s) of {method} within {timeout}s, "
                    f"got {len(self.calls_to(method))}; calls so far: {seen}"
                )
            await self._wait_for_change(remaining)
        return self.calls_to(method)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_for_change(self, timeout: float) -> None:
        """Park until something is recorded or pushed, or `timeout` passes."""
        if self._closing or timeout <= 0:
            return
        changed = self._changed
        try:
            async with asyncio.timeout(timeout):
                await changed.wait()
        except TimeoutError:
            pass

from .slack_api import SlackStandIn, sign  # noqa: E402  (they build on the classes above)
from .telegram_api import TelegramStandIn  # noqa: E402

__all__ = ["Call", "SlackStandIn", "StandInServer", "TelegramStandIn", "sign"]
