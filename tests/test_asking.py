"""Never a silent wrong guess: what crmbot asks back before changing anything, through the
console chat with a real SQLite file, checked against the database afterwards."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from crmbot.intents.parse import as_json
from crmbot.store import models, prompts

from tests.conftest import NOW

TZ = "Europe/Prague"


@pytest.fixture
def db_url(sqlite_db_url):
    return sqlite_db_url  # what is asked does not depend on the engine


async def count(app, model, *where) -> int:
    async with app.db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def speaks(app, locale: str) -> None:
    async with app.db.sessions() as session, session.begin():
        await session.execute(update(models.Member).where(models.Member.name == "Alice").values(locale=locale))


# an amount whose currency the message leaves open, and the question's words, in each language
CURRENCY_OPEN = {
    "en": ("new deal pierre dubois 40k, chf or eur?", "Which currency is 40,000 in?"),
    "cs": ("nový obchod pierre dubois 40k, chf nebo eur?", "V jaké měně je 40 000?"),
    "sl": ("nov posel pierre dubois 40k, chf ali eur?", "V kateri valuti je 40.000?"),
    "zh": ("张伟那边有个新单子，大概50k，币种还没确定", "50,000 是哪种货币？"),
    "cy": ("bargen newydd pierre dubois 40k, chf neu eur?", "Ym mha arian cyfred mae 40,000?"),
    "az": ("Pierre Dubois ilə yeni sövdələşmə 40k, chf yoxsa eur?", "40.000 hansı valyutadadır?"),
}


@pytest.mark.parametrize("lang", sorted(CURRENCY_OPEN))
async def test_an_amount_whose_currency_is_left_open_is_asked_about_and_kept_in_the_one_pressed(alice, demo, lang):
    await speaks(demo, lang)
    text, heading = CURRENCY_OPEN[lang]
    deals_before = await count(demo, models.Deal)
    [asked] = await alice.send(text)
    assert asked.kind == "currency_which" and heading in asked.text.replace("\u00a0", " ").replace("\u202f", " "), asked.text
    assert await count(demo, models.Deal) == deals_before  # nothing kept until a press
    labels = [b.label for b in asked.buttons]
    assert len(labels) >= 3 and labels[-1] != labels[0]
    euro = next(b for b in asked.buttons if "€" in b.label or "EUR" in b.label)
    [made] = await alice.press(euro)
    assert made.kind == "deal_created"
    async with demo.db.sessions() as session:
        deal = (await session.scalars(select(models.Deal).order_by(models.Deal.id.desc()).limit(1))).one()
    assert (deal.currency, deal.amount_minor) == ("EUR", (50_000 if lang == "zh" else 40_000) * 100)
    assert await count(demo, models.Deal) == deals_before + 1


async def test_two_readings_alike_are_asked_about_with_what_was_understood_and_the_card(alice, demo):
    calls_before = await count(demo, models.Interaction)
    # a call or a note? (two readings score alike: a name and a topic, no verb)
    [asked] = await alice.send("petr dvorak - new office")
    assert asked.kind == "intent_which" and "Petr Dvořák (Dvořák Stavby)" in asked.text
    labels = [b.label for b in asked.buttons]
    assert "Log a call" in labels and "Open customer" in labels and labels[-1] == "Cancel"
    assert await count(demo, models.Interaction) == calls_before
    # the customer was clear: the press does not ask again
    [logged] = await alice.press(next(b for b in asked.buttons if b.label == "Log a call"))
    assert logged.kind == "logged" and "Petr Dvořák" in logged.text
    assert await count(demo, models.Interaction, models.Interaction.summary.contains("new office")) == 1


async def test_called_back_is_not_undo(alice, demo):
    await alice.send("new deal cyberdyne $12,500")
    deals = await count(demo, models.Deal)
    calls = await count(demo, models.Interaction)
    await speaks(demo, "sl")
    # "called back" ("nazaj" is also "undo"), with one of two Horvats: asked, nothing undone
    [asked] = await alice.send("Horvat je klical nazaj, želi ponudbo")
    assert asked.kind in ("intent_which", "customer_which") and asked.buttons, asked.text
    assert await count(demo, models.Deal) == deals and await count(demo, models.Interaction) == calls


async def test_a_sweeping_reading_said_with_a_weak_word_is_asked_about(parser):
    # "geri al" is "undo" and "take back": taking Elvin back from Bob is not undoing the last change
    intent = parser.parse("ee Elvini Bobdan geri al mən özüm işləyəcəm", "az", NOW, TZ)
    assert intent.alternatives and intent.alternatives[-1] == "cancel"
    assert "undo" in (intent.name, *intent.alternatives) and "reassign" in (intent.name, *intent.alternatives)
    sure = parser.parse("undo", "az", NOW, TZ)
    assert (sure.name, sure.alternatives) == ("undo", ())


async def test_a_follow_up_a_year_off_shows_the_weekday_and_keeps_the_day_pressed(alice, demo):
    await speaks(demo, "cs")
    before = await count(demo, models.FollowUp)
    [asked] = await alice.send("připomeň mi zavolat Janě 15.12.2115")
    assert asked.kind == "day_which" and "ne 15. 12. 2115" in asked.text, asked.text
    assert [b.label for b in asked.buttons][-1] == "Zrušit" and await count(demo, models.FollowUp) == before
    [kept] = await alice.press(asked.buttons[0])
    assert kept.kind == "reminder_set" and "út 15. 12. 2026" in kept.text  # the day with its weekday
    assert await count(demo, models.FollowUp) == before + 1


# "cancel" and "ok" as each language says them, and said in English by anyone
CLOSING = {
    "en": ("never mind", "thanks"), "cs": ("zrušit", "díky"), "sl": ("prekliči", "hvala"),
    "zh": ("取消", "谢谢"), "cy": ("canslo", "diolch"), "az": ("boş ver", "təşəkkürlər"),
}


@pytest.mark.parametrize("lang", sorted(CLOSING))
async def test_cancel_closes_an_open_question_and_ok_gets_a_short_acknowledgement(alice, demo, lang):
    await speaks(demo, lang)
    cancel, thanks = CLOSING[lang]
    # a question waiting for the next message, as a "log a call" button leaves: what was said?
    async with demo.db.sessions() as session, session.begin():
        member = (await session.scalars(select(models.Member).where(models.Member.name == "Alice"))).one()
        customer = (await session.scalars(select(models.Customer).where(models.Customer.name == "Petr Dvořák"))).one()
        await prompts.ask(session, member, "log_call", {"customer_id": customer.id, "kind": "call"}, NOW)
    calls = await count(demo, models.Interaction)
    [closed] = await alice.send(cancel)
    assert closed.kind == "cancelled"
    await alice.send("wants a quote by friday")  # no longer the answer to the closed question
    assert await count(demo, models.Interaction) == calls
    for said in (thanks, "ok", "👍", "cancel"):  # English words work for everyone
        [reply] = await alice.send(said)
        assert reply.kind == ("cancelled" if said == "cancel" else "ack"), (said, reply.text)


def test_crmbot_parse_says_ask_when_crmbot_would_ask(parser):
    asked = as_json(parser.parse("new deal pierre dubois 40k, chf or eur?", "en", NOW, TZ), "Pierre Dubois (Dubois SA)")
    assert asked["ask"] is True and asked["amount"] == 40000.0 and asked["currency"] is None
    clear = as_json(parser.parse("new deal pierre dubois 40k eur", "en", NOW, TZ), "Pierre Dubois (Dubois SA)")
    assert "ask" not in clear and clear["currency"] == "EUR"
    far = as_json(parser.parse("remind me to call jana 12/15/2115", "en", NOW, TZ), None)
    assert far["ask"] is True and far["due"] is None
    new = parser.parse("Kovacic Solar contact", "en", NOW, TZ)  # no new-customer words: never added silently
    assert new.name != "add_customer" or new.alternatives


# what a press on a closed question's button says, in each language
QUESTION_CLOSED = {"en": "That question was closed", "cs": "Ta otázka už byla uzavřena", "sl": "To vprašanje je že zaprto",
                   "zh": "这个问题已经关闭了", "cy": "Mae'r cwestiwn hwnnw wedi cau", "az": "Bu sual artıq bağlanıb"}


@pytest.mark.parametrize("lang", sorted(QUESTION_CLOSED))
async def test_a_question_cancelled_by_typing_leaves_no_button_to_press(alice, demo, lang):
    await speaks(demo, lang)
    text, _ = CURRENCY_OPEN[lang]
    deals = await count(demo, models.Deal)
    [asked] = await alice.send(text)
    assert asked.kind == "currency_which"
    [closed] = await alice.send(CLOSING[lang][0])  # "cancel", "zrušit", "取消", ...
    assert closed.kind == "cancelled"
    [stale] = await alice.press(asked.buttons[0])
    assert stale.kind == "question_closed" and QUESTION_CLOSED[lang] in stale.text
    assert await count(demo, models.Deal) == deals  # nothing was made


async def test_a_new_message_closes_the_question_before_it_and_a_later_one_stays_open(alice, demo):
    [first] = await alice.send("new deal pierre dubois 40k, chf or eur?")
    # a new message that does something else supersedes the question
    await alice.send("find lucie cerna")
    [stale] = await alice.press(first.buttons[0])
    assert stale.kind == "question_closed"
    # the question the new message asks is open: its button works, once
    deals = await count(demo, models.Deal)
    [second] = await alice.send("new deal pierre dubois 40k, chf or eur?")
    euro = next(b for b in second.buttons if "€" in b.label or "EUR" in b.label)
    [made] = await alice.press(euro)
    assert made.kind == "deal_created" and await count(demo, models.Deal) == deals + 1
    [again] = await alice.press(euro)
    assert again.kind == "button_used"  # pressed, not closed: "already done"
    # buttons that ask nothing (a list's next page) are not closed by typing
    [listed] = await alice.send("list customers")
    assert listed.buttons
    await alice.send("thanks")
    [turned] = await alice.press(listed.buttons[-1])
    assert turned.kind not in ("question_closed", "button_used")


# "in which currency?" answered in words instead of a press: "v eurech nebo v korunách" asked,
# "v korunách" answered, in each language
TYPED_CURRENCY = {
    "en": ("new deal pierre dubois 40k, in pounds or in euros?", "in pounds", "GBP"),
    "cs": ("nový obchod pierre dubois 40k, v eurech nebo v korunách?", "v korunách", "CZK"),
    "sl": ("nov posel pierre dubois 40k, v evrih ali v dolarjih?", "v eurih", "EUR"),
    "zh": ("Pierre Dubois 新商机 4万，欧元还是人民币？", "人民币", "CNY"),
    "cy": ("bargen newydd pierre dubois 40k, mewn punnoedd neu ewros?", "mewn punnoedd", "GBP"),
    "az": ("Pierre Dubois ilə yeni sövdələşmə 40k, manatla yoxsa dollarla?", "manatla", "AZN"),
}


@pytest.mark.parametrize("lang", sorted(TYPED_CURRENCY))
async def test_which_currency_is_asked_and_answered_in_words(alice, demo, lang):
    await speaks(demo, lang)
    text, answer, code = TYPED_CURRENCY[lang]
    deals = await count(demo, models.Deal)
    [asked] = await alice.send(text)
    assert asked.kind == "currency_which", asked.text
    assert await count(demo, models.Deal) == deals
    made = await alice.send(answer)
    assert [r.kind for r in made] == ["deal_created"], [r.text for r in made]
    async with demo.db.sessions() as session:
        deal = (await session.scalars(select(models.Deal).order_by(models.Deal.id.desc()).limit(1))).one()
    assert (deal.currency, deal.amount_minor) == (code, 40_000 * 100)
    # answered in words: the question's buttons are closed, and a second answer makes nothing
    [stale] = await alice.press(asked.buttons[0])
    assert stale.kind == "question_closed"
    await alice.send(answer)
    assert await count(demo, models.Deal) == deals + 1


async def test_a_currency_pressed_is_not_answered_again_in_words_and_a_bare_amount_takes_the_teams(alice, demo):
    deals = await count(demo, models.Deal)
    [asked] = await alice.send("new deal pierre dubois 40k, in pounds or in euros?")
    [made] = await alice.press(asked.buttons[0])
    assert made.kind == "deal_created"
    await alice.send("in euros")  # the question was answered by the press
    assert await count(demo, models.Deal) == deals + 1
    # a bare amount: the team's currency, no question
    [bare] = await alice.send("new deal pierre dubois 12000")
    assert bare.kind == "deal_created"
    async with demo.db.sessions() as session:
        deal = (await session.scalars(select(models.Deal).order_by(models.Deal.id.desc()).limit(1))).one()
    assert deal.currency == "EUR" and deal.amount_minor == 12_000 * 100
