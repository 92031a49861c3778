"""A local stand-in of the Telegram Bot API, for python-telegram-bot pointed at it.

    async with TelegramStandIn(token="123:ABC", bot_username="crmbot_test_bot") as api:
        app = ApplicationBuilder().token(api.token).base_url(api.base_url).build()
        api.push_update(api.text_update(chat_id=42, user_id=42, text="/help"))
        await api.wait_for("sendMessage")

It keeps enough state (chats, the bot's messages, pending updates, the webhook) to answer
like Telegram does, including the errors a careless adapter would hit in production:
malformed HTML, empty or too long texts, edits that change nothing.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from . import Call, Outage, StandInServer

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile refuses bigger files: "bots can download files of up to 20MB"

# PTB JSON-encodes every non-string value, but sends strings raw; these parameters are
# strings even when they look like numbers ("42" as a text must stay "42").
_STRING_PARAMS = frozenset(
    {
        "text", "caption", "parse_mode", "data", "url", "secret_token", "callback_query_id",
        "inline_message_id", "business_connection_id", "description", "short_description",
        "name", "title", "query", "emoji", "action", "language_code", "ip_address",
        "message_effect_id", "file_id", "photo", "document",
    }
)

# Telegram's HTML subset (https://core.telegram.org/bots/api#html-style).
_HTML_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
        "tg-spoiler", "span", "blockquote", "tg-emoji",
    }
)
_HTML_TOKEN = re.compile(
    r"<(?P<closing>/?)(?P<tag>[a-zA-Z][a-zA-Z0-9-]*)(?:\s[^<>]*)?>"
    r"|&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);"
    r"|<"
)

# A /command (optionally /command@bot) or an @mention, as Telegram's clients mark them.
_ENTITY = re.compile(
    r"(?P<bot_command>(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?)"
    r"|(?P<mention>(?<![\w@/])@[A-Za-z0-9_]{5,32})"
)


class BadRequest(Exception):
    """A Telegram error answer: raised inside method handlers, turned into JSON."""

    def __init__(self, description: str, error_code: int = 400, **parameters: Any) -> None:
        super().__init__(description)
        self.description = description
        self.error_code = error_code
        self.parameters = parameters


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request, as the stand-in received it."""

    filename: str
    content_type: str
    content: bytes


