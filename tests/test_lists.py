"""Lists by chat: deals by stage, owner, customer or closing period; customers by status or tag;
open complaints; the agenda for tomorrow, a week or a day. A rep sees what is theirs (and
customers nobody owns), a manager the team's. Long lists page with buttons (numbers in the
console). Through the console adapter on SQLite and PostgreSQL, checked against the sample
team's data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from crmbot.store import models
from tests.parsing import NOW

# PostgreSQL only for the tests marked `both_engines`: the rest are about words, replies and rules,
# not the engine (see conftest.pytest_collection_modifyitems)
pytestmark = pytest.mark.sqlite_only

BETA, HORVAT = "Beta fleet tracking", "Horvat ERP"


def lines(reply) -> list[str]:
    """The list's rows, one per item."""
    return [line for line in reply.text.splitlines() if line.startswith("• ")]


async def change(app, model, where, **values) -> None:
    async with app.db.sessions() as session, session.begin():
        await session.execute(update(model).where(where).values(**values))


@pytest.mark.both_engines
async def test_deals_by_stage_owner_and_customer_each_sees_what_is_theirs(alice, bob, demo):
    [team] = await alice.send("show deals in negotiation")
    assert team.kind == "list_deals" and "· whole team · Negotiation" in team.text.splitlines()[0]
    assert [line.split(" (")[0] for line in lines(team)] == [f"• {HORVAT}", f"• {BETA}"]
    assert "Total: CZK120,000.00 · €30,000.00" in team.text  # per currency, never added up
    assert "· Bob" in next(line for line in lines(team) if BETA in line)  # whose, on a team list

    [own] = await bob.send("show deals in negotiation")  # a rep: his own only
    assert "· yours · Negotiation" in own.text and [BETA in line for line in lines(own)] == [True]
    assert "Total: CZK120,000.00" in own.text and "€" not in own.text

    [mine] = await alice.send("my deals")
    assert len(lines(mine)) == 5 and "· yours" in mine.text and all("· Alice" not in line for line in lines(mine))
    [bobs] = await alice.send("show bob's deals")
    assert "**Deals** · Bob" in bobs.text and len(lines(bobs)) == 4
    [refused] = await bob.send("show alice's deals")
    assert refused.kind == "not_allowed"
    [his] = await bob.send("show bob's deals")  # his own name: his own list
    assert "· yours" in his.text and len(lines(his)) == 4

    [acme] = await alice.send("deals of jan novak acme")
    assert [line.split(":")[0] for line in lines(acme)] == ["• Acme website"] and "· Jan Novák (Acme s.r.o.)" in acme.text
    [nobody] = await alice.send("deals of zzyzx")
    assert nobody.kind == "list_nobody" and "zzyzx" in nobody.text
    [won] = await alice.send("show won deals")
    assert {line.split(" (")[0] for line in lines(won)} == {"• Černá rebrand", "• Evans Hire fleet"}


@pytest.mark.both_engines
async def test_deals_closing_in_a_period_and_won_deals_by_when_they_closed(alice, demo):
    await change(demo, models.Deal, models.Deal.title == "Acme website", expected_close=NOW + timedelta(days=3))
    await change(demo, models.Deal, models.Deal.title == "Cyberdyne pilot", expected_close=NOW + timedelta(days=20))
    await change(demo, models.Deal, models.Deal.title == "Schmidt integration", expected_close=NOW - timedelta(days=2))
    [month] = await alice.send("deals closing this month")
    assert "closing this month" in month.text.splitlines()[0]
    assert [line.split(":")[0] for line in lines(month)] == ["• Schmidt integration (Anna Schmidt)", "• Acme website (Jan Novák)"]
    assert "closes 28 Nov 2026" in month.text
    [closing] = await alice.send("deals closing")  # every deal with a closing day, soonest first
    assert [line.split(" (")[0] for line in lines(closing)] == ["• Schmidt integration", "• Acme website", "• Cyberdyne pilot"]
    [won] = await alice.send("won deals last month")  # closed two days ago: this month, not last
    assert won.kind == "list_deals" and lines(won) == [] and "No deals match." in won.text


