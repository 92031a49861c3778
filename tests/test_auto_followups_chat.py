"""Automatic follow-ups set by chat: a manager says "every new lead gets a call follow-up in 2
days" or "a resolved complaint gets a check-in call after 7 days" in any of the six languages;
the team's setting changes (audited, undone by "undo"), and the next new lead or resolved
complaint gets its follow-up. Reps may not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from crmbot.i18n import I18n
from crmbot.store import models
from tests.conftest import NOW
from tests.test_routes import follow_ups_after_a_new_lead_and_a_resolution

EXAMPLES = '"every new lead gets a call follow-up in 2 days" · "a resolved complaint gets a check-in call after 7 days"'


@pytest.fixture
def db_url(sqlite_db_url):
    return sqlite_db_url  # the setting is a team's JSON: the engines are covered by test_routes


def examples(code: str) -> list[str]:
    said = I18n.packaged().language(code).translations.gettext(EXAMPLES)
    return [part.strip().strip('"„“»«”') for part in said.split(" · ")]


async def rules(app) -> dict:
    async with app.db.sessions() as session:
        team = await session.scalar(select(models.Team))
        return (team.settings or {}).get("auto_followups") or {}


@pytest.mark.parametrize("code", ["en", "cs", "sl", "zh", "cy", "az"])
async def test_a_manager_sets_both_rules_in_each_language(alice, demo, code):
    await alice.send(f"/lang {code}")
    new_lead, resolved = examples(code)
    [saved] = await alice.send(new_lead)
    assert saved.kind == "auto_followup_saved", (code, new_lead, saved.text)
    [saved] = await alice.send(resolved)
    assert saved.kind == "auto_followup_saved", (code, resolved, saved.text)
    assert await rules(demo) == {"new_lead": {"days": 2}, "resolved_complaint": {"days": 7}}


async def test_the_rules_said_in_the_chat_make_follow_ups_and_undo_takes_a_rule_back(alice, bob, demo):
    [saved] = await alice.send("every new lead gets a call follow-up in 2 days")
    assert "every new lead gets a follow-up" in saved.text and "2 days" in saved.text
    [saved] = await alice.send("a resolved complaint gets a check-in call after a week")
    assert "7 days" in saved.text
    made = await follow_ups_after_a_new_lead_and_a_resolution(alice, demo)
    async with demo.db.sessions() as session:
        entries = list(await session.scalars(select(models.AuditEntry).where(models.AuditEntry.entity == "team")))
    assert made == {"Call the new lead": NOW + timedelta(days=2), "Check in after the resolved complaint": NOW + timedelta(days=7)}
    assert len(entries) == 2  # each change of the rules is audited
    await alice.send("undo")  # the resolution
    await alice.send("undo")  # the new customer
    [undone] = await alice.send("undo")  # the complaint rule
    assert "Undone" in undone.text and await rules(demo) == {"new_lead": {"days": 2}}


async def test_a_rep_may_not_and_a_rule_without_its_days_is_asked_about(alice, bob, demo):
    [refused] = await bob.send("every new lead gets a call follow-up in 2 days")
    assert refused.kind == "not_allowed" and await rules(demo) == {}
    [asked] = await alice.send("every new lead gets a call follow-up")
    assert asked.kind == "auto_followup_what" and "in 2 days" in asked.text and await rules(demo) == {}
    [asked] = await alice.send("every new lead gets a call follow-up in 900 days")
    assert asked.kind == "auto_followup_what" and await rules(demo) == {}
