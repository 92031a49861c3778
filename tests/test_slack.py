"""The real Bolt app, served by a real aiohttp server on 127.0.0.1:0, driven with signed requests;
its Web API calls go to the local Slack stand-in. Checked against the database afterwards."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from datetime import timedelta

import pytest
from aiohttp import web
from sqlalchemy import func, select

from crmbot import sample
from crmbot.adapters.slack import SlackAdapter, SlackSender, build_slack, mrkdwn, reply_blocks
from crmbot.app import build
from crmbot.config import Settings
from crmbot.messages import Button, ChatRef, DeliveryFailed, Image, Reply
from crmbot.reminders import ReminderLoop
from crmbot.store import models, teams
from tests.standins import SlackStandIn
from tests.test_delivery import impatient, sqlite_locked

SECRET = "test-signing-secret"
WORKSPACE = "T0TEST"
ALICE, BOB = "U0ALICE", "U0BOB"  # manager, rep of Demo Sales


@pytest.fixture
def db_url(sqlite_db_url) -> str:
    """SQLite only: these tests are about the platform; the store is covered on both engines elsewhere."""
    return sqlite_db_url


@dataclass
class Slack:
    api: SlackStandIn
    adapter: SlackAdapter
    url: str
    app: object

    async def post(self, body: bytes, **kwargs) -> tuple[int, str]:
        return await self.api.post_signed(self.url, body, SECRET, **kwargs)

    def posted(self, channel: str | None = None) -> list[dict]:
        return [c.params for c in self.api.calls_to("chat.postMessage") if channel is None or c.params.get("channel") == channel]


@pytest.fixture
async def slack(clock, tmp_path, db_url) -> AsyncIterator[Slack]:
    async with SlackStandIn(team_id=WORKSPACE) as api:
        settings = Settings(slack_bot_token=api.token, slack_signing_secret=SECRET, slack_api_url=api.base_url, _env_file=None)
        app = build(settings, db=db_url, clock=clock)
        async with app.db.sessions() as session, session.begin():
            team = await sample.seed(session, clock.now)
            await teams.bind_workspace(session, team, WORKSPACE)
            for name, user in (("Alice", ALICE), ("Bob", BOB)):
                member = await teams.member_by_name(session, team.id, name)
                await teams.bind_identity(session, member, "slack", user, clock.now, workspace=WORKSPACE)
        api.add_user(ALICE, real_name="Alice")
        api.add_user(BOB, real_name="Bob")
        adapter = build_slack(app)
        web_app = web.Application()
        web_app.add_routes(adapter.routes())
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield Slack(api, adapter, f"http://127.0.0.1:{port}/slack/events", app)
        finally:
            await adapter.stop()
            await runner.cleanup()
            await app.close()


async def count(app, model, *where) -> int:
    async with app.db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


def all_text(params: dict) -> str:
    """Everything a message would show: fallback text plus every text in its blocks."""
    return params.get("text", "") + "\n" + json.dumps(params.get("blocks") or [], ensure_ascii=False)


# -- requests Bolt refuses -------------------------------------------------------------------------


async def test_bad_signature_is_refused(slack):
    body = slack.api.message_im_event(BOB, "find petr dvorak")
    status, _ = await slack.api.post_signed(slack.url, body, "not-the-secret")
    assert status == 401
    assert slack.posted() == []


async def test_stale_timestamp_is_refused(slack):
    body = slack.api.message_im_event(BOB, "find petr dvorak")
    status, _ = await slack.post(body, timestamp=int(time.time()) - 6 * 60)
    assert status == 401
    assert slack.posted() == []


# -- conversations ---------------------------------------------------------------------------------


async def test_dm_finds_a_customer_and_shows_a_card(slack):
    status, _ = await slack.post(slack.api.message_im_event(BOB, "find petr dvorak"))
    assert status == 200
    [message] = slack.posted()
    assert message["channel"] == slack.api.dm_channel(BOB)
    card = message["blocks"][0]
    assert card["type"] == "section" and "Petr Dvořák" in card["text"]["text"]
    fields = {f["text"] for f in card["fields"]}
    assert "*Phone*\n+420 731 222 333" in fields
    assert "Dvořák site cameras" in all_text(message)  # the rest of the card text follows


async def test_mention_is_answered_in_its_thread(slack):
    body = slack.api.app_mention_event(ALICE, "find petr dvorak", channel_id="C0SALES")
    ts = json.loads(body)["event"]["ts"]
    status, _ = await slack.post(body)
    assert status == 200
    [message] = slack.posted("C0SALES")
    assert message["thread_ts"] == ts
    assert "Petr Dvořák" in all_text(message)


async def test_slash_command_is_acked_and_answered_through_response_url(slack):
    body = slack.api.slash_command("find petr dvorak", user_id=BOB, response_url=slack.api.response_url("find"))
    status, text = await slack.post(body)
    assert status == 200 and "Traceback" not in text
    await slack.api.wait_for("response_url")
    [answer] = slack.api.responses("find")
    assert answer["response_type"] == "ephemeral"
    assert "Petr Dvořák" in json.dumps(answer["blocks"], ensure_ascii=False)
    assert slack.posted() == []  # nothing posted in the channel itself


async def test_button_updates_the_original_message_and_does_the_action(slack):
    await slack.post(slack.api.message_im_event(ALICE, "called novak about the kiosk rollout"))
    [question] = slack.posted()
    actions = next(b for b in question["blocks"] if b["type"] == "actions")
    button = next(e for e in actions["elements"] if e["text"]["text"].startswith("Jan Novák (Acme"))
    assert button["value"].startswith("c:")
    assert await count(slack.app, models.Interaction, models.Interaction.summary.contains("kiosk")) == 0
    channel, ts = slack.api.dm_channel(ALICE), next(iter(slack.api.messages))[1]

    body = slack.api.block_actions(ALICE, button["action_id"], button["value"], channel_id=channel, message_ts=ts)
    status, _ = await slack.post(body)
    assert status == 200
    [update] = await slack.api.wait_for("chat.update")
    assert update.params["channel"] == channel and update.params["ts"] == ts
    blocks = update.params["blocks"]
    assert not [b for b in blocks if b["type"] == "actions"]  # no second press possible
    assert "Jan Novák (Acme s.r.o.)" in json.dumps(blocks[-1], ensure_ascii=False)
    await slack.adapter.drain()
    assert "Jan Novák (Acme s.r.o.)" in all_text(slack.posted()[-1])
    async with slack.app.db.sessions() as session:
        logged = list(await session.scalars(select(models.Interaction).where(models.Interaction.summary.contains("kiosk"))))
        assert len(logged) == 1
        assert (await session.get(models.Customer, logged[0].customer_id)).name == "Jan Novák"


async def test_a_long_list_turns_its_pages_in_the_same_message(slack):
    await slack.post(slack.api.message_im_event(ALICE, "show customers"))
    [listed] = slack.posted()
    assert "1–10 of 40" in all_text(listed)
    channel, ts = slack.api.dm_channel(ALICE), next(iter(slack.api.messages))[1]

    def buttons(blocks: list[dict]) -> list[dict]:
        return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]

    [following] = buttons(listed["blocks"])
    assert following["text"]["text"] == "Next ▶"
    await slack.post(slack.api.block_actions(ALICE, following["action_id"], following["value"], channel_id=channel, message_ts=ts))
    [update] = await slack.api.wait_for("chat.update")
    assert (update.params["channel"], update.params["ts"]) == (channel, ts)
    assert "11–20 of 40" in json.dumps(update.params["blocks"], ensure_ascii=False)
    assert [b["text"]["text"] for b in buttons(update.params["blocks"])] == ["◀ Previous", "Next ▶"]

    previous = buttons(slack.api.messages[(channel, ts)]["blocks"])[0]
    await slack.post(slack.api.block_actions(ALICE, previous["action_id"], previous["value"], channel_id=channel, message_ts=ts))
    [_, back] = await slack.api.wait_for("chat.update", 2)
    assert "1–10 of 40" in json.dumps(back.params["blocks"], ensure_ascii=False)
    assert "chose" not in json.dumps(back.params["blocks"])  # a page, not a choice made
    await slack.adapter.drain()
    assert len(slack.posted()) == 1  # no page went out as a message of its own


# -- App Home --------------------------------------------------------------------------------------


async def test_app_home_for_a_rep_shows_their_agenda_and_deals_only(slack):
    status, _ = await slack.post(slack.api.app_home_opened_event(BOB))
    assert status == 200
    [publish] = slack.api.calls_to("views.publish")
    assert publish.params["user_id"] == BOB
    view = json.dumps(publish.params["view"], ensure_ascii=False)
    assert publish.params["view"]["type"] == "home"
    assert "Call Jana about the fleet contract" in view  # due today
    assert "Beta fleet tracking" in view and "Acme website" not in view  # his deals, not Alice's
    assert "pipeline" not in view.lower()


async def test_app_home_for_a_manager_adds_the_team_pipeline_and_refreshes(slack):
    await slack.post(slack.api.app_home_opened_event(ALICE))
    view = json.dumps(slack.api.calls_to("views.publish")[0].params["view"], ensure_ascii=False)
    assert "Overdue" in view and "Confirm camera count with Petr" in view
    assert "Send Acme the website quote" not in view  # due in two days
    assert "Acme website" in view
    assert "Team pipeline" in view and "Negotiation" in view
    await slack.post(slack.api.message_im_event(ALICE, "new deal cyberdyne 10k EUR"))
    await slack.post(slack.api.app_home_opened_event(ALICE))
    assert len(slack.api.calls_to("views.publish")) == 2


async def test_app_home_of_a_foreign_user_shows_no_data(slack):
    slack.api.team_id = "T0OTHER"
    await slack.post(slack.api.app_home_opened_event("U0EVE"))
    view = json.dumps(slack.api.calls_to("views.publish")[0].params["view"], ensure_ascii=False)
    assert "Acme" not in view and "pipeline" not in view.lower()


async def test_app_home_of_a_newcomer_says_how_to_join_unless_invite_only(slack):
    members = await count(slack.app, models.Member)
    slack.api.add_user("U0CAROL", real_name="Carol Rep")
    await slack.post(slack.api.app_home_opened_event("U0CAROL"))
    view = json.dumps(slack.api.calls_to("views.publish")[-1].params["view"], ensure_ascii=False)
    assert "Send me a direct message" in view and "Acme" not in view
    async with slack.app.db.sessions() as session, session.begin():
        await teams.bind_workspace(session, await teams.team_by_name(session, sample.TEAM), WORKSPACE, invite_only=True)
    await slack.post(slack.api.app_home_opened_event("U0CAROL"))
    view = json.dumps(slack.api.calls_to("views.publish")[-1].params["view"], ensure_ascii=False)
    assert "invite" in view and "direct message" not in view and "Acme" not in view
    assert await count(slack.app, models.Member) == members  # looking at Home joins nobody


async def test_app_home_escapes_notes_and_counts_what_it_leaves_out(slack, clock):
    async with slack.app.db.sessions() as session, session.begin():
        bob = await teams.member_by_name(session, (await teams.team_by_name(session, sample.TEAM)).id, "Bob")
        for n in range(17):
            session.add(models.FollowUp(team_id=bob.team_id, member_id=bob.id, due_at=clock.now + timedelta(minutes=n + 1),
                                        note=f"<!channel> *ping* {n}", created_at=clock.now))
    await slack.post(slack.api.app_home_opened_event(BOB))
    blocks = slack.api.calls_to("views.publish")[0].params["view"]["blocks"]
    [today] = [b["text"]["text"] for b in blocks if b["type"] == "section" and b["text"]["text"].startswith("*⏰ Due today*")]
    lines = today.split("\n")
    assert len([line for line in lines if line.startswith("• ")]) == 15
    assert int(re.fullmatch(r"… and (\d+) more", lines[-1]).group(1)) >= 3  # 17 added, 15 shown, and Bob's own
    assert "&lt;!channel&gt; \u2217ping\u2217 0" in today and "<!channel>" not in today


# -- who may use it --------------------------------------------------------------------------------


async def test_retries_of_an_event_are_handled_once(slack):
    body = slack.api.message_im_event(BOB, "called petr dvorak, discussed cameras", event_id="Ev0RETRY1")
    before = await count(slack.app, models.Interaction)
    assert (await slack.post(body))[0] == 200
    assert (await slack.post(body, retry_num=1))[0] == 200
    assert (await slack.post(body, retry_num=2))[0] == 200
    assert await count(slack.app, models.Interaction) == before + 1
    assert await count(slack.app, models.ProcessedMessage, models.ProcessedMessage.message_id == "Ev0RETRY1") == 1
    assert len(slack.posted()) == 1


async def test_new_user_of_the_bound_workspace_joins_on_first_use(slack):
    slack.api.add_user("U0CAROL", real_name="Carol Rep", locale="en-GB", tz="Europe/Ljubljana")
    await slack.post(slack.api.message_im_event("U0CAROL", "find petr dvorak"))
    assert "Petr Dvořák" in all_text(slack.posted()[0])
    async with slack.app.db.sessions() as session:
        found = await teams.identity(session, "slack", "U0CAROL", WORKSPACE)
        member = await session.get(models.Member, found.member_id)
        # name, role and time zone come from the workspace binding and Slack's profile
        assert (member.name, member.role, member.timezone) == ("Carol Rep", "rep", "Europe/Ljubljana")


async def test_foreign_workspace_is_refused_and_given_no_data(slack):
    members = await count(slack.app, models.Member)
    slack.api.team_id = "T0OTHER"
    await slack.post(slack.api.message_im_event("U0EVE", "find petr dvorak"))
    await slack.post(slack.api.slash_command("find petr dvorak", user_id="U0EVE", response_url=slack.api.response_url("eve")))
    await slack.api.wait_for("response_url")
    await slack.post(slack.api.app_mention_event("U0EVE", "summary"))
    shown = [all_text(p) for p in slack.posted()] + [json.dumps(r, ensure_ascii=False) for r in slack.api.responses("eve")]
    assert len(shown) == 3
    for text in shown:
        assert "invite" in text and "Dvořák" not in text and "Traceback" not in text
    assert await count(slack.app, models.Member) == members


async def test_stranger_in_an_invite_only_workspace_is_refused(slack):
    async with slack.app.db.sessions() as session, session.begin():
        team = await teams.team_by_name(session, sample.TEAM)
        await teams.bind_workspace(session, team, WORKSPACE, invite_only=True)
    members = await count(slack.app, models.Member)
    await slack.post(slack.api.message_im_event("U0MALLORY", "find petr dvorak"))
    [message] = slack.posted()
    assert "invite" in all_text(message) and "Dvořák" not in all_text(message)
    assert await count(slack.app, models.Member) == members
    # Bob, already a member, still gets answers
    await slack.post(slack.api.message_im_event(BOB, "find petr dvorak"))
    assert "Dvořák" in all_text(slack.posted()[-1])


# -- trouble: the database away, Slack failing ---------------------------------------------------


async def test_an_event_while_the_database_is_locked_gets_a_503_and_slacks_retry_is_answered(slack, db_url):
    await impatient(slack.app)
    body = slack.api.message_im_event(BOB, "called petr dvorak, wants 13 more drones", event_id="Ev0LOCKED")
    with sqlite_locked(db_url):
        status, text = await slack.post(body)
    assert status == 503 and "Traceback" not in text
    assert slack.posted() == []  # nobody was told "nothing was saved": the retry answers
    assert (await slack.post(body, retry_num=1))[0] == 200
    [answer] = slack.posted()
    assert "Petr Dvořák" in all_text(answer)
    assert await count(slack.app, models.Interaction, models.Interaction.summary.contains("13 more drones")) == 1


async def test_an_event_while_slack_cannot_say_who_the_bot_is_gets_a_503_and_the_retry_is_handled_once(slack):
    api = slack.api
    body = api.message_im_event(BOB, "called petr dvorak, wants 15 more drones", event_id="Ev0NOAUTH")
    api.fail_next("auth.test", status=500, times=3)  # Bolt's first try and the client's two retries
    status, text = await slack.post(body)
    assert status == 503 and "Traceback" not in text
    api.fail_next("auth.test", "fatal_error")  # Slack's outage answer with a 200
    assert (await slack.post(body, retry_num=1))[0] == 503
    assert slack.posted() == []  # nobody was told anything: the next retry answers
    assert await count(slack.app, models.ProcessedMessage, models.ProcessedMessage.message_id == "Ev0NOAUTH") == 0

    assert (await slack.post(body, retry_num=2))[0] == 200
    assert (await slack.post(body, retry_num=3))[0] == 200  # one more copy: de-duplicated
    [answer] = slack.posted()
    assert "Petr Dvořák" in all_text(answer)
    assert await count(slack.app, models.Interaction, models.Interaction.summary.contains("15 more drones")) == 1
    assert len(api.calls_to("auth.test")) == 5  # asked until it answered, then remembered


async def test_a_command_while_the_database_is_locked_is_tried_again_before_it_is_answered(slack, db_url):
    await impatient(slack.app)
    with sqlite_locked(db_url):
        status, _ = await slack.post(slack.api.slash_command("find petr dvorak", user_id=BOB,
                                                             response_url=slack.api.response_url("locked")))
        assert status == 200  # acknowledged at once: Slack will not send a command again
        await asyncio.sleep(1.0)
    await slack.adapter.drain()
    [answer] = slack.api.responses("locked")
    assert "Petr Dvořák" in json.dumps(answer["blocks"], ensure_ascii=False)


async def test_slack_trouble_is_retried_in_line_and_what_still_fails_is_kept_and_sent_later(slack, clock):
    api = slack.api
    api.fail_next("chat.postMessage", status=500)
    api.fail_next("chat.postMessage", retry_after=1)
    await slack.post(api.message_im_event(BOB, "find petr dvorak"))  # a 500, then a 429 for 1 s: waited out
    assert [a.status for a in api.answers if a.method == "chat.postMessage"] == [500, 429, 200]
    assert await count(slack.app, models.PendingReply) == 0

    api.fail_next("chat.postMessage", status=503, times=3)  # the first try and both retries
    await slack.post(api.message_im_event(BOB, "called petr dvorak, wants 14 more drones"))
    api.fail_next("response_url", status=500)  # an ephemeral answer: kept for Bob's DM, not the channel
    await slack.post(api.slash_command("find jana", user_id=BOB, channel_id="C0GENERAL",
                                       response_url=api.response_url("jana")))
    await slack.adapter.drain()
    assert await count(slack.app, models.Interaction, models.Interaction.summary.contains("14 more drones")) == 1
    assert await count(slack.app, models.PendingReply) == 2

    before = len(api.calls_to("chat.postMessage"))
    report = await ReminderLoop(slack.app.db, slack.app.i18n, slack.app.senders, clock, digests_enabled=False).run_once()
    assert len(report.replies.sent) == 2
    logged, found = [c.params for c in api.calls_to("chat.postMessage")[before:]]
    assert logged["channel"] == api.dm_channel(BOB) and "Petr Dvořák" in all_text(logged)
    assert found["channel"] == BOB and "Jana Nováková" in all_text(found)  # Bob's DM
    assert not slack.posted("C0GENERAL")


async def test_a_new_answer_in_a_dm_with_kept_replies_brings_them_out_as_soon_as_slack_is_back(slack, clock):
    api, loop = slack.api, ReminderLoop(slack.app.db, slack.app.i18n, slack.app.senders, clock, digests_enabled=False)
    dm = api.dm_channel(BOB)
    api.fail_next("chat.postMessage", status=503, times=3)  # the first try and both retries
    await slack.post(api.message_im_event(BOB, "called petr dvorak, wants 16 more drones"))
    api.fail_next("chat.postMessage", status=503, times=3)
    report = await loop.run_once()  # the kept answer fails again: it backs off
    assert len(report.replies.retrying) == 1 and not report.replies.sent
    async with slack.app.db.sessions() as session:
        [kept] = await session.scalars(select(models.PendingReply))
    assert kept.next_attempt_at > clock.now

    # Slack is back; Bob's next message is answered behind the kept answer, whose wait ends:
    # the next pass, at the same instant, sends both, oldest first
    calls = len(api.calls_to("chat.postMessage"))
    await slack.post(api.message_im_event(BOB, "find jana"))
    assert len(api.calls_to("chat.postMessage")) == calls  # not tried out of order
    report = await loop.run_once()
    assert len(report.replies.sent) == 2
    drones, jana = (all_text(p) for p in slack.posted(dm)[-2:])  # after the refused tries
    assert "Petr Dvořák" in drones and "Jana Nováková" in jana
    assert await count(slack.app, models.PendingReply) == 0


async def test_an_answer_kept_in_one_thread_of_a_channel_holds_back_no_other_thread(slack):
    api = slack.api
    api.fail_next("chat.postMessage", status=503, times=3)
    await slack.post(api.app_mention_event(BOB, "called petr dvorak, wants 17 more drones"))
    assert await count(slack.app, models.PendingReply) == 1
    await slack.post(api.app_mention_event(BOB, "find jana"))  # another thread: answered at once
    [answer] = [p for p in slack.posted("C0GENERAL") if "Jana Nováková" in all_text(p)]
    assert answer["thread_ts"] != slack.posted("C0GENERAL")[0]["thread_ts"]
    assert await count(slack.app, models.PendingReply) == 1


# -- announcements, escaping, delivery -------------------------------------------------------------


async def test_notify_here_then_a_won_deal_is_announced_in_that_channel(slack):
    body = slack.api.slash_command("notify here", user_id=ALICE, channel_id="C0SALES", response_url=slack.api.response_url("notify"))
    await slack.post(body)
    await slack.api.wait_for("response_url")
    assert "This chat will now hear" in json.dumps(slack.api.responses("notify")[0], ensure_ascii=False)
    async with slack.app.db.sessions() as session:
        team = await teams.team_by_name(session, sample.TEAM)
        assert team.settings["notify"] == {"adapter": "slack", "chat_id": "C0SALES", "thread": None}
    await slack.post(slack.api.message_im_event(BOB, "cyberdyne signed!"))
    [announcement] = slack.posted("C0SALES")
    assert "won" in announcement["text"] and "Cyberdyne pilot" in announcement["text"]
    assert "thread_ts" not in announcement


async def test_customer_names_are_escaped_for_mrkdwn(slack):
    # Slack sends what the user typed with &, <, > as entities
    await slack.post(slack.api.message_im_event(ALICE, "new customer &lt;!channel&gt; &amp; *co*"))
    async with slack.app.db.sessions() as session:
        assert await session.scalar(select(models.Customer).where(models.Customer.name == "<!channel> & *co*"))
    [message] = slack.posted()
    text = all_text(message)
    assert "&lt;!channel&gt; &amp;" in text
    assert "<!channel>" not in text and "*co*" not in text  # no @channel ping, no bold from the name
    section = message["blocks"][0]["text"]["text"]
    assert section.startswith("👤 Added *&lt;!channel&gt; &amp; ") and section.endswith("*.")


def test_renderer_turns_template_bold_into_mrkdwn_and_keeps_user_text_literal():
    assert mrkdwn("Call **Jan** & <b>") == "Call *Jan* &amp; &lt;b&gt;"
    assert mrkdwn("**a *co***") == "*a \u2217co\u2217*"
    blocks = reply_blocks(Reply("x" * 7000))
    assert len(blocks) == 3 and all(len(b["text"]["text"]) <= 3000 for b in blocks)


def test_a_reply_too_big_for_one_message_keeps_its_buttons_within_block_kits_limits():
    buttons = tuple(Button(f"{n} " + "y" * 100, f"c:{n}") for n in range(30))
    blocks = reply_blocks(Reply("x" * 200_000, buttons=buttons))
    assert len(blocks) == 50  # Slack's maximum per message: the text is cut, not the buttons
    *text, first, second = blocks
    assert {b["type"] for b in text} == {"section"} and (first["type"], second["type"]) == ("actions", "actions")
    elements = first["elements"] + second["elements"]
    assert (len(first["elements"]), len(second["elements"])) == (25, 5)
    assert [e["value"] for e in elements] == [f"c:{n}" for n in range(30)]
    assert len({e["action_id"] for e in elements}) == 30 and all(len(e["text"]["text"]) == 75 for e in elements)


async def test_sender_uploads_charts_and_reports_failures(slack):
    sender = slack.app.senders["slack"]
    assert isinstance(sender, SlackSender)
    await sender.send(ChatRef("slack", "C0SALES"), [Reply("**Pipeline**", image=Image(b"\x89PNG fake", "pipeline.png"))])
    assert slack.api.calls_to("chat.postMessage")[0].params["text"] == "Pipeline"
    [complete] = slack.api.calls_to("files.completeUploadExternal")
    assert complete.params["channel_id"] == "C0SALES"
    assert [u["content"] for u in slack.api.uploads.values()] == [b"\x89PNG fake"]

    slack.api.fail_next("chat.postMessage", retry_after=7)
    with pytest.raises(DeliveryFailed) as limited:
        await sender.send(ChatRef("slack", "C0SALES"), [Reply("hi")])
    assert limited.value.retry_after == 7 and not limited.value.permanent
    slack.api.fail_next("chat.postMessage", "channel_not_found")
    with pytest.raises(DeliveryFailed) as gone:
        await sender.send(ChatRef("slack", "C0GONE"), [Reply("hi")])
    assert gone.value.permanent


def test_cli_binds_a_workspace(tmp_path):
    from typer.testing import CliRunner

    from crmbot.cli import cli

    path = str(tmp_path / "bind.db")
    runner = CliRunner()
    result = runner.invoke(cli, ["slack", "bind", "--workspace", "T0CLI", "--db", path, "--default-role", "manager", "--invite-only"])
    assert result.exit_code == 0, result.output
    assert "T0CLI" in result.output
    result = runner.invoke(cli, ["slack", "bind", "--workspace", "T0CLI", "--db", path, "--default-role", "boss"])
    assert result.exit_code != 0


async def test_attach_mounts_the_events_route_on_crmbots_http_server(slack):
    from crmbot.adapters.slack import attach
    from crmbot.server import HttpServer

    http = HttpServer("127.0.0.1", 0)
    sender = await attach(slack.app, http)
    await http.start()
    try:
        url = f"http://127.0.0.1:{http.port}/slack/events"
        status, _ = await slack.api.post_signed(url, slack.api.message_im_event(BOB, "find petr dvorak"), SECRET)
        assert status == 200
        assert "Petr Dvořák" in all_text(slack.posted()[0])
    finally:
        await sender.close()
        await http.stop()


async def test_a_summary_comes_with_its_chart_uploaded_in_the_same_conversation(slack):
    await slack.post(slack.api.message_im_event(ALICE, "summary this month"))
    [complete] = await slack.api.wait_for("files.completeUploadExternal")
    assert complete.params["channel_id"] == slack.api.dm_channel(ALICE)
    [asked] = slack.api.calls_to("files.getUploadURLExternal")
    assert asked.params["filename"] == "summary-this_month.png" and asked.params["alt_txt"].startswith("Pipeline: ")
    [upload] = slack.api.uploads.values()
    assert upload["content"].startswith(b"\x89PNG")
    assert any("Pipeline" in all_text(p) for p in slack.posted(slack.api.dm_channel(ALICE)))


# -- analysis by chat --------------------------------------------------------------------------------


async def test_a_follow_up_button_on_a_customer_at_risk_acts_on_that_customer(slack):
    status, _ = await slack.post(slack.api.message_im_event(BOB, "who's at risk"))
    assert status == 200
    channel = slack.api.dm_channel(BOB)
    posted = [(ts, m) for (chat, ts), m in slack.api.messages.items() if chat == channel]
    assert len(posted) == 6 and "Customers with no contact for 30 days or more: 5" in all_text(posted[0][1])
    ts, nina = next((ts, m) for ts, m in posted if "Nina Kovačič" in all_text(m))
    actions = next(b for b in nina["blocks"] if b["type"] == "actions")
    follow = next(e for e in actions["elements"] if e["text"]["text"].startswith("⏰ Follow up"))
    status, _ = await slack.post(slack.api.block_actions(BOB, follow["action_id"], follow["value"], channel_id=channel, message_ts=ts))
    assert status == 200
    await slack.adapter.drain()
    assert "I'll remind you" in all_text(slack.posted()[-1]) and "Nina Kovačič" in all_text(slack.posted()[-1])
    async with slack.app.db.sessions() as session:
        [made] = await session.scalars(select(models.FollowUp).where(models.FollowUp.note.contains("at risk")))
        nina_row = await session.get(models.Customer, made.customer_id)
    assert nina_row.name == "Nina Kovačič" and made.due_at.isoformat() == "2026-11-26T09:00:00+00:00"  # 09:00 in London


# -- importing files -------------------------------------------------------------------------------

IMPORTS = Path(__file__).parent / "data" / "imports"


async def test_a_file_shared_in_the_dm_is_downloaded_with_the_bot_token_and_imported_once(slack):
    api = slack.api
    file = api.share_file(ALICE, "leads.csv", "Name,Email\nOlga Malá,olga@mala.cz\n".encode())
    assert (await slack.post(api.file_share_event(ALICE, [file])))[0] == 200
    [answer] = slack.posted(api.dm_channel(ALICE))
    assert "Imported leads.csv: added 1 · updated 0 · skipped 0." in answer["text"]
    [download] = api.calls_to("download")
    assert download.authorization == f"Bearer {api.token}" and download.params["file_id"] == file["id"]
    # Slack also sends file_shared for the same upload: files.info is asked, the import not repeated
    assert (await slack.post(api.file_shared_event(ALICE, file["id"])))[0] == 200
    assert api.calls_to("files.info") and len(slack.posted()) == 1
    assert await count(slack.app, models.Customer, models.Customer.name == "Olga Malá") == 1


async def test_a_file_shared_event_alone_brings_the_file_through_files_info(slack):
    api = slack.api
    file = api.share_file(ALICE, "people.vcf", b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ota Velk\xc3\xbd\r\nEND:VCARD\r\n",
                          mimetype="text/vcard", filetype="vcard")
    assert (await slack.post(api.file_shared_event(ALICE, file["id"])))[0] == 200
    [info] = api.calls_to("files.info")
    assert info.params["file"] == file["id"]
    assert "Imported people.vcf: added 1" in slack.posted()[0]["text"]
    assert await count(slack.app, models.Customer, models.Customer.name == "Ota Velký") == 1


async def test_a_larger_file_mentioned_in_a_channel_is_previewed_in_its_thread_then_imported(slack):
    api = slack.api
    file = api.share_file(ALICE, "hubspot-deals.csv", (IMPORTS / "hubspot-deals.csv").read_bytes())
    body = api.app_mention_event(ALICE, "our old deals", channel_id="C0SALES", files=[file])
    ts = json.loads(body)["event"]["ts"]
    deals = await count(slack.app, models.Deal)
    assert (await slack.post(body))[0] == 200
    [preview] = slack.posted("C0SALES")
    assert preview["thread_ts"] == ts and "holds 8 deal rows" in preview["text"]
    assert await count(slack.app, models.Deal) == deals
    actions = next(b for b in preview["blocks"] if b["type"] == "actions")
    button = next(e for e in actions["elements"] if e["text"]["text"].startswith("📥"))
    message_ts = next(key for key in api.messages if key[0] == "C0SALES")[1]
    await slack.post(api.block_actions(ALICE, button["action_id"], button["value"], channel_id="C0SALES", message_ts=message_ts))
    await slack.adapter.drain()
    assert "Deals imported from hubspot-deals.csv: added 6" in slack.posted("C0SALES")[-1]["text"]
    assert await count(slack.app, models.Deal) == deals + 6


async def test_files_that_cannot_be_imported_get_a_reply_and_a_strangers_are_not_fetched(slack):
    api = slack.api
    before = await count(slack.app, models.Customer)
    huge = api.share_file(ALICE, "everyone.csv", b"Name\nA\n", size=11 * 1024 * 1024)
    sheet = api.share_file(ALICE, "offer.xlsx", b"PK\x03\x04" + bytes(60), mimetype="application/vnd.ms-excel", filetype="xlsx")
    await slack.post(api.file_share_event(ALICE, [huge, sheet]))
    too_big, wrong = slack.posted(api.dm_channel(ALICE))
    assert "everyone.csv is too big for me" in too_big["text"] and "not offer.xlsx" in wrong["text"]
    async with slack.app.db.sessions() as session, session.begin():  # the workspace admits by invite only
        await teams.bind_workspace(session, await teams.team_by_name(session, sample.TEAM), WORKSPACE, invite_only=True)
    api.add_user("U0MALLORY", real_name="Mallory")
    leads = api.share_file("U0MALLORY", "leads.csv", b"Name\nMallory\n")
    await slack.post(api.file_share_event("U0MALLORY", [leads]))
    assert [c.params["file_id"] for c in api.calls_to("download")] == [sheet["id"]]  # not the huge one, not Mallory's
    [refused] = slack.posted(api.dm_channel("U0MALLORY"))
    assert "Nothing was imported" not in refused["text"]  # a stranger's answer, as to any message
    assert await count(slack.app, models.Customer) == before


async def test_without_the_bot_token_slack_answers_its_sign_in_page_which_is_no_file(slack):
    import aiohttp

    file = slack.api.share_file(ALICE, "leads.csv", b"Name\nOlga\n")
    async with aiohttp.ClientSession() as session:
        async with session.get(file["url_private"], allow_redirects=True) as response:
            assert response.status == 200 and response.content_type == "text/html"
    # a link that lands on that page (a file from another workspace, a revoked token) is no file
    landing = {**file, "url_private_download": f"{slack.api.origin}/?redir=/files-pri/T0OTHER-F1/leads.csv"}
    await slack.post(slack.api.file_share_event(ALICE, [landing]))
    [answer] = slack.posted(slack.api.dm_channel(ALICE))
    assert "I could not download leads.csv" in answer["text"]
    assert await count(slack.app, models.Customer, models.Customer.name == "Olga") == 0
