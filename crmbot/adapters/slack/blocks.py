"""Block Kit and mrkdwn: Reply -> Slack blocks, and Slack's wire text -> what was typed."""

from __future__ import annotations

import html
import logging
import re
from typing import Any

from crmbot.messages import (
    Button,
    Card,
    Reply,
)

log = logging.getLogger(__name__)

NAME = "slack"
EVENTS_PATH = "/slack/events"
ACTION_PREFIX = "crm:"  # our buttons' action_id; the value is the core's "c:<token>"


# -- mrkdwn rendering ------------------------------------------------------------------------------

# The templates' bold marker. A closing "**" must not be followed by another "*", so a bolded
# name that itself ends in "*" ("*co*") keeps its own star inside the bold.
BOLD = re.compile(r"\*\*(.+?)\*\*(?!\*)", re.DOTALL)
# Slack has no escape for its formatting characters: user text gets look-alikes instead, so
# a customer called "*co*" or "_x_" shows as written and never turns text bold or italic.
_LOOKALIKE = {"*": "\u2217", "~": "\u223c", "`": "\u02cb"}
# "_" only where it could open italics: e-mail addresses like john_smith@x keep theirs.
_UNDERSCORE_OPENER = re.compile(r"(?<!\w)_|_(?!\w)")

SECTION_LIMIT = 3000  # Slack's maximum for a section's text
MAX_FIELDS = 10
MAX_BUTTONS = 25  # per actions block
BUTTON_LABEL = 75


def escape(text: str) -> str:
    """The three characters Slack's mrkdwn wants as entities; `<!channel>` stays harmless."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def literal(text: str) -> str:
    """User-supplied text, shown exactly as written: escaped, formatting characters defused."""
    text = escape(text)
    text = "".join(_LOOKALIKE.get(ch, ch) for ch in text)
    return _UNDERSCORE_OPENER.sub("\uff3f", text)


def mrkdwn(text: str) -> str:
    """A rendered template in Slack's mrkdwn: `**x**` becomes `*x*`, everything else literal."""
    out, last = [], 0
    for match in BOLD.finditer(text):
        out.append(literal(text[last:match.start()]))
        inner = match.group(1)
        # Slack only bolds when the stars hug the text: keep outer spaces outside.
        stripped = inner.strip()
        if stripped:
            lead, trail = inner[: len(inner) - len(inner.lstrip())], inner[len(inner.rstrip()):]
            out.append(f"{lead}*{literal(stripped)}*{trail}")
        else:
            out.append(literal(inner))
        last = match.end()
    out.append(literal(text[last:]))
    return "".join(out)


def plain(text: str) -> str:
    """The notification fallback: mrkdwn too, but without the bold markers."""
    return literal(BOLD.sub(r"\1", text))


def chunks(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split on line breaks into pieces Slack accepts in one section."""
    pieces, current = [], ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        pieces.append(current)
    return [p for p in pieces if p.strip()]


def _without_card_header(text: str, card: Card) -> str:
    """The card's title and fields are drawn as a section with fields; drop the lines of the
    text's header that only repeat them (the rest: notes, deals, history, stays)."""
    values = [card.title] + [value for _, value in card.fields if value and value != "—"]
    lines = text.split("\n")
    kept, in_header = [], True
    for index, line in enumerate(lines):
        if in_header and index > 0 and (not line.strip() or line.lstrip().startswith("**")):
            in_header = False
        if in_header and any(value in line for value in values):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def card_block(card: Card) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": f"*{literal(card.title)}*"[:SECTION_LIMIT]}}
    fields = [
        {"type": "mrkdwn", "text": f"*{literal(label)}*\n{literal(value)}"[:2000]}
        for label, value in card.fields[:MAX_FIELDS]
    ]
    if fields:
        block["fields"] = fields
    return block


def button_blocks(buttons: tuple[Button, ...]) -> list[dict[str, Any]]:
    blocks = []
    for start in range(0, len(buttons), MAX_BUTTONS):
        elements = [
            {
                "type": "button",
                "action_id": f"{ACTION_PREFIX}{start + offset}",  # unique within the message
                "text": {"type": "plain_text", "text": button.label[:BUTTON_LABEL] or "…", "emoji": True},
                "value": button.action,
            }
            for offset, button in enumerate(buttons[start:start + MAX_BUTTONS])
        ]
        blocks.append({"type": "actions", "block_id": f"crm_actions_{start // MAX_BUTTONS}", "elements": elements})
    return blocks


def reply_blocks(reply: Reply) -> list[dict[str, Any]]:
    """Block Kit for one reply: the card as a section with fields, the text, the buttons."""
    blocks: list[dict[str, Any]] = []
    text = reply.text
    if reply.card is not None:
        blocks.append(card_block(reply.card))
        text = _without_card_header(text, reply.card)
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in chunks(mrkdwn(text))]
    blocks += button_blocks(reply.buttons)
    return blocks[:50]


def fallback_text(reply: Reply) -> str:
    return plain(reply.text)[:SECTION_LIMIT] or (plain(reply.card.title) if reply.card else "") or "…"


# -- incoming Slack text -------------------------------------------------------------------------

_SLACK_TOKEN = re.compile(r"<([^<>]*)>")


def slack_to_plain(text: str, bot_user_id: str | None = None) -> str:
    """Slack's wire format back to what the person typed: `<mailto:a@b|a@b>` → `a@b`, links and
    channel names to their label, our own mention dropped, entities decoded."""

    def token(match: re.Match) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            if bot_user_id and target[1:] == bot_user_id:
                return ""
            return "@" + (label or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        if target.startswith("mailto:"):
            return label or target[len("mailto:"):]
        if target.startswith("tel:"):
            return label or target[len("tel:"):]
        return label or target

    return html.unescape(_SLACK_TOKEN.sub(token, text)).strip()


def dm_chat(channel: str, user: str) -> str:
    """A DM is addressed by the user id: chat.postMessage to a user id lands in their DM with
    the bot, and the core records it as the member's chat for reminders."""
    return user if channel.startswith("D") else channel
