"""The Telegram adapter: the real python-telegram-bot, started the way `crmbot run` starts it,
against the local Bot API stand-in, through long polling and through the webhook.

Nothing sleeps: every wait is on a call the stand-in records. A message that must get no
answer is followed by a "barrier" message from a stranger, pushed once the message was fetched
(polling handles different chats' updates of one batch at once, but a batch only after the one
before it is done with; a webhook answers only once the update is handled), so once the
barrier's refusal arrives, the message before it has been dealt with.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import sys
from pathlib import Path
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from crmbot import sample
from crmbot.adapters.telegram import (
    TelegramSender,
    bot_username,
    build_application,
    render_html,
    split_html,
)
from crmbot.app import App
from crmbot.config import Settings
from crmbot.messages import Button, ChatRef, DeliveryFailed, Image, Reply
from crmbot.reminders import ReminderLoop
from crmbot.server import SECRET_HEADER, Services, serve
from crmbot.store import models, teams

from tests.conftest import NOW
from tests.test_delivery import impatient, sqlite_locked
from tests.standins.telegram_api import TelegramStandIn, Upload, utf16_len
from tests.standins.telegram_api import render_html as telegram_plain

TOKEN = "123:ABC"
BOT = "crmbot_test_bot"
SECRET = "s3cret-token"
HOOK = "https://crm.example.com/telegram/hook"
ALICE, BOB, STRANGER, BARRIER = 1001, 1002, 6666, 9999
GROUP = -100500


@pytest.fixture
def db_url(sqlite_db_url) -> str:
    """SQLite only: these tests are about the platform; the store is covered on both engines elsewhere."""
    return sqlite_db_url


@pytest.fixture
async def api():
    # a short long-poll keeps shutdown quick; pushed updates wake it at once anyway
    async with TelegramStandIn(token=TOKEN, bot_username=BOT, max_poll_seconds=0.5) as stand_in:
        yield stand_in


def settings_for(api: TelegramStandIn, **extra: Any) -> Settings:
    return Settings(telegram_token=TOKEN, telegram_api_url=api.base_url, http_host="127.0.0.1", http_port=0, **extra)


async def bind(app: App, name: str, telegram_id: int) -> None:
    """What `crmbot member add NAME --telegram ID` does."""
    async with app.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, sample.TEAM)
        member = await teams.member_by_name(session, team.id, name)
        await teams.bind_identity(session, member, "telegram", str(telegram_id), NOW, chat_id=str(telegram_id))


async def count(app: App, model, *where) -> int:
    async with app.db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def rows(app: App, model, *where) -> list:
    async with app.db.sessions() as session:
        return list(await session.scalars(select(model).where(*where).order_by(*model.__table__.primary_key.columns)))


def plain(call) -> str:
    """What the user sees: the sent HTML as Telegram parses it (raises on invalid HTML)."""
    return telegram_plain(call.params["text"])


class Telegram:
    """Delivers updates the way the running mode receives them, and waits for the answers."""

    def __init__(self, api: TelegramStandIn, services: Services, mode: str) -> None:
        self.api, self.services, self.mode = api, services, mode

    @property
    def hook_url(self) -> str:
        return f"http://127.0.0.1:{self.services.http.port}/telegram/hook"

    async def deliver(self, update: dict) -> None:
        if self.mode == "polling":
            self.api.push_update(update)
        else:
            assert await self.api.post_webhook(self.hook_url, update, secret_token=SECRET) == 200

    async def fetched(self, update: dict) -> None:
        """Return once an update pushed after this one is sure to be handled after it."""
        if self.mode == "polling":
            await self.api.wait_fetched(update)

    async def send(self, update: dict, expect: int = 1) -> list:
        """Deliver an update; return the `expect` sendMessage calls it caused."""
        before = len(self.api.calls_to("sendMessage"))
        await self.deliver(update)
        calls = await self.api.wait_for("sendMessage", before + expect)
        return calls[before:]

    async def say(self, user: int, text: str, **kw: Any) -> list:
        chat = kw.pop("chat_id", user)
        expect = kw.pop("expect", 1)
        return await self.send(self.api.text_update(chat, user, text, **kw), expect)

    async def unanswered(self, update: dict) -> None:
        """Deliver an update that must get no message, and prove it got none."""
        before = len(self.api.calls_to("sendMessage"))
        await self.deliver(update)
        await self.fetched(update)
        [barrier] = await self.say(BARRIER, "hello", first_name="Barrier")
        after = self.api.calls_to("sendMessage")[before:]
        assert after == [barrier], [plain(c) for c in after]

    def keyboard(self, chat_id: int) -> tuple[int, list[dict]]:
        """The bot's latest message with buttons in a chat: its id and its buttons."""
        for (chat, message_id), message in reversed(self.api.messages.items()):
            if chat == chat_id and message.get("reply_markup"):
                return message_id, [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
        raise AssertionError(f"no message with buttons in chat {chat_id}")

    async def press(self, chat_id: int, user: int, label_start: str, expect: int = 1, **kw: Any) -> list:
        message_id, buttons = self.keyboard(chat_id)
        button = next(b for b in buttons if b["text"].startswith(label_start))
        update = self.api.callback_update(chat_id, user, button["callback_data"], message_id, **kw)
        answered = len(self.api.calls_to("answerCallbackQuery"))
        if expect:
            sent = await self.send(update, expect)
        else:
            await self.deliver(update)
            sent = []
        await self.api.wait_for("answerCallbackQuery", answered + 1)
        return sent


async def start(app: App, api: TelegramStandIn, mode: str) -> Services:
    extra = {"telegram_webhook_url": HOOK, "telegram_webhook_secret": SECRET} if mode == "webhook" else {}
    # the reminder loop (when it exists) would post its own reminders here: these tests are about replies
    services = Services(replace(app, settings=settings_for(api, **extra)), telegram=True, slack=False, reminders=False)
    await services.start()
    return services


@pytest.fixture(params=["polling", "webhook"])
async def tg(request, demo, api):
    await bind(demo, "Alice", ALICE)
    await bind(demo, "Bob", BOB)
    services = await start(demo, api, request.param)
    try:
        yield Telegram(api, services, request.param)
    finally:
        await services.stop()


@pytest.fixture
async def polling(demo, api):
    await bind(demo, "Alice", ALICE)
    await bind(demo, "Bob", BOB)
    services = await start(demo, api, "polling")
    try:
        yield Telegram(api, services, "polling")
    finally:
        await services.stop()


# -- starting ------------------------------------------------------------------------------------


async def test_polling_start_registers_the_command_menu_in_every_locale(polling, demo):
    api = polling.api
    assert api.calls_to("getMe") and api.calls_to("deleteWebhook")
    assert not api.calls_to("setWebhook")
    english = demo.i18n.languages["en"].strings["menu"]
    for code, language in demo.i18n.languages.items():
        listed = api.commands.get(f'{{"type": "default"}}|{code}')
        if not language.strings.get("menu"):
            assert listed is None  # such a language sees the default menu
            continue
        assert {c["command"]: c["description"] for c in listed} == {**english, **language.strings["menu"]}
    default = api.commands['{"type": "default"}|']  # for every other language: English
    assert {c["command"]: c["description"] for c in default} == english


async def test_webhook_sets_the_secret_and_refuses_requests_without_it(demo, api):
    await bind(demo, "Alice", ALICE)
    services = await start(demo, api, "webhook")
    try:
        chat = Telegram(api, services, "webhook")
        [set_webhook] = api.calls_to("setWebhook")
        assert set_webhook.params["url"] == HOOK and set_webhook.params["secret_token"] == SECRET
        assert set(set_webhook.params["allowed_updates"]) == {"message", "callback_query"}
        assert not api.calls_to("getUpdates")

        update = api.text_update(ALICE, ALICE, "called jana, wants a quote by friday")
        assert await api.post_webhook(chat.hook_url, update) == 403
        assert await api.post_webhook(chat.hook_url, update, secret_token="guess") == 403
        assert not api.calls_to("sendMessage")
        assert await count(demo, models.Interaction, models.Interaction.summary.contains("quote by friday")) == 0

        import aiohttp

        async with aiohttp.ClientSession() as session:
            json_type = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
            for body in (b"{nope", b'{"hello": 1}', b'{"update_id": 5, "message": {"text": 3}}'):
                async with session.post(chat.hook_url, data=body, headers=json_type) as response:
                    assert response.status == 400, body
            async with session.post(chat.hook_url, data=b'{"update_id": 5}', headers={SECRET_HEADER: SECRET}) as response:
                assert response.status == 415  # Telegram posts JSON, and says so

        assert await api.post_webhook(chat.hook_url, update, secret_token=SECRET) == 200
        [answer] = await api.wait_for("sendMessage")
        assert "Jana Nováková" in plain(answer)
        assert await count(demo, models.Interaction, models.Interaction.summary.contains("quote by friday")) == 1
    finally:
        await services.stop()


async def test_webhook_without_a_configured_secret_makes_one(demo, api):
    services = Services(replace(demo, settings=settings_for(api, telegram_webhook_url=HOOK)), telegram=True, slack=False, reminders=False)
    await services.start()
    try:
        secret = api.calls_to("setWebhook")[0].params["secret_token"]
        assert len(secret) >= 32
        url = f"http://127.0.0.1:{services.http.port}/telegram/hook"
        assert await api.post_webhook(url, api.text_update(STRANGER, STRANGER, "hi")) == 403
        assert await api.post_webhook(url, api.text_update(STRANGER, STRANGER, "hi"), secret_token=secret) == 200
    finally:
        await services.stop()


async def wait_for_text(api: TelegramStandIn, needle: str) -> Any:
    """The first sendMessage showing `needle`, whatever else was sent meanwhile."""
    seen = 1
    while True:
        calls = await api.wait_for("sendMessage", seen, timeout=10)
        found = [c for c in calls if needle in plain(c)]
        if found:
            return found[0]
        seen = len(calls) + 1


async def test_serve_runs_until_stopped_with_the_reminder_loop(demo, api, unreminded):
    await bind(demo, "Alice", ALICE)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(replace(demo, settings=settings_for(api)), telegram=True, slack=False, stop=stop))
    try:
        await api.wait_for("getUpdates")
        if importlib.util.find_spec("crmbot.reminders.loop") is not None:
            # an overdue follow-up of Alice's not reminded yet: it reaches her Telegram chat,
            # and its Done button works like any other
            reminder = await wait_for_text(api, "Confirm camera count with Petr")
            assert reminder.params["chat_id"] == ALICE and reminder.params["reply_markup"]
            chat = Telegram(api, None, "polling")
            await chat.press(ALICE, ALICE, "✅")
            [followup] = await rows(demo, models.FollowUp, models.FollowUp.note.contains("camera count"))
            assert followup.state != "pending"
        api.push_update(api.text_update(ALICE, ALICE, "/help"))
        assert await wait_for_text(api, "Hi Alice")
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def test_serve_without_the_slack_adapter_exits_with_a_clear_message(demo, monkeypatch):
    monkeypatch.setitem(sys.modules, "crmbot.adapters.slack", None)  # an installation without it
    with pytest.raises(SystemExit, match="Slack support is not available"):
        await serve(demo, telegram=False, slack=True, stop=asyncio.Event())


