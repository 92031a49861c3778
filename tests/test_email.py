"""Mail into the CRM: `crmbot run --email`'s SMTP listener, fed by a real SMTP client (smtplib)
on loopback, against a real database with the sample team."""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import replace
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from crmbot.adapters.console import ConsoleChat, ConsoleSender
from crmbot.config import Settings
from crmbot.server import Services
from crmbot.store import models, teams

# PostgreSQL only for the tests marked `both_engines`: the rest are about words, replies and rules,
# not the engine (see conftest.pytest_collection_modifyitems)
pytestmark = pytest.mark.sqlite_only

ALICE_MAIL = "alice@demo-sales.example"
CRMBOT = "crm@demo-sales.example"


@pytest.fixture
async def mail(alice: ConsoleChat, demo):
    """crmbot listening for mail on a free port; Alice sends from ALICE_MAIL; questions to her
    console chat land in `mail.shown`."""
    async with demo.db.sessions() as session, session.begin():
        member = await teams.member_by_name(session, (await teams.the_only_team(session)).id, "Alice")
        member.email = ALICE_MAIL
    app = replace(demo, settings=Settings(smtp_port=0, _env_file=None))
    shown: list[str] = []
    app.senders["console"] = ConsoleSender(shown.append, alice)
    services = Services(app, telegram=False, slack=False, reminders=False, email=True)
    await services.start()
    async with demo.db.sessions() as session:  # the sample's own e-mails are not news
        known = await session.scalar(select(func.max(models.Interaction.id))) or 0
    try:
        yield Mailer(services.mail.port, shown, demo, known)
    finally:
        await services.stop()


class Mailer:
    def __init__(self, port: int, shown: list[str], app, known: int) -> None:
        self.port, self.shown, self.app, self.known = port, shown, app, known

    async def send(self, message: EmailMessage | bytes, sender: str = ALICE_MAIL, to: tuple[str, ...] = (CRMBOT,)) -> None:
        def deliver() -> None:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
                if isinstance(message, bytes):
                    client.sendmail(sender, list(to), message)
                else:
                    client.send_message(message, from_addr=sender, to_addrs=list(to))

        await asyncio.to_thread(deliver)

    async def emails(self, *where) -> list[models.Interaction]:
        async with self.app.db.sessions() as session:
            return list(await session.scalars(select(models.Interaction).where(models.Interaction.kind == "email", models.Interaction.id > self.known, *where)))

    async def count(self, model) -> int:
        async with self.app.db.sessions() as session:
            return await session.scalar(select(func.count()).select_from(model))


def a_mail(*, sender: str = f"Alice <{ALICE_MAIL}>", to: str = "Jana Nováková <jana@beta-logistics.cz>",
           subject: str = "Quote for the fleet", body: str = "Hi Jana,\nthe quote is attached.\n\n-- \nAlice\nDemo Sales",
           message_id: str = "<q1@demo-sales.example>", authenticated: bool = True, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"], message["Message-ID"] = sender, to, subject, message_id
    message["Date"] = "Wed, 25 Nov 2026 09:30:00 +0100"
    if authenticated:  # what the team's own mail server adds once it checked the signature
        domain = sender.rpartition("@")[2].rstrip(">")
        message["Authentication-Results"] = f"mx.demo-sales.example; dkim=pass header.d={domain}; dmarc=pass header.from={domain}"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


@pytest.mark.both_engines
async def test_a_mail_copied_to_crmbot_is_logged_on_the_customer_and_unknown_people_are_asked_about(mail, alice):
    message = a_mail(Cc="Karel Malý <karel@pekarna.cz>")
    message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="quote.pdf")
    await mail.send(message, to=(CRMBOT,))
    [logged] = await mail.emails()
    assert logged.summary.startswith("Quote for the fleet — Hi Jana, the quote is attached.")
    assert "Alice" not in logged.summary.split("—", 1)[1].replace("quote.pdf", "")  # the signature is trimmed
    assert logged.summary.endswith("📎 quote.pdf")
    async with mail.app.db.sessions() as session:
        jana = await session.get(models.Customer, logged.customer_id)
        assert jana.name == "Jana Nováková" and logged.happened_at.isoformat().startswith("2026-11-25T08:30")
        entry = await session.scalar(select(models.AuditEntry).where(models.AuditEntry.entity == "interaction"))
        assert entry.platform == "email" and entry.member_id == logged.member_id  # who, when, what

    [asked] = mail.shown
    assert "Karel Malý <karel@pekarna.cz>" in asked and "Quote for the fleet" in asked and "[1] ＋ Karel Malý" in asked
    [added] = await alice.send("1")
    assert "Karel Malý" in added.text
    async with mail.app.db.sessions() as session:
        karel = await session.scalar(select(models.Customer).where(models.Customer.name == "Karel Malý"))
    assert karel.emails == ["karel@pekarna.cz"]