def utf16_len(text: str) -> int:
    """Telegram measures entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def text_entities(text: str) -> list[dict[str, Any]]:
    """bot_command and mention entities, as a Telegram client would attach them."""
    return [
        {
            "type": m.lastgroup,
            "offset": utf16_len(text[: m.start()]),
            "length": utf16_len(m.group()),
        }
        for m in _ENTITY.finditer(text)
    ]


def render_html(text: str) -> str:
    """Check `text` the way Telegram parses parse_mode=HTML; return the plain text."""
    plain: list[str] = []
    open_tags: list[str] = []
    pos = 0
    for m in _HTML_TOKEN.finditer(text):
        plain.append(text[pos : m.start()])
        pos = m.end()
        offset = len(text[: m.start()].encode())
        token = m.group()
        if token == "<":
            # A bare "<" must be sent as &lt;. (A bare "&" is kept as text, like Telegram.)
            raise BadRequest(
                f"Bad Request: can't parse entities: Unsupported start tag at byte offset {offset}"
            )
        if token.startswith("&"):
            plain.append(html.unescape(token))
            continue
        closing, tag = m["closing"] == "/", m["tag"].lower()
        if tag not in _HTML_TAGS:
            raise BadRequest(
                f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}" '
                f"at byte offset {offset}"
            )
        if not closing:
            open_tags.append(tag)
        elif not open_tags or open_tags.pop() != tag:
            raise BadRequest(
                f"Bad Request: can't parse entities: Unexpected end tag at byte offset {offset}"
            )
    if open_tags:
        raise BadRequest(
            "Bad Request: can't parse entities: Can't find end tag corresponding to "
            f'start tag "{open_tags[-1]}"'
        )
    plain.append(text[pos:])
    return "".join(plain)


def _decode_value(name: str, raw: str) -> Any:
    if name in _STRING_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # e.g. chat_id="@channel", an action name, a file_id


class TelegramStandIn(StandInServer):
    """The Bot API methods a crmbot adapter uses, served from 127.0.0.1:<random port>."""

    def __init__(
        self,
        token: str = "123:ABC",
        bot_username: str = "crmbot_test_bot",
        *,
        bot_first_name: str = "CRM Bot",
        max_poll_seconds: float = 5.0,
    ) -> None:
        super().__init__()
        self.token = token
        self.bot_username = bot_username
        self.bot_user = {
            "id": int(token.split(":")[0]) if token.split(":")[0].isdigit() else 123,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        # A long poll never parks longer than this, whatever timeout the client asked for.
        self.max_poll_seconds = max_poll_seconds
        self.chats: dict[int | str, dict[str, Any]] = {}
        self.messages: dict[tuple[int | str, int], dict[str, Any]] = {}
        self.webhook: dict[str, Any] = {"url": ""}
        self.commands: dict[str, list[dict[str, str]]] = {}
        self._pending: list[dict[str, Any]] = []
        self._delivered: set[int] = set()
        self._next_update_id = 1
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._failures: dict[str, deque[BadRequest]] = defaultdict(deque)
        # files users sent (documents): file_id -> file_unique_id, file_path, content; size as sent
        self.files: dict[str, dict[str, Any]] = {}
        self._file_ids = itertools.count(1)
        self._handlers = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "getfile": self._get_file,
            "answercallbackquery": self._true,
            "sendchataction": self._true,
            "close": self._true,
            "logout": self._true,
        }

    # -- addresses -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """For ApplicationBuilder().base_url(): the library appends "<token>/<method>"."""
        return f"{self.origin}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.origin}/file/bot"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)

    # -- controlling the stand-in from a test ----------------------------------------

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates; wakes a waiting long poll at once."""
        self._pending.append(update)
        self._delivered.discard(update["update_id"])  # a re-pushed id is served again
        self._notify()
        return update

    async def wait_fetched(self, update: dict[str, Any], timeout: float = 5.0) -> None:
        """Wait until a getUpdates returned `update` (since it was last pushed). An update pushed
        after this comes in a later batch, which a poller fetches only once it is done with this one."""
        deadline = asyncio.get_running_loop().time() + timeout
        while update["update_id"] not in self._delivered:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or self._closing:
                raise AssertionError(f"update {update['update_id']} was not fetched within {timeout}s")
            await self._wait_for_change(remaining)

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return list(self._pending)

    def fail_next(
        self,
        method: str,
        error_code: int = 400,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` fail as Telegram would answer them."""
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = {
                400: "Bad Request",
                403: "Forbidden: bot was blocked by the user",
                429: f"Too Many Requests: retry after {retry_after}",
            }.get(error_code, "Internal Server Error")
        parameters = {"retry_after": retry_after} if retry_after is not None else {}
        for _ in range(times):
            self._failures[method.lower()].append(BadRequest(description, error_code, **parameters))

    def outage_answer(self, outage: Outage) -> web.Response:
        if outage.status == 429:
            retry_after = outage.retry_after or 1
            return _error(BadRequest(f"Too Many Requests: retry after {retry_after}", 429, retry_after=retry_after))
        return _error(BadRequest("Internal Server Error", outage.status))

    # -- update builders -------------------------------------------------------------

    def text_update(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        chat_type: str = "private",
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        chat_title: str = "Test group",
        reply_to_bot: bool = False,
        update_id: int | None = None,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        """A `message` update as a user's client would produce it (not queued: push it)."""
        user = self._user(user_id, first_name, last_name, username, language_code)
        chat = self._remember_chat(chat_id, chat_type, user, chat_title)
        message: dict[str, Any] = {
            "message_id": message_id or next(self._message_ids),
            "from": user,
            "chat": chat,
            "date": int(time.time()),
            "text": text,
        }
        entities = text_entities(text)
        if entities:
            message["entities"] = entities
        if reply_to_bot:
            message["reply_to_message"] = self._last_bot_message(chat_id)
        self.messages[(chat_id, message["message_id"])] = message
        return {"update_id": self._take_update_id(update_id), "message": message}

    def document_update(
        self,
        chat_id: int,
        user_id: int,
        file_name: str,
        content: bytes,
        *,
        mime_type: str | None = "text/csv",
        caption: str | None = None,
        file_size: int | None = None,
        chat_type: str = "private",
        first_name: str = "Test",
        language_code: str | None = "en",
        chat_title: str = "Test group",
        update_id: int | None = None,
    ) -> dict[str, Any]:
        """A `message` update carrying a file the user sent as a document (kept here for
        getFile and the download). `file_size` claims another size, as a huge file would."""
        user = self._user(user_id, first_name, None, None, language_code)
        chat = self._remember_chat(chat_id, chat_type, user, chat_title)
        serial = next(self._file_ids)
        file_id = f"BQACAgIAAxkBAAI{serial:04d}"
        size = len(content) if file_size is None else file_size
        self.files[file_id] = {"file_unique_id": f"AgAD{serial:04d}", "file_path": f"documents/file_{serial}{_suffix(file_name)}",
                               "content": content, "file_size": size}
        document: dict[str, Any] = {"file_name": file_name, "file_id": file_id, "file_unique_id": f"AgAD{serial:04d}",
                                    "file_size": size}
        if mime_type:
            document["mime_type"] = mime_type
        message: dict[str, Any] = {"message_id": next(self._message_ids), "from": user, "chat": chat,
                                   "date": int(time.time()), "document": document}
        if caption:
            message["caption"] = caption
            entities = text_entities(caption)
            if entities:
                message["caption_entities"] = entities
        self.messages[(chat_id, message["message_id"])] = message
        return {"update_id": self._take_update_id(update_id), "message": message}

    def contact_update(
        self,
        chat_id: int,
        user_id: int,
        phone_number: str,
        first_name: str,
        *,
        last_name: str | None = None,
        vcard: str | None = None,
        contact_user_id: int | None = None,
        chat_type: str = "private",
        language_code: str | None = "en",
        update_id: int | None = None,
    ) -> dict[str, Any]:
        """A `message` update with a contact the user shared from their phone's address book.
        Telegram sends the number as the phone book has it, often without a "+"."""
        user = self._user(user_id, "Test", None, None, language_code)
        chat = self._remember_chat(chat_id, chat_type, user, "Test group")
        contact: dict[str, Any] = {"phone_number": phone_number, "first_name": first_name}
        if last_name:
            contact["last_name"] = last_name
        if contact_user_id:
            contact["user_id"] = contact_user_id
        if vcard:
            contact["vcard"] = vcard
        message = {"message_id": next(self._message_ids), "from": user, "chat": chat, "date": int(time.time()),
                   "contact": contact}
        self.messages[(chat_id, message["message_id"])] = message
        return {"update_id": self._take_update_id(update_id), "message": message}

    def callback_update(
        self,
        chat_id: int,
        user_id: int,
        data: str,
        message_id: int,
        *,
        chat_type: str = "private",
        first_name: str = "Test",
        username: str | None = None,
        language_code: str | None = "en",
        update_id: int | None = None,
    ) -> dict[str, Any]:
        """A `callback_query` update: the user pressed an inline button on `message_id`."""
        user = self._user(user_id, first_name, None, username, language_code)
        message = self.messages.get((chat_id, message_id))
        if message is None:  # a button on a message the stand-in never saw: invent it
            chat = self._remember_chat(chat_id, chat_type, user, "Test group")
            message = {
                "message_id": message_id,
                "from": self.bot_user,
                "chat": chat,
                "date": int(time.time()),
                "text": "…",
            }
            self.messages[(chat_id, message_id)] = message
        query = {
            "id": str(next(self._callback_ids)),
            "from": user,
            "message": message,
            "chat_instance": str(chat_id),
            "data": data,
        }
        return {"update_id": self._take_update_id(update_id), "callback_query": query}

    async def post_webhook(
        self, url: str, update: dict[str, Any], secret_token: str | None = None
    ) -> int:
        """Deliver `update` to a webhook the way Telegram does; return the HTTP status."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret_token} if secret_token else {}
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json=update, headers=headers) as response:
                await response.read()
                return response.status

    # -- HTTP plumbing ---------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(BadRequest("Unauthorized", 401))
        name = request.match_info["method"]
        handler = self._handlers.get(name.lower())
        params = await _read_params(request)
        self.record(Call(name, params, path=request.path, headers=dict(request.headers)))
        if handler is None:
            return _error(BadRequest("Not Found: method not found", 404))
        failures = self._failures.get(name.lower())
        if failures:
            return _error(failures.popleft())
        try:
            return web.json_response({"ok": True, "result": await handler(params)})
        except BadRequest as exc:
            return _error(exc)

    # -- methods ---------------------------------------------------------------------

    async def _true(self, params: dict[str, Any]) -> bool:
        return True

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook["url"]:
            raise BadRequest(
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
                409,
            )
        limit = int(params.get("limit") or 100)
        wait = min(float(params.get("timeout") or 0), self.max_poll_seconds)
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            self._confirm_below(params.get("offset"))
            batch = self._pending[:limit]
            remaining = deadline - asyncio.get_running_loop().time()
            if batch or self._closing or remaining <= 0:
                break
            await self._wait_for_change(remaining)
        self._delivered.update(u["update_id"] for u in batch)
        if batch:
            self._notify()  # for `wait_fetched`
        return batch

    def _confirm_below(self, offset: Any) -> None:
        # Telegram forgets updates below `offset`. Only delivered ones are dropped here, so
        # a test can push an old update_id again to simulate Telegram re-delivering it.
        if isinstance(offset, int) and offset > 0:
            self._pending = [
                u
                for u in self._pending
                if u["update_id"] >= offset or u["update_id"] not in self._delivered
            ]

    async def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {"url": ""}
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _set_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {k: v for k, v in params.items() if k != "certificate"}
        if params.get("drop_pending_updates"):
            self._pending.clear()
        return True

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        info = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook.get("allowed_updates"):
            info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    async def _set_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands[_commands_key(params)] = params.get("commands", [])
        return True

    async def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        return self.commands.get(_commands_key(params), [])

    async def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self.commands.pop(_commands_key(params), None)
        return True

    async def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        text = _checked_text(params.get("text"), params.get("parse_mode"), MAX_TEXT_LENGTH)
        return self._bot_message(params, text=text)

    async def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        photo = params.get("photo")
        if not photo:
            raise BadRequest("Bad Request: there is no photo in the request")
        size = len(photo.content) if isinstance(photo, Upload) else 0
        sizes = [
            {
                "file_id": f"photo-{self.port}-{n}",
                "file_unique_id": f"u{n}",
                "width": w,
                "height": w,
                "file_size": size,
            }
            for n, w in enumerate((90, 320, 800))
        ]
        content: dict[str, Any] = {"photo": sizes}
        if params.get("caption"):
            content["caption"] = _checked_text(
                params["caption"], params.get("parse_mode"), MAX_CAPTION_LENGTH
            )
        return self._bot_message(params, **content)

    async def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        text = _checked_text(params.get("text"), params.get("parse_mode"), MAX_TEXT_LENGTH)
        if params.get("inline_message_id"):
            return True
        message = self._message_to_edit(params)
        markup = _inline_markup(params)
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise BadRequest(
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message"
            )
        return self._apply_edit(message, text=text, reply_markup=markup)

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            return True
        message = self._message_to_edit(params)
        markup = _inline_markup(params)
        if message.get("reply_markup") == markup:
            raise BadRequest(
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup "
                "of the message"
            )
        return self._apply_edit(message, reply_markup=markup)

    async def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        kept = self.files.get(str(params.get("file_id") or ""))
        if kept is None:
            raise BadRequest("Bad Request: invalid file_id")
        if kept["file_size"] > MAX_DOWNLOAD:
            raise BadRequest("Bad Request: file is too big")
        return {"file_id": params["file_id"], "file_unique_id": kept["file_unique_id"], "file_size": kept["file_size"],
                "file_path": kept["file_path"]}

    async def _download(self, request: web.Request) -> web.Response:
        """GET /file/bot<token>/<file_path>: the file's bytes, as Telegram serves them."""
        path = request.match_info["path"]
        self.record(Call("download", {"file_path": path}, path=request.path, headers=dict(request.headers)))
        kept = next((f for f in self.files.values() if f["file_path"] == path), None)
        if request.match_info["token"] != self.token or kept is None:
            return _error(BadRequest("Not Found", 404))
        return web.Response(body=kept["content"], content_type="application/octet-stream")

    # -- state helpers ---------------------------------------------------------------

    def _take_update_id(self, explicit: int | None) -> int:
        if explicit is not None:
            self._next_update_id = max(self._next_update_id, explicit + 1)
            return explicit
        update_id = self._next_update_id
        self._next_update_id += 1
        return update_id

    def _user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None,
        username: str | None,
        language_code: str | None,
    ) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        user["username"] = username or f"user{user_id}"
        if language_code:
            user["language_code"] = language_code
        return user

    def _remember_chat(
        self, chat_id: int, chat_type: str, user: dict[str, Any], title: str
    ) -> dict[str, Any]:
        if chat_type == "private":
            chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
            chat["username"] = user["username"]
        else:
            chat = {"id": chat_id, "type": chat_type, "title": title}
        self.chats[chat_id] = chat
        return chat

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        if chat_id in self.chats:
            return self.chats[chat_id]
        if isinstance(chat_id, int):
            return {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}
        return {"id": -1000000000001, "type": "channel", "username": str(chat_id).lstrip("@")}

    def _bot_message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise BadRequest("Bad Request: chat_id is empty")
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": self.bot_user,
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            **content,
        }
        reply_to = (params.get("reply_parameters") or {}).get("message_id")
        if reply_to and (chat_id, reply_to) in self.messages:
            message["reply_to_message"] = self.messages[(chat_id, reply_to)]
        markup = _inline_markup(params)
        if markup:
            message["reply_markup"] = markup
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _last_bot_message(self, chat_id: int) -> dict[str, Any]:
        for (chat, _), message in reversed(self.messages.items()):
            if chat == chat_id and message["from"]["id"] == self.bot_user["id"]:
                return message
        return self._bot_message({"chat_id": chat_id}, text="…")

    def _message_to_edit(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get((params.get("chat_id"), params.get("message_id")))
        if message is None:
            raise BadRequest("Bad Request: message to edit not found")
        return message

    def _apply_edit(self, message: dict[str, Any], **changes: Any) -> dict[str, Any]:
        for key, value in changes.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = int(time.time())
        return message


def _suffix(file_name: str) -> str:
    dot = file_name.rfind(".")
    return file_name[dot:] if dot > 0 else ""


def _checked_text(text: Any, parse_mode: Any, max_length: int) -> str:
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("Bad Request: message text is empty")
    plain = render_html(text) if str(parse_mode).upper() == "HTML" else text
    if utf16_len(plain) > max_length:
        raise BadRequest("Bad Request: message is too long")
    return plain


def _inline_markup(params: dict[str, Any]) -> dict[str, Any] | None:
    # Telegram echoes only inline keyboards back on the Message object.
    markup = params.get("reply_markup")
    return markup if isinstance(markup, dict) and "inline_keyboard" in markup else None


def _commands_key(params: dict[str, Any]) -> str:
    scope = params.get("scope") or {"type": "default"}
    return f"{json.dumps(scope, sort_keys=True)}|{params.get('language_code') or ''}"


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Parameters from the query string, a JSON body, a form or a multipart body."""
    params: dict[str, Any] = {k: _decode_value(k, v) for k, v in request.query.items()}
    if request.content_type == "application/json":
        body = await request.read()
        if body:
            params.update(json.loads(body))
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                params[name] = Upload(value.filename, value.content_type, value.file.read())
            else:
                params[name] = _decode_value(name, value)
    return params


def _error(exc: BadRequest) -> web.Response:
    body: dict[str, Any] = {
        "ok": False,
        "error_code": exc.error_code,
        "description": exc.description,
    }
    if exc.parameters:
        body["parameters"] = exc.parameters
    return web.json_response(body, status=exc.error_code)