def test_run_needs_a_platform():
    from crmbot.cli import cli

    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code == 1 and "--telegram" in result.output


async def test_serve_without_a_token_exits_with_a_clear_message(demo):
    with pytest.raises(SystemExit, match="CRMBOT_TELEGRAM_TOKEN"):
        await serve(replace(demo, settings=Settings(telegram_token=None)), telegram=True, slack=False, stop=asyncio.Event())


# -- who may talk ----------------------------------------------------------------------------------


async def test_onboarding_with_an_invite(tg, demo):
    async with demo.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, sample.TEAM)
        code = (await teams.create_invite(session, team.id, "rep", NOW)).code
    carol = 2001
    [welcome] = await tg.say(carol, f"/start {code}", first_name="Carol", last_name="Jones", language_code="cs-CZ")
    assert "Carol Jones" in plain(welcome)
    [identity] = await rows(demo, models.Identity, models.Identity.platform == "telegram", models.Identity.external_id == str(carol))
    assert identity.chat_id == str(carol)  # where her reminders will go
    [member] = await rows(demo, models.Member, models.Member.id == identity.member_id)
    assert member.name == "Carol Jones" and member.role == "rep"
    assert member.locale == demo.i18n.pick("cs-CZ")  # Telegram's language_code, when crmbot speaks it
    [card] = await tg.say(carol, "/find petr dvorak", first_name="Carol")
    assert "Dvořák Stavby" in plain(card)
    # the code is spent
    [refused] = await tg.say(2002, f"/start {code}", first_name="Dave")
    assert "invite" in plain(refused)