@pytest.mark.both_engines
async def test_customers_by_status_and_tag_a_rep_sees_theirs_and_nobodys(alice, bob, demo):
    await change(demo, models.Customer, models.Customer.name == "Petra Dvořáková", owner_id=None)  # Alice's lead, now nobody's
    [leads] = await bob.send("show my leads")
    names = [line[2:].split(" · ")[0] for line in lines(leads)]
    assert "Petra Dvořáková (Kvetiny Petra)" in names and "Jon Smyth (Smyth Outdoor)" in names
    assert "Cerys Thomas (Thomas Design)" not in names  # Alice's
    assert all(" · lead" in line for line in lines(leads))
    [prospects] = await alice.send("customers who are prospects")
    assert prospects.kind == "list_customers" and lines(prospects)
    assert all(" · prospect" in line for line in lines(prospects)) and "Sarah Connor (Cyberdyne)" in prospects.text
    [all_leads] = await alice.send("list leads")
    assert len(lines(all_leads)) == 10 and "· nobody's" in all_leads.text

    await alice.send("tag eva kucerova vip")
    await alice.send("tag jana novakova vip")
    [vip] = await alice.send("customers tagged vip")
    assert [line[2:].split(" · ")[0] for line in lines(vip)] == ["Eva Kučerová (Acme s.r.o.)", "Jana Nováková (Beta Logistics)"]
    assert "🏷 vip" in vip.text.splitlines()[0]
    [bobs] = await bob.send("customers tagged VIP")
    assert [line[2:].split(" · ")[0] for line in lines(bobs)] == ["Jana Nováková (Beta Logistics)"]
    [none] = await alice.send("customers tagged nosuchtag")
    assert "No customers match." in none.text


async def test_open_complaints_a_rep_sees_those_he_handles_or_of_his_customers(alice, bob, demo):
    [team] = await alice.send("open complaints")
    assert team.kind == "list_complaints" and len(lines(team)) == 1 and "Lucie Černá" in team.text
    [none] = await bob.send("open complaints")  # Alice's customer, reported by Alice, nobody handles it
    assert "No open complaints." in none.text and lines(none) == []
    await change(demo, models.Customer, models.Customer.name == "Lucie Černá", owner_id=None)
    [unowned] = await bob.send("open complaints")
    assert len(lines(unowned)) == 1
    await alice.send("lucie complaint resolved, reprinted")
    [after] = await alice.send("open complaints")
    assert lines(after) == []


async def test_a_long_list_pages_with_buttons_typed_as_numbers_in_the_console(alice, demo):
    [first] = await alice.send("show customers")
    assert len(lines(first)) == 10 and first.text.endswith("1–10 of 40") and [b.label for b in first.buttons] == ["Next ▶"]
    assert not first.in_place  # a list asked for by text is a new message
    outcome = await alice.exchange("1")  # the console's way to press the first button
    [second] = outcome.replies
    assert second.text.endswith("11–20 of 40") and second.in_place  # a page turn replaces the page
    assert [b.label for b in second.buttons] == ["◀ Previous", "Next ▶"]
    assert not set(lines(first)) & set(lines(second))
    [back] = await alice.press(second.buttons[0])
    assert lines(back) == lines(first)
    [used] = await alice.press(second.buttons[1])  # that page's buttons went with the press
    assert used.kind == "button_used"
    page = back
    for _ in range(3):
        [page] = await alice.press(page.buttons[-1])
    assert page.text.endswith("31–40 of 40") and [b.label for b in page.buttons] == ["◀ Previous"]


async def test_which_list_is_asked_with_buttons_when_nothing_says(alice, demo):
    [asked] = await alice.send("/list")
    assert asked.kind == "list_which" and [b.label for b in asked.buttons] == [
        "💼 Deals", "👥 Customers", "⚠️ Open complaints", "⏰ Follow-ups"]
    [deals] = await alice.press(asked.buttons[0])
    assert deals.kind == "list_deals" and len(lines(deals)) == 9
    [command] = await alice.send("/deals negotiation")
    assert command.kind == "list_deals" and len(lines(command)) == 2


