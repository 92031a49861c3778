"""The Telegram adapter: Telegram updates -> `Incoming` -> `Bot.handle` -> `Reply` -> Bot API calls.

It only translates. Who may talk, de-duplication of redelivered updates (the update_id is the
message id), parsing and every reply are the core's business. What is Telegram's lives here:
HTML rendering with everything escaped, the 4096-character limit, inline keyboards, callback
queries, group addressing, the command menu, retrying a send the Bot API could not take (429
through python-telegram-bot's rate limiter, 5xx and dropped connections here) and mapping what
still fails onto `DeliveryFailed`.

`feed(update)` says whether an update is done with: False when the core could not handle it
now (`Transient`), so it must not be confirmed to Telegram (polling) or acknowledged (webhook).
Lifecycle (initialize / start / polling or webhook) is driven by `crmbot.server`.
"""

from __future__ import annotations

import asyncio
import html
import logging
import random
import re
import warnings
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import timedelta
from functools import partial

from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram import Bot as TelegramBot
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from crmbot.bot import Bot, Transient
from crmbot.config import Settings
from crmbot.i18n import FALLBACK
from crmbot.messages import MAX_ATTACHMENT, Attachment, Button, ChatRef, DeliveryFailed, Incoming, Outcome, Outgoing, Reply, UserRef

log = logging.getLogger(__name__)

NAME = "telegram"
MAX_TEXT = 4096  # Telegram's limit for one message
MAX_CALLBACK_DATA = 64  # bytes
MAX_TOAST = 200  # answerCallbackQuery text
# Only these two kinds of update matter to crmbot; asking for less keeps the queue small.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
# A 429 is waited out by python-telegram-bot's rate limiter this many times (all sends pause, as
# Telegram asks); a 5xx or a dropped connection is retried by `call` as often, with backoff.
SEND_RETRIES = 2
# Kinds of reply the core gives to a button press it refused: shown as a toast on the button
# instead of a message in the chat, and the keyboard is left alone.
REFUSED_PRESS = frozenset({"button_not_yours", "button_used", "button_unknown", "question_closed", "stranger"})

BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
_HTML_TOKEN = re.compile(r"<(/?)([a-z-]+)[^<>]*>|&[#a-zA-Z0-9]+;|.", re.DOTALL)


# -- rendering ---------------------------------------------------------------------------------


def render_html(text: str) -> str:
    """Reply text to Telegram HTML: everything escaped, then the templates' `**bold**` marker
    (the only markup they use) turned into <b>. Escaping first means no user string can open a tag."""
    return BOLD.sub(r"<b>\1</b>", html.escape(text, quote=False))


def _u16(text: str) -> int:
    # Telegram counts in UTF-16 code units
    return len(text.encode("utf-16-le")) // 2


def _visible(token: str) -> int:
    """What one HTML token counts towards Telegram's limit: tags nothing, an entity one."""
    if token.startswith("<") and len(token) > 1:
        return 0
    if token.startswith("&") and len(token) > 1:
        return 1
    return _u16(token)


def visible_length(text: str) -> int:
    return sum(_visible(m.group()) for m in _HTML_TOKEN.finditer(text))


