"""Arbitrary text never breaks crmbot: every message gets a reply, never an exception.

Hypothesis feeds control characters, right-to-left marks, emoji, SQL fragments and texts up to
20k characters to the real Bot through the console adapter, on a seeded SQLite file. The app
is built once per module on its own event loop (an asyncio.Runner): hypothesis runs each
example inside one test call, so function-scoped async fixtures would be shared across
examples anyway, and one loop keeps the async engine's connections valid between examples.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from crmbot import sample
from crmbot.adapters.console import ConsoleChat
from crmbot.app import App, build, console_member
from crmbot.config import Settings
from crmbot.i18n import I18n
from crmbot.intents.parse import INTENTS, Parser
from crmbot.store import models
from tests.support.examples import examples

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
BUSINESS = (models.Customer, models.Interaction, models.Deal, models.Complaint, models.FollowUp)
ran = {"bot": 0, "bot_unknown": 0, "parser": 0}

SQL = ["'; DROP TABLE customers; --", "Robert'); DELETE FROM deals;--", "1 OR 1=1", "\" OR \"\"=\"",
       "UNION SELECT * FROM members", "%", "_", "\\", "NULL", "' OR 'a'='a", "$1", "?", ":name"]
ODD = ["\u202e", "\u200f", "\u200b", "\ufeff", "\x00", "\x1b[31m", "\r\n", "\t", "שלום", "مرحبا", "🙂", "👍🏽",
       "🇨🇿", "𝕳𝖊𝖑𝖑𝖔", "ｆｕｌｌ", "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǫ̗", "**", "<b>", "&amp;", "{{ x }}", "{% if %}", "/", "//", "@bot"]
# intent words mixed in, so the handlers (not only the "unknown" reply) meet the junk too
WORDS = ["called", "new deal", "remind me tmrw 10am", "/deal", "/undo", "/find", "/remind", "lost", "signed", "€", "$",
         "50k", "1e999", "-5", "novak", "jana", "complaint", "resolved", "summary", "agenda", "on the 31st", "at 25:99"]
pieces = st.one_of(st.text(), st.sampled_from(SQL), st.sampled_from(ODD), st.sampled_from(WORDS), st.characters().map(str))
messages = st.one_of(
    st.text(),
    st.lists(pieces, max_size=8).map(" ".join),
    st.builds(lambda s, n: (s * n)[:20_000], st.text(min_size=1, max_size=8), st.integers(500, 20_000)),
)


class World:
    """The sample team on a SQLite file, Alice at the console, one event loop for all of it."""

    def __init__(self, path) -> None:
        self.runner = asyncio.Runner()
        # no rate limit: hypothesis sends hundreds of messages in seconds
        self.app: App = build(Settings(rate_limit_per_minute=10**9), db=f"sqlite:///{path}", clock=lambda: NOW)
        self.runner.run(self._seed())
        self.alice = ConsoleChat(self.app.bot, "Alice")

    async def _seed(self) -> None:
        async with self.app.db.sessions() as session, session.begin():
            await sample.seed(session, NOW)
        await console_member(self.app, "Alice", NOW, team_name=sample.TEAM)

    async def _snapshot(self) -> list:
        async with self.app.db.sessions() as session:
            out = []
            for model in BUSINESS:
                rows = await session.scalars(select(model).order_by(model.id))
                columns = [c.key for c in model.__table__.columns]
                out.append([tuple(getattr(r, c) for c in columns) for r in rows])
            return out

    def snapshot(self) -> list:
        return self.runner.run(self._snapshot())

    def send(self, text: str):
        # straight into Bot.handle with the console adapter's Incoming; ConsoleChat.send's own
        # "a number presses a button" shortcut is tested separately below
        return list(self.runner.run(self.app.bot.handle(self.alice.incoming(text))).replies)

    def close(self) -> None:
        self.runner.run(self.app.close())
        self.runner.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    built = World(tmp_path_factory.mktemp("fuzz") / "crm.db")
    yield built
    built.close()


@pytest.fixture(scope="module")
def parser() -> Parser:
    return Parser(I18n())


# the world is module-scoped, so sharing it between examples is intended, not an accident
@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=messages)
@example(text="")  # the bad input, always tried
@example(text="x" * 10_000)
@example(text="🙂" * 20_000)
@example(text="'; DROP TABLE customers; --")
@example(text="new deal cyberdyne $")
@example(text="remind me yesterday call jana")
def test_any_text_gets_a_reply_and_no_intent_changes_nothing(world, parser, text):
    understood = parser.parse(text, "en", NOW, "Europe/Prague")
    before = world.snapshot() if understood.name == "unknown" else None
    replies = world.send(text)
    ran["bot"] += 1
    assert isinstance(replies, list) and replies, f"no reply to {text[:80]!r}"
    for reply in replies:
        assert reply.text and reply.text.strip(), f"empty reply to {text[:80]!r}"
        assert "Traceback" not in reply.text and 'File "' not in reply.text
    # the generic error reply means an exception was swallowed: a bug, even if polite
    error = world.app.i18n.render("en", "error")
    assert not any(r.text == error for r in replies), f"handling {text[:80]!r} raised (see the log)"
    if before is not None:
        # nothing was asked, so nothing in the CRM may change
        ran["bot_unknown"] += 1
        assert world.snapshot() == before, f"tables changed by {text[:80]!r}"


@settings(max_examples=examples(1000), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=messages, locale=st.sampled_from(["en", "cs", "sl", "zh", "xx"]), tz=st.sampled_from(["UTC", "Europe/Prague", "Asia/Baku", "Pacific/Kiritimati"]))
def test_parser_never_raises_and_names_a_known_intent(parser, text, locale, tz):
    intent = parser.parse(text, locale, NOW, tz)
    ran["parser"] += 1
    # beyond the core ids, only intents some language's phrase table names (team commands…)
    named = set()
    for code in parser.i18n.codes:
        data = parser.i18n.language(code).data
        named |= set(data.get("commands", {}).values()) | set(data.get("intents", {}))
    assert intent.name in INTENTS or intent.name in named, intent.name
    assert isinstance(intent.slots.get("text", ""), str)
    due = intent.slots.get("due")
    assert due is None or due.utcoffset() is not None


def test_console_send_survives_a_superscript_digit(world):
    replies = world.runner.run(world.alice.send("²"))
    assert replies and replies[0].text


def test_report_how_many_examples_ran(capsys):
    # runs last in this file: shown even when output is captured
    with capsys.disabled():
        print(f"\nfuzz: {ran['bot']} messages to Bot.handle ({ran['bot_unknown']} with no intent: tables checked "
              f"unchanged), {ran['parser']} to the parser alone")
