"""`crmbot run`: the adapters, crmbot's one HTTP server and the reminder loop in one event loop.

Telegram is started by hand (initialize / start / polling) rather than with `run_polling`, so
Telegram, Slack and the reminder loop share one loop and one database. With
CRMBOT_TELEGRAM_WEBHOOK_URL set, Telegram posts updates to a route on our HTTP server instead
of being polled; the route refuses any request without the secret token given to setWebhook.

The Slack adapter plugs in by providing, in `crmbot.adapters.slack`,
`async def attach(app: App, http: HttpServer) -> Sender` that adds its routes to `http` (or
starts Socket Mode) and returns its Sender; an optional `async close()` on that Sender is
awaited at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import importlib
import logging
import secrets
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import web

from crmbot.app import App
from crmbot.messages import Sender

if TYPE_CHECKING:  # python-telegram-bot is an extra: imported only when Telegram is served
    from crmbot.adapters.telegram import TelegramAdapter

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HttpServer:
    """crmbot's one HTTP server. Adapters add routes before `start()` (aiohttp freezes the
    router once it runs); `port` is the real one when configured as 0."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.web = web.Application(client_max_size=4 * 1024 * 1024)
        self._runner: web.AppRunner | None = None
        self.add_route("GET", "/healthz", self._health)

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        self.web.router.add_route(method, path, handler)

    @property
    def routes(self) -> int:
        return len(self.web.router.routes())

    async def start(self) -> None:
        self._runner = web.AppRunner(self.web, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        log.info("HTTP server on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")


class Services:
    """Everything `crmbot run` runs, started and stopped in the right order. `serve()` is the
    thin wrapper the CLI uses; tests drive this directly to learn the HTTP port."""

    def __init__(self, app: App, *, telegram: bool, slack: bool, reminders: bool = True) -> None:
        self.app = app
        self.want_reminders = reminders
        self.want_telegram = telegram
        self.want_slack = slack
        settings = app.settings
        self.http = HttpServer(settings.http_host, settings.http_port)
        self.senders: dict[str, Sender] = {}
        self.telegram: TelegramAdapter | None = None
        self.webhook_secret: str | None = None
        self._reminders: asyncio.Task | None = None
        self._reminders_stop = asyncio.Event()
        self._http_started = False

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        needs_http = False
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
        if self.want_reminders:
            self._start_reminders()

    # -- Telegram --------------------------------------------------------------------------

    async def _prepare_telegram(self) -> bool:
        """Build and initialize (getMe) the adapter; add the webhook route if there is one."""
        settings = self.app.settings
        if settings.telegram_token is None:
            raise SystemExit("crmbot: set CRMBOT_TELEGRAM_TOKEN (from @BotFather) to run on Telegram")
        from crmbot.adapters.telegram import TelegramAdapter

        self.telegram = TelegramAdapter(self.app.bot, settings)
        await self.telegram.application.initialize()
        self.senders["telegram"] = self.telegram.sender()
        self.app.bot.senders["telegram"] = self.senders["telegram"]  # announcements (deal won, complaints)
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
            # deletes any webhook first; pending updates are kept (the update_id store de-duplicates)
            await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
            log.info("Telegram polling as @%s", application.bot.username)

    async def _telegram_webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), (self.webhook_secret or "").encode()):
            log.warning("Telegram webhook request with a wrong secret token from %s", request.remote)
            return web.Response(status=403, text="forbidden\n")
        try:
            data = await request.json()
            if not isinstance(data, dict) or "update_id" not in data:
                raise ValueError("no update_id")
            update = self.telegram.parse(data)
        except ValueError:  # JSON errors are ValueErrors too
            return web.Response(status=400, text="not a Telegram update\n")
        try:
            await self.telegram.feed(update)
        except Exception as error:
            # the core turns every failure of ours into a reply, so what escapes is an update
            # python-telegram-bot itself cannot process: refuse it rather than have it redelivered
            log.warning("refused a Telegram update it cannot process: %s", type(error).__name__)
            return web.Response(status=400, text="not a Telegram update\n")
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
        self.senders["slack"] = await attach(self.app, self.http)

    # -- reminders -------------------------------------------------------------------------

    def _start_reminders(self) -> None:
        try:
            from crmbot.reminders.loop import ReminderLoop
        except ImportError:
            log.info("no reminder loop in this version; reminders are not sent")
            return
        loop = ReminderLoop.from_settings(self.app.settings, self.app.db, self.app.i18n, self.senders, self.app.bot.clock)
        self._reminders = asyncio.create_task(loop.run(self._reminders_stop), name="crmbot-reminders")

    # -- stopping --------------------------------------------------------------------------

    async def stop(self) -> None:
        """Reverse order; each step runs even if an earlier one failed."""
        self._reminders_stop.set()
        if self._reminders is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reminders, timeout=10)
            self._reminders = None
        if self.telegram is not None:
            application = self.telegram.application
            with _logged("stopping Telegram"):
                if application.updater is not None and application.updater.running:
                    await application.updater.stop()
                if application.running:
                    await application.stop()
                await application.shutdown()
            self.telegram = None
        for name, sender in list(self.senders.items()):
            if self.app.bot.senders.get(name) is sender:
                del self.app.bot.senders[name]
            close = getattr(sender, "close", None)
            if close is not None:
                with _logged(f"closing {name}"):
                    await close()
        self.senders.clear()
        if self._http_started:
            await self.http.stop()
            self._http_started = False


@contextlib.contextmanager
def _logged(what: str):
    try:
        yield
    except Exception:
        log.exception("failed %s", what)


async def serve(app: App, *, telegram: bool, slack: bool, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM when run from the command line)."""
    if not (telegram or slack):
        raise SystemExit("crmbot: choose --telegram and/or --slack")
    loop = asyncio.get_running_loop()
    installed = []
    if stop is None:  # the command line: stop cleanly on Ctrl-C and on a service manager's TERM
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, stop.set)
                installed.append(signum)
    services = Services(app, telegram=telegram, slack=slack)
    try:
        await services.start()
        await stop.wait()
    finally:
        await services.stop()
        for signum in installed:
            loop.remove_signal_handler(signum)
