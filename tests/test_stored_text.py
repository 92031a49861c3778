"""What is stored is what the member said (issue #13, item 8): a complaint's text, a note and a
reminder's note keep the words that matter, without the command words around them
("complaint from lucie cerna:", "remind me to", "stížnost od", "提醒我", "atgoffa fi",
"xatırlat") and without the customer's name and the day when they were only the command's
arguments. Checked in the rows a chat leaves in a real SQLite file, in all six languages."""

from __future__ import annotations

import pytest

from crmbot.store import models
from tests.test_conversation import rows
from tests.test_everyday import speaks

pytestmark = pytest.mark.sqlite_only


@pytest.mark.parametrize(("locale", "text", "model", "column", "kept"), [
    ("en", "complaint from lucie cerna: brochures printed in the wrong colours", models.Complaint, "text",
     "brochures printed in the wrong colours"),
    ("en", "note for eva kucerova: prefers mornings", models.Interaction, "summary", "prefers mornings"),
    ("en", "remind me tomorrow at 9 to send Lucie the proofs, thanks", models.FollowUp, "note", "send Lucie the proofs"),
    ("cs", "stížnost od Lucie Černé: brožury mají špatné barvy", models.Complaint, "text", "brožury mají špatné barvy"),
    ("cs", "připomeň mi zítra v 9, abych poslala Lucii Černé ceník", models.FollowUp, "note", "poslala Lucii Černé ceník"),
    ("sl", "Nina Kovačič se pritožuje, da paneli ne delajo", models.Complaint, "text", "paneli ne delajo"),
    ("sl", "opomni me jutri, da pošljem ponudbo Nini Kovačič", models.FollowUp, "note", "pošljem ponudbo Nini Kovačič"),
    ("zh", "提醒我明天给张伟发报价", models.FollowUp, "note", "给张伟发报价"),
    ("zh", "张伟投诉说产品质量有问题", models.Complaint, "text", "产品质量有问题"),
    ("cy", "atgoffa fi fory i anfon y dyfynbris i Rhys Evans", models.FollowUp, "note", "anfon y dyfynbris i Rhys Evans"),
    ("cy", "cwyn gan Rhys Evans: mae'r faniau'n hwyr", models.Complaint, "text", "mae'r faniau'n hwyr"),
    ("az", "Aysel Məmmədova şikayət edir ki, parçalar gec gəlib", models.Complaint, "text", "parçalar gec gəlib"),
    ("az", "sabah mənə xatırlat ki, Aysel xanıma müqaviləni göndərim", models.FollowUp, "note",
     "Aysel xanıma müqaviləni göndərim"),
])
async def test_what_is_stored_is_what_was_said(demo, alice, locale, text, model, column, kept):
    await speaks(demo, "Alice", locale)
    before = {row.id for row in await rows(demo, model)}
    await alice.send(text)
    [row] = [row for row in await rows(demo, model) if row.id not in before]
    assert getattr(row, column) == kept


async def test_a_name_that_is_what_was_said_stays(demo, alice):
    # the customer is the object of the reminder, not the command's argument: it stays
    await speaks(demo, "Alice", "az")
    before = {row.id for row in await rows(demo, models.FollowUp)}
    await alice.send("sabah Aysel xanıma zəng etməyi xatırlat")
    [row] = [row for row in await rows(demo, models.FollowUp) if row.id not in before]
    assert row.note == "Aysel xanıma zəng etməyi"
    # nothing but the command: the message is kept as it was, not an empty text
    await speaks(demo, "Alice", "en")
    await alice.send("complaint from lucie cerna")
    [complaint] = [c for c in await rows(demo, models.Complaint) if "complaint" in c.text]
    assert complaint.text == "complaint from lucie cerna"