async def test_a_stranger_is_refused_politely_and_sees_no_data(tg, demo):
    [refused] = await tg.say(STRANGER, "novak")
    assert "invite" in plain(refused) and "Novák" not in plain(refused)
    [refused] = await tg.say(STRANGER, f"@{BOT} /find novak", chat_id=GROUP, chat_type="supergroup")
    assert "invite" in plain(refused) and "Novák" not in plain(refused)
    await tg.unanswered(tg.api.text_update(GROUP, STRANGER, "novak", chat_type="supergroup"))
    assert await count(demo, models.Identity, models.Identity.external_id == str(STRANGER)) == 0


# -- a working day -----------------------------------------------------------------------------------


async def test_a_full_conversation(tg, demo):
    api = tg.api
    [logged] = await tg.say(ALICE, "called jana, wants a quote by friday")
    assert "Jana Nováková" in plain(logged)
    assert await count(demo, models.Interaction, models.Interaction.summary.contains("quote by friday")) == 1

    # a look-up that needs a choice: buttons, one press, the message shows what was chosen
    [which] = await tg.say(ALICE, "/find novak")
    message_id, buttons = tg.keyboard(ALICE)
    assert {"Jan Novák (Acme s.r.o.)", "Jana Nováková (Beta Logistics)"} <= {b["text"] for b in buttons}
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)
    [card] = await tg.press(ALICE, ALICE, "Jan Novák (Acme")
    assert "Jan Novák (Acme s.r.o.)" in plain(card) and "Acme website" in plain(card)
    [edit] = api.calls_to("editMessageText")
    assert edit.params["message_id"] == message_id and "Jan Novák (Acme s.r.o.)" in telegram_plain(edit.params["text"])
    assert "reply_markup" not in api.messages[(ALICE, message_id)]  # the buttons are gone
    assert api.calls_to("answerCallbackQuery")[-1].params.get("text") is None
    # pressing it again (a double tap, an old client) does no harm: a toast, nothing else
    acme = next(b for b in buttons if b["text"].startswith("Jan Novák (Acme"))
    again = api.callback_update(ALICE, ALICE, acme["callback_data"], message_id)
    await tg.deliver(again)
    [*_, toast] = await api.wait_for("answerCallbackQuery", 2)
    assert "Already done" in toast.params["text"]

    [moved] = await tg.say(ALICE, "/move cyberdyne qualified")
    assert "Qualified" in plain(moved)
    [deal] = await rows(demo, models.Deal, models.Deal.title == "Cyberdyne pilot")
    assert deal.stage == "qualified"

    [complaint] = await tg.say(ALICE, "complaint from sarah connor: the pilot dashboard is broken")
    assert "Sarah Connor" in plain(complaint)
    assert await count(demo, models.Complaint, models.Complaint.text.contains("dashboard")) == 1

    [reminder] = await tg.say(ALICE, "remind me to call Tomas Svoboda tomorrow 10am")
    assert "Tomáš Svoboda" in plain(reminder)
    [followup] = (await rows(demo, models.FollowUp))[-1:]
    assert followup.due_at.isoformat() == "2026-11-26T09:00:00+00:00"  # 10:00 in Prague
    # the last messages sent are the ones above; nothing extra went out for the second press
    assert len(api.calls_to("sendMessage")) == 6