def split_html(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cut rendered HTML into messages of at most `limit` visible UTF-16 units each (Telegram
    counts the text after parsing the HTML), preferring line breaks. A tag open at a cut is
    closed at the end of one part and re-opened in the next; an entity such as &amp; is never
    cut in half."""
    if visible_length(text) <= limit:
        return [text] if text.strip() else []
    parts: list[str] = []
    current: list[str] = []
    size = 0
    stack: list[tuple[str, str]] = []  # (tag name, opening token) open at the end of `current`
    newline: tuple[int, list[tuple[str, str]]] | None = None  # just after the last line break in `current`

    def cut(at: int, open_tags: list[tuple[str, str]]) -> None:
        nonlocal current, size, newline
        parts.append("".join(current[:at]) + "".join(f"</{name}>" for name, _ in reversed(open_tags)))
        current = [opening for _, opening in open_tags] + current[at:]
        size = sum(_visible(t) for t in current)
        newline = None

    for match in _HTML_TOKEN.finditer(text):
        token, name = match.group(), match.group(2)
        if size + _visible(token) > limit:
            # prefer the last line break, when it is not too far back
            if newline is not None and newline[0] > len(current) // 2:
                cut(*newline)
            if size + _visible(token) > limit:
                cut(len(current), stack)
        current.append(token)
        size += _visible(token)
        if name and match.group(1):
            stack.pop()
        elif name:
            stack.append((name, token))
        if token == "\n":
            newline = (len(current), list(stack))
    parts.append("".join(current))
    return [p for p in parts if re.sub(r"<[^>]*>", "", p).strip()]


def keyboard(buttons: Iterable[Button]) -> InlineKeyboardMarkup | None:
    """Short labels two to a row (done / snooze), long ones (customer names) one per row."""
    usable = []
    for button in buttons:
        if len(button.action.encode()) > MAX_CALLBACK_DATA:
            log.warning("button %r dropped: its action is longer than Telegram allows", button.label)
            continue
        usable.append(InlineKeyboardButton(button.label[:120], callback_data=button.action))
    if not usable:
        return None
    per_row = 2 if all(len(b.text) <= 16 for b in usable) else 1
    return InlineKeyboardMarkup([usable[i : i + per_row] for i in range(0, len(usable), per_row)])


def chat_id_of(chat: ChatRef) -> int | str:
    try:
        return int(chat.chat_id)
    except ValueError:
        return chat.chat_id  # "@channelname"


async def call(send: Callable[[], Awaitable[Message]]) -> Message:
    """One Bot API send, tried again when Telegram failed to take it (a 5xx, a dropped
    connection). A timeout is not retried: Telegram may have taken that message already."""
    attempt = 0
    while True:
        try:
            return await send()
        except (BadRequest, TimedOut):
            raise
        except NetworkError as error:
            if attempt == SEND_RETRIES:
                raise
            attempt += 1
            log.info("Telegram could not take a message (%s); trying again", error)
            await asyncio.sleep(0.5 * 3 ** (attempt - 1) * (0.5 + random.random() / 2))


async def deliver(bot: TelegramBot, chat_id: int | str, replies: Iterable[Reply], *, reply_to: int | None = None) -> list[Message]:
    """Send replies in order: a chart first as a photo, then the text, split when long, with the
    buttons on its last part. Errors propagate: callers decide what a failure means."""
    sent: list[Message] = []

    def reply_parameters() -> ReplyParameters | None:
        nonlocal reply_to
        # only the first message of an answer quotes the question it answers
        params = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        reply_to = None
        return params

    for reply in replies:
        if reply.image is not None:
            photo = InputFile(reply.image.data, filename=reply.image.filename)
            sent.append(await call(partial(bot.send_photo, chat_id, photo, reply_parameters=reply_parameters())))
        parts = split_html(render_html(reply.text))
        for number, part in enumerate(parts, start=1):
            markup = keyboard(reply.buttons) if number == len(parts) else None
            sent.append(await call(partial(
                bot.send_message, chat_id, part, parse_mode=ParseMode.HTML, reply_markup=markup,
                reply_parameters=reply_parameters(), link_preview_options=LinkPreviewOptions(is_disabled=True),
            )))
    return sent


def delivery_failed(error: TelegramError) -> DeliveryFailed:
    """What a failed send means for trying again."""
    if isinstance(error, RetryAfter):
        return DeliveryFailed(f"Telegram rate limit: {error}", retry_after=_seconds(error))
    if isinstance(error, (Forbidden, BadRequest, ChatMigrated)):
        # blocked by the user, kicked from the group, chat not found, a group that became a
        # supergroup: sending the same again won't help
        return DeliveryFailed(f"Telegram refused: {error}", permanent=True)
    if isinstance(error, NetworkError):  # timeouts, connection errors, 5xx
        return DeliveryFailed(f"Telegram unreachable: {error}")
    return DeliveryFailed(f"Telegram error: {error}")


# -- Telegram -> Incoming ----------------------------------------------------------------------


def user_ref(user) -> UserRef:
    language = user.language_code if isinstance(user.language_code, str) else None
    return UserRef(NAME, str(user.id), user.full_name or user.username or "", language)


def is_group(chat) -> bool:
    return chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)


def addressed_text(message: Message, username: str, bot_id: int) -> str | None:
    """The text meant for the bot, or None when a group message is not addressed to it.

    In groups the bot answers a command (`/find` or `/find@thisbot`, never `/find@otherbot`),
    an @mention of it, or a reply to one of its messages. Its own name is removed from the text."""
    text = message.text or message.caption or ""
    if not isinstance(text, str):  # only a forged update has a text that is not a string
        return None
    try:
        entities = message.parse_entities() if message.text else message.parse_caption_entities()
    except (TypeError, ValueError, AttributeError):
        entities = {}
    addressed = not is_group(message.chat)
    own = username.lower()
    for entity, value in entities.items():
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            target = value.partition("@")[2].lower()
            if target and target != own:
                return None  # a command for another bot in the group
            addressed = True
        elif entity.type == MessageEntity.MENTION and value[1:].lower() == own:
            addressed = True
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot_id:
        addressed = True
    if not addressed:
        return None
    if username:
        name = re.escape(username)
        text = re.sub(rf"^(/\w+)@{name}\b", r"\1", text, flags=re.IGNORECASE)
        text = re.sub(rf"(?<![\w@])@{name}\b[,:]?", " ", text, flags=re.IGNORECASE)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def _vcard_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")


def contact_attachment(contact) -> Attachment:
    """A shared contact as the vCard the phone attached, or one made of its name and number.
    Telegram gives the number in full international form, often without its "+"."""
    if isinstance(contact.vcard, str) and "BEGIN:VCARD" in contact.vcard.upper():
        card = contact.vcard
    else:
        first = contact.first_name if isinstance(contact.first_name, str) else ""
        last = contact.last_name if isinstance(contact.last_name, str) else ""
        phone = contact.phone_number if isinstance(contact.phone_number, str) else ""
        if phone.isdigit():
            phone = "+" + phone
        full = " ".join(p for p in (first, last) if p)
        card = (f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{_vcard_text(full)}\r\nN:{_vcard_text(last)};{_vcard_text(first)};;;\r\n"
                f"TEL;TYPE=CELL:{_vcard_text(phone)}\r\nEND:VCARD\r\n")
    data = card.encode("utf-8")
    return Attachment("contact.vcf", data, len(data), "text/vcard", contact=True)


class TelegramAdapter:
    """Owns the python-telegram-bot Application and its two handlers. Replies go out through
    `deliver` (the app's: it keeps what Telegram cannot take now), and what a message announces
    to other chats through `announce` (the app's, which knows every running adapter)."""

    def __init__(self, core: Bot, settings: Settings, application: Application | None = None, *,
                 announce: Callable[[Sequence[Outgoing]], Awaitable[None]],
                 deliver: Callable[[ChatRef, Sequence[Reply], Callable[[], Awaitable[None]]], Awaitable[None]]) -> None:
        self.core = core
        self.settings = settings
        self.announce = announce
        self.deliver = deliver
        self.application = application or build_application(settings)
        # first: a document with a caption is a file to import, not a message to read
        self.application.add_handler(MessageHandler((filters.Document.ALL | filters.CONTACT) & ~filters.UpdateType.EDITED, self.on_file))
        self.application.add_handler(MessageHandler((filters.TEXT | filters.CAPTION) & ~filters.UpdateType.EDITED, self.on_message))
        self.application.add_handler(CallbackQueryHandler(self.on_button))
        self.application.add_error_handler(self.on_error)
        # updates the core could not handle now: not done, so Telegram must deliver them again
        self._unfinished: set[int] = set()

    @property
    def bot(self) -> TelegramBot:
        return self.application.bot

    def sender(self) -> TelegramSender:
        return TelegramSender(self.bot)

    def parse(self, data: dict) -> Update:
        """A webhook body as an Update; ValueError when it is not one."""
        try:
            update = Update.de_json(data, self.bot)
        except Exception as error:  # any shape python-telegram-bot cannot read (dates out of range too)
            raise ValueError(f"not a Telegram update: {error}") from error
        # ids are numbers in every real update; anything else would only break further in
        for found in (update.effective_user, update.effective_chat):
            if found is not None and not isinstance(found.id, int):
                raise ValueError("not a Telegram update: an id that is not a number")
        return update

    async def feed(self, update: Update) -> bool:
        """Handle one update before returning; True when it is done with (handled, refused, or
        failed for good), False when it must be delivered again. Done means committed: a crash
        before this returns lets Telegram deliver the update again, and the stored update_id
        keeps that from doubling."""
        await self.application.process_update(update)
        if update.update_id in self._unfinished:
            self._unfinished.discard(update.update_id)
            return False
        return True

    async def _handle(self, update: Update, incoming: Incoming) -> Outcome | None:
        """The core's outcome; None when it could not handle the update now (see `feed`)."""
        try:
            return await self.core.handle(incoming)
        except Transient:
            self._unfinished.add(update.update_id)
            return None

    async def set_commands(self) -> None:
        """The command menu in every language crmbot speaks; English is also the default, so a
        language without its own [menu] table (or one missing a command) shows English."""
        languages = self.core.i18n.languages
        english = (languages[FALLBACK].strings.get("menu") or {}) if FALLBACK in languages else {}
        for code, language in languages.items():
            own = language.strings.get("menu") or {}
            if not own:
                continue
            menu = {**english, **own}
            commands = [BotCommand(name, str(text)[:256]) for name, text in menu.items()]
            try:
                await self.bot.set_my_commands(commands, language_code=code)
                if code == FALLBACK:
                    await self.bot.set_my_commands(commands)
            except TelegramError:
                log.warning("could not register the %s command menu", code, exc_info=True)

    async def on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.from_user is None or message.from_user.is_bot:
            return
        text = addressed_text(message, self.bot.username or "", self.bot.id)
        if text is None:
            return  # group chatter not meant for us
        incoming = Incoming(
            chat=ChatRef(NAME, str(message.chat.id)), user=user_ref(message.from_user), text=text,
            message_id=str(update.update_id),
        )
        outcome = await self._handle(update, incoming)
        if outcome is None:
            return
        # in a group, answer as a reply so everyone sees whose message it was
        await self._send(message.chat.id, outcome.replies, reply_to=message.message_id if is_group(message.chat) else None)
        await self.announce(outcome.announcements)

    async def on_file(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A document (a CSV, a vCard) or a contact shared from the phone: imported by the core.
        In a group only when addressed to the bot, as any message."""
        message = update.effective_message
        if message is None or message.from_user is None or message.from_user.is_bot:
            return
        if addressed_text(message, self.bot.username or "", self.bot.id) is None:
            return
        user = user_ref(message.from_user)
        if message.contact:
            attachment = contact_attachment(message.contact)
        elif await self.core.accepts_files_from(user):
            attachment = await self._fetch(message.document)
        else:  # a stranger's file is not fetched: the core answers them as any stranger
            attachment = Attachment(message.document.file_name or "file", None, problem="not_fetched")
        incoming = Incoming(chat=ChatRef(NAME, str(message.chat.id)), user=user,
                            message_id=str(update.update_id), attachment=attachment)
        outcome = await self._handle(update, incoming)
        if outcome is None:
            return
        await self._send(message.chat.id, outcome.replies, reply_to=message.message_id if is_group(message.chat) else None)
        await self.announce(outcome.announcements)

    async def _fetch(self, document) -> Attachment:
        """The document's bytes through getFile and the file URL; what went wrong otherwise."""
        name = document.file_name if isinstance(document.file_name, str) and document.file_name else "file"
        mime = document.mime_type if isinstance(document.mime_type, str) else ""
        size = document.file_size if isinstance(document.file_size, int) else 0
        if size > MAX_ATTACHMENT:
            return Attachment(name, None, size, mime, problem="too_large")
        try:
            data = bytes(await (await self.bot.get_file(document.file_id)).download_as_bytearray())
        except TelegramError as error:
            log.info("could not download a Telegram document: %s", error)
            return Attachment(name, None, size, mime, problem="too_large" if "too big" in str(error).lower() else "unreachable")
        return Attachment(name, data, len(data), mime)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.from_user is None:
            return  # only a forged update has a button press from nobody
        message = query.message if isinstance(query.message, Message) else None
        chat_id = message.chat.id if message else query.from_user.id
        incoming = Incoming(
            chat=ChatRef(NAME, str(chat_id)), user=user_ref(query.from_user), action=query.data if isinstance(query.data, str) else "",
            message_id=str(update.update_id),
        )
        outcome = await self._handle(update, incoming)
        if outcome is None:
            return  # the spinner stops by itself; the redelivered press answers it
        replies = outcome.replies
        if len(replies) == 1 and replies[0].kind in REFUSED_PRESS:
            # someone else's button, or one already spent: a toast to the presser, nothing in the chat
            await self._answer(query, replies[0].text[:MAX_TOAST])
            return
        await self._answer(query)
        if len(replies) == 1 and replies[0].in_place and message is not None and await self._replace(message, replies[0]):
            await self.announce(outcome.announcements)
            return  # a list's next page, shown where the last one was
        if replies and message is not None:
            await self._show_choice(message, query.data or "")
        await self._send(chat_id, replies, reply_to=message.message_id if message and is_group(message.chat) else None)
        await self.announce(outcome.announcements)

    async def _answer(self, query, text: str | None = None) -> None:
        try:
            await query.answer(text)
        except TelegramError:  # too old a query: nothing to stop the spinner on any more
            log.info("could not answer callback query %s", query.id, exc_info=True)

    async def _replace(self, message: Message, reply: Reply) -> bool:
        """Edit the pressed message into `reply` (text and buttons); False when it cannot be
        (too long for one message, a picture, Telegram refused), and it is sent instead."""
        text = render_html(reply.text)
        if reply.image is not None or not text.strip() or visible_length(text) > MAX_TEXT:
            return False
        try:
            await message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard(reply.buttons),
                                    link_preview_options=LinkPreviewOptions(is_disabled=True))
        except TelegramError:
            log.info("could not edit message %s into the next page; sending it", message.message_id, exc_info=True)
            return False
        return True

    async def _show_choice(self, message: Message, data: str) -> None:
        """Edit the message that carried the buttons: drop them and say what was chosen."""
        rows = message.reply_markup.inline_keyboard if message.reply_markup else ()
        label = next((b.text for row in rows for b in row if b.callback_data == data), None)
        try:
            if message.text and label:
                text = f"{message.text_html}\n\n👉 <b>{html.escape(label, quote=False)}</b>"
                if visible_length(text) <= MAX_TEXT:
                    await message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=None,
                                            link_preview_options=LinkPreviewOptions(is_disabled=True))
                    return
            if message.reply_markup:
                await message.edit_reply_markup(reply_markup=None)
        except BadRequest:  # already edited (a second press, a redelivered update)
            log.info("could not edit message %s", message.message_id, exc_info=True)

    async def _send(self, chat_id: int, replies: Sequence[Reply], *, reply_to: int | None) -> None:
        """One by one, so that a reply Telegram cannot take now is kept alone (not re-sent with
        those before it) and those after it wait behind it."""
        chat = ChatRef(NAME, str(chat_id), str(reply_to) if reply_to else None)
        sender = self.sender()
        for reply in replies:
            await self.deliver(chat, [reply], partial(sender.send, chat, [reply]))

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("error handling a Telegram update", exc_info=context.error)


def build_application(settings: Settings) -> Application:
    """The python-telegram-bot Application for our token and Bot API server: rate-limited, with
    send timeouts longer than the Bot API's slowest answer (a send cut short may have been
    taken, and would be sent again), and no Updater: `crmbot.adapters.telegram_polling` polls,
    confirming an update only once it is handled."""
    if settings.telegram_token is None:
        raise ValueError("CRMBOT_TELEGRAM_TOKEN is not set")
    base = settings.telegram_api_url.rstrip("/")
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_token.get_secret_value())
        .base_url(base)
        .base_file_url(_file_url(base))
        .rate_limiter(AIORateLimiter(max_retries=SEND_RETRIES))
        .read_timeout(settings.send_timeout_seconds)
        .write_timeout(settings.send_timeout_seconds)
        .media_write_timeout(settings.send_timeout_seconds)
        .updater(None)
    )
    return builder.build()


