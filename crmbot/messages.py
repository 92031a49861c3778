"""Adapter-neutral messages: what comes in from a chat and what goes back out.

Adapters translate platform updates into `Incoming` and render `Reply`; nothing else in
crmbot knows which platform a message came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ChatRef:
    """Where a conversation happens, and which adapter delivers to it."""

    adapter: str  # "console", "telegram", "slack"
    chat_id: str
    thread: str | None = None
    # the thread is a conversation of its own (a Slack thread), not a message quoted in the
    # chat's one timeline (Telegram): replies kept for later keep their order per thread
    thread_apart: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class UserRef:
    """Who wrote, as the platform knows them."""

    adapter: str
    user_id: str
    display_name: str = ""
    language: str | None = None  # the platform's language hint, e.g. Telegram's language_code
    workspace: str | None = None  # Slack team id; None elsewhere
    timezone: str | None = None  # IANA zone when the platform tells (Slack does), for new members


@dataclass(frozen=True)
class Button:
    label: str
    action: str  # opaque payload handed back in Incoming.action when pressed


@dataclass(frozen=True)
class Image:
    data: bytes
    filename: str = "chart.png"
    mime: str = "image/png"
    alt: str = ""  # what it shows, in words, for those who cannot see it


@dataclass(frozen=True)
class Bars:
    """One panel of a chart: a horizontal bar per row, split into segments (one per legend
    entry), with a note at the bar's end. Every word is already in the reader's language."""

    title: str
    rows: tuple[tuple[str, tuple[int, ...], str], ...]  # (label, segment lengths, note)
    legend: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chart:
    """A picture to draw after the answer is committed (drawing takes a while and needs no
    database): the core turns it into an `Image` before any adapter sees the reply."""

    title: str
    panels: tuple[Bars, ...]
    filename: str = "chart.png"

    @property
    def description(self) -> str:
        """What the picture shows, in words: its alt text, and the PNG's description."""
        return "\n".join(
            f"{panel.title}: " + "; ".join(f"{label} {note or sum(lengths)}" for label, lengths, note in panel.rows)
            for panel in self.panels if panel.rows)


@dataclass(frozen=True)
class Card:
    """Structured detail an adapter may render richly (Slack fields); `Reply.text` always
    carries the same content as plain text, so a card is never required to understand it."""

    title: str
    fields: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: tuple[Button, ...] = ()
    image: Image | None = None
    chart: Chart | None = None  # still to draw into `image`; adapters never see one
    ephemeral: bool = False
    card: Card | None = None
    # the template that made it ("button_used"): adapters decide how to show a reply from this,
    # never from its words, which differ per language; "" for text made without a template
    kind: str = ""
    # a page of a list turned with its own next/previous button: shown in place of the message
    # whose button was pressed (Telegram and Slack edit that message) rather than after it
    in_place: bool = False
    # the team whose records it may show: a reply kept for later is erased with their customer
    team_id: int | None = field(default=None, compare=False)


MAX_ATTACHMENT = 10 * 1024 * 1024  # bytes: larger files are not downloaded (crmbot import on the server takes any size)


@dataclass(frozen=True)
class Attachment:
    """A file a member sent (a CSV, a vCard), or a contact they shared from their phone (as a
    vCard), as the adapter received it. `data` is None when the adapter did not fetch it, and
    `problem` says why: "too_large" (over MAX_ATTACHMENT), "unreachable", or "not_fetched"
    (sent by someone who is no member)."""

    name: str
    data: bytes | None = field(default=None, repr=False)
    size: int = 0
    mime: str = ""
    contact: bool = False
    problem: str | None = None


@dataclass(frozen=True)
class Incoming:
    """One message or button press from a member, already stripped of platform details."""

    chat: ChatRef
    user: UserRef
    text: str = ""
    action: str | None = None  # set when a button was pressed instead of text typed
    message_id: str | None = None  # platform id, for de-duplication of redeliveries
    # what the adapter already knows about addressing; group chats pass False when not addressed
    addressed: bool = True
    attachment: Attachment | None = None  # a file or shared contact sent to be imported


@dataclass(frozen=True)
class Outgoing:
    """Replies on their way to a chat other than the one that spoke (an announcement)."""

    chat: ChatRef
    replies: tuple[Reply, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Outcome:
    """Everything one incoming message caused: the answer in its own chat, and announcements
    for other chats (the team's notification channel). The core only returns it; whoever runs
    the adapters delivers it."""

    replies: tuple[Reply, ...] = ()
    announcements: tuple[Outgoing, ...] = ()


class DeliveryFailed(Exception):
    """A platform refused or could not take a message. `permanent` (the bot was blocked, the
    chat is gone) means retrying will not help; otherwise try again later, after `retry_after`
    seconds when the platform said so."""

    def __init__(self, reason: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.retry_after = retry_after


class Sender(Protocol):
    """What the reminder loop delivers through: each adapter is one for its own chats."""

    name: str  # the adapter name a ChatRef carries

    async def send(self, chat: ChatRef, replies: list[Reply]) -> None:
        """Deliver, or raise DeliveryFailed. Returning means the platform accepted it."""