async def test_a_long_list_turns_its_pages_in_the_same_message(tg, demo):
    api = tg.api
    [first] = await tg.say(ALICE, "show customers")
    assert plain(first).endswith("1–10 of 40")
    message_id, buttons = tg.keyboard(ALICE)
    assert [b["text"] for b in buttons] == ["Next ▶"]
    sent = len(api.calls_to("sendMessage"))

    await tg.press(ALICE, ALICE, "Next", expect=0)
    [edit] = await api.wait_for("editMessageText", 1)
    assert edit.params["message_id"] == message_id and telegram_plain(edit.params["text"]).endswith("11–20 of 40")
    assert tg.keyboard(ALICE)[0] == message_id  # the same message now carries the page's buttons
    assert [b["text"] for b in tg.keyboard(ALICE)[1]] == ["◀ Previous", "Next ▶"]

    await tg.press(ALICE, ALICE, "◀ Previous", expect=0)
    [*_, back] = await api.wait_for("editMessageText", 2)
    assert telegram_plain(back.params["text"]) == plain(first)
    assert len(api.calls_to("sendMessage")) == sent  # no page was sent as a message of its own
    assert "👉" not in telegram_plain(back.params["text"])  # not marked as a choice made


async def test_a_reply_refused_for_good_is_logged_and_the_bot_keeps_going(polling, demo, caplog):
    polling.api.fail_next("sendMessage", 403)
    with caplog.at_level(logging.WARNING, logger="crmbot.app"):
        await polling.say(ALICE, "/help")  # refused by the stand-in, recorded all the same
        [answer] = await polling.say(ALICE, "/help")  # handled after the first one was dealt with
    assert "Alice" in plain(answer)
    assert "a telegram chat refused a reply for good" in caplog.text
    assert await count(demo, models.PendingReply) == 0  # sending it again would not help


async def test_a_429_is_waited_out_and_a_5xx_tried_again_in_line(polling, demo):
    api = polling.api
    api.fail_next("sendMessage", 429, retry_after=1)
    *_, answer = await polling.say(ALICE, "/help", expect=2)
    api.fail_next("sendMessage", 500, times=2)
    *_, again = await polling.say(ALICE, "/help", expect=3)
    assert [a.status for a in api.answers if a.method == "sendMessage"] == [429, 200, 500, 500, 200]
    assert "Alice" in plain(answer) and "Alice" in plain(again)
    assert await count(demo, models.PendingReply) == 0


async def test_a_reply_telegram_cannot_take_is_kept_and_sent_in_order_when_it_is_back(polling, demo):
    api = polling.api
    api.fail_next("sendMessage", 500, times=3)  # the first try and both retries
    await polling.say(ALICE, "called jana, wants a quote by friday", expect=3)
    assert await count(demo, models.Interaction, models.Interaction.summary.contains("quote by friday")) == 1
    # Telegram is back, but the next answer to Alice waits behind the kept one; Bob's does not
    await polling.say(ALICE, "/help", expect=0)
    [bobs] = await polling.say(BOB, "/help", first_name="Bob")
    assert "Bob" in plain(bobs)
    kept = await rows(demo, models.PendingReply)
    assert [(k.chat_id, len(k.replies)) for k in kept] == [(str(ALICE), 1), (str(ALICE), 1)]

    before = len(api.calls_to("sendMessage"))
    loop = ReminderLoop(demo.db, demo.i18n, demo.senders, demo.bot.clock, digests_enabled=False)
    report = await loop.run_once()
    assert len(report.replies.sent) == 2
    to_alice = [plain(c) for c in api.calls_to("sendMessage")[before:] if c.params["chat_id"] == ALICE]
    [logged, helped] = [t for t in to_alice if not t.startswith("⏰")]  # her overdue reminder went out too
    assert "Jana Nováková" in logged and "Hi Alice" in helped
    assert await count(demo, models.PendingReply) == 0


async def test_a_reply_kept_through_a_long_outage_goes_with_its_quote_once_telegram_takes_a_message_again(demo, api, clock):
    """Fault run d: the replies kept early in an 8-minute outage had backed off for minutes by its
    end and went out minutes after Telegram was back. The first message Telegram takes again
    (here Bob's answer) brings them forward: the next pass sends them, quoting their question."""
    await bind(demo, "Alice", ALICE)
    await bind(demo, "Bob", BOB)
    services = await start(demo, api, "webhook")
    try:
        chat = Telegram(api, services, "webhook")
        outage = api.outage(3600, methods=["sendMessage"], status=500)
        question = api.text_update(GROUP, ALICE, "/note jana wants a quote by friday", chat_type="supergroup")
        await chat.deliver(question)  # handled and committed; Telegram cannot take the answer
        [kept] = await rows(demo, models.PendingReply)
        asked = question["message"]["message_id"]
        assert (kept.chat_id, kept.thread) == (str(GROUP), str(asked))

        loop = ReminderLoop(demo.db, demo.i18n, demo.senders, clock, digests_enabled=False, backoff_seconds=300,
                            max_backoff_seconds=300)
        down = NOW + timedelta(minutes=8)
        assert (await loop.run_once(down)).replies.retrying == [kept.id]  # still down: minutes of backoff
        [kept] = await rows(demo, models.PendingReply)
        assert kept.next_attempt_at >= down + timedelta(seconds=150)

        api.outages.remove(outage)  # Telegram is back, and takes Bob's next answer
        clock.now = down + timedelta(seconds=5)
        [bobs] = await chat.say(BOB, "/help", first_name="Bob")
        assert "Bob" in plain(bobs)
        report = await loop.run_once(clock.now)
        assert report.replies.sent == [kept.id]
        assert await count(demo, models.PendingReply) == 0
        # what the platform took, and what the fault run counts as an answer: it quotes the question
        taken = [a.json()["result"] for a in api.answers if a.method == "sendMessage" and a.status == 200]
        [answer] = [m for m in taken if m["chat"]["id"] == GROUP]
        assert answer["reply_to_message"]["message_id"] == asked
        assert "Jana Nováková" in answer["text"]
    finally:
        await services.stop()


