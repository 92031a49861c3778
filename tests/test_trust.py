"""Access control, tenant isolation, audit and erasure, proven through whole conversations."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crmbot import sample
from crmbot.adapters.console import ConsoleChat
from crmbot.app import console_member
from crmbot.exporter import export_team
from crmbot.messages import ChatRef, DeliveryFailed, Incoming, Reply, UserRef
from crmbot.reminders import outbox
from crmbot.store import erasure, models, teams
from tests.conftest import NOW

REFUSED = "can't do that"

# one message per intent, as a member would send it, and the least role allowed to run it
INTENT_MESSAGES = [
    ("log_call", "/call petr dvorak site visit went well", "rep"),
    ("add_note", "/note lucie cerna prefers mornings", "rep"),
    ("find_customer", "/find tomas svoboda", "rep"),
    ("add_customer", "/add Karel Malý from Pekárna", "rep"),
    ("new_deal", "/deal maria garcia 20k EUR", "rep"),
    ("move_deal", "/move dvorak stavby proposal", "rep"),
    ("complaint", "/complaint luka horvat invoice was wrong", "rep"),
    ("resolve_complaint", "/resolve lucie cerna reprinted", "rep"),
    ("remind", "/remind gareth davies tomorrow 10am", "rep"),
    ("agenda", "/agenda", "rep"),
    ("summary", "/summary week", "rep"),
    ("undo", "/undo", "rep"),
    ("help", "/help", "rep"),
    ("reassign", "/assign rhys evans to Bob", "manager"),
    ("notify_here", "/notify here", "manager"),
    ("forget", "/forget olga petrova", "admin"),
]
RANK = {"rep": 0, "manager": 1, "admin": 2}


class PlatformUser:
    """A member as one platform's adapter presents them to the core: the same Incoming shape
    the Telegram and Slack adapters build, so roles are proven per platform."""

    def __init__(self, bot, platform: str, user_id: str, workspace: str | None) -> None:
        self.bot, self.platform, self.user_id, self.workspace = bot, platform, user_id, workspace
        self._ids = iter(range(1, 10**6))

    def _incoming(self, text: str = "", action: str | None = None) -> Incoming:
        return Incoming(
            chat=ChatRef(self.platform, self.user_id), user=UserRef(self.platform, self.user_id, workspace=self.workspace),
            text=text, action=action, message_id=f"{self.user_id}-{next(self._ids)}",
        )

    async def send(self, text: str):
        return (await self.bot.handle(self._incoming(text))).replies

    async def press(self, button):
        return (await self.bot.handle(self._incoming(action=button.action))).replies


PLATFORMS = ("console", "telegram", "slack")


async def _chats_on(demo, platform: str) -> dict:
    """Bob (rep), Alice (manager) and Admin (admin), talking through one platform."""
    made = {}
    for number, (name, role) in enumerate((("Bob", "rep"), ("Alice", "manager"), ("Admin", "admin"))):
        if platform == "console":
            await console_member(demo, name, NOW, team_name=sample.TEAM)
            made[role] = ConsoleChat(demo.bot, name)
            continue
        workspace = "T0TRUST" if platform == "slack" else None
        user_id = f"{platform[0].upper()}{1000 + number}"
        async with demo.db.sessions() as session, session.begin():
            team = await teams.team_by_name(session, sample.TEAM)
            member = await teams.member_by_name(session, team.id, name)
            await teams.bind_identity(session, member, platform, user_id, NOW, workspace=workspace or "", chat_id=user_id)
        made[role] = PlatformUser(demo.bot, platform, user_id, workspace)
    return made


@pytest.fixture(params=PLATFORMS)
async def chats(request, demo):
    return await _chats_on(demo, request.param)


@pytest.fixture
async def every_chat(demo) -> dict[str, dict]:
    """The same three members on every platform at once (one database for all three)."""
    return {platform: await _chats_on(demo, platform) for platform in PLATFORMS}


@pytest.mark.parametrize("intent,text,needed", INTENT_MESSAGES, ids=[m[0] for m in INTENT_MESSAGES])
async def test_every_intent_for_every_role_on_every_platform(every_chat, intent, text, needed):
    for platform, chats in every_chat.items():
        for role, chat in chats.items():
            answer = "\n".join(r.text for r in await chat.send(text))
            if RANK[role] < RANK[needed]:
                assert REFUSED in answer, (platform, role, text, answer)
            else:
                assert REFUSED not in answer and answer, (platform, role, text, answer)


def _team_b_state(rows):
    return sorted((type(r).__name__, r.id, str(sorted((k, str(v)) for k, v in vars(r).items() if not k.startswith("_")))) for r in rows)


async def test_two_teams_with_the_same_names_never_see_each_other(app, clock):
    async with app.db.sessions() as session, session.begin():
        await sample.seed(session, clock.now)
        await sample.seed(session, clock.now, name="Rival Sales", email_tag="+b")
        rival = await teams.team_by_name(session, "Rival Sales")
    await console_member(app, "Alice", clock.now, team_name=sample.TEAM)
    alice = ConsoleChat(app.bot, "Alice")

    async def rival_rows():
        async with app.db.sessions() as session:
            found = []
            for model in (models.Customer, models.Interaction, models.Deal, models.DealStageChange, models.Complaint, models.FollowUp, models.AuditEntry):
                found += list(await session.scalars(select(model).where(model.team_id == rival.id)))
            return _team_b_state(found)

    before = await rival_rows()
    for _, text, _ in INTENT_MESSAGES + [("x", "jan novak", "rep"), ("x", "jan.novak+b@acme.cz", "rep"), ("x", "+420 777 123 456", "rep")]:
        replies = await alice.send(text)
        for reply in replies:
            assert "+b@" not in reply.text, (text, reply.text)
        for reply in replies:  # pressing every offered button stays inside the team too
            for button in reply.buttons:
                pressed = await alice.press(button)
                assert all("+b@" not in r.text for r in pressed)
    assert await rival_rows() == before


async def test_audit_records_who_when_where_and_undo_goes_back_several_steps(alice, demo):
    await alice.send("/deal sarah connor 10k USD")
    await alice.send("/note sarah connor likes sailing")
    async with demo.db.sessions() as session:
        entries = list(await session.scalars(select(models.AuditEntry).order_by(models.AuditEntry.id)))
    assert {e.platform for e in entries} == {"console"}
    assert all(e.member_id is not None and e.at is not None for e in entries)
    assert [e.entity for e in entries][:3] == ["deal", "deal_stage_change", "interaction"]
    await alice.send("undo")
    await alice.send("undo")
    async with demo.db.sessions() as session:
        live_deals = list(await session.scalars(select(models.Deal).where(models.Deal.amount_minor == 1_000_000, models.Deal.deleted_at.is_(None))))
        notes = list(await session.scalars(select(models.Interaction).where(models.Interaction.summary.contains("sailing"), models.Interaction.deleted_at.is_(None))))
    assert live_deals == [] and notes == []
    assert "nothing of yours to undo" in "\n".join(r.text for r in await alice.send("undo"))


async def test_forget_erases_everything_personal_and_keeps_the_fact(chats, demo):
    admin = chats["admin"]
    ask = await admin.send("/forget lucie cerna")
    assert "cannot be undone" in ask[0].text
    confirm = next(b for b in ask[0].buttons if "Erase" in b.label)
    done = await admin.press(confirm)
    assert "erased" in done[0].text
    async with demo.db.sessions() as session:
        team = await teams.team_by_name(session, sample.TEAM)
        customer = await session.scalar(select(models.Customer).where(models.Customer.name == erasure.ERASED))
        data = await export_team(session, team.id)
        trail = await erasure.history(session, team.id, customer.id)
    dumped = str(data) + str([(e.before, e.after) for e in trail])
    assert "Lucie" not in dumped and "cernadesign" not in dumped and "brochures" not in dumped
    assert trail[-1].action == "erase"
    # and she can no longer be found
    assert "Lucie" not in "\n".join(r.text for r in await admin.send("find lucie cerna"))


async def test_forget_also_erases_the_replies_kept_about_her_while_a_platform_was_down(chats, demo):
    rep, admin = chats["rep"], chats["admin"]

    async def platform_down() -> None:
        raise DeliveryFailed("Bot API answered 502")

    kept_in = ChatRef("telegram", "5550001")
    about_lucie, about_petr = await rep.send("/find lucie cerna"), await rep.send("/find petr dvorak")
    assert any("Lucie Černá" in r.text for r in about_lucie) and all(r.team_id is not None for r in about_lucie)
    await demo.deliver(kept_in, about_lucie, platform_down)
    await demo.deliver(kept_in, about_petr, platform_down)
    async with demo.db.sessions() as session, session.begin():  # another team's kept reply naming its own Lucie
        other = await teams.create_team(session, "Other shop", NOW)
    await outbox.keep(demo.db, ChatRef("telegram", "5550002"), [Reply("Lucie Černá called back", team_id=other.id)], NOW)

    ask = await admin.send("/forget lucie cerna")
    await admin.press(next(b for b in ask[0].buttons if "Erase" in b.label))
    async with demo.db.sessions() as session:
        kept = list(await session.scalars(select(models.PendingReply).order_by(models.PendingReply.id)))
    texts = [r["text"] for row in kept for r in row.replies]
    assert [row.chat_id for row in kept] == ["5550001", "5550002"]  # Petr's answer, and the other team's
    assert not any("Lucie" in t for t in texts[:-1]) and any("Petr Dvořák" in t for t in texts)
    assert texts[-1] == "Lucie Černá called back"  # erasure is the team's: another team's Lucie stays
