"""SlackAdapter: the Bolt app, its listeners, and App Home.

A message the core could not handle now (`Transient`: the database away, locked or full) is
answered 503 to Slack, which delivers the event again; the member is told nothing, since the
redelivery answers. Slash commands and button presses are acknowledged at once (Slack wants
that within 3 s) and never redelivered, so for them the adapter itself tries the core again for
a while before saying that nothing was saved. Replies go out through `App.deliver`: what Slack
cannot take now is kept and sent later, in order (an ephemeral one to the member's DM).

Who the bot is comes from auth.test, asked once and remembered (`_authorize`). While Slack
cannot answer it, a request is answered 503 too, so Slack delivers it again: Bolt's own
single-workspace authorization would answer 200 and drop it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.signature import SignatureVerifier

from crmbot.adapters.slack.blocks import (
    ACTION_PREFIX,
    EVENTS_PATH,
    NAME,
    choice_note,
    dm_chat,
    fallback_text,
    home_view,
    literal,
    reply_blocks,
    slack_to_plain,
)
from crmbot.adapters.slack.sender import PERMANENT, SlackSender, delivery_failed, web_client
from crmbot.bot import Transient
from crmbot.home import home_for
from crmbot.i18n import I18n
from crmbot.messages import (
    MAX_ATTACHMENT,
    Attachment,
    ChatRef,
    DeliveryFailed,
    Incoming,
    Reply,
    UserRef,
)
from crmbot.backoff import Backoff

log = logging.getLogger(__name__)

# An acknowledged command or press is not redelivered: the core is tried this often, backing
# off, before the member is told nothing was saved (about half a minute in all).
ACKED_ATTEMPTS = 5
FORM, JSON = "application/x-www-form-urlencoded", "application/json"


class SlackUnavailable(Exception):
    """auth.test could not say who the bot is: the request is answered 503 and comes again."""


@dataclass
class _Person:
    name: str
    locale: str | None
    timezone: str | None = None


class SlackAdapter:
    def __init__(self, app: Any, *, bot_token: str, signing_secret: str, api_url: str, app_token: str | None = None) -> None:
        self.app = app
        self.bot = app.bot
        self.i18n: I18n = app.i18n
        self.client = web_client(bot_token, api_url, app.settings.send_timeout_seconds)
        self.download_timeout = app.settings.send_timeout_seconds
        # Signatures are checked here, on the raw body, before Bolt parses anything: a body Bolt
        # cannot parse must be refused (400/401), not crash its dispatcher into a 500.
        self.verifier = SignatureVerifier(signing_secret)
        self._identity: Any = None  # auth.test's answer, once Slack gave it

        async def authorize() -> AuthorizeResult:  # Bolt passes arguments by name: a plain function
            return await self._authorize()

        self.bolt = AsyncApp(
            signing_secret=signing_secret,
            # Bolt's per-request client copies this one's settings; its token comes from _authorize
            client=web_client(None, api_url, app.settings.send_timeout_seconds),
            authorize=authorize,
            process_before_response=True,  # answer after handling: deterministic, and retries see the stored event id
            request_verification_enabled=False,
            logger=logging.getLogger("crmbot.slack.bolt"),
        )
        self.sender = SlackSender(self.client)
        self.app_token = app_token
        self._socket: Any = None
        self._tasks: set[asyncio.Task] = set()
        self._people: OrderedDict[str, _Person] = OrderedDict()
        self._register()

    # -- wiring -------------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """Events, slash commands and interactivity all arrive on one URL."""
        return [web.post(EVENTS_PATH, self.handler)]

    async def handler(self, request: web.Request) -> web.Response:
        """An aiohttp handler: a bad or stale signature gets 401, a body that is not a Slack
        request 400; everything else is dispatched to Bolt."""
        if request.content_type not in (FORM, JSON):
            return web.Response(status=415, text="unsupported content type")
        raw_bytes = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            signed = self.verifier.is_valid_request(raw_bytes, headers)
        except UnicodeDecodeError:  # Slack signs UTF-8 text; anything else is not from Slack
            signed = False
        if not signed:
            return web.Response(status=401, text="invalid signature")
        try:
            raw = raw_bytes.decode("utf-8")
            bolt_request = AsyncBoltRequest(body=bolt_body(raw, headers.get("content-type")), query=request.query_string, headers=headers)
            check_shape(bolt_request.body)
            bolt_response = await self.bolt.async_dispatch(bolt_request)
        except Exception as error:  # unparseable or mistyped: Slack itself never sends these
            log.warning("refused an unreadable Slack request: %s", type(error).__name__)
            return web.Response(status=400, text="bad request")
        return await to_aiohttp_response(bolt_response)

    async def start_socket_mode(self) -> None:
        if not self.app_token:
            raise RuntimeError("Socket Mode needs CRMBOT_SLACK_APP_TOKEN (an xapp- token)")
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        self._socket = AsyncSocketModeHandler(self.bolt, self.app_token)
        await self._socket.connect_async()

    async def stop(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        await self.drain()

    async def drain(self) -> None:
        """Wait for commands and button presses still being answered after their ack."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)  # keep a reference: the loop only holds weak ones
        task.add_done_callback(self._tasks.discard)

    def _register(self) -> None:
        self.bolt.event("message")(self._on_message)
        self.bolt.event("app_mention")(self._on_mention)
        self.bolt.event("app_home_opened")(self._on_home_opened)
        self.bolt.event("file_shared")(self._on_file_shared)
        self.bolt.command("/crm")(self._on_command)
        self.bolt.action(re.compile("^" + re.escape(ACTION_PREFIX)))(self._on_action)
        self.bolt.error(self._on_error)

    async def _authorize(self) -> AuthorizeResult:
        """Who the bot is, from auth.test: asked until Slack answers, then remembered. While
        Slack fails (an outage, a refused token) SlackUnavailable makes the request a 503."""
        if self._identity is None:
            try:
                self._identity = await self.client.auth_test()
            except SlackApiError as error:
                code = error.response.get("error") or f"HTTP {error.response.status_code}"
                if code in PERMANENT:  # the token itself: nothing works until it is replaced
                    log.error("Slack refused the bot token (%s): check CRMBOT_SLACK_BOT_TOKEN; "
                              "requests are answered 503 so that Slack sends them again", code)
                raise SlackUnavailable(code) from error
            except (SlackClientError, ClientError, asyncio.TimeoutError, OSError) as error:
                raise SlackUnavailable(f"{type(error).__name__}: {error}") from error
        return AuthorizeResult.from_auth_test_response(bot_token=self.client.token, auth_test_response=self._identity)

    async def _on_error(self, error: Exception, body: dict, logger: logging.Logger) -> BoltResponse | None:
        if isinstance(error, Transient):  # logged by the core; Slack retries a 5xx
            return BoltResponse(status=503, body="try again later")
        if isinstance(error, SlackUnavailable):
            log.warning("Slack could not say who the bot is (auth.test: %s); answered 503, Slack sends it again", error)
            return BoltResponse(status=503, body="try again later")
        log.error("Slack listener failed: %s", error, exc_info=error)
        return None

    # -- who is writing -----------------------------------------------------------------------

    async def _person(self, user_id: str) -> _Person:
        """Name, language and zone from users.info, cached: for first-use joins and a stranger's Home."""
        known = self._people.get(user_id)
        if known is not None:
            return known
        try:
            response = await self.client.users_info(user=user_id, include_locale=True)
            user = response["user"]
            profile = user.get("profile") or {}
            person = _Person(profile.get("real_name") or user.get("real_name") or user.get("name") or user_id, user.get("locale"), user.get("tz"))
        except Exception as error:  # a foreign or deleted user: the core decides what they get
            log.info("users.info for %s failed: %s", user_id, error)
            return _Person(user_id, None)
        self._people[user_id] = person
        while len(self._people) > 5000:
            self._people.popitem(last=False)
        return person

    async def _user_ref(self, user_id: str, workspace: str | None) -> UserRef:
        person = await self._person(user_id)
        return UserRef(NAME, user_id, person.name, person.locale, workspace=workspace, timezone=person.timezone)

    def _command_text(self, text: str) -> str:
        """`/crm notify here` means the core's `/notify here`: a leading command word is one."""
        text = text.strip()
        if not text or text.startswith("/"):
            return text
        head = text.split(None, 1)[0]
        return "/" + text if self.bot.parser.command_intent(head, "en") else text

    async def _handle(self, incoming: Incoming) -> list[Reply]:
        """The replies for this chat; what the message announced to other chats goes out through
        the app. Raises Transient when the core could not handle it now."""
        outcome = await self.bot.handle(incoming)
        await self.app.announce(outcome.announcements)
        return list(outcome.replies)

    async def _handle_acked(self, incoming: Incoming) -> list[Reply]:
        """As `_handle`, for a request Slack will not deliver again: tried again here instead."""
        backoff = Backoff(base=1.0, cap=16.0)
        for attempt in range(1, ACKED_ATTEMPTS + 1):
            try:
                return await self._handle(incoming)
            except Transient:
                if attempt == ACKED_ATTEMPTS:
                    break
                await asyncio.sleep(backoff.delay(attempt))
        log.warning("gave up on a Slack %s after %d attempts: the database stayed unavailable",
                    "button press" if incoming.action is not None else "command", ACKED_ATTEMPTS)
        return [self._error_reply(incoming.user.language)]

    def _error_reply(self, language: str | None) -> Reply:
        return Reply(self.i18n.render(self.i18n.pick(language), "error"), kind="error")

    # -- events -------------------------------------------------------------------------------

    async def _on_message(self, event: dict, body: dict) -> None:
        # DMs only; edits, joins, bot posts and other subtypes are not messages to us, but a
        # file uploaded to the DM (file_share) is one to import
        if not _well_formed(event) or event.get("channel_type") != "im" or event.get("bot_id"):
            return
        if event.get("subtype") == "file_share" and _files(event):
            await self._import_files(event["user"], event["channel"], _workspace(event, body), _files(event), event.get("thread_ts"))
        elif not event.get("subtype"):
            await self._converse(event, body, thread_ts=event.get("thread_ts"))

    async def _on_mention(self, event: dict, body: dict) -> None:
        if not _well_formed(event) or event["channel"].startswith("D") or event.get("bot_id"):
            return  # in a DM the message.im event already carries it
        thread_ts = event.get("thread_ts") or event.get("ts")
        if _files(event):  # "@crmbot" with a file in a channel: that file is for us
            await self._import_files(event["user"], event["channel"], _workspace(event, body), _files(event), thread_ts)
            return
        await self._converse(event, body, thread_ts=thread_ts)

    async def _on_file_shared(self, event: dict, body: dict) -> None:
        """A file shared in a DM with the bot (files.info says what it is). Shared in a channel
        it is not for us unless the message mentions the bot (app_mention). The same upload also
        comes as a file_share message: both carry the file's id, which the core de-duplicates on."""
        user_id, channel, file_id = (_text(event.get(k)) if isinstance(event, dict) else "" for k in ("user_id", "channel_id", "file_id"))
        if not (user_id and channel.startswith("D") and file_id) or user_id == (body.get("authorizations") or [{}])[0].get("user_id"):
            return
        try:
            file = (await self.client.files_info(file=file_id))["file"]
        except (SlackApiError, SlackClientError, ClientError, asyncio.TimeoutError) as error:
            log.info("files.info for %s failed: %s", file_id, error)
            file = {"id": file_id, "name": file_id}
        await self._import_files(user_id, channel, _workspace(event, body), [file], None)

    async def _import_files(self, user_id: str, channel: str, workspace: str | None, files: list[dict], thread_ts: str | None) -> None:
        """Each file, fetched with the bot token (a stranger's never), to the core for import."""
        user = await self._user_ref(user_id, workspace)
        wanted = await self.bot.accepts_files_from(user)
        for file in files:
            name = _text(file.get("name")) or _text(file.get("title")) or "file"
            attachment = await self._fetch(file, name) if wanted else Attachment(name, None, problem="not_fetched")
            incoming = Incoming(chat=ChatRef(NAME, dm_chat(channel, user_id), thread_ts), user=user,
                                message_id=f"file:{_text(file.get('id')) or name}", attachment=attachment)
            try:
                replies = await self._handle(incoming)
            except Transient:
                raise  # a 503: Slack delivers the event again
            except Exception:
                log.exception("Slack file import failed")
                replies = [self._error_reply(user.language)]
            await self._post_all(channel, replies, thread_ts=thread_ts, user=user_id)

    async def _fetch(self, file: dict, name: str) -> Attachment:
        """url_private with the bot token (files:read). Slack answers a request it does not
        accept with a redirect to its sign-in page, not an error: only a 200 that is not that
        page is the file."""
        mime = _text(file.get("mimetype"))
        size = file.get("size") if isinstance(file.get("size"), int) else 0
        if size > MAX_ATTACHMENT:
            return Attachment(name, None, size, mime, problem="too_large")
        url = _text(file.get("url_private_download")) or _text(file.get("url_private"))
        if not url:
            return Attachment(name, None, size, mime, problem="unreachable")
        try:
            async with ClientSession(timeout=ClientTimeout(total=self.download_timeout)) as session:
                async with session.get(url, headers={"Authorization": f"Bearer {self.client.token}"}, allow_redirects=False) as response:
                    if response.status != 200 or response.content_type == "text/html":
                        log.info("could not download Slack file %s: %s %s", file.get("id"), response.status, response.content_type)
                        return Attachment(name, None, size, mime, problem="unreachable")
                    data = await response.content.read(MAX_ATTACHMENT + 1)
        except (ClientError, asyncio.TimeoutError) as error:
            log.info("could not download Slack file %s: %s", file.get("id"), error)
            return Attachment(name, None, size, mime, problem="unreachable")
        if len(data) > MAX_ATTACHMENT:
            return Attachment(name, None, len(data), mime, problem="too_large")
        return Attachment(name, data, len(data), mime)

    async def _converse(self, event: dict, body: dict, *, thread_ts: str | None) -> None:
        user_id, channel = event["user"], event["channel"]
        workspace = _text(event.get("user_team")) or _text(event.get("team")) or _text(body.get("team_id")) or None
        bot_user = (body.get("authorizations") or [{}])[0].get("user_id")
        user = await self._user_ref(user_id, workspace)
        incoming = Incoming(
            chat=ChatRef(NAME, dm_chat(channel, user_id), event.get("thread_ts")),
            user=user,
            text=slack_to_plain(_text(event.get("text")), bot_user),
            message_id=_event_id(body) or f"{channel}:{event.get('ts')}",  # stable across Slack's retries
        )
        try:
            replies = await self._handle(incoming)
        except Transient:
            raise  # a 503: Slack delivers the event again
        except Exception:
            log.exception("Slack message failed")
            replies = [self._error_reply(user.language)]
        await self._post_all(channel, replies, thread_ts=thread_ts, user=user_id)

    async def _post_all(self, channel: str, replies: list[Reply], *, thread_ts: str | None, user: str | None) -> None:
        """One by one, so that a reply Slack cannot take now is kept alone (not re-sent with
        those before it) and those after it wait behind it."""
        chat = ChatRef(NAME, channel, thread_ts, thread_apart=True)  # a thread's replies wait for no other's
        for reply in replies:
            # kept for later, an ephemeral reply goes to the member's DM: never to the channel
            private = ChatRef(NAME, user) if reply.ephemeral and user is not None else None

            async def post(reply: Reply = reply) -> None:
                await self.sender.send(chat, [reply], user=user)

            await self.app.deliver(chat, [reply], post, keep_in=private)

    # -- /crm ---------------------------------------------------------------------------------

    async def _on_command(self, ack: Callable, command: dict, respond: Callable) -> None:
        await ack()  # Slack wants this within 3 s; the answer follows through respond
        self._spawn(self._answer_command(command, respond))

    async def _answer_command(self, command: dict, respond: Callable) -> None:
        user_id, channel = command.get("user_id"), command.get("channel_id")
        if not (isinstance(user_id, str) and isinstance(channel, str) and user_id and channel):
            log.warning("a /crm command without a user or channel was ignored")
            return
        try:
            user = await self._user_ref(user_id, command.get("team_id"))
            text = self._command_text(slack_to_plain(_text(command.get("text"))))
            if not text:
                text = "/help"
            incoming = Incoming(
                chat=ChatRef(NAME, dm_chat(channel, user_id)), user=user, text=text,
                message_id=f"command:{command.get('trigger_id') or command.get('response_url')}",
            )
            replies = await self._handle_acked(incoming)
        except Exception:
            log.exception("Slack command failed")
            replies = [self._error_reply(None)]
        await self._respond_all(respond, replies, channel, user_id)

    async def _respond_all(self, respond: Callable, replies: list[Reply], channel: str, user_id: str) -> None:
        """Ephemeral answers through the response_url; one Slack cannot take now is kept and
        sent later to the member's DM (a response_url expires; a DM stays private)."""
        for reply in replies:
            async def answer(reply: Reply = reply) -> None:
                try:
                    if reply.text.strip() or reply.buttons or reply.card:
                        sent = await respond(text=fallback_text(reply), blocks=reply_blocks(reply),
                                             response_type="ephemeral", replace_original=False)
                        if sent.status_code != 200:
                            raise DeliveryFailed(f"response_url answered {sent.status_code}")
                    if reply.image is not None:
                        await self.sender.upload(channel, reply)
                except ValueError as error:
                    # Bolt's respond without a response_url: no real Slack request lacks one, so
                    # this is a forged or truncated payload with nowhere to answer (logged)
                    raise DeliveryFailed(str(error), permanent=True) from error
                except (SlackApiError, SlackClientError, ClientError, asyncio.TimeoutError) as error:
                    raise delivery_failed(error) from error

            await self.app.deliver(ChatRef(NAME, dm_chat(channel, user_id)), [reply], answer, keep_in=ChatRef(NAME, user_id))

    # -- buttons ------------------------------------------------------------------------------

    async def _on_action(self, ack: Callable, body: dict, action: dict, respond: Callable) -> None:
        await ack()
        self._spawn(self._press(body, action, respond))

    async def _press(self, body: dict, action: dict, respond: Callable) -> None:
        presser = body.get("user") if isinstance(body.get("user"), dict) else {}
        user_id = presser.get("id")
        if not isinstance(user_id, str) or not user_id or not isinstance(action, dict):
            log.warning("a button press without a user was ignored")
            return
        workspace = _text(presser.get("team_id")) or _text((body.get("team") or {}).get("id")) or None
        container = body.get("container") or {}
        message = body.get("message") or {}
        in_message = container.get("type") == "message"
        channel = _text(container.get("channel_id")) or _text((body.get("channel") or {}).get("id")) or user_id
        thread_ts = _text(message.get("thread_ts")) or None
        try:
            user = await self._user_ref(user_id, workspace)
            incoming = Incoming(
                chat=ChatRef(NAME, dm_chat(channel, user_id), thread_ts),
                user=user,
                action=action.get("value") if isinstance(action.get("value"), str) else "",
                message_id=f"action:{channel}:{action.get('action_ts') or body.get('trigger_id')}",
            )
            replies = await self._handle_acked(incoming)
        except Exception:
            log.exception("Slack button failed")
            replies, user = [self._error_reply(None)], None
        if in_message and len(replies) == 1 and replies[0].in_place and await self._replace(respond, channel, message, container, replies[0]):
            return  # a list's next page, shown where the last one was
        if in_message:
            await self._show_choice(body, action, respond, user_id, channel, message, container, user)
        if in_message and _ephemeral(container):
            await self._respond_all(respond, replies, channel, user_id)
        elif in_message:
            await self._post_all(channel, replies, thread_ts=thread_ts, user=user_id)
        else:  # a button on App Home: answer in the member's DM, then refresh Home
            await self._post_all(user_id, replies, thread_ts=None, user=user_id)
            await self.publish_home(user_id, workspace)

    async def _replace(self, respond: Callable, channel: str, message: dict, container: dict, reply: Reply) -> bool:
        """Update the pressed message into `reply` (an ephemeral one through its response_url);
        False when Slack would not, and the reply is posted instead."""
        if reply.image is not None:
            return False
        try:
            if _ephemeral(container):
                sent = await respond(replace_original=True, text=fallback_text(reply), blocks=reply_blocks(reply))
                return sent.status_code == 200
            await self.client.chat_update(channel=channel, ts=_text(container.get("message_ts")) or _text(message.get("ts")),
                                          text=fallback_text(reply), blocks=reply_blocks(reply))
        except Exception as error:
            log.warning("could not update the pressed message into the next page: %s", error)
            return False
        return True

    async def _show_choice(self, body: dict, action: dict, respond: Callable, user_id: str, channel: str,
                           message: dict, container: dict, user: UserRef | None) -> None:
        """The pressed message loses its buttons and says what was chosen (so nobody presses twice)."""
        blocks = [b for b in message.get("blocks") or [] if isinstance(b, dict)] if isinstance(message.get("blocks"), list) else []
        label = _text(_label_of(blocks, action.get("value")) or ((action.get("text") or {}) if isinstance(action.get("text"), dict) else {}).get("text"))
        code = self.i18n.pick(user.language if user else None)
        note = self.i18n.string(code, "slack.chosen", user=f"<@{user_id}>", label=f"*{literal(label)}*")
        kept = [b for b in blocks if b.get("type") != "actions"]
        kept.append(choice_note(note))
        try:
            if _ephemeral(container):
                await respond(replace_original=True, text=_text(message.get("text")) or label or note, blocks=kept)
            else:
                await self.client.chat_update(channel=channel, ts=_text(container.get("message_ts")) or _text(message.get("ts")),
                                              text=_text(message.get("text")) or label or note, blocks=kept)
        except Exception as error:
            log.warning("could not update the pressed message: %s", error)

    # -- App Home -----------------------------------------------------------------------------

    async def _on_home_opened(self, event: dict, body: dict) -> None:
        if not isinstance(event, dict) or event.get("tab", "home") != "home" or not isinstance(event.get("user"), str):
            return
        workspace = _text(event.get("user_team")) or _text(event.get("team")) or _text(body.get("team_id")) or None
        await self.publish_home(event["user"], workspace)

    async def publish_home(self, user_id: str, workspace: str | None) -> None:
        """Draw what the core says this person's Home shows: their agenda, or how to join."""
        try:
            user = await self._user_ref(user_id, workspace)
            home = await home_for(self.app.db, self.i18n, user, self.bot.clock())
            await self.client.views_publish(user_id=user_id, view=home_view(home))
        except Exception:
            log.exception("could not publish App Home for %s", user_id)