async def test_polling_confirms_an_update_only_once_it_is_handled(polling, demo, db_url, caplog):
    api = polling.api
    await impatient(demo)
    update = api.text_update(ALICE, ALICE, "called petr dvorak, wants 9 more drones")
    with sqlite_locked(db_url):
        polls = len(api.calls_to("getUpdates"))
        api.push_update(update)
        # fetched, not handled (the database is locked), fetched again: the offset never passed it
        calls = await api.wait_for("getUpdates", polls + 3, timeout=10)
        assert all((c.params.get("offset") or 0) <= update["update_id"] for c in calls)
        assert update in api.pending_updates
    assert not api.calls_to("sendMessage")  # nobody was told "nothing was saved"
    [answer] = await api.wait_for("sendMessage", timeout=10)
    assert "Petr Dvořák" in plain(answer)
    assert await count(demo, models.Interaction, models.Interaction.summary.contains("9 more drones")) == 1
    polls = len(api.calls_to("getUpdates"))
    *_, confirming = await api.wait_for("getUpdates", polls + 1)
    assert confirming.params["offset"] == update["update_id"] + 1
    assert "Traceback" not in caplog.text


class Ticking:
    """An injected clock that moves `step` on every reading: a long batch, in a test that never sleeps."""

    def __init__(self, step: timedelta) -> None:
        self.now, self.step = NOW, step

    def __call__(self):
        self.now += self.step
        return self.now


async def test_polling_confirms_what_is_done_within_a_long_batch_never_ahead_of_it(demo, api):
    """A restart finds many updates waiting: the ones handled so far are confirmed about once a
    second (here every reading of the clock is 0.4 s later), so a worker killed mid-batch does
    not fetch them all again; an update is confirmed only once it was handled (its answer
    went out after its commit)."""
    await bind(demo, "Alice", ALICE)
    demo.bot.clock = Ticking(timedelta(seconds=0.4))
    pushed = [api.push_update(api.text_update(ALICE, ALICE, f"/note jana batch {n}")) for n in range(6)]
    services = await start(demo, api, "polling")
    try:
        await api.wait_for("sendMessage", len(pushed), timeout=20)
        await api.wait_for("getUpdates", 2, timeout=10)
    finally:
        await services.stop()
    first, last = pushed[0]["update_id"], pushed[-1]["update_id"]
    answered = 0  # updates are handled one by one, in order: each answer goes out after its commit
    confirmed_within = []
    for call in api.calls:
        if call.method == "sendMessage":
            answered += 1
        elif call.method == "getUpdates" and call.params.get("offset"):
            offset = call.params["offset"]
            assert offset - first <= answered, (offset, answered)  # never ahead of the commits
            if first < offset <= last:
                confirmed_within.append(offset)
    assert confirmed_within, "nothing confirmed before the batch ended"
    assert len(confirmed_within) < len(pushed) - 1  # about once a second, not once an update
    assert api.pending_updates == []  # and all of it on the way out


async def test_the_webhook_answers_503_while_the_database_is_away_so_telegram_delivers_again(demo, api, db_url):
    await bind(demo, "Alice", ALICE)
    await impatient(demo)
    services = await start(demo, api, "webhook")
    try:
        chat = Telegram(api, services, "webhook")
        update = api.text_update(ALICE, ALICE, "called petr dvorak, wants 12 more drones")
        with sqlite_locked(db_url):
            assert await api.post_webhook(chat.hook_url, update, secret_token=SECRET) == 503
        assert not api.calls_to("sendMessage")
        assert await api.post_webhook(chat.hook_url, update, secret_token=SECRET) == 200  # Telegram's retry
        [answer] = await api.wait_for("sendMessage")
        assert "Petr Dvořák" in plain(answer)
        assert await count(demo, models.Interaction, models.Interaction.summary.contains("12 more drones")) == 1
    finally:
        await services.stop()


# -- groups -------------------------------------------------------------------------------------------


async def test_groups_answer_only_when_addressed_and_attribute_each_sender(tg, demo):
    group = {"chat_id": GROUP, "chat_type": "supergroup"}
    api = tg.api
    await tg.unanswered(api.text_update(GROUP, ALICE, "called jana about lunch", chat_type="supergroup"))
    await tg.unanswered(api.text_update(GROUP, ALICE, "/find@some_other_bot novak", chat_type="supergroup"))
    assert await count(demo, models.Interaction, models.Interaction.summary.contains("lunch")) == 0

    # a mention
    update = api.text_update(GROUP, ALICE, f"@{BOT} called jana about the fleet contract", chat_type="supergroup", first_name="Alice")
    [answer] = await tg.send(update)
    assert "Jana Nováková" in plain(answer)
    assert answer.params["reply_parameters"]["message_id"] == update["message"]["message_id"]
    # a command for this bot, by another member
    [answer] = await tg.say(BOB, f"/remind@{BOT} call petr dvorak tomorrow 9am", first_name="Bob", **group)
    assert "Petr Dvořák" in plain(answer)
    # a reply to the bot
    [answer] = await tg.say(ALICE, "complaint from sarah connor: kiosk screen flickers", reply_to_bot=True, **group)
    assert "Sarah Connor" in plain(answer)

    alice, bob = [(await rows(demo, models.Member, models.Member.name == n))[0].id for n in ("Alice", "Bob")]
    [call] = await rows(demo, models.Interaction, models.Interaction.summary.contains("fleet contract"))
    assert call.member_id == alice
    [followup] = await rows(demo, models.FollowUp, models.FollowUp.note.contains("call petr"))
    assert followup.member_id == bob
    [complaint] = await rows(demo, models.Complaint, models.Complaint.text.contains("kiosk"))
    assert complaint.member_id == alice
    # a group is not anyone's private chat: reminders keep going to the private chats
    assert {i.chat_id for i in await rows(demo, models.Identity, models.Identity.platform == "telegram")} == {str(ALICE), str(BOB)}


