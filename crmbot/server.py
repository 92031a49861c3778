"""`crmbot run`: the adapters, crmbot's one HTTP server and the reminder loop in one event loop.

Telegram is started by hand (initialize / start / polling) rather than with `run_polling`, so
Telegram, Slack and the reminder loop share one loop and one database. With
CRMBOT_TELEGRAM_WEBHOOK_URL set, Telegram posts updates to a route on our HTTP server instead
of being polled; the route refuses any request without the secret token given to setWebhook.

The Slack adapter plugs in by providing, in `crmbot.adapters.slack`,
`async def attach(app: App, http: HttpServer) -> Sender` that adds its routes to `http` (or
starts Socket Mode) and returns its Sender; an optional `async close()` on that Sender is
awaited at shutdown.

Every adapter's Sender joins `app.senders`: the reminder loop delivers through them, and so
does `app.announce`, which each adapter calls with the announcements of the `Outcome`s it gets
from the core (a deal won in a Telegram DM is announced in the team's Slack channel).

The HTTP server faces the internet, so it protects itself: a client gets `header_timeout` to
send its request headers (and an idle kept-alive connection is closed after as long), and
`body_timeout` for the body; a body longer than `max_body` is refused from its Content-Length,
before a byte of it is read; open connections are capped below the process's open-file limit
(when full, a new connection replaces the oldest one not in the middle of a request, so
`/healthz` stays reachable while slow clients hold the rest); and a request that is cut off,
malformed or hostile gets a 4xx and one log line, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import importlib
import json
import logging
import resource
import secrets
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web

from crmbot.app import App
from crmbot.config import Settings
from crmbot.i18n import FALLBACK

if TYPE_CHECKING:  # python-telegram-bot is an extra: imported only when Telegram is served
    from crmbot.adapters.smtp import MailServer
    from crmbot.adapters.telegram import TelegramAdapter

log = logging.getLogger(__name__)

CHAT_PLATFORMS = ("telegram", "slack")  # where members are asked about what came in by mail
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# long polling begins after the reminder loop's first pass, or after this long at most (a burst
# of thousands of overdue reminders does not keep the messages waiting for all of it)
FIRST_PASS_WAIT = 10.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class HttpLimits:
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    max_body: int = 1024 * 1024
    max_connections: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(settings.http_header_timeout_seconds, settings.http_body_timeout_seconds,
                   settings.http_max_body_bytes, settings.http_max_connections)


def connection_cap(wanted: int) -> int:
    """`wanted`, but safely below the open-file limit (first raised to its hard limit), leaving
    a quarter of it (at least 256) for the database, the platforms' clients and the log. Over
    the limit accept() fails, and the event loop logs a traceback for every attempt."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft < ceiling:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
            soft = ceiling
    return max(16, min(wanted, soft - max(256, soft // 4)))


class _Refused(asyncio.Protocol):
    """A connection over the cap with nobody to make room: closed at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class _Counted(asyncio.Protocol):
    """aiohttp's protocol for one connection, counted by the cap until the connection ends."""

    def __init__(self, handler: asyncio.Protocol, cap: ConnectionCap) -> None:
        self.handler, self.cap = handler, cap

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.handler.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.cap.open.pop(self.handler, None)
        self.handler.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.handler.data_received(data)

    def eof_received(self) -> bool | None:
        return self.handler.eof_received()

    def pause_writing(self) -> None:
        self.handler.pause_writing()

    def resume_writing(self) -> None:
        self.handler.resume_writing()


class ConnectionCap:
    """At most `limit` connections. When full, a new connection replaces the oldest one that is
    not in the middle of a request (a slow or idle client); when all are busy, it is closed.
    Counted here, from the moment a connection is accepted: the event loop accepts a burst of
    connections before any of them reaches aiohttp's own list."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: dict[Any, None] = {}  # aiohttp's RequestHandlers, oldest first
        self.busy: set[object] = set()  # the ones inside a request handler
        self._said_full = 0.0

    def factory(self, server: web.Server) -> Callable[[], asyncio.BaseProtocol]:
        def protocol() -> asyncio.BaseProtocol:
            if len(self.open) >= self.limit and not self._make_room():
                return _Refused()
            handler = server()
            self.open[handler] = None
            return _Counted(handler, self)

        return protocol

    def _make_room(self) -> bool:
        if time.monotonic() - self._said_full > 60:  # once a minute, not once per connection
            self._said_full = time.monotonic()
            log.warning("HTTP connection limit (%d) reached: making room by closing the oldest idle connections", self.limit)
        idle = next((h for h in self.open if h not in self.busy and h.transport is not None), None)
        if idle is None:
            return False
        del self.open[idle]
        idle.force_close()
        return True


class _CappedSite(web.BaseSite):
    """aiohttp's TCPSite, with the connection cap in front of its protocol factory."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, cap: ConnectionCap) -> None:
        super().__init__(runner, backlog=512)
        self._host, self._port, self._cap = host, port, cap

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        self._server = await asyncio.get_running_loop().create_server(
            self._cap.factory(self._runner.server), self._host, self._port, backlog=self._backlog, reuse_address=True,
        )


def _refuse(status: int, text: str) -> web.Response:
    response = web.Response(status=status, text=text + "\n")
    response.force_close()  # whatever the client still sends is not read
    return response


def json_body(body: bytes) -> Any:
    """A request body as JSON; ValueError for anything else, nesting too deep included."""
    try:
        return json.loads(body)
    except RecursionError as error:
        raise ValueError("JSON nested too deep") from error


class HttpServer:
    """crmbot's one HTTP server. Adapters add routes before `start()` (aiohttp freezes the
    router once it runs); `port` is the real one when configured as 0."""

    def __init__(self, host: str, port: int, limits: HttpLimits | None = None) -> None:
        self.host = host
        self.port = port
        self.limits = limits or HttpLimits()
        self.cap = ConnectionCap(connection_cap(self.limits.max_connections))
        self.web = web.Application(client_max_size=self.limits.max_body, middlewares=[self._guard])
        self._runner: web.AppRunner | None = None
        self.add_route("GET", "/healthz", self._health)

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        self.web.router.add_route(method, path, handler)

    @property
    def routes(self) -> int:
        return len(self.web.router.routes())

    async def start(self) -> None:
        # aiohttp's keep-alive timer runs from the moment a connection opens (and after each
        # answer) until a request's headers are in: it is the header timeout too. Lingering (the
        # unread rest of a refused body, drained so the client can read our answer) is brief.
        self._runner = web.AppRunner(self.web, access_log=None, keepalive_timeout=self.limits.header_timeout,
                                     lingering_time=1.0)
        await self._runner.setup()
        await _CappedSite(self._runner, self.host, self.port, self.cap).start()
        self.port = self._runner.addresses[0][1]
        log.info("HTTP server on %s:%s (at most %d connections)", self.host, self.port, self.cap.limit)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every request's body is read here, within the limits, before its handler runs (which
        then reads it from memory); meanwhile the connection counts as busy."""
        self.cap.busy.add(request.protocol)
        try:
            refused = await self._read_body(request) if request.body_exists else None
            return refused or await handler(request)
        finally:
            self.cap.busy.discard(request.protocol)

    async def _read_body(self, request: web.Request) -> web.Response | None:
        length, limit = request.content_length, self.limits.max_body
        if length is not None and length > limit:
            log.warning("refused a %d-byte request to %s from %s: over %d bytes", length, request.path, request.remote, limit)
            return _refuse(413, "too large")
        try:
            async with asyncio.timeout(self.limits.body_timeout):
                await request.read()
        except TimeoutError:
            log.warning("dropped a request to %s from %s: its body took over %g s", request.path, request.remote,
                        self.limits.body_timeout)
            return _refuse(408, "too slow")
        except web.HTTPRequestEntityTooLarge:
            log.warning("refused a request to %s from %s: its body grew over %d bytes", request.path, request.remote, limit)
            return _refuse(413, "too large")
        except Exception as error:  # cut off, or a malformed chunked body
            log.warning("dropped a request to %s from %s: %s", request.path, request.remote, type(error).__name__)
            return _refuse(400, "bad request")
        return None

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")


class Services:
    """Everything `crmbot run` runs, started and stopped in the right order. `serve()` is the
    thin wrapper the CLI uses; tests drive this directly to learn the HTTP port."""

    def __init__(self, app: App, *, telegram: bool, slack: bool, reminders: bool = True, email: bool = False) -> None:
        self.app = app
        self.want_reminders = reminders
        self.want_telegram = telegram
        self.want_slack = slack
        self.want_email = email
        self.mail: MailServer | None = None
        settings = app.settings
        self.http = HttpServer(settings.http_host, settings.http_port, HttpLimits.from_settings(settings))
        self.telegram: TelegramAdapter | None = None
        self.webhook_secret: str | None = None
        self._polling: asyncio.Task | None = None
        self._reminders: asyncio.Task | None = None
        self._stopping = asyncio.Event()  # tells the polling and the reminder loop to finish
        # set once the reminder loop's first pass is over (or there is none): polling begins
        # only then, so a restart sends the reminders that fell due while it was down before it
        # reads the updates that waited for it (see `_poll`)
        self._first_pass = asyncio.Event()
        if not reminders:
            self._first_pass.set()
        self._http_started = False

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        # members' calendars are served whenever the world can reach crmbot (CRMBOT_PUBLIC_URL)
        self.http.add_route("GET", "/calendar/{secret}.ics", self._calendar)
        needs_http = bool(self.app.settings.public_url)
        if self.want_telegram:
            needs_http |= await self._prepare_telegram()
        if self.want_slack:
            await self._attach_slack()
            needs_http = True
        # routes are all in: listen before telling Telegram where to post
        if needs_http:
            await self.http.start()
            self._http_started = True
        if self.telegram is not None:
            await self._start_telegram()
        if self.want_email:
            await self._start_mail()
        if self.want_reminders:
            self._start_reminders()

    async def _calendar(self, request: web.Request) -> web.Response:
        from crmbot import calendars

        ics = await calendars.feed(self.app.db, request.match_info["secret"], self.app.bot.clock())
        if ics is None:
            return web.Response(status=404, text="no such calendar\n")
        return web.Response(body=ics, content_type="text/calendar", charset="utf-8",
                            headers={"Cache-Control": "private, max-age=300"})

    async def _start_mail(self) -> None:
        from crmbot import mail_intake
        from crmbot.adapters.smtp import MailHandler, MailServer

        app, settings = self.app, self.app.settings

        async def receive(raw: bytes, own: set[str]) -> mail_intake.Taken:
            # a member's question goes to their Telegram or Slack chat even when another process
            # runs that platform (`crmbot run --email` alone): kept, and sent by that process
            platforms = set(app.senders) | set(CHAT_PLATFORMS)
            return await mail_intake.receive(app.db, app.i18n, raw, app.bot.clock(), platforms, own,
                                             trust_from=settings.smtp_trust_from)

        handler = MailHandler(receive, app.deliver)
        self.mail = MailServer(handler, settings.smtp_host, settings.smtp_port, settings.smtp_max_bytes)
        await self.mail.start()

    # -- Telegram --------------------------------------------------------------------------

    async def _prepare_telegram(self) -> bool:
        """Build and initialize (getMe) the adapter; add the webhook route if there is one."""
        settings = self.app.settings
        if settings.telegram_token is None:
            raise SystemExit("crmbot: set CRMBOT_TELEGRAM_TOKEN (from @BotFather) to run on Telegram")
        from crmbot.adapters.telegram import TelegramAdapter

        self.telegram = TelegramAdapter(self.app.bot, settings, announce=self.app.announce, deliver=self.app.deliver)
        await self.telegram.application.initialize()
        self.app.senders["telegram"] = self.telegram.sender()
        if not settings.telegram_webhook_url:
            return False
        configured = settings.telegram_webhook_secret
        # never run an open webhook: without a configured secret, make one for this run
        self.webhook_secret = configured.get_secret_value() if configured else secrets.token_urlsafe(32)
        path = urlsplit(settings.telegram_webhook_url).path or "/"
        self.http.add_route("POST", path, self._telegram_webhook)
        return True

    async def _start_telegram(self) -> None:
        settings = self.app.settings
        application = self.telegram.application
        from crmbot.adapters.telegram import ALLOWED_UPDATES

        await self.telegram.set_commands()
        await application.start()
        if settings.telegram_webhook_url:
            await application.bot.set_webhook(
                settings.telegram_webhook_url, secret_token=self.webhook_secret, allowed_updates=ALLOWED_UPDATES,
            )
            log.info("Telegram webhook at %s", settings.telegram_webhook_url)
        else:
            from crmbot.adapters.telegram_polling import Poller

            # pending updates are kept: the update_id store de-duplicates
            await application.bot.delete_webhook()
            poller = Poller(self.telegram, ALLOWED_UPDATES, clock=self.app.bot.clock)
            self._polling = asyncio.create_task(self._poll(poller), name="crmbot-telegram-polling")
            log.info("Telegram polling as @%s", application.bot.username)

    async def _poll(self, poller) -> None:
        """Long polling, after the reminder loop's first pass (at most `FIRST_PASS_WAIT`).

        A restart finds two backlogs: the reminders that fell due while no worker was up, and
        the updates Telegram kept for it. The updates are safe where they are (none is confirmed
        before it is handled); the reminders are already late, and each is at risk between the
        platform's "ok" and crmbot's record of it: a crash then sends it twice. Sent first, on an
        event loop with nothing else to do, each such window is the round trip and a commit;
        sent beside the backlog of messages, a message's handling held the loop for tenths of a
        second while the platform's answer waited unread (the duplicates of the kill runs)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_pass.wait(), FIRST_PASS_WAIT)
        # and the parser's set-ups, off the loop, so the first update does not hold it for them:
        # the fallback language's before polling, the others' beside it (seconds of CPU in all)
        await asyncio.to_thread(self.app.bot.warm_up, [FALLBACK])
        others = [code for code in self.app.i18n.codes if code != FALLBACK]
        warming = asyncio.ensure_future(asyncio.to_thread(self.app.bot.warm_up, others))
        try:
            await poller.run(self._stopping)
        finally:
            await warming

    async def _telegram_webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), (self.webhook_secret or "").encode()):
            log.warning("Telegram webhook request with a wrong secret token from %s", request.remote)
            return web.Response(status=403, text="forbidden\n")
        if request.content_type != "application/json":
            return web.Response(status=415, text="JSON only\n")
        try:
            data = json_body(await request.read())
            if not isinstance(data, dict) or "update_id" not in data:
                raise ValueError("no update_id")
            update = self.telegram.parse(data)
        except ValueError as error:  # JSON errors are ValueErrors too
            log.warning("refused a Telegram webhook body that is not an update: %s", error)
            return web.Response(status=400, text="not a Telegram update\n")
        try:
            done = await self.telegram.feed(update)
        except Exception as error:
            # the core turns every failure of ours into a reply, so what escapes is an update
            # python-telegram-bot itself cannot process: refuse it rather than have it redelivered
            log.warning("refused a Telegram update it cannot process: %s", type(error).__name__)
            return web.Response(status=400, text="not a Telegram update\n")
        if not done:  # not handled now (the database away): Telegram delivers it again later
            return web.Response(status=503, text="try again later\n", headers={"Retry-After": "5"})
        return web.Response(text="ok\n")

    # -- Slack -----------------------------------------------------------------------------

    async def _attach_slack(self) -> None:
        try:
            slack = importlib.import_module("crmbot.adapters.slack")
        except ImportError as error:
            if error.name not in ("crmbot.adapters.slack", "slack_bolt", "slack_sdk"):
                raise
            raise SystemExit(
                "crmbot: Slack support is not available in this installation "
                f"({error.name} is missing); run with --telegram only, or install crmbot[slack]"
            ) from None
        attach = getattr(slack, "attach", None)
        if attach is None:
            raise SystemExit("crmbot: this version's Slack adapter cannot be served yet (crmbot.adapters.slack has no attach())")
        self.app.senders["slack"] = await attach(self.app, self.http)

    # -- reminders -------------------------------------------------------------------------

    def _start_reminders(self) -> None:
        try:
            from crmbot.reminders.loop import ReminderLoop
        except ImportError:
            log.info("no reminder loop in this version; reminders are not sent")
            self._first_pass.set()
            return
        loop = ReminderLoop.from_settings(self.app.settings, self.app.db, self.app.i18n, self.app.senders, self.app.bot.clock,
                                          announce=self.app.announce)
        self._reminders = asyncio.create_task(loop.run(self._stopping, first_pass=self._first_pass),
                                              name="crmbot-reminders")

    # -- stopping --------------------------------------------------------------------------

    async def stop(self) -> None:
        """Reverse order; each step runs even if an earlier one failed."""
        self._stopping.set()
        if self.mail is not None:  # no new mail while the rest stops
            with _logged("stopping mail intake"):
                await self.mail.stop()
            self.mail = None
        for task in (self._reminders, self._polling):  # each finishes what it is sending or handling
            if task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(task, timeout=10)
        self._reminders = self._polling = None
        if self.telegram is not None:
            application = self.telegram.application
            with _logged("stopping Telegram"):
                if application.running:
                    await application.stop()
                await application.shutdown()
            self.telegram = None
        for name, sender in list(self.app.senders.items()):
            close = getattr(sender, "close", None)
            if close is not None:
                with _logged(f"closing {name}"):
                    await close()
        self.app.senders.clear()
        if self._http_started:
            await self.http.stop()
            self._http_started = False


@contextlib.contextmanager
def _logged(what: str):
    try:
        yield
    except Exception:
        log.exception("failed %s", what)


async def serve(app: App, *, telegram: bool, slack: bool, email: bool = False, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM when run from the command line)."""
    if not (telegram or slack or email):
        raise SystemExit("crmbot: choose --telegram, --slack and/or --email")
    loop = asyncio.get_running_loop()
    installed = []
    if stop is None:  # the command line: stop cleanly on Ctrl-C and on a service manager's TERM
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, stop.set)
                installed.append(signum)
    services = Services(app, telegram=telegram, slack=slack, email=email)
    try:
        await services.start()
        await stop.wait()
    finally:
        await services.stop()
        for signum in installed:
            loop.remove_signal_handler(signum)