def _file_url(base: str) -> str:
    # https://api.telegram.org/bot -> https://api.telegram.org/file/bot (self-hosted servers alike)
    return base[: -len("/bot")] + "/file/bot" if base.endswith("/bot") else base + "/file/bot"


def _seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns about the int form of retry_after
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


# -- Sender ------------------------------------------------------------------------------------


class TelegramSender:
    """Delivers to Telegram chats; every failure becomes DeliveryFailed. A chat's `thread`, when
    set, is the message the replies answer: the first of them quotes it (in a group, everyone
    sees whose message it was), also when a kept reply goes out later."""

    name = NAME

    def __init__(self, bot: TelegramBot) -> None:
        self.bot = bot

    async def send(self, chat: ChatRef, replies: list[Reply]) -> None:
        reply_to = int(chat.thread) if chat.thread and chat.thread.isdigit() else None
        try:
            await deliver(self.bot, chat_id_of(chat), replies, reply_to=reply_to)
        except TelegramError as error:
            raise delivery_failed(error) from error


async def bot_username(settings: Settings) -> str | None:
    """The bot's @username (getMe), for invite links; None when Telegram can't be asked."""
    if settings.telegram_token is None:
        return None
    bot = TelegramBot(settings.telegram_token.get_secret_value(), base_url=settings.telegram_api_url.rstrip("/"))
    try:
        async with bot:
            return bot.username
    except TelegramError:
        log.warning("could not ask Telegram for the bot's name", exc_info=True)
        return None