async def test_a_forwarded_mail_is_logged_on_the_customer_who_wrote_it(mail):
    body = ("FYI, see below.\n\n---------- Forwarded message ---------\nFrom: Petr Dvořák <petr@dvorakstavby.cz>\n"
            "Date: Tue, 24 Nov 2026 at 16:02\nSubject: Cameras\nTo: Alice <alice@demo-sales.example>\n\n"
            "We need 14 cameras, not 12.\n")
    await mail.send(a_mail(to=CRMBOT, subject="Fwd: Cameras", body=body, message_id="<fw1@x>"))
    [logged] = await mail.emails()
    async with mail.app.db.sessions() as session:
        assert (await session.get(models.Customer, logged.customer_id)).name == "Petr Dvořák"
    assert logged.summary == "Cameras — FYI, see below. We need 14 cameras, not 12."  # the note, then the customer's words


async def test_mail_from_someone_who_is_not_a_member_is_refused_and_stores_nothing(mail):
    before = await mail.count(models.AuditEntry)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await mail.send(a_mail(sender="Mallory <mallory@evil.example>"), sender="mallory@evil.example")
    assert refused.value.smtp_code == 550
    assert await mail.emails() == [] and await mail.count(models.AuditEntry) == before and mail.shown == []


@pytest.mark.both_engines
async def test_the_same_message_id_is_logged_once(mail):
    await mail.send(a_mail())
    await mail.send(a_mail())  # a resend, or the MTA's retry after a lost answer
    assert len(await mail.emails()) == 1


