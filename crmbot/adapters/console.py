"""The console adapter: the terminal chat, and the in-process double the tests drive.

Buttons are shown as numbered choices; typing the number presses the button. A chart is saved
as a PNG file and its path printed. What a message announces to other chats is handed back in
its `Outcome`; `crmbot chat` delivers it.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

from crmbot.bot import Bot, Transient
from crmbot.messages import Attachment, Button, ChatRef, Image, Incoming, Outcome, Reply, UserRef

BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)


def plain(text: str) -> str:
    """The templates' `**bold**` markers, dropped for a plain terminal."""
    return BOLD.sub(r"\1", text)


def save(image: Image, folder: Path | None = None) -> Path:
    """A chart as a file of its own (never overwriting an earlier one), in `folder` or the
    system's temporary folder: a terminal cannot show the picture, a viewer can."""
    folder = folder or Path(tempfile.gettempdir()) / "crmbot-charts"
    folder.mkdir(parents=True, exist_ok=True)
    stem, dot, suffix = image.filename.rpartition(".")
    handle, name = tempfile.mkstemp(prefix=f"{stem or suffix}-", suffix=f".{suffix}" if dot else "", dir=folder)
    with open(handle, "wb") as file:
        file.write(image.data)
    return Path(name)


def render(reply: Reply, first_number: int = 1, image_folder: Path | None = None) -> str:
    lines = [plain(reply.text)]
    if reply.image is not None:
        lines.append(f"  🖼 {save(reply.image, image_folder)}")
    for number, button in enumerate(reply.buttons, start=first_number):
        lines.append(f"  [{number}] {button.label}")
    return "\n".join(lines)


@dataclass
class ConsoleChat:
    """One person talking to the bot in a terminal (or a test)."""

    bot: Bot
    user: str
    language: str | None = None
    image_folder: Path | None = None  # where charts are saved (the system's temporary folder)
    _buttons: list[Button] = field(default_factory=list)
    _ids: count = field(default_factory=lambda: count(1))

    @property
    def chat(self) -> ChatRef:
        return ChatRef("console", self.user)

    def incoming(self, text: str = "", action: str | None = None) -> Incoming:
        return Incoming(
            chat=self.chat, user=UserRef("console", self.user, self.user, self.language), text=text, action=action,
        )

    async def send(self, text: str) -> list[Reply]:
        """Type a line and get the answer in this chat."""
        return list((await self.exchange(text)).replies)

    async def send_file(self, name: str, data: bytes, *, contact: bool = False, mime: str = "") -> list[Reply]:
        """Send a file (or a shared contact, as a vCard) to be imported, as a chat platform would."""
        attachment = Attachment(name, data, len(data), mime, contact)
        incoming = Incoming(chat=self.chat, user=UserRef("console", self.user, self.user, self.language), attachment=attachment)
        return list((await self._handle(incoming)).replies)

    async def press(self, button: Button) -> list[Reply]:
        return list((await self._handle(self.incoming(action=button.action))).replies)

    async def exchange(self, text: str) -> Outcome:
        """Type a line and get all it caused: a number presses the matching button of the last answer."""
        stripped = text.strip()
        if stripped.isascii() and stripped.isdigit() and len(stripped) <= 3 and 1 <= int(stripped) <= len(self._buttons):
            return await self._handle(self.incoming(action=self._buttons[int(stripped) - 1].action))
        return await self._handle(self.incoming(text))

    async def _handle(self, incoming: Incoming) -> Outcome:
        try:
            outcome = await self.bot.handle(incoming)
        except Transient:
            # nothing redelivers a line typed in a terminal: say it failed, so it is typed again
            outcome = Outcome(tuple(self.bot.refusal(incoming, "error")))
        self.remember(outcome.replies)
        return outcome

    def remember(self, replies: Sequence[Reply]) -> None:
        """Make these replies' buttons the ones a typed number presses."""
        buttons = [b for r in replies for b in r.buttons]
        if buttons:
            self._buttons = buttons

    def interject(self, replies: Sequence[Reply]) -> str:
        """Show what arrives unasked (a reminder) while a question may be open: its buttons take
        the next numbers, so the question's numbers still press what they did."""
        first = len(self._buttons) + 1
        self._buttons = [*self._buttons, *(b for r in replies for b in r.buttons)]
        return self.show(replies, first)

    def show(self, replies: Sequence[Reply], first: int = 1) -> str:
        out, number = [], first
        for reply in replies:
            out.append(render(reply, number, self.image_folder))
            number += len(reply.buttons)
        return "\n".join(out)


class ConsoleSender:
    """Delivers reminders to the terminal chat; their buttons become the numbered choices."""

    name = "console"

    def __init__(self, write, chat: ConsoleChat | None = None) -> None:
        self.write = write
        self.chat = chat

    async def send(self, chat: ChatRef, replies: list[Reply]) -> None:
        if self.chat is not None:
            self.write(self.chat.interject(replies))
        else:
            for reply in replies:
                self.write(render(reply))
