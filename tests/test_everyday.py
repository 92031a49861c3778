"""Everyday work by chat: deleting a
deal cancels its open follow-ups and undo brings them back; the duplicate question's "no, a
different person" in every language; the help and the Telegram command menu name the edits,
lists, tags and merge, and every example the help gives is understood in its own language."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import update

from crmbot.i18n import I18n
from crmbot.intents.parse import Parser
from crmbot.store import models
from tests.parsing import NOW, resolve
from tests.test_analysis_chat import settings
from tests.test_conversation import rows

LANGUAGES = ("en", "cs", "sl", "zh", "cy", "az")


# PostgreSQL only for the tests marked `both_engines` (a deal's follow-ups found and cancelled in
# the store): the rest are about words, buttons and replies
pytestmark = pytest.mark.sqlite_only


async def speaks(app, name: str, locale: str) -> None:
    async with app.db.sessions() as session, session.begin():
        await session.execute(update(models.Member).where(models.Member.name == name).values(locale=locale))


async def followups(app, note: str) -> list[models.FollowUp]:
    return await rows(app, models.FollowUp, models.FollowUp.note.contains(note))


# -- a deal's follow-ups go with it ------------------------------------------------------------


@pytest.mark.both_engines
async def test_deleting_a_deal_cancels_its_open_followups_and_undo_brings_them_back(alice, demo):
    [deal] = await rows(demo, models.Deal, models.Deal.title == "Horvat ERP")
    [about_deal] = await alice.send("remind me to chase luka horvat about the horvat erp deal on friday")
    assert about_deal.kind == "reminder_set"
    [about_him] = await alice.send("remind me to call luka horvat on friday")  # no deal said: about him alone
    [tied] = await followups(demo, "horvat erp deal")
    [untied] = await followups(demo, "call luka horvat")
    assert tied.deal_id == deal.id and untied.deal_id is None

    [deleted] = await alice.send("delete the horvat deal")
    assert deleted.kind == "deal_deleted" and "1 open follow-up of this deal is cancelled too." in deleted.text
    [tied] = await followups(demo, "horvat erp deal")
    [untied] = await followups(demo, "call luka horvat")
    assert (tied.state, untied.state) == ("cancelled", "pending")
    [agenda] = await alice.send("agenda this week")
    assert "horvat erp deal" not in agenda.text and "call luka horvat" in agenda.text

    [undone] = await alice.send("undo")
    assert "Horvat ERP" in undone.text
    [tied] = await followups(demo, "horvat erp deal")
    assert tied.state == "pending"
    [back] = await rows(demo, models.Deal, models.Deal.id == deal.id)
    assert back.deleted_at is None
    [agenda] = await alice.send("agenda this week")
    assert "horvat erp deal" in agenda.text


async def test_a_call_about_the_customers_one_open_deal_ties_its_follow_up_to_it(alice, demo):
    [deal] = await rows(demo, models.Deal, models.Deal.title == "Cyberdyne pilot")
    await alice.send("called sarah connor about the deal, call back tomorrow 10am")
    await alice.send("called sarah connor, wants the brochure, call back tomorrow 11am")  # no deal word
    tied = [f for f in await rows(demo, models.FollowUp, models.FollowUp.note.contains("sarah connor"))]
    assert sorted((f.note, f.deal_id) for f in tied) == [
        ("called sarah connor about the deal, call back tomorrow 10am", deal.id),
        ("called sarah connor, wants the brochure, call back tomorrow 11am", None),
    ]
    [deleted] = await alice.send("delete the cyberdyne deal")
    assert "1 open follow-up of this deal is cancelled too." in deleted.text
    states = {f.note[:40]: f.state for f in await rows(demo, models.FollowUp, models.FollowUp.note.contains("sarah connor"))}
    assert sorted(states.values()) == ["cancelled", "pending"]


# -- "is this X?" -- "no, a different person" ---------------------------------------------------

NEW_SOMEONE = {
    "en": "new customer Eva Kucerova from Acme s.r.o.",
    "cs": "nový zákazník Eva Kucerova z Acme s.r.o.",
    "sl": "nova stranka Eva Kucerova iz Acme s.r.o.",
    "zh": "新客户 Eva Kucerova，Acme s.r.o.",
    "cy": "cwsmer newydd Eva Kucerova o Acme s.r.o.",
    "az": "yeni müştəri Eva Kucerova, Acme s.r.o.",
}


async def test_no_a_different_person_adds_the_new_customer_anyway_in_every_language(alice, demo):
    for added, lang in enumerate(LANGUAGES, start=1):
        await speaks(demo, "Alice", lang)
        [asked] = await alice.send(NEW_SOMEONE[lang])
        assert asked.kind == "customer_same", (lang, asked.text)
        labels = [b.label for b in asked.buttons]
        different = demo.i18n.language(lang).strings["button"]["add_new"]
        assert labels[-2] == different and different.startswith("➕"), (lang, labels)  # then cancel
        outcome = await alice.exchange(str(len(labels) - 1))  # the console's numbered choice
        assert outcome.replies[0].kind == "customer_added", (lang, outcome.replies[0].text)
        assert len(await rows(demo, models.Customer, models.Customer.name == "Eva Kucerova")) == added


# -- help and the command menu -----------------------------------------------------------------

QUOTED = re.compile(r'"([^"]+)"|„([^“]+)“|»([^«]+)«|“([^”]+)”')
# the help's example lines (by their place in help.j2) and what each quoted example must be read as
KEPT = frozenset({"edit_customer", "add_note"})  # a fact said about a customer is kept either way
HELP_EXAMPLES = {
    3: ("edit_customer", KEPT, KEPT),
    5: ("edit_deal", "edit_deal", "delete_deal"),
    8: ("tag", "list", "list", "list"),
    9: ("untag", "list", "list", "list"),
    10: ("merge_customers",),
}


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_help_names_edits_lists_tags_and_merge_and_each_example_is_understood(alice, demo, parser, lang):
    await speaks(demo, "Alice", lang)
    [shown] = await alice.send("/help")
    bullets = [line for line in shown.text.splitlines() if line.startswith("• ")]
    for place, intents in HELP_EXAMPLES.items():
        examples = ["".join(m) for m in QUOTED.findall(bullets[place])]
        read = [parser.parse(example, lang, NOW, "Europe/Prague") for example in examples]
        assert len(read) == len(intents), (lang, bullets[place])
        for r, wanted in zip(read, intents):
            assert r.alternatives == () and r.name in ({wanted} if isinstance(wanted, str) else wanted), (lang, bullets[place], r.name)
    for command in ("/edit", "/editdeal", "/deletedeal", "/untag", "/list", "/tag", "/merge"):
        assert f"{command} " in shown.text.splitlines()[-1] + " ", (lang, command)


def test_the_telegram_menu_has_every_newer_command_in_every_language():
    i18n = I18n()
    parser = Parser(i18n, mode="rules")
    english = list(i18n.language("en").strings["menu"])
    assert {"edit", "editdeal", "deletedeal", "untag", "list", "tag", "merge", "history", "add", "resolve", "rules"} <= set(english)
    for lang in LANGUAGES:
        menu = i18n.language(lang).strings["menu"]
        assert set(menu) == set(english), lang  # the same commands: none falls back to English
        for command, text in menu.items():
            assert parser.command_intent(command, lang) is not None, (lang, command)
            assert 3 <= len(text) <= 256, (lang, command)


# -- said as a new user says it ----------------------------------------------------------------

WANG, ELVIN, EVA = "王芳 (北京新星贸易)", "Elvin Əliyev (Əliyev Logistika)", "Eva Kučerová (Acme s.r.o.)"
# (language, message, intent or intents it may be kept by, the customer, slots that must be read)
NEW_USER = [
    ("zh", "把王芳的电话改成13800138000", "edit_customer", WANG, {"field": "phone", "value": "13800138000"}),
    ("zh", "王芳的邮箱改成wang@xinxing.cn", "edit_customer", WANG, {"field": "email", "value": "wang@xinxing.cn"}),
    ("zh", "显示谈判中的交易", "list", None, {"what": "deals", "stage": "negotiation"}),
    ("zh", "给王芳加标签vip", "tag", WANG, {"tags": ["vip"]}),
    ("az", "Elvinin telefonunu +994 50 123 45 67 et", KEPT, ELVIN, {"field": "phone", "value": "+994 50 123 45 67"}),
    ("az", "Elvinin e-poçtunu elvin@yeni.az et", KEPT, ELVIN, {"field": "email", "value": "elvin@yeni.az"}),
    ("cs", "přidej Kučerové štítek vip", "tag", EVA, {"tags": ["vip"]}),
    ("cs", "odeber Kučerové štítek vip", "untag", EVA, {"tags": ["vip"]}),
    ("sl", "odstrani Nini Kovačič oznako vip", "untag", "Nina Kovačič (Kovačič Solar)", {"tags": ["vip"]}),
    ("sl", "dodaj Nini Kovačič oznako vip", "tag", "Nina Kovačič (Kovačič Solar)", {"tags": ["vip"]}),
    ("cy", "mae Siân Jones yn gwsmer nawr", KEPT, "Siân Jones (Jones Bakery)", {"field": "status", "value": "customer"}),
    ("cy", "atgoffaon hwyr", "agenda", None, {"period": "overdue"}),
    ("cy", "bargeinion yn y cam trafod", "list", None, {"what": "deals", "stage": "negotiation"}),
    # the customers carrying a tag, the tag named by the customers word: a list, never a new customer
    ("en", "show vip customers", "list", None, {"what": "customers", "tags": ["vip"]}),
    ("en", "show churned customers", "list", None, {"what": "customers", "status": "churned", "tags": None}),
    ("zh", "显示VIP客户", "list", None, {"what": "customers", "tags": ["VIP"]}),
    ("cs", "ukaž vip zákazníky", "list", None, {"what": "customers", "tags": ["vip"]}),
    ("cs", "ukaž moje zákazníky", "list", None, {"what": "customers", "scope": "mine", "tags": None}),
    ("sl", "pokaži vip stranke", "list", None, {"what": "customers", "tags": ["vip"]}),
    ("cy", "dangos cwsmeriaid vip", "list", None, {"what": "customers", "tags": ["vip"]}),
    ("az", "vip müştəriləri göstər", "list", None, {"what": "customers", "tags": ["vip"]}),
    ("az", "potensial müştəriləri göstər", "list", None, {"what": "customers", "status": "prospect", "tags": None}),
    # deals by stage and a colleague's deals, as each language says them
    ("en", "deals won this month", "list", None, {"what": "deals", "stage": "won", "period": "this_month"}),
    ("en", "which deals are in negotiation", "list", None, {"what": "deals", "stage": "negotiation"}),
    ("en", "remove vip from eva kucerova", "untag", EVA, {"tags": ["vip"]}),
    ("zh", "提案阶段的商机", "list", None, {"what": "deals", "stage": "proposal"}),
    ("zh", "Bob的商机", "list", None, {"what": "deals"}),
    ("cs", "Bobovy obchody", "list", None, {"what": "deals"}),
    ("sl", "Bobovi posli", "list", None, {"what": "deals"}),
    ("sl", "posli v fazi ponudbe", "list", None, {"what": "deals", "stage": "proposal"}),
    ("az", "Bobun sövdələşmələri", "list", None, {"what": "deals"}),
]


@pytest.mark.parametrize(("lang", "text", "intent", "customer", "slots"), NEW_USER, ids=[f"{c[0]}:{c[1][:30]}" for c in NEW_USER])
def test_what_a_new_user_types_is_understood(parser, index, lang, text, intent, customer, slots):
    read = parser.parse(text, lang, NOW, "Europe/Prague")
    assert read.alternatives == () and read.name in ({intent} if isinstance(intent, str) else intent), (text, read.name, read.alternatives)
    assert resolve(index, read.mention) == customer, (text, read.mention)
    assert {key: read.slots.get(key) for key in slots} == slots


async def test_a_colleagues_deals_are_listed_as_each_language_names_them(alice, demo):
    for lang, text in (("cs", "Bobovy obchody"), ("sl", "Bobovi posli"), ("az", "Bobun sövdələşmələri"), ("zh", "Bob的商机")):
        await speaks(demo, "Alice", lang)
        [listed] = await alice.send(text)
        assert listed.kind == "list_deals" and "Bob" in listed.text.splitlines()[0], (lang, listed.text)


async def test_a_customer_is_given_to_a_colleague_named_as_the_language_says_it(alice, demo):
    await speaks(demo, "Alice", "cs")
    [given] = await alice.send("předej Kučerovou Bobovi")  # Bob in the dative
    assert given.kind == "reassigned" and "Bob" in given.text
    await speaks(demo, "Alice", "zh")
    [given] = await alice.send("把王芳交给Bob")  # the name written right against the Chinese
    assert given.kind == "reassigned" and "Bob" in given.text
    [bob] = await rows(demo, models.Member, models.Member.name == "Bob")
    owners = {c.name: c.owner_id for c in await rows(demo, models.Customer, models.Customer.name.in_(["Eva Kučerová", "王芳"]))}
    assert owners == {"Eva Kučerová": bob.id, "王芳": bob.id}


async def test_the_card_shows_what_was_said_on_a_call_not_the_message_that_logged_it(alice, demo):
    await alice.send("called jana novakova, wants a quote by friday")
    await speaks(demo, "Alice", "cs")
    await alice.send("volal jsem Novákové: chce slevu na tracking")
    [card] = await alice.send("najdi Janu Novákovou")
    contact = [line for line in card.text.splitlines() if line.startswith("• ") and "(Alice)" in line]
    assert any(line.endswith(": Wants a quote by friday") for line in contact), card.text
    assert any(line.endswith(": Chce slevu na tracking") for line in contact), card.text
    assert "called jana" not in card.text and "volal jsem" not in card.text
    [kept] = await rows(demo, models.Interaction, models.Interaction.summary.contains("wants a quote by friday"))
    assert kept.summary == "called jana novakova, wants a quote by friday"  # the record keeps every word


async def test_follow_up_tomorrow_on_a_stalled_deal_is_that_deals_and_goes_with_it(bob, demo, db_url):
    await asyncio.to_thread(settings, db_url, "set", "stalled-days=1", "quiet-days=90")
    _, *customers = await bob.send("who's at risk")
    beta = next(r for r in customers if "Jana Nováková" in r.text)  # at risk for one stalled deal
    [deal] = await rows(demo, models.Deal, models.Deal.title == "Beta fleet tracking")
    [done] = await bob.press(beta.buttons[1])
    assert done.kind == "reminder_set"
    [made] = await rows(demo, models.FollowUp, models.FollowUp.created_at == NOW)
    assert made.deal_id == deal.id
    [deleted] = await bob.send("delete the beta fleet tracking deal")
    assert deleted.kind == "deal_deleted" and "1 open follow-up of this deal is cancelled too." in deleted.text


async def test_a_company_won_by_chat_moves_the_deal_of_its_person_who_has_one(alice, demo):
    """Acme has Jan Novák (the open "Acme website" deal) and Eva Kučerová (none): "acme won" is
    that deal; "call acme" still asks which of them."""
    [moved] = await alice.send("move acme to won")
    [deal] = await rows(demo, models.Deal, models.Deal.title == "Acme website")
    assert deal.stage == "won" and moved.kind != "customer_which"
    [asked] = await alice.send("called acme, all fine")
    assert asked.kind == "customer_which"