def _label_of(blocks: list[dict[str, Any]], value: str | None) -> str | None:
    for block in blocks:
        elements = block.get("elements")
        for element in elements if isinstance(elements, list) else []:
            if isinstance(element, dict) and element.get("value") == value:
                text = element.get("text")
                return text.get("text") if isinstance(text, dict) else None
    return None


def build_slack(app: Any) -> SlackAdapter:
    """The Slack adapter for a built `crmbot.app.App`; its sender joins app.senders."""
    settings = app.settings
    if settings.slack_bot_token is None:
        raise RuntimeError("Slack needs CRMBOT_SLACK_BOT_TOKEN (an xoxb- token)")
    app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else None
    if settings.slack_signing_secret is None and app_token is None:
        raise RuntimeError("Slack over HTTP needs CRMBOT_SLACK_SIGNING_SECRET (or CRMBOT_SLACK_APP_TOKEN for Socket Mode)")
    adapter = SlackAdapter(
        app,
        bot_token=settings.slack_bot_token.get_secret_value(),
        # without a secret (Socket Mode) every HTTP request fails verification, as it should
        signing_secret=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else "",
        api_url=settings.slack_api_url,
        app_token=app_token,
    )
    adapter.sender.on_close = adapter.stop
    app.senders[NAME] = adapter.sender
    return adapter