async def test_in_a_group_another_members_press_does_no_harm(tg, demo):
    api = tg.api
    await tg.say(ALICE, f"/find@{BOT} novak", chat_id=GROUP, chat_type="supergroup")
    message_id, buttons = tg.keyboard(GROUP)
    await tg.press(GROUP, BOB, "Jan Novák (Acme", expect=0, chat_type="supergroup")
    [toast] = api.calls_to("answerCallbackQuery")
    assert "someone else" in toast.params["text"]
    assert not api.calls_to("editMessageText")
    assert api.messages[(GROUP, message_id)]["reply_markup"]  # still there for Alice
    [card] = await tg.press(GROUP, ALICE, "Jan Novák (Acme", chat_type="supergroup")
    assert "Acme website" in plain(card)
    assert api.calls_to("editMessageText")


async def test_refused_presses_are_toasts_in_the_members_language(polling, demo):
    """Toast or message is decided by the reply's kind, so it works in every language."""
    api = polling.api
    async with demo.db.sessions() as session, session.begin():
        bob = await teams.member_by_name(session, (await teams.team_by_name(session, sample.TEAM)).id, "Bob")
        bob.locale = "cs"
    await polling.say(ALICE, f"/find@{BOT} novak", chat_id=GROUP, chat_type="supergroup")
    await polling.press(GROUP, BOB, "Jan Novák (Acme", expect=0, chat_type="supergroup")
    [toast] = api.calls_to("answerCallbackQuery")
    assert toast.params["text"] == demo.i18n.render("cs", "button_not_yours")
    assert not api.calls_to("editMessageText")
    # his own button answers in the chat; pressed again, the refusal is a toast again
    await polling.say(BOB, "/find novak")
    message_id, buttons = polling.keyboard(BOB)
    acme = next(b for b in buttons if b["text"].startswith("Jan Novák (Acme"))
    [card] = await polling.press(BOB, BOB, "Jan Novák (Acme")
    assert "Acme website" in plain(card)
    sent = len(api.calls_to("sendMessage"))
    pressed = api.callback_update(BOB, BOB, acme["callback_data"], message_id)
    await polling.deliver(pressed)
    [*_, again] = await api.wait_for("answerCallbackQuery", 3)
    assert again.params["text"] == demo.i18n.render("cs", "button_used")
    await polling.fetched(pressed)
    await polling.say(BARRIER, "hello")  # handled after the press: nothing else went out for it
    assert len(api.calls_to("sendMessage")) == sent + 1
    # the premise: the member saw Czech words, not English ones
    assert demo.i18n.render("cs", "button_used") != demo.i18n.render("en", "button_used")


async def test_a_won_deal_is_announced_in_the_group_that_asked_for_news(polling, demo):
    [on] = await polling.say(ALICE, f"/notify@{BOT} here", chat_id=GROUP, chat_type="supergroup")
    assert "will now hear" in plain(on)
    answer, announcement = await polling.say(BOB, "cyberdyne won", expect=2)
    assert answer.params["chat_id"] == BOB and "Cyberdyne pilot" in plain(answer)
    assert announcement.params["chat_id"] == GROUP
    assert "Bob won Cyberdyne pilot" in plain(announcement)


# -- redelivery ---------------------------------------------------------------------------------------


async def test_a_redelivered_update_is_handled_once(tg, demo):
    update = tg.api.text_update(ALICE, ALICE, "called petr dvorak, wants 7 more drones")
    [logged] = await tg.send(update)
    assert "Petr Dvořák" in plain(logged)
    await tg.unanswered(update)  # Telegram sends the same update_id again
    assert await count(demo, models.Interaction, models.Interaction.summary.contains("7 more drones")) == 1
    assert await count(demo, models.ProcessedMessage, models.ProcessedMessage.platform == "telegram",
                       models.ProcessedMessage.message_id == str(update["update_id"])) == 1


# -- rendering ----------------------------------------------------------------------------------------


async def test_user_supplied_text_is_escaped(tg, demo):
    [answer] = await tg.say(ALICE, "new customer <b>&Co</b>, co@example.com")
    assert "&lt;b&gt;&amp;Co&lt;/b&gt;" in answer.params["text"]
    if answer.params.get("reply_markup"):  # it looks like "Smith & Co": crmbot asks first
        [answer] = await tg.press(ALICE, ALICE, "Create")
    assert "<b>&lt;b&gt;&amp;Co&lt;/b&gt;</b>" in answer.params["text"]  # the template's bold, around the escaped name
    assert "<b>&Co</b>" in plain(answer)  # what the user sees
    sent = [m for m in tg.api.messages.values() if m["from"]["is_bot"] and "<b>&Co</b>" in m.get("text", "")]
    assert sent, "Telegram refused the message"
    assert await count(demo, models.Customer, models.Customer.name == "<b>&Co</b>") == 1