async def test_bad_mail_is_refused_whole_and_the_server_keeps_answering(mail):
    with pytest.raises(smtplib.SMTPDataError) as looping:
        await mail.send(a_mail(message_id="<loop@x>") .as_bytes().replace(b"Subject:", b"Received: from a\r\n" * 31 + b"Subject:", 1))
    assert looping.value.smtp_code == 554
    with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused)) as huge:
        await mail.send(a_mail(body="x" * (11 * 1024 * 1024), message_id="<big@x>"))
    assert huge.value.smtp_code == 552
    garbled = (b"Authentication-Results: mx; dmarc=pass header.from=demo-sales.example\r\n"
               b"From: Alice <" + ALICE_MAIL.encode() + b">\r\nTo: jana@beta-logistics.cz\r\nSubject: =?x-unknown?B?AAAA?=\r\n"
               b"Message-ID: <bad@x>\r\nContent-Type: multipart/mixed; boundary=\"nowhere\"\r\n\r\n--nowhere\r\n"
               b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\n\xff\xfe caf\xe9 \r\n")
    await mail.send(garbled)  # read as far as it can be: logged, not crashed
    await mail.send(a_mail(message_id="<after@x>"))
    assert len(await mail.emails()) == 2


async def test_a_from_address_nobody_vouched_for_is_refused_and_stores_nothing(mail):
    before = await mail.count(models.AuditEntry)
    for forged in (a_mail(authenticated=False, message_id="<f1@x>"),  # a From header alone
                   a_mail(authenticated=False, message_id="<f2@x>",  # signed, but by someone else's domain
                          Authentication_Results="mx; dkim=pass header.d=evil.example; dmarc=fail header.from=demo-sales.example")):
        with pytest.raises(smtplib.SMTPDataError) as refused:
            await mail.send(forged)
        assert refused.value.smtp_code == 550
    assert await mail.emails() == [] and await mail.count(models.AuditEntry) == before and mail.shown == []


async def test_a_customer_added_from_a_mail_is_routed_by_the_teams_rules(mail, alice, bob):
    async with mail.app.db.sessions() as session, session.begin():
        team = await teams.the_only_team(session)
        bob_id = (await teams.member_by_name(session, team.id, "Bob")).id
        session.add(models.Route(team_id=team.id, position=1, entity="customer", conditions=[["status", "lead"]],
                                 assignees=[bob_id], round_robin=False, turn=0, created_at=team.created_at))
    await mail.send(a_mail(Cc="Karel Malý <karel@pekarna.cz>", message_id="<routed@x>"))
    [asked] = mail.shown
    outcome = await alice.exchange("1")
    assert "Karel Malý" in outcome.replies[0].text and "Bob handles it." in outcome.replies[0].text
    assert [o.replies[0].kind for o in outcome.announcements if o.chat.chat_id == "Bob"] == ["customer_assigned"]
    async with mail.app.db.sessions() as session:
        karel = await session.scalar(select(models.Customer).where(models.Customer.name == "Karel Malý"))
    assert karel.owner_id == bob_id and karel.emails == ["karel@pekarna.cz"]


async def test_a_body_in_another_charset_than_it_says_is_read_in_the_one_it_is_in(mail):
    czech = "Příliš žluťoučký kůň úpěl ďábelské ódy, cena se nemění, dodání v pátek."
    for charset, message_id, data in (("us-ascii", "<cp1250@x>", czech.encode("cp1250")),  # says ASCII, is Windows-1250
                                      ("x-no-such-charset", "<utf8@x>", czech.encode("utf-8"))):  # a charset nobody knows
        raw = (b"Authentication-Results: mx; dmarc=pass header.from=demo-sales.example\r\n"
               b"From: Alice <" + ALICE_MAIL.encode() + b">\r\nTo: jana@beta-logistics.cz\r\nSubject: Cena\r\n"
               b"Message-ID: " + message_id.encode() + b"\r\nContent-Type: text/plain; charset=" + charset.encode() +
               b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + data + b"\r\n")
        await mail.send(raw)
    logged = [e.summary for e in await mail.emails()]
    assert logged == [f"Cena — {czech}"] * 2


async def test_a_mail_to_many_people_is_logged_on_the_customers_among_them_and_asks_about_a_few(mail):
    strangers = ", ".join(f"Person {n} <p{n}@bulk.example>" for n in range(400))
    message = a_mail(to=f"{strangers}, Jana Nováková <jana@beta-logistics.cz>", Cc="Petr Dvořák <petr@dvorakstavby.cz>",
                     message_id="<many@x>")
    await mail.send(message, to=(CRMBOT, *(f"r{n}@demo-sales.example" for n in range(120))))  # many envelope recipients too
    async with mail.app.db.sessions() as session:
        names = {(await session.get(models.Customer, e.customer_id)).name for e in await mail.emails()}
    assert names == {"Jana Nováková", "Petr Dvořák"}
    [asked] = mail.shown  # one question, about the first few strangers, not 400 buttons
    assert asked.count("＋ Person") == 5
    await mail.send(a_mail(message_id="<still@x>"))  # and the server keeps answering
    assert len(await mail.emails()) == 3


async def test_a_mail_is_stored_whole_or_not_at_all_and_comes_again(mail, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("the failure is a SQLite trigger; the transaction is the same code on both engines")
    from sqlalchemy import text

    async with mail.app.db.sessions() as session, session.begin():
        petr = await session.scalar(select(models.Customer.id).where(models.Customer.name == "Petr Dvořák"))
        # the second customer's entry fails, after the first one's was written in the same transaction
        await session.execute(text(f"CREATE TRIGGER refuse AFTER INSERT ON interactions WHEN NEW.customer_id = {petr} "
                                   "BEGIN SELECT RAISE(ABORT, 'refused'); END"))
    before = await mail.count(models.AuditEntry)
    message = a_mail(Cc="Petr Dvořák <petr@dvorakstavby.cz>, Karel Malý <karel@pekarna.cz>", message_id="<whole@x>")
    with pytest.raises(smtplib.SMTPDataError) as later:
        await mail.send(message)
    assert later.value.smtp_code == 451  # the sending server keeps it and tries again
    assert await mail.emails() == [] and await mail.count(models.AuditEntry) == before and mail.shown == []
    async with mail.app.db.sessions() as session, session.begin():
        await session.execute(text("DROP TRIGGER refuse"))
    await mail.send(message)  # the retry: the Message-ID was not spent by the failed attempt
    assert len(await mail.emails()) == 2 and len(mail.shown) == 1
