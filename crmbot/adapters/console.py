"""The console adapter: the terminal chat, and the in-process double the tests drive.

Buttons are shown as numbered choices; typing the number presses the button.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import count

from crmbot.bot import Bot
from crmbot.messages import Button, ChatRef, Incoming, Reply, UserRef

BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)


def plain(text: str) -> str:
    """The templates' `**bold**` markers, dropped for a plain terminal."""
    return BOLD.sub(r"\1", text)


def render(reply: Reply, first_number: int = 1) -> str:
    lines = [plain(reply.text)]
    for number, button in enumerate(reply.buttons, start=first_number):
        lines.append(f"  [{number}] {button.label}")
    return "\n".join(lines)


@dataclass
class ConsoleChat:
    """One person talking to the bot in a terminal (or a test)."""

    bot: Bot
    user: str
    language: str | None = None
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
        """Type a line: a number presses the matching button of the last answer."""
        stripped = text.strip()
        if stripped.isascii() and stripped.isdigit() and len(stripped) <= 3 and 1 <= int(stripped) <= len(self._buttons):
            return await self.press(self._buttons[int(stripped) - 1])
        return self._remember(await self.bot.handle(self.incoming(text)))

    async def press(self, button: Button) -> list[Reply]:
        return self._remember(await self.bot.handle(self.incoming(action=button.action)))

    def remember(self, replies: list[Reply]) -> list[Reply]:
        """Make these replies' buttons the ones a typed number presses."""
        return self._remember(replies)

    def _remember(self, replies: list[Reply]) -> list[Reply]:
        buttons = [b for r in replies for b in r.buttons]
        if buttons:
            self._buttons = buttons
        return replies

    def show(self, replies: list[Reply]) -> str:
        out, number = [], 1
        for reply in replies:
            out.append(render(reply, number))
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
            self.chat.remember(replies)
            self.write(self.chat.show(replies))
        else:
            for reply in replies:
                self.write(render(reply))