async def attach(app: Any, http: Any) -> SlackSender:
    """What crmbot.server calls: Socket Mode when an app token is set, else POST /slack/events
    on crmbot's one HTTP server. The returned sender's close() stops the adapter."""
    adapter = build_slack(app)
    if adapter.app_token:
        await adapter.start_socket_mode()
    else:
        for route in adapter.routes():
            http.add_route(route.method, route.path, route.handler)
    return adapter.sender


def check_shape(body: Any) -> None:
    """What Slack always sends, checked once here so listeners can rely on it: ValueError (400)
    for anything else. Slack never sends these; a fuzzer or a broken proxy might."""
    if not isinstance(body, dict):
        raise ValueError("a body that is not an object")
    for key in ("team_id", "user_id", "channel_id", "text"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise ValueError(f"{key} that is not a string")
    if "event" in body and not isinstance(body["event"], dict):  # Bolt's middleware reads it whatever the type
        raise ValueError("an event that is not an object")
    authorizations = body.get("authorizations")
    if authorizations is not None and not (isinstance(authorizations, list) and all(isinstance(a, dict) for a in authorizations)):
        raise ValueError("authorizations that are not a list of objects")
    kind = body.get("type")
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or any(k in event and not isinstance(event[k], str) for k in ("team", "user_team", "tab", "ts")):
            raise ValueError("an event that is not an object")
    if kind == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions):
            raise ValueError("actions that are not objects with an action_id")
        for key in ("user", "container", "message", "team", "channel"):
            if body.get(key) is not None and not isinstance(body[key], dict):
                raise ValueError(f"{key} that is not an object")


