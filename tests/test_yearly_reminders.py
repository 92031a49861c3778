"""Birthdays and anniversaries reminded every year, on SQLite and PostgreSQL: the reminder goes
out at 9:00 in the member's time zone, and its delivery writes next year's; 29 February falls on
28 February in a year without it and comes back on the 29th in a leap year. The clock is moved by
hand; the reminder loop runs one pass at a chosen instant."""

from __future__ import annotations

import pytest

from datetime import datetime, timedelta, timezone

from sqlalchemy import update

from crmbot import yearly
from crmbot.store import models
from tests.test_conversation import rows
from tests.test_reminders import RecordingPlatform, loop_for

# PostgreSQL only for the tests marked `both_engines`: the rest are about words, replies and rules,
# not the engine (see conftest.pytest_collection_modifyitems)
pytestmark = pytest.mark.sqlite_only

UTC = timezone.utc


def test_a_yearly_day_falls_at_nine_in_the_members_zone_and_29_february_on_the_28th_without_it():
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert yearly.first_after(2, 29, now, "Europe/Prague") == datetime(2027, 2, 28, 8, 0, tzinfo=UTC)
    assert yearly.following(2, 29, datetime(2027, 2, 28, 8, 0, tzinfo=UTC), now, "Europe/Prague") == datetime(2028, 2, 29, 8, 0, tzinfo=UTC)
    assert yearly.following(2, 29, datetime(2028, 2, 29, 8, 0, tzinfo=UTC), now, "Europe/Prague") == datetime(2029, 2, 28, 8, 0, tzinfo=UTC)
    # summer time: 9:00 in Prague is 7:00 UTC in June
    assert yearly.first_after(6, 3, now, "Europe/Prague") == datetime(2027, 6, 3, 7, 0, tzinfo=UTC)
    # today's 9:00 still ahead is today's; once past, next year's
    assert yearly.first_after(11, 25, datetime(2026, 11, 25, 7, 0, tzinfo=UTC), "Europe/Prague") == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert yearly.first_after(11, 25, now, "Europe/Prague") == datetime(2027, 11, 25, 8, 0, tzinfo=UTC)
    # New Year's Day in Auckland is still 31 December in UTC: the next one is a year later, not the same day
    auckland = yearly.first_after(1, 1, now, "Pacific/Auckland")
    assert auckland == datetime(2026, 12, 31, 20, 0, tzinfo=UTC)
    assert yearly.following(1, 1, auckland, auckland, "Pacific/Auckland") == datetime(2027, 12, 31, 20, 0, tzinfo=UTC)
    # delivered days late (an outage), the next is still next year's, never a moment past
    assert yearly.following(2, 29, datetime(2027, 2, 28, 8, 0, tzinfo=UTC), datetime(2027, 3, 3, tzinfo=UTC), "UTC") == datetime(2028, 2, 29, 9, 0, tzinfo=UTC)
    assert yearly.valid(2, 29) and not yearly.valid(4, 31) and not yearly.valid(13, 1)


async def yearly_rows(app) -> list[models.FollowUp]:
    return await rows(app, models.FollowUp, models.FollowUp.every_year.is_not(None))


@pytest.mark.both_engines
async def test_a_birthday_reminder_comes_back_every_year_29_february_included(alice, demo, clock):
    await alice.send("petr dvorak's birthday is 29 February")
    [set_] = await alice.send("remind me of petr dvorak's birthday")
    assert set_.kind == "yearly_set" and "every year" in set_.text and "28 Feb 2027 09:00" in set_.text
    [first] = await yearly_rows(demo)
    assert (first.every_year, first.due_at) == ("02-29", datetime(2027, 2, 28, 8, 0, tzinfo=UTC))
    assert first.fact_id is not None and first.note == "🎂 Birthday: Petr Dvořák"
    platform = RecordingPlatform()
    loop = loop_for(demo, platform, clock)
    seen = []
    for due in (datetime(2027, 2, 28, 8, 0, tzinfo=UTC), datetime(2028, 2, 29, 8, 0, tzinfo=UTC), datetime(2029, 2, 28, 8, 0, tzinfo=UTC)):
        clock.now = due
        report = await loop.run_once(due)
        assert report.delivered, due
        seen.append(due)
        pending = [r for r in await yearly_rows(demo) if r.delivered_at is None]
        assert len(pending) == 1, due  # exactly one next year's
        seen_next = pending[0].due_at
    assert seen_next == datetime(2030, 2, 28, 8, 0, tzinfo=UTC)
    assert sum("Petr Dvořák" in text and "Birthday" in text for text in platform.texts()) == 3
    assert [r.due_at for r in await yearly_rows(demo)] == [*seen, seen_next]