def test_render_html_escapes_everything_but_the_templates_bold():
    assert render_html("**<i>Tom & Jerry</i>** a<b") == "<b>&lt;i&gt;Tom &amp; Jerry&lt;/i&gt;</b> a&lt;b"


def test_split_keeps_tags_balanced_and_prefers_line_breaks():
    text = render_html("\n".join(f"**line {n}** & more {'x' * 50}" for n in range(200)) + "\n**" + "long & bold " * 900 + "**")
    parts = split_html(text)
    assert len(parts) > 3
    for part in parts:
        assert utf16_len(telegram_plain(part)) <= 4096  # raises on unbalanced tags or a broken entity
    assert utf16_len(telegram_plain(parts[0])) > 2048  # full parts, not one per line
    assert parts[0].endswith("\n")  # cut at a line break
    assert "".join(telegram_plain(p) for p in parts).replace("\n", "") == telegram_plain(text).replace("\n", "")


# -- sending (the reminder loop's path) ---------------------------------------------------------------


@pytest.fixture
async def sender(api):
    application = build_application(settings_for(api))
    await application.initialize()
    try:
        yield TelegramSender(application.bot)
    finally:
        await application.shutdown()


async def test_sender_splits_long_replies_and_puts_buttons_on_the_last_part(sender, api):
    text = "**Agenda** for <you> & me\n" + "\n".join(f"• {n}: call **Jan & Co** about <the offer>" for n in range(300))
    assert len(text) > 4096 * 2
    await sender.send(ChatRef("telegram", str(ALICE)), [Reply(text, buttons=(Button("✅ Done", "c:abc"), Button("⏰ 1 h", "c:def")))])
    calls = api.calls_to("sendMessage")
    assert len(calls) == 3
    assert all(c.params["parse_mode"] == "HTML" and utf16_len(plain(c)) <= 4096 for c in calls)
    assert [("reply_markup" in c.params) for c in calls] == [False, False, True]
    assert calls[-1].params["reply_markup"] == {"inline_keyboard": [[{"text": "✅ Done", "callback_data": "c:abc"}, {"text": "⏰ 1 h", "callback_data": "c:def"}]]}
    shown = "".join(m["text"] for (chat, _), m in api.messages.items() if chat == ALICE)
    assert "call Jan & Co about <the offer>" in shown and "• 299:" in shown


async def test_sender_sends_a_chart_as_a_photo(sender, api):
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    await sender.send(ChatRef("telegram", str(ALICE)), [Reply("**Pipeline**", image=Image(png, "pipeline.png"))])
    [photo] = api.calls_to("sendPhoto")
    assert isinstance(photo.params["photo"], Upload) and photo.params["photo"].content == png
    [text] = api.calls_to("sendMessage")
    assert text.params["text"] == "<b>Pipeline</b>"


async def test_failed_sends_raise_delivery_failed(sender, api):
    chat = ChatRef("telegram", str(ALICE))
    api.fail_next("sendMessage", 403)
    with pytest.raises(DeliveryFailed) as blocked:
        await sender.send(chat, [Reply("Call Jan")])
    assert blocked.value.permanent

    api.fail_next("sendMessage", 429, retry_after=1, times=3)  # waited out twice, then given up
    with pytest.raises(DeliveryFailed) as flood:
        await sender.send(chat, [Reply("Call Jan")])
    assert not flood.value.permanent and flood.value.retry_after == 1

    api.fail_next("sendMessage", 500, times=3)  # tried again twice, then given up
    with pytest.raises(DeliveryFailed) as failing:
        await sender.send(chat, [Reply("Call Jan")])
    assert not failing.value.permanent and failing.value.retry_after is None
    assert len(api.calls_to("sendMessage")) == 1 + 3 + 3

    await api.stop()  # the network goes away
    with pytest.raises(DeliveryFailed) as down:
        await sender.send(chat, [Reply("Call Jan")])
    assert not down.value.permanent and down.value.retry_after is None


# -- invites --------------------------------------------------------------------------------------------