def _well_formed(event: Any) -> bool:
    """A message event we can answer: a dict with a user and a channel, both strings."""
    return isinstance(event, dict) and all(isinstance(event.get(k), str) and event.get(k) for k in ("user", "channel"))


def _files(event: dict) -> list[dict]:
    files = event.get("files")
    return [f for f in files if isinstance(f, dict)] if isinstance(files, list) else []


def _workspace(event: dict, body: dict) -> str | None:
    return _text(event.get("user_team")) or _text(event.get("team")) or _text(body.get("team_id")) or None


def _event_id(body: dict) -> str | None:
    found = body.get("event_id")
    return found if isinstance(found, str) and found else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _ephemeral(container: dict) -> bool:
    """Whether the pressed message is an ephemeral one (answered through the response_url): only
    Slack's own `true` says so, not any value a forged body puts there."""
    return container.get("is_ephemeral") is True


def bolt_body(raw: str, content_type: str | None) -> str:
    """Bolt reads any form body containing the word "payload" as an interactivity payload, so a
    `/crm note payload arrived` would parse to nothing. Outside a real `payload=` field the word is
    re-encoded (the form decodes to the same text); the signature was checked on the raw body."""
    if raw.startswith("{") or (content_type or "").startswith("application/json") or "payload" not in raw:
        return raw
    if raw.startswith("payload=") or "&payload=" in raw:
        return raw
    return raw.replace("payload", "%70ayload")
