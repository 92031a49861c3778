"""Block Kit and mrkdwn: Reply and HomeView -> Slack blocks, and Slack's wire text -> what was typed.

Blocks are built with slack_sdk's models, whose `to_dict()` checks Block Kit's limits (text
lengths, elements per block) and raises rather than let Slack refuse the message. We only cut
or split where our content can run past a limit: long text into several sections, many buttons
into several actions blocks, long labels shortened.
"""

from __future__ import annotations

import html
import re
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from crmbot.home import HomeView, Line, Section
from crmbot.messages import (
    Button,
    Card,
    Reply,
)

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

SECTION_LIMIT = SectionBlock.text_max_length
FIELD_LIMIT = 2000  # Slack's maximum for one section field's text; slack_sdk does not check it
MESSAGE_BLOCKS = 50  # Slack's maximum per message; slack_sdk checks views (100), not messages


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


def card_block(card: Card) -> SectionBlock:
    fields = [MarkdownTextObject(text=f"*{literal(label)}*\n{literal(value)}"[:FIELD_LIMIT])
              for label, value in card.fields[:SectionBlock.fields_max_length]]
    return SectionBlock(text=MarkdownTextObject(text=f"*{literal(card.title)}*"[:SECTION_LIMIT]), fields=fields or None)


def text_blocks(text: str) -> list[SectionBlock]:
    """mrkdwn text as sections, split on line breaks where it is too long for one."""
    return [SectionBlock(text=MarkdownTextObject(text=chunk)) for chunk in chunks(text)]


def button_blocks(buttons: tuple[Button, ...]) -> list[ActionsBlock]:
    per_block = ActionsBlock.elements_max_length
    return [
        ActionsBlock(block_id=f"crm_actions_{start // per_block}", elements=[
            ButtonElement(
                action_id=f"{ACTION_PREFIX}{start + offset}",  # unique within the message
                text=PlainTextObject(text=button.label[:ButtonElement.text_max_length] or "…", emoji=True),
                value=button.action,
            )
            for offset, button in enumerate(buttons[start:start + per_block])
        ])
        for start in range(0, len(buttons), per_block)
    ]


def reply_blocks(reply: Reply) -> list[dict[str, Any]]:
    """Block Kit for one reply: the card as a section with fields, the text, the buttons. Text
    that would not fit in one message is cut, never the buttons."""
    head: list[Block] = []
    text = reply.text
    if reply.card is not None:
        head.append(card_block(reply.card))
        text = _without_card_header(text, reply.card)
    buttons = button_blocks(reply.buttons)
    body = text_blocks(mrkdwn(text))[:max(0, MESSAGE_BLOCKS - len(head) - len(buttons))]
    return [block.to_dict() for block in head + body + buttons]


def fallback_text(reply: Reply) -> str:
    return plain(reply.text)[:SECTION_LIMIT] or (plain(reply.card.title) if reply.card else "") or "…"


def choice_note(text: str) -> dict[str, Any]:
    """The context line a pressed message gets in place of its buttons ("Alice chose …")."""
    return ContextBlock(elements=[MarkdownTextObject(text=text)]).to_dict()


# -- App Home ------------------------------------------------------------------------------------


def _line(line: Line) -> str:
    label = f"*{literal(line.label)}*: " if line.label else ""
    return f"• {label}{literal(line.text)}"


def _section_text(section: Section) -> str:
    rows = [f"*{literal(section.title)}*", *map(_line, section.lines)]
    if section.note:
        rows.append(literal(section.note))
    return "\n".join(rows)


def home_view(home: HomeView) -> dict[str, Any]:
    """The Home tab: title, when it was made, the sections between dividers; a stranger's
    notice alone. slack_sdk's View refuses more blocks than Slack shows."""
    blocks: list[Block] = []
    if home.title:
        blocks.append(HeaderBlock(text=PlainTextObject(text=home.title, emoji=True)))
    if home.updated:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=literal(home.updated))]))
    for index, section in enumerate(home.sections):
        if index:
            blocks.append(DividerBlock())
        blocks += text_blocks(_section_text(section))
    if home.notice:
        blocks += text_blocks(mrkdwn(home.notice))
    return View(type="home", blocks=blocks).to_dict()


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