async def test_bot_username_and_the_invite_link(demo, api, db_url, monkeypatch):
    assert await bot_username(settings_for(api)) == BOT
    assert await bot_username(Settings(telegram_token=None)) is None
    monkeypatch.setenv("CRMBOT_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("CRMBOT_TELEGRAM_API_URL", api.base_url)
    from crmbot.cli import cli

    # the CLI runs its own event loop: give it a thread while the stand-in keeps ours
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["invite", "--role", "rep", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert f"https://t.me/{BOT}?start=" in result.output


async def test_a_summary_comes_with_its_chart_as_a_photo_before_the_text(polling, demo):
    [text] = await polling.say(ALICE, "summary this month")
    assert "Pipeline" in plain(text)
    [photo] = polling.api.calls_to("sendPhoto")
    assert photo.params["chat_id"] == ALICE and photo.params["photo"].content.startswith(b"\x89PNG")
    assert polling.api.calls.index(photo) < polling.api.calls.index(text)


# -- analysis and routing by chat ------------------------------------------------------------------


async def test_a_manager_saves_a_routing_rule_with_its_button(polling, demo):
    [asked] = await polling.say(ALICE, "new leads from the web go to Bob")
    assert "New customers: status = lead, source = web → Bob" in plain(asked)
    assert await count(demo, models.Route) == 0
    [saved] = await polling.press(ALICE, ALICE, "✅ Save")
    assert "Rule 1 saved" in plain(saved)
    [rule] = await rows(demo, models.Route)
    assert rule.conditions == [["status", "lead"], ["source", "web"]] and rule.deleted_at is None


async def test_each_customer_at_risk_comes_with_buttons_of_its_own(polling, demo):
    api = polling.api
    sent = await polling.say(BOB, "who's at risk", expect=6)
    assert "Customers with no contact for 30 days or more: 5" in plain(sent[0])
    keyboards = [(key, m) for key, m in api.messages.items() if key[0] == BOB and m.get("reply_markup")]
    assert len(keyboards) == 5
    (_, last_id), last = keyboards[-1]
    name = telegram_plain(last["text"]).splitlines()[0].removeprefix("👤 ")
    [asked] = await polling.press(BOB, BOB, "📞 Log a call")
    assert f"What was said on the call with {name}?" in plain(asked)
    assert all(api.messages[key].get("reply_markup") for key, _ in keyboards[:-1])  # the others keep theirs
    [logged] = await polling.say(BOB, "talked about new curtains, she wants a quote")
    assert f"Call logged with {name}." in plain(logged)
    [call] = await rows(demo, models.Interaction, models.Interaction.summary == "talked about new curtains, she wants a quote")
    assert call.kind == "call"


# -- importing files and shared contacts ------------------------------------------------------------

IMPORTS = Path(__file__).parent / "data" / "imports"


async def test_a_document_is_fetched_with_getfile_and_imported_a_larger_one_previewed_first(polling, demo):
    api = polling.api
    [small] = await polling.send(api.document_update(ALICE, ALICE, "leads.csv", "Name,Email\nOlga Malá,olga@mala.cz\n".encode()))
    assert "Imported leads.csv: added 1 · updated 0 · skipped 0." in plain(small)
    [get_file] = api.calls_to("getFile")
    [download] = api.calls_to("download")
    assert download.params["file_path"] == api.files[get_file.params["file_id"]]["file_path"]
    assert await count(demo, models.Customer, models.Customer.name == "Olga Malá") == 1

    deals = await count(demo, models.Deal)
    [preview] = await polling.send(api.document_update(ALICE, ALICE, "hubspot-deals.csv", (IMPORTS / "hubspot-deals.csv").read_bytes(),
                                                       caption="our old deals"))
    assert "hubspot-deals.csv holds 8 deal rows" in plain(preview) and await count(demo, models.Deal) == deals
    [done] = await polling.press(ALICE, ALICE, "📥")
    assert "Deals imported from hubspot-deals.csv: added 6" in plain(done)
    assert await count(demo, models.Deal) == deals + 6


async def test_a_shared_contact_is_added_with_its_number_made_international(polling, demo):
    [reply] = await polling.send(polling.api.contact_update(ALICE, ALICE, "420777555001", "Olga", last_name="Malá"))
    assert "Added Olga Malá." in plain(reply) and not polling.api.calls_to("getFile")
    [olga] = await rows(demo, models.Customer, models.Customer.name == "Olga Malá")
    assert olga.phones == ["+420777555001"]
    card = "BEGIN:VCARD\nVERSION:3.0\nFN:Ota Velký\nN:Velký;Ota;;;\nTEL;TYPE=CELL:+420 777 555 002\nEMAIL:ota@velky.cz\nEND:VCARD"
    [second] = await polling.send(polling.api.contact_update(ALICE, ALICE, "420777555002", "Ota", vcard=card))
    assert "Added Ota Velký." in plain(second)
    [ota] = await rows(demo, models.Customer, models.Customer.name == "Ota Velký")
    assert ota.emails == ["ota@velky.cz"]  # the phone's vCard brings what the number alone does not


async def test_too_big_foreign_and_strangers_files_are_refused_kindly_and_not_fetched(polling, demo):
    api = polling.api
    before = await count(demo, models.Customer)
    [huge] = await polling.send(api.document_update(ALICE, ALICE, "everyone.csv", b"Name\nA\n", file_size=15 * 1024 * 1024))
    assert "everyone.csv is too big for me (15.0 MB; I take up to 10.0 MB)" in plain(huge)
    [pdf] = await polling.send(api.document_update(ALICE, ALICE, "offer.pdf", b"%PDF-1.7\n...", mime_type="application/pdf"))
    assert "not offer.pdf" in plain(pdf) and "Nothing was imported." in plain(pdf)
    [stranger] = await polling.send(api.document_update(STRANGER, STRANGER, "leads.csv", b"Name\nMallory\n"))
    assert "Nothing was imported" not in plain(stranger)  # the stranger's answer, as to any message
    assert len(api.calls_to("getFile")) == 1  # only the pdf was fetched: not the huge file, not the stranger's
    assert await count(demo, models.Customer) == before


async def test_in_a_group_a_document_is_imported_only_when_addressed(polling, demo):
    api = polling.api
    await polling.unanswered(api.document_update(GROUP, ALICE, "leads.csv", b"Name\nOlga Mala\n", chat_type="supergroup"))
    assert not api.calls_to("getFile")
    [reply] = await polling.send(api.document_update(GROUP, ALICE, "leads.csv", b"Name\nOlga Mala\n", chat_type="supergroup",
                                                     caption=f"@{BOT} import these"))
    assert "Imported leads.csv" in plain(reply) and reply.params["reply_parameters"]["message_id"]
