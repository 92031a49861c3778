"""Whole conversations through the console adapter, checked against the database afterwards."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from crmbot.store import models


async def rows(app, model, *where):
    async with app.db.sessions() as session:
        return list(await session.scalars(select(model).where(*where).order_by(model.id)))


async def count(app, model, *where) -> int:
    async with app.db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


def text_of(replies) -> str:
    return "\n".join(r.text for r in replies)


async def test_log_call_with_follow_up_creates_both(alice, demo, clock):
    before = await count(demo, models.Interaction)
    replies = await alice.send("called jana, wants a quote by friday")
    assert "Jana Nováková" in text_of(replies)
    interactions = await rows(demo, models.Interaction)
    assert len(interactions) == before + 1
    call = interactions[-1]
    assert call.kind == "call" and "wants a quote" in call.summary
    followup = (await rows(demo, models.FollowUp, models.FollowUp.customer_id == call.customer_id))[-1]
    # Friday 27 Nov, 09:00 in Alice's zone (Europe/Prague, UTC+1)
    assert followup.due_at.isoformat() == "2026-11-27T08:00:00+00:00"
    assert followup.member_id == call.member_id


async def test_a_call_and_its_follow_up_are_audited_as_one_action_in_that_order_and_undone_together(alice, demo):
    await alice.send("called jana, wants a quote by friday")
    [call] = (await rows(demo, models.Interaction))[-1:]
    followup = (await rows(demo, models.FollowUp, models.FollowUp.customer_id == call.customer_id))[-1]
    entries = (await rows(demo, models.AuditEntry))[-2:]
    assert [(e.action, e.entity, e.entity_id) for e in entries] == [("create", "interaction", call.id), ("create", "followup", followup.id)]
    assert entries[0].group_id == entries[1].group_id and all(e.customer_id == call.customer_id for e in entries)
    assert entries[1].after["note"] == call.summary
    await alice.send("undo")
    assert await count(demo, models.Interaction, models.Interaction.id == call.id, models.Interaction.deleted_at.is_(None)) == 0
    assert await count(demo, models.FollowUp, models.FollowUp.id == followup.id, models.FollowUp.deleted_at.is_(None)) == 0


async def test_ambiguous_mention_asks_with_buttons_and_button_resolves(alice, demo):
    replies = await alice.send("called novak about the kiosk rollout")
    assert replies[0].buttons, text_of(replies)
    assert [r.kind for r in replies] == ["customer_which"]  # the question is the whole answer
    labels = [b.label for b in replies[0].buttons]
    assert any("Jan Novák" in label for label in labels) and any("Nováková" in label for label in labels)
    assert await count(demo, models.Interaction, models.Interaction.summary.contains("kiosk")) == 0
    choice = next(b for b in replies[0].buttons if b.label.startswith("Jan Novák (Acme"))
    done = await alice.press(choice)
    assert "Jan Novák (Acme s.r.o.)" in text_of(done)
    logged = await rows(demo, models.Interaction, models.Interaction.summary.contains("kiosk"))
    assert len(logged) == 1
    customer = await rows(demo, models.Customer, models.Customer.id == logged[0].customer_id)
    assert customer[0].name == "Jan Novák"
    # the same button again does no harm
    again = await alice.press(choice)
    assert "Already done" in text_of(again) and again[0].kind == "button_used"
    assert await count(demo, models.Interaction, models.Interaction.summary.contains("kiosk")) == 1


async def test_move_deal_to_lost_with_reason_and_competitor_then_undo(alice, demo):
    replies = await alice.send("lost Cyberdyne to Skynet Corp because price too high")
    assert "Lost" in text_of(replies), text_of(replies)
    deal = (await rows(demo, models.Deal, models.Deal.title == "Cyberdyne pilot"))[0]
    assert deal.stage == "lost" and deal.competitor == "Skynet Corp" and "price" in deal.lost_reason
    history = await rows(demo, models.DealStageChange, models.DealStageChange.deal_id == deal.id)
    assert [h.to_stage for h in history] == ["lead", "lost"]
    undo = await alice.send("undo")
    assert "Undone" in text_of(undo) and "Cyberdyne pilot" in text_of(undo) and "Lead" in text_of(undo)  # named
    deal = (await rows(demo, models.Deal, models.Deal.title == "Cyberdyne pilot"))[0]
    assert deal.stage == "lead" and deal.competitor is None
    assert [h.to_stage for h in await rows(demo, models.DealStageChange, models.DealStageChange.deal_id == deal.id)] == ["lead"]


async def test_new_customer_then_deal_then_summary(alice, demo):
    added = await alice.send("new customer Karel Malý from Malý Pekárna, karel@maly.cz, +420 777 000 111")
    assert "Karel Malý" in text_of(added)
    customer = (await rows(demo, models.Customer, models.Customer.name == "Karel Malý"))[0]
    assert customer.company == "Malý Pekárna" and customer.emails == ["karel@maly.cz"] and customer.phones == ["+420777000111"]
    deal = await alice.send("new deal karel maly 50k EUR")
    assert "€50,000.00" in text_of(deal)
    made = (await rows(demo, models.Deal, models.Deal.customer_id == customer.id))[0]
    assert made.amount_minor == 5_000_000 and made.currency == "EUR" and made.stage == "lead"
    won = await alice.send("karel maly signed!")
    assert "Won" in text_of(won)
    summary = text_of(await alice.send("summary this week"))
    assert "Team summary" in summary and "Malý Pekárna" in summary


async def test_complaint_and_resolution(alice, demo):
    await alice.send("complaint from sarah connor: the pilot dashboard is broken, urgent")
    complaint = (await rows(demo, models.Complaint, models.Complaint.text.contains("dashboard")))[0]
    assert complaint.status == "open" and complaint.severity == "high"
    await alice.send("sarah connor complaint resolved, patched the dashboard")
    complaint = (await rows(demo, models.Complaint, models.Complaint.id == complaint.id))[0]
    assert complaint.status == "resolved" and complaint.resolved_at is not None


async def test_a_complaint_that_asks_for_a_follow_up_keeps_both_and_undo_takes_both_back(alice, demo):
    replies = await alice.send("Maria Garcia is not happy, the gift boxes arrived crushed. remind me to call the courier Monday")
    assert "Complaint recorded" in text_of(replies) and "Follow-up set for" in text_of(replies), text_of(replies)
    complaint = (await rows(demo, models.Complaint))[-1]
    followup = (await rows(demo, models.FollowUp))[-1]
    assert "crushed" in complaint.text and followup.customer_id == complaint.customer_id
    assert followup.due_at.isoformat() == "2026-11-30T08:00:00+00:00"  # Monday 09:00 in Prague
    await alice.send("undo")
    assert await count(demo, models.Complaint, models.Complaint.id == complaint.id, models.Complaint.deleted_at.is_(None)) == 0
    assert await count(demo, models.FollowUp, models.FollowUp.id == followup.id, models.FollowUp.deleted_at.is_(None)) == 0


async def test_a_day_a_complaint_tells_of_is_no_follow_up(alice, demo):
    followups = await count(demo, models.FollowUp)
    await alice.send("complaint from maria garcia: the new boxes come on Monday and she fears they will be crushed too")
    await alice.send("maria garcia complained today about the late delivery")
    assert await count(demo, models.Complaint, models.Complaint.text.contains("crushed")) == 1
    assert await count(demo, models.FollowUp) == followups


async def test_remind_and_agenda(alice, demo, clock):
    replies = await alice.send("remind me to call Tomas Svoboda tomorrow 10am")
    assert "Svoboda" in text_of(replies)
    followup = (await rows(demo, models.FollowUp))[-1]
    assert followup.due_at.isoformat() == "2026-11-26T09:00:00+00:00"
    clock.now += timedelta(days=1)
    agenda = text_of(await alice.send("what's due today"))
    assert "Svoboda" in agenda


async def test_stranger_is_refused_and_nothing_is_read(demo):
    from crmbot.adapters.console import ConsoleChat

    stranger = ConsoleChat(demo.bot, "Mallory")
    replies = await stranger.send("novak")
    assert "invite" in text_of(replies)
    assert "Novák" not in text_of(replies)


async def test_bad_input_gets_a_reply_and_changes_nothing(alice, demo):
    tables = (models.Customer, models.Interaction, models.Deal, models.Complaint, models.FollowUp, models.AuditEntry)
    before = [await count(demo, t) for t in tables]
    for text in ["", " ", "x" * 10_000, "🙂🙃🔥", "'; DROP TABLE customers; --", "remind me yesterday about novak",
                 "new deal acme EUR", "\u202eevil\u202c", "\x00\x01\x02"]:
        replies = await alice.send(text)
        assert replies and all(r.text for r in replies), repr(text)
        assert "Traceback" not in text_of(replies)
    assert [await count(demo, t) for t in tables] == before


async def test_a_flood_gets_a_polite_slow_down_and_nothing_is_lost_after(alice, demo, clock):
    limit = demo.bot.rate_limit.per_minute
    for n in range(limit):
        assert "slow" not in text_of(await alice.send(f"/note lucie cerna flood note {n}"))
    slowed = await alice.send("/note lucie cerna one too many")
    assert "lot of messages" in text_of(slowed)
    assert await count(demo, models.Interaction, models.Interaction.summary.contains("one too many")) == 0
    clock.now += timedelta(seconds=61)
    assert "Note logged" in text_of(await alice.send("/note lucie cerna after the pause"))
    assert await count(demo, models.Interaction, models.Interaction.summary.contains("flood note")) == limit


async def test_a_mistyped_message_from_an_adapter_is_refused_quietly(alice, demo):
    from crmbot.messages import ChatRef, Incoming, Outcome, UserRef

    before = await count(demo, models.ProcessedMessage)
    forged = Incoming(chat=ChatRef("slack", "D1"), user=UserRef("slack", "U1", workspace={"id": "T1"}), text="hi",
                      message_id="e1")
    assert await demo.bot.handle(forged) == Outcome()
    assert await count(demo, models.ProcessedMessage) == before
    assert "Hi Alice" in text_of(await alice.send("help"))  # and the bot carries on


async def test_an_announcement_is_part_of_the_outcome_once_committed(alice, bob, demo):
    await alice.send("/notify here")  # Alice, a manager: her console chat hears the team's news
    outcome = await bob.exchange("cyberdyne won")
    assert [r.kind for r in outcome.replies] == ["deal_moved"]
    [announcement] = outcome.announcements
    assert announcement.chat == alice.chat
    assert [r.kind for r in announcement.replies] == ["announce_deal"]
    text = announcement.replies[0].text
    assert "Bob" in text and "won" in text and "Cyberdyne pilot" in text
    [deal] = await rows(demo, models.Deal, models.Deal.title == "Cyberdyne pilot")
    assert deal.stage == "won"


async def test_a_message_that_fails_after_announcing_announces_nothing(alice, demo, clock):
    from crmbot.adapters.console import ConsoleChat
    from crmbot.bot import Bot
    from crmbot.intents import build_router
    from crmbot.intents.router import Route

    await alice.send("/notify here")
    router = build_router()
    move_deal = router.routes["move_deal"]
    made: list = []

    async def moves_announces_then_fails(ctx, intent):
        await move_deal.handler(ctx, intent)
        made.extend(ctx.announcements)
        raise RuntimeError("the store went away before the commit")

    router.routes["move_deal"] = Route(moves_announces_then_fails, move_deal.role)
    failing = ConsoleChat(Bot(demo.db, demo.i18n, clock=clock, router=router), "Alice")
    outcome = await failing.exchange("cyberdyne won")
    assert len(made) == 1  # the handler did announce, inside the transaction
    assert outcome.announcements == ()
    assert [r.kind for r in outcome.replies] == ["error"]
    [deal] = await rows(demo, models.Deal, models.Deal.title == "Cyberdyne pilot")
    assert deal.stage != "won"  # rolled back, so nobody may hear it was won


async def test_lang_alone_offers_the_languages_as_buttons_and_a_press_switches(alice, demo):
    [asked] = await alice.send("/lang")
    assert "Which language" in asked.text and '""' not in asked.text
    labels = [b.label for b in asked.buttons]
    assert len(labels) == 6 and all(label.endswith(f"({code})") for label, code in zip(labels, demo.i18n.codes))
    czech = next(b for b in asked.buttons if b.label.endswith("(cs)"))
    [done] = await alice.press(czech)
    assert done.kind == "language_set"
    async with demo.db.sessions() as session:
        assert await session.scalar(select(models.Member.locale).where(models.Member.name == "Alice")) == "cs"


async def test_a_reminder_arriving_while_a_question_is_open_leaves_its_numbers_alone(alice, demo):
    from crmbot.adapters.console import ConsoleSender
    from crmbot.messages import Button, Reply

    [which] = await alice.send("find novak")
    assert which.kind == "customer_which" and len(which.buttons) >= 2 and "1." not in which.text  # the choices are buttons, not also a list
    shown: list[str] = []
    reminder = Reply("⏰ Call Jana", buttons=(Button("✅ Done", "c:reminder-done"), Button("⏰ 1 h", "c:reminder-later")))
    await ConsoleSender(shown.append, alice).send(alice.chat, [reminder])
    first_new = len(which.buttons) + 1
    assert f"[{first_new}] ✅ Done" in shown[0] and "[1]" not in shown[0]
    [card] = await alice.send("1")  # still the question's first choice
    assert card.kind == "card" and which.buttons[0].label.split(" (")[0] in card.text


async def test_each_undo_names_what_it_undid(alice, demo):
    await alice.send("new deal cyberdyne $12,500")
    await alice.send("called jana, wants a quote by friday")
    [call] = await alice.send("undo")  # the call and its follow-up, one action
    assert "Jana Nováková" in call.text and "Call" in call.text and "quote" not in call.text
    [deal] = await alice.send("undo")
    assert "Cyberdyne" in deal.text and "$12,500.00" in deal.text


async def test_something_said_about_a_clear_customer_offers_what_to_do_with_it(alice, demo):
    [asked] = await alice.send("eva kucerova and the new roof")
    assert asked.kind == "customer_what" and "Eva Kučerová" in asked.text
    assert len(asked.buttons) == 5 and asked.buttons[-1].label == "Cancel"
    assert await count(demo, models.Interaction, models.Interaction.summary.contains("roof")) == 0  # nothing kept yet
    note = next(b for b in asked.buttons if "note" in b.label)
    [kept] = await alice.press(note)
    assert kept.kind == "logged"
    [row] = await rows(demo, models.Interaction, models.Interaction.summary.contains("roof"))
    assert row.kind == "note" and row.summary == "eva kucerova and the new roof"
    [noted] = await alice.send("eva prefers mornings")  # a fact about her, said plainly: kept as a note
    assert noted.kind == "logged" and "Eva Kučerová" in noted.text
    [row] = await rows(demo, models.Interaction, models.Interaction.summary.contains("mornings"))
    assert row.kind == "note"
    [card] = await alice.send("petr dvorak")  # a name alone is still a look-up
    assert card.kind == "card"


async def test_a_customer_is_found_by_phone_or_email_as_typed_on_a_phone(alice, demo):
    for typed in ("find +420 731 222 333", "who is 731222333", "731 222 333", "find 00420 731-222-333", "find petr@dvorakstavby.cz"):
        [card] = await alice.send(typed)
        assert card.kind == "card" and "Petr Dvořák" in card.text, typed
    [nobody] = await alice.send("find +421 731 222 333")  # the same digits in Slovakia: someone else
    assert nobody.kind == "contact_not_found" and not nobody.buttons


def test_dates_and_amounts_are_not_phone_numbers():
    from crmbot.text import contact_in

    for text in ("delivered 12.11.2024 broken", "paid 1 500 000 CZK", "due 2024-11-30", "ref 20241130", "150 000 000 Kč"):
        assert contact_in(text, "CZ") == "", text
    assert contact_in("call 731 222 333", "CZ") == "731 222 333" and contact_in("+44 20 7946 0958", None) == "+44 20 7946 0958"
