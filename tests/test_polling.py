"""Long polling under a slow Bot API: a batch's chats are handled at once, each chat's updates
in order, and the offset never passes an update not done with. The real python-telegram-bot
against the local stand-in, as `crmbot run` starts it; the times compared are the stand-in's
(when each call took effect), not a budget on the wall clock."""

from __future__ import annotations

import logging

import pytest

from crmbot.store import models

from tests.test_delivery import impatient, sqlite_locked
from tests.test_telegram import ALICE, BOB, BOT, GROUP, api, bind, count, db_url, start  # noqa: F401  (fixtures)

ADMIN = 1003
SLOW = 2.0  # seconds the Bot API takes to answer: longer than handling a /help, on a busy machine too
SLOW_FILE = 4.0  # the file's answer: time enough for another chat's two messages meanwhile


def taken(api, method: str = "sendMessage") -> list[tuple[float, dict]]:
    """(when it took effect, the message) for each call of `method` Telegram accepted, in order."""
    return [(a.at, a.json()["result"]) for a in api.answers if a.method == method and a.status == 200]


async def answered_slowly(members, api, updates: list[dict]) -> None:
    """`updates` waiting as one batch, handled by long polling against a Bot API that answers
    each sendMessage SLOW seconds late, until each has its answer."""
    api.outage(3600, methods=["sendMessage"], delay=SLOW)
    for update in updates:
        api.push_update(update)
    services = await start(members, api, "polling")
    try:
        await api.wait_for("sendMessage", len(updates), timeout=30)
    finally:
        await services.stop()


@pytest.fixture
async def members(demo):
    for name, user in (("Alice", ALICE), ("Bob", BOB), ("Admin", ADMIN)):
        await bind(demo, name, user)
    return demo


async def test_a_slow_bot_api_holds_up_no_other_chat(members, api):
    """Fault run h: with sendMessage answered 9 s late, a batch handled one update at a time
    answered other chats up to 42 s late. Three chats' answers are all taken before the first
    is answered; one at a time, each would be taken only after the one before was answered."""
    api.outage(3600, methods=["sendMessage"], delay=SLOW)
    chats = [(ALICE, ALICE, "private"), (BOB, BOB, "private"), (GROUP, ADMIN, "supergroup")]
    for chat, user, kind in chats:  # waiting before the start: one batch
        api.push_update(api.text_update(chat, user, f"/help@{BOT}", chat_type=kind))
    services = await start(members, api, "polling")
    try:
        await api.wait_for("sendMessage", len(chats), timeout=30)
    finally:
        await services.stop()
    answers = taken(api)
    assert sorted(message["chat"]["id"] for _, message in answers) == sorted(chat for chat, _, _ in chats)
    times = [at for at, _ in answers]
    assert max(times) - min(times) < SLOW, times
    assert api.pending_updates == []  # all confirmed on the way out


async def test_one_chats_updates_are_handled_in_order_each_after_the_last_ones_answer(members, api):
    await answered_slowly(members, api, [api.text_update(ALICE, ALICE, "called jana, wants a quote by friday"),
                                         api.text_update(ALICE, ALICE, "/help"),
                                         api.text_update(BOB, BOB, "/help", first_name="Bob")])
    to_alice = [(at, message["text"]) for at, message in taken(api) if message["chat"]["id"] == ALICE]
    [(to_bob, _)] = [(at, message) for at, message in taken(api) if message["chat"]["id"] == BOB]
    [(logged_at, logged), (helped_at, helped)] = to_alice
    assert "Jana Nováková" in logged and "Hi Alice" in helped
    assert helped_at - logged_at > SLOW - 0.1  # Alice's second waited for her first's answer
    assert to_bob - logged_at < SLOW  # Bob's did not


async def test_a_chats_update_the_database_could_not_take_holds_the_offset_and_is_handled_when_fetched_again(
        members, api, db_url, caplog):
    """Alice's document waits for its file while Bob's two messages are handled; then the
    database is locked, so the document's import cannot be written. The offset stays at it (and
    her message behind it waits), Bob's are not handled again, and once the lock is gone the
    document and her message are handled, in order."""
    await impatient(members)
    caplog.set_level(logging.WARNING, logger="crmbot.bot")
    services = await start(members, api, "polling")
    try:
        await api.wait_for("getUpdates")  # polling
        slow_file = api.outage(3600, methods=["getFile"], delay=SLOW_FILE)
        document = api.push_update(api.document_update(ALICE, ALICE, "leads.csv", "Name,Email\nOlga Malá,olga@mala.cz\n".encode()))
        behind = api.push_update(api.text_update(ALICE, ALICE, "/help"))
        bobs = [api.push_update(api.text_update(BOB, BOB, text, first_name="Bob"))
                for text in ("called jana, wants 3 more drones", "/help")]
        await api.wait_for("getFile")
        api.outages.remove(slow_file)  # the file is slow the first time only
        await api.wait_for("sendMessage", 2, timeout=10)  # Bob's two, while the file is on its way
        assert {message["chat"]["id"] for _, message in taken(api)} == {BOB}
        with sqlite_locked(db_url):
            polls = len(api.calls_to("getUpdates"))
            # the import is not written, the batch fetched again (twice): never confirmed past it
            calls = await api.wait_for("getUpdates", polls + 2, timeout=15)
            assert all((c.params.get("offset") or 0) <= document["update_id"] for c in calls)
            assert len(api.calls_to("getFile")) >= 2  # fetched again, and handled again
            assert len(api.calls_to("sendMessage")) == 2  # nobody told anything; her /help waited
        await api.wait_for("sendMessage", 4, timeout=15)
        polls = len(api.calls_to("getUpdates"))
        *_, confirming = await api.wait_for("getUpdates", polls + 1)
    finally:
        await services.stop()
    assert confirming.params["offset"] == max(u["update_id"] for u in (document, behind, *bobs)) + 1
    to_alice = [message["text"] for _, message in taken(api) if message["chat"]["id"] == ALICE]
    assert len(to_alice) == 2
    # the core was asked only for the document while it could not be written, never for what is behind it
    not_now = [r for r in caplog.records if r.getMessage().startswith("could not handle a telegram message now")]
    assert len(not_now) == len(api.calls_to("getFile")) - 1  # every pass but the last
    assert "Imported leads.csv: added 1" in to_alice[0] and "Hi Alice" in to_alice[1]
    assert len([m for _, m in taken(api) if m["chat"]["id"] == BOB]) == 2  # not answered again
    assert await count(members, models.Interaction, models.Interaction.summary.contains("3 more drones")) == 1
    assert await count(members, models.Customer, models.Customer.name == "Olga Malá") == 1
    assert await count(members, models.ProcessedMessage, models.ProcessedMessage.platform == "telegram") == 4


async def test_a_senders_updates_in_two_chats_keep_their_order(members, api):
    """Undo, an open question, the last change: what a member says depends on what they said
    before, in whichever chat. Alice's group message waits for her private one's answer, while
    Bob's goes out beside it."""
    await answered_slowly(members, api, [api.text_update(ALICE, ALICE, "called jana, wants a quote by friday"),
                                         api.text_update(GROUP, ALICE, f"/help@{BOT}", chat_type="supergroup"),
                                         api.text_update(BOB, BOB, "/help", first_name="Bob")])
    when = {message["chat"]["id"]: at for at, message in taken(api)}
    assert when[GROUP] - when[ALICE] > SLOW - 0.1  # her second waited for her first's answer
    assert abs(when[BOB] - when[ALICE]) < SLOW  # Bob's did not