async def test_next_years_reminder_is_in_the_members_zone_of_the_day(alice, demo, clock):
    async with demo.db.sessions() as session, session.begin():
        await session.execute(update(models.Member).where(models.Member.name == "Alice").values(timezone="America/New_York"))
    await alice.send("petr dvorak's birthday is 12 March")
    await alice.send("remind me of petr dvorak's birthday")
    [first] = await yearly_rows(demo)
    assert first.due_at == datetime(2027, 3, 12, 14, 0, tzinfo=UTC)  # 9:00 in New York (EST)
    async with demo.db.sessions() as session, session.begin():  # she moves to Tokyo meanwhile
        await session.execute(update(models.Member).where(models.Member.name == "Alice").values(timezone="Asia/Tokyo"))
    clock.now = first.due_at
    await loop_for(demo, RecordingPlatform(), clock).run_once(first.due_at)
    [_, following] = await yearly_rows(demo)
    assert following.due_at == datetime(2028, 3, 12, 0, 0, tzinfo=UTC)  # 9:00 in Tokyo


@pytest.mark.both_engines
async def test_a_snoozed_birthday_reminder_delivered_again_writes_next_year_once(alice, demo, clock):
    await alice.send("petr dvorak's birthday is 12 March")
    await alice.send("remind me of petr dvorak's birthday")
    [first] = await yearly_rows(demo)
    platform = RecordingPlatform()
    loop = loop_for(demo, platform, clock)
    clock.now = first.due_at
    await loop.run_once(first.due_at)
    [snoozed] = await alice.send("snooze 1h")
    assert snoozed.kind == "followup_snoozed"
    clock.now = first.due_at + timedelta(hours=1)
    report = await loop.run_once(clock.now)
    assert first.id in report.delivered
    future = [r for r in await yearly_rows(demo) if r.due_at.year == 2028]
    assert len(future) == 1


async def test_a_changed_birthday_moves_its_reminder_and_a_birthday_taken_back_is_not_reminded_again(alice, demo, clock):
    await alice.send("petr dvorak's birthday is 12 March")
    await alice.send("remind me of petr dvorak's birthday")
    await alice.send("petr dvorak's birthday is 20 April")
    [moved] = await yearly_rows(demo)
    assert (moved.every_year, moved.due_at) == ("04-20", datetime(2027, 4, 20, 7, 0, tzinfo=UTC))
    await alice.send("undo")  # the day and its reminder go back together
    [back] = await yearly_rows(demo)
    assert (back.every_year, back.due_at) == ("03-12", datetime(2027, 3, 12, 8, 0, tzinfo=UTC))
    async with demo.db.sessions() as session, session.begin():  # the birthday is no longer held
        await session.execute(update(models.CustomerFact).values(deleted_at=datetime(2027, 1, 1, tzinfo=UTC)))
    clock.now = back.due_at
    await loop_for(demo, RecordingPlatform(), clock).run_once(back.due_at)
    assert len(await yearly_rows(demo)) == 1  # delivered once more, not written for next year


async def test_the_day_can_be_said_with_the_reminder_and_a_second_ask_changes_nothing(alice, demo):
    replies = await alice.send("remind me of petr dvorak's birthday on 12 March")
    assert [r.kind for r in replies] == ["customer_changed", "yearly_set"]
    assert "Birthday: 12 March" in replies[0].text
    [again] = await alice.send("remind me of petr dvorak's birthday")
    assert again.kind == "yearly_set" and "already" in again.text
    assert len(await yearly_rows(demo)) == 1
    [undone] = await alice.send("undo")  # the last action, the reminder with its day
    assert undone.kind == "undone"
    assert all(r.deleted_at is not None for r in await yearly_rows(demo))


async def test_a_reminder_for_a_day_with_a_date_of_its_own_is_not_yearly(alice, demo):
    [set_] = await alice.send("remind me to buy a birthday present for petr dvorak on friday")
    assert set_.kind == "reminder_set"
    assert await yearly_rows(demo) == []
