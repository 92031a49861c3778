"""Sample data for `crmbot demo` and the tests: a small sales team with a lived-in CRM.

The names are chosen to be hard on purpose: near-duplicates (Jan Novák / Jana Nováková /
Jan Novak), shared first names, diacritics, and people from all six of our languages.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models, teams

TEAM = "Demo Sales"
MEMBERS = [("Alice", "manager", "en", "Europe/Prague"), ("Bob", "rep", "en", "Europe/London"), ("Admin", "admin", "en", "UTC")]

CUSTOMERS = [
    # name, company, email, phone, status
    ("Jan Novák", "Acme s.r.o.", "jan.novak@acme.cz", "+420 777 123 456", "customer"),
    ("Jana Nováková", "Beta Logistics", "jana@beta-logistics.cz", "+420 602 555 111", "prospect"),
    ("Jan Novak", "Novak Plumbing", "jan@novakplumbing.com", "+1 415 555 0100", "lead"),
    ("Petr Dvořák", "Dvořák Stavby", "petr@dvorakstavby.cz", "+420 731 222 333", "customer"),
    ("Petra Dvořáková", "Kvetiny Petra", "petra@kvetiny.cz", "+420 608 444 555", "lead"),
    ("Tomáš Svoboda", "Svoboda Auto", "tomas@svoboda-auto.cz", "+420 720 111 999", "prospect"),
    ("Lucie Černá", "Černá Design", "lucie@cernadesign.cz", "+420 775 888 777", "customer"),
    ("Martin Procházka", "Procházka & syn", "martin@prochazka.cz", "+420 739 333 222", "lead"),
    ("Eva Kučerová", "Acme s.r.o.", "eva.kucerova@acme.cz", "+420 777 123 457", "customer"),
    ("Jakub Veselý", "Veselý Farm", "jakub@veselyfarm.cz", "+420 605 123 123", "churned"),
    ("Luka Horvat", "Horvat d.o.o.", "luka@horvat.si", "+386 41 123 456", "customer"),
    ("Maja Horvat", "Zeleni vrt", "maja@zelenivrt.si", "+386 31 555 666", "prospect"),
    ("Žiga Novak", "Novak Transport", "ziga@novaktransport.si", "+386 40 777 888", "lead"),
    ("Nina Kovačič", "Kovačič Solar", "nina@kovacic-solar.si", "+386 51 222 111", "customer"),
    ("Matej Krajnc", "Krajnc Les", "matej@krajncles.si", "+386 41 999 000", "lead"),
    ("张伟", "上海华信科技", "zhangwei@huaxin.cn", "+86 138 0013 8000", "customer"),
    ("王芳", "北京新星贸易", "wangfang@xinxing.cn", "+86 139 1234 5678", "prospect"),
    ("李娜", "深圳明月电子", "lina@mingyue.cn", "+86 136 8888 6666", "lead"),
    ("张丽", "杭州绿茶", "zhangli@lvcha.cn", "+86 135 0000 1111", "customer"),
    ("刘洋", "成都天府物流", "liuyang@tianfu.cn", "+86 137 2222 3333", "prospect"),
    ("Rhys Evans", "Evans Hire", "rhys@evanshire.co.uk", "+44 29 2018 0000", "customer"),
    ("Siân Jones", "Jones Bakery", "sian@jonesbakery.co.uk", "+44 1970 123456", "prospect"),
    ("Dafydd Williams", "Williams Farm", "dafydd@williamsfarm.co.uk", "+44 1248 555000", "lead"),
    ("Gareth Davies", "Davies Motors", "gareth@daviesmotors.co.uk", "+44 1267 222333", "customer"),
    ("Cerys Thomas", "Thomas Design", "cerys@thomasdesign.co.uk", "+44 29 2055 1234", "lead"),
    ("Aysel Məmmədova", "Bakı Tekstil", "aysel@bakitekstil.az", "+994 50 123 45 67", "customer"),
    ("Elvin Əliyev", "Əliyev Logistika", "elvin@aliyev.az", "+994 55 765 43 21", "prospect"),
    ("Leyla Həsənova", "Xəzər Food", "leyla@xazarfood.az", "+994 70 111 22 33", "lead"),
    ("Rəşad Quliyev", "Quliyev İnşaat", "rashad@quliyev.az", "+994 51 444 55 66", "customer"),
    ("Günel Məmmədli", "Gənclik Mebel", "gunel@genclik.az", "+994 77 888 99 00", "lead"),
    ("John Smith", "Smith & Co", "john@smithco.com", "+1 212 555 0199", "customer"),
    ("Jon Smyth", "Smyth Outdoor", "jon@smythoutdoor.com", "+1 303 555 0142", "lead"),
    ("Sarah Connor", "Cyberdyne", "sarah@cyberdyne.com", "+1 310 555 0187", "prospect"),
    ("Sara Conner", "Conner Bakery", "sara@connerbakery.com", "+1 614 555 0123", "lead"),
    ("Michael O'Neil", "O'Neil Pubs", "michael@oneilpubs.ie", "+353 1 555 0111", "customer"),
    ("Anna Schmidt", "Schmidt GmbH", "anna@schmidt.de", "+49 30 5550 1234", "prospect"),
    ("Anne Schmitt", "Schmitt Bau", "anne@schmittbau.de", "+49 89 5550 4321", "lead"),
    ("Pierre Dubois", "Dubois SA", "pierre@dubois.fr", "+33 1 55 50 12 34", "customer"),
    ("Olga Petrova", "Petrova Trade", "olga@petrova.com", "+7 495 555 0101", "churned"),
    ("Maria Garcia", "Garcia Imports", "maria@garciaimports.es", "+34 91 555 0110", "customer"),
]

DEALS = [
    # customer index, title, amount, currency, stage, owner index, lost reason, competitor
    (0, "Acme website", 50_000, "EUR", "proposal", 0, None, None),
    (1, "Beta fleet tracking", 120_000, "CZK", "negotiation", 1, None, None),
    (3, "Dvořák site cameras", 8_000, "EUR", "qualified", 0, None, None),
    (5, "Svoboda CRM rollout", 15_000, "EUR", "lead", 1, None, None),
    (6, "Černá rebrand", 4_500, "EUR", "won", 0, None, None),
    (10, "Horvat ERP", 30_000, "EUR", "negotiation", 0, None, None),
    (15, "华信 cloud migration", 500_000, "CNY", "proposal", 1, None, None),
    (20, "Evans Hire fleet", 12_000, "GBP", "won", 1, None, None),
    (25, "Bakı Tekstil shop", 9_000, "AZN", "qualified", 0, None, None),
    (30, "Smith & Co support", 12_500, "USD", "lost", 1, "price", "Contoso"),
    (32, "Cyberdyne pilot", 75_000, "USD", "lead", 0, None, None),
    (35, "Schmidt integration", 22_000, "EUR", "proposal", 1, None, None),
]


async def seed(session: AsyncSession, now: datetime, *, name: str = TEAM, email_tag: str = "") -> models.Team:
    """Add the demo team (by default "Demo Sales"); returns it. A second team with the same
    people but tagged e-mails (jan.novak+b@…) is how the isolation tests tell data apart."""
    team = await teams.create_team(session, name, now)
    team.settings = {"currency": "EUR"}
    members = [await teams.create_member(session, team.id, who, now, role=r, locale=lo, timezone=tz) for who, r, lo, tz in MEMBERS]
    rev = await teams.bump_customer_rev(session, team.id)
    customers = []
    for i, (person, company, email, phone, status) in enumerate(CUSTOMERS):
        local, _, domain = email.partition("@")
        customer = models.Customer(
            team_id=team.id, name=person, company=company, emails=[f"{local}{email_tag}@{domain}"], phones=[phone], status=status,
            owner_id=members[i % 2].id, created_at=now - timedelta(days=60 - i), updated_at=now, rev=rev,
            lead_source=("referral", "web", "fair", "cold call")[i % 4],
        )
        session.add(customer)
        customers.append(customer)
    await session.flush()
    for index, title, amount, currency, stage, owner, reason, competitor in DEALS:
        closed = now - timedelta(days=2) if stage in ("won", "lost") else None
        deal = models.Deal(
            team_id=team.id, customer_id=customers[index].id, owner_id=members[owner].id, title=title,
            amount_minor=amount * 100, currency=currency, stage=stage, lost_reason=reason, competitor=competitor,
            created_at=now - timedelta(days=20), updated_at=now - timedelta(days=2), closed_at=closed,
        )
        session.add(deal)
        await session.flush()
        session.add(models.DealStageChange(team_id=team.id, deal_id=deal.id, member_id=members[owner].id, from_stage=None, to_stage=stage, changed_at=now - timedelta(days=2)))
    for index, kind, days_ago, summary in [
        (0, "call", 3, "Discussed the website scope, wants a quote"),
        (3, "meeting", 5, "Site visit, needs 12 cameras"),
        (1, "email", 1, "Sent pricing for fleet tracking"),
        (10, "call", 2, "Negotiating payment terms"),
    ]:
        session.add(models.Interaction(team_id=team.id, customer_id=customers[index].id, member_id=members[0].id, kind=kind,
                                       summary=summary, happened_at=now - timedelta(days=days_ago), created_at=now - timedelta(days=days_ago)))
    session.add(models.Complaint(team_id=team.id, customer_id=customers[6].id, member_id=members[0].id,
                                 text="Printed brochures arrived with the wrong colours", product="brochures",
                                 severity="normal", status="open", created_at=now - timedelta(days=1)))
    for index, member, delta, note in [
        (0, 0, timedelta(days=2), "Send Acme the website quote"),
        (1, 1, timedelta(hours=3), "Call Jana about the fleet contract"),
        (3, 0, timedelta(days=-1), "Confirm camera count with Petr"),
    ]:
        reminded = now + delta if delta < timedelta(0) else None  # an overdue one was reminded when due, not again now
        session.add(models.FollowUp(team_id=team.id, customer_id=customers[index].id, member_id=members[member].id,
                                    due_at=now + delta, note=note, state="pending", created_at=now - timedelta(days=3),
                                    attempts=1 if reminded else 0, delivered_at=reminded, late=False))
    await session.flush()
    return team
