"""Local HTTP stand-ins of the Telegram Bot API and the Slack Web API.

The real libraries (python-telegram-bot, slack_sdk / slack-bolt) are pointed at these
servers by base URL, so tests exercise real HTTP, real serialisation and real error paths
without the network. Every server binds 127.0.0.1 on port 0: tests never share a port.

This module holds what both stand-ins share: the call record and the server lifecycle.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
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


@dataclass(frozen=True)
class Outage:
    """A stretch of platform trouble, set with `StandInServer.outage`; there is none by default."""

    until: float  # time.monotonic()
    methods: frozenset[str] | None  # lower-case API method names; None: every API method
    status: int = 0  # answer this error (500, or 429 with retry_after)
    retry_after: int | None = None
    lag: float = 0.0  # a slow platform: the call takes effect only this many seconds after it came
    delay: float = 0.0  # accept the call (it takes effect) but answer this many seconds late
    drop: bool = False  # close the connection unanswered, before the call takes effect

    def covers(self, method: str, now: float) -> bool:
        return now < self.until and (self.methods is None or method.lower() in self.methods)


@dataclass(frozen=True)
class Answer:
    """What the stand-in answered to one API call: what a fault run counts as accepted."""

    method: str
    status: int
    body: bytes
    at: float  # time.time() when the call took effect (before any outage delay)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class StandInServer:
    """An aiohttp server on 127.0.0.1:0 that records calls; subclasses add the routes."""

    # Handlers still running when the test ends (e.g. a long poll) get this long to finish.
    shutdown_timeout = 1.0

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.answers: list[Answer] = []  # every API call's answer, outages included
        self.outages: list[Outage] = []
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
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._troubled])
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

    # -- platform trouble (fault runs: bench/faults) ----------------------------------

    def outage(
        self,
        seconds: float,
        *,
        methods: Iterable[str] | None = None,
        status: int = 0,
        retry_after: int | None = None,
        lag: float = 0.0,
        delay: float = 0.0,
        drop: bool = False,
    ) -> Outage:
        """For the next `seconds`, calls of `methods` (default: every API method) are answered
        with error `status`, dropped unanswered, taken only after `lag` seconds, or taken and
        answered `delay` seconds late. Calls an outage answers or drops are not in `calls` (they
        never reached the platform's logic); every answer is in `answers`."""
        names = frozenset(m.lower() for m in methods) if methods is not None else None
        outage = Outage(time.monotonic() + seconds, names, status, retry_after, lag, delay, drop)
        self.outages.append(outage)
        return outage

    def outage_answer(self, outage: Outage) -> web.Response:
        """The error an outage answers with; subclasses use their platform's format."""
        return web.Response(status=outage.status)

    @web.middleware
    async def _troubled(self, request: web.Request, handler: Any) -> web.StreamResponse:
        method = request.match_info.get("method")
        if method is None:  # not an API call (an upload, a response_url)
            return await handler(request)
        now = time.monotonic()
        outage = next((o for o in reversed(self.outages) if o.covers(method, now)), None)
        if outage is not None and outage.drop:
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPServiceUnavailable()  # never reaches the client: the connection is gone
        if outage is not None and outage.lag:
            await asyncio.sleep(outage.lag)
        response = self.outage_answer(outage) if outage is not None and outage.status else await handler(request)
        self.answers.append(Answer(method, response.status, getattr(response, "body", None) or b"", time.time()))
        if outage is not None and outage.delay:
            await asyncio.sleep(outage.delay)
        return response

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

__all__ = ["Answer", "Call", "Outage", "SlackStandIn", "StandInServer", "TelegramStandIn", "sign"]