@pytest.mark.both_engines
async def test_the_agenda_for_tomorrow_a_week_a_day_or_what_is_overdue(alice, demo):
    for text in ("remind me to call eva kucerova tomorrow at 10", "remind me to send lucie cerna the plans on 3 december at 9",
                 "remind me to call sian jones next wednesday at 11"):
        [reply] = await alice.send(text)
        assert reply.kind == "reminder_set", reply.text
    [today] = await alice.send("agenda")  # as before: what is overdue and today's
    assert "**Overdue**" in today.text and "Confirm camera count" in today.text and "Tomorrow" not in today.text
    [tomorrow] = await alice.send("what's due tomorrow")
    assert tomorrow.text.startswith("**Tomorrow**") and "Eva Kučerová" in tomorrow.text and "camera" not in tomorrow.text
    [week] = await alice.send("agenda this week")
    assert [h for h in week.text.splitlines() if h.startswith("**")] == ["**Overdue**", "**Tomorrow**", "**Friday 27 November**"]
    [day] = await alice.send("agenda 3 december")
    assert day.text.startswith("**Thursday 3 December**") and "Lucie Černá" in day.text and len(lines(day)) == 1
    [overdue] = await alice.send("overdue follow-ups")
    assert lines(overdue) == [line for line in lines(overdue) if "camera" in line] and len(lines(overdue)) == 1
    [empty] = await alice.send("agenda 5 december")
    assert empty.text == "🌤 Nothing due on Saturday 5 December."
    [listed] = await alice.send("show follow-ups")  # the same list, asked for as a list
    assert listed.kind == "agenda" and "Confirm camera count" in listed.text


async def test_a_manager_gets_the_teams_follow_ups_when_asking_for_them(alice, bob, demo, clock):
    clock.now = NOW + timedelta(hours=4)  # Bob's call with Jana is now overdue too
    [own] = await alice.send("overdue follow-ups")
    assert len(lines(own)) == 1 and "(Bob)" not in own.text
    [team] = await alice.send("team's overdue follow-ups")
    assert len(lines(team)) == 2 and "Call Jana about the fleet contract (Bob)" in team.text
    [rep] = await bob.send("team's overdue follow-ups")  # a rep's agenda is his own
    assert len(lines(rep)) == 1 and "Call Jana" in rep.text and "(Bob)" not in rep.text


async def test_totals_are_in_the_members_own_money_format(alice, demo):
    await change(demo, models.Member, models.Member.name == "Alice", locale="cs")
    [listed] = await alice.send("ukaž obchody ve vyjednávání")
    assert "**Obchody** · celý tým · Vyjednávání" in listed.text
    assert "Celkem: 120\xa0000,00\xa0Kč · 30\xa0000,00\xa0€" in listed.text


# -- the words in every language ---------------------------------------------------------------

# (language, message, intent, slots that must be read)
PHRASES = [
    ("en", "show deals in negotiation", "list", {"what": "deals", "stage": "negotiation"}),
    ("en", "my deals closing this month", "list", {"what": "deals", "scope": "mine", "closing": "closing", "period": "this_month"}),
    ("en", "open complaints", "list", {"what": "complaints"}),
    ("en", "customers tagged vip", "list", {"what": "customers", "tags": ["vip"]}),
    ("en", "show my leads", "list", {"what": "customers", "status": "lead", "scope": "mine"}),
    ("en", "customers who are prospects", "list", {"what": "customers", "status": "prospect"}),
    ("en", "customers with status lead", "list", {"what": "customers", "status": "lead"}),
    ("en", "show churned customers", "list", {"what": "customers", "status": "churned"}),
    ("en", "agenda for tomorrow", "agenda", {"period": "tomorrow"}),
    ("cs", "ukaž obchody ve vyjednávání", "list", {"what": "deals", "stage": "negotiation"}),
    ("cs", "moje obchody", "list", {"what": "deals", "scope": "mine"}),
    ("cs", "obchody k uzavření tento měsíc", "list", {"what": "deals", "closing": "closing", "period": "this_month"}),
    ("cs", "otevřené stížnosti", "list", {"what": "complaints"}),
    ("cs", "zákazníci se štítkem vip", "list", {"what": "customers", "tags": ["vip"]}),
    ("cs", "ukaž moje leady", "list", {"what": "customers", "status": "lead", "scope": "mine"}),
    ("cs", "zákazníci ve stavu potenciální zákazník", "list", {"what": "customers", "status": "prospect"}),
    ("cs", "ukaž potenciální zákazníky", "list", {"what": "customers", "status": "prospect"}),
    ("cs", "co mám zítra", "agenda", {"period": "tomorrow"}),
    ("sl", "pokaži posle v pogajanjih", "list", {"what": "deals", "stage": "negotiation"}),
    ("sl", "moji posli", "list", {"what": "deals", "scope": "mine"}),
    ("sl", "posli, ki se zaprejo ta mesec", "list", {"what": "deals", "closing": "closing", "period": "this_month"}),
    ("sl", "odprte pritožbe", "list", {"what": "complaints"}),
    ("sl", "stranke z oznako vip", "list", {"what": "customers", "tags": ["vip"]}),
    ("sl", "pokaži moje leade", "list", {"what": "customers", "status": "lead", "scope": "mine"}),
    ("sl", "stranke s statusom potencialna stranka", "list", {"what": "customers", "status": "prospect"}),
    ("sl", "pokaži potencialne stranke", "list", {"what": "customers", "status": "prospect"}),
    ("sl", "kaj me čaka ta teden", "agenda", {"period": "this_week"}),
    ("zh", "显示谈判中的商机", "list", {"what": "deals", "stage": "negotiation"}),
    ("zh", "我的商机", "list", {"what": "deals", "scope": "mine"}),
    ("zh", "本月要成交的商机", "list", {"what": "deals", "closing": "closing", "period": "this_month"}),
    ("zh", "未解决的投诉", "list", {"what": "complaints"}),
    ("zh", "标签为VIP的客户", "list", {"what": "customers", "tags": ["VIP"]}),
    ("zh", "我的线索", "list", {"what": "customers", "status": "lead", "scope": "mine"}),
    ("zh", "状态为潜在客户的客户", "list", {"what": "customers", "status": "prospect"}),
    ("zh", "显示潜在客户", "list", {"what": "customers", "status": "prospect"}),
    ("zh", "明天有什么安排", "agenda", {"period": "tomorrow"}),
    ("cy", "dangos bargeinion yn y cam trafod", "list", {"what": "deals", "stage": "negotiation"}),
    ("cy", "fy margeinion", "list", {"what": "deals", "scope": "mine"}),
    ("cy", "bargeinion sy'n cau'r mis yma", "list", {"what": "deals", "closing": "closing", "period": "this_month"}),
    ("cy", "cwynion agored", "list", {"what": "complaints"}),
    ("cy", "cwsmeriaid gyda'r tag vip", "list", {"what": "customers", "tags": ["vip"]}),
    ("cy", "dangos fy leads", "list", {"what": "customers", "status": "lead", "scope": "mine"}),
    ("cy", "cwsmeriaid sy'n ddarpar gwsmeriaid", "list", {"what": "customers", "status": "prospect"}),
    ("cy", "cwsmeriaid gyda statws lead", "list", {"what": "customers", "status": "lead"}),
    ("cy", "be sy gen i yfory", "agenda", {"period": "tomorrow"}),
    ("az", "danışıqlar mərhələsindəki sövdələşmələri göstər", "list", {"what": "deals", "stage": "negotiation"}),
    ("az", "sövdələşmələrim", "list", {"what": "deals", "scope": "mine"}),
    ("az", "bu ay bağlanacaq sövdələşmələr", "list", {"what": "deals", "closing": "closing", "period": "this_month"}),
    ("az", "açıq şikayətlər", "list", {"what": "complaints"}),
    ("az", "vip etiketli müştərilər", "list", {"what": "customers", "tags": ["vip"]}),
    ("az", "leadlərimi göstər", "list", {"what": "customers", "status": "lead", "scope": "mine"}),
    ("az", "potensial müştəriləri göstər", "list", {"what": "customers", "status": "prospect"}),
    ("az", "statusu lead olan müştərilər", "list", {"what": "customers", "status": "lead"}),
    ("az", "sabah nə var", "agenda", {"period": "tomorrow"}),
]


@pytest.mark.parametrize(("lang", "text", "intent", "slots"), PHRASES)
def test_lists_are_understood_in_every_language(parser, lang, text, intent, slots):
    parsed = parser.parse(text, lang, NOW, "Europe/Prague")
    assert (parsed.name, parsed.alternatives) == (intent, ())
    assert {key: parsed.slots.get(key) for key in slots} == slots
    if intent == "list":
        assert parsed.mention == ""  # no word of the list is taken for a customer's name


def test_every_language_has_words_for_lists():
    assert {lang for lang, *_ in PHRASES} == {"en", "cs", "sl", "zh", "cy", "az"}


async def test_a_manager_names_a_colleague_as_their_language_inflects_the_name(alice, demo):
    await change(demo, models.Member, models.Member.name == "Alice", locale="cs")
    [bobs] = await alice.send("ukaž obchody Boba")
    assert "**Obchody** · Bob" in bobs.text and len(lines(bobs)) == 4
