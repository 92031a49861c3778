"""General fixes for messages written by other people (issue #13): names in their case forms
and in Latin letters, dates in the member's locale, parts of the day, days that are only part
of the story, English CRM words inside other languages, money words of every language.

Each message goes through the real Parser and its mention through the real fuzzy index over
the sample team (fixtures `parser` and `index` in conftest.py), as tests/test_parse_en.py does.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from sqlalchemy import select

from crmbot.intents.parse import as_json
from crmbot.store import models
from tests.parsing import NOW, TZ, local, resolve


# -- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "text", "customer"), [
    ("az", "Elvinlə danışdım, 5 maşın üçün GPS istəyir", "Elvin Əliyev (Əliyev Logistika)"),
    ("az", "Ayselin ofisində oldum", "Aysel Məmmədova (Bakı Tekstil)"),
    ("sl", "klicala maji, želi ponudbo za 3 trgovine", "Maja Horvat (Zeleni vrt)"),
    ("sl", "sestanek s kovacicevo, hočejo še 2 bateriji", "Nina Kovačič (Kovačič Solar)"),
    ("sl", "poslala sem Luki osnutek pogodbe", "Luka Horvat (Horvat d.o.o.)"),
    ("cs", "no připomeň mi za hodinu že mám poslat Janě Novákový ty podklady", "Jana Nováková (Beta Logistics)"),
    ("cs", "remind me zítra poslat Procházkovi fakturu", "Martin Procházka (Procházka & syn)"),
])
def test_a_name_in_a_case_form_is_the_customer(parser, index, lang, text, customer):
    assert resolve(index, parser.parse(text, lang, NOW, TZ).mention) == customer


def test_a_case_form_does_not_decide_between_two_customers(parser, index):
    # "Horvatom" is Luka or Maja Horvat: crmbot asks
    assert resolve(index, parser.parse("sestanek s horvatom ok, pogodba gre naprej", "sl", NOW, TZ).mention) is None
    # a word some name holds as it is is that name, not a case form of a shorter one
    assert resolve(index, "novakova") == "Jana Nováková (Beta Logistics)"
    # an English first name is not read as a Czech case form
    assert resolve(index, "mary jane watson") is None


@pytest.mark.parametrize(("text", "customer"), [
    ("mtg w/ wang fang yesterday, sending samples", "王芳 (北京新星贸易)"),
    ("Li Na replied to my email", "李娜 (深圳明月电子)"),
    ("look up ms wang", "王芳 (北京新星贸易)"),
])
def test_a_chinese_name_typed_in_latin_letters_is_the_customer(parser, index, text, customer):
    assert resolve(index, parser.parse(text, "en", NOW, TZ).mention) == customer


def test_chinese_initials_and_a_bare_family_name(index):
    assert resolve(index, "zl") == "张丽 (杭州绿茶)"
    assert resolve(index, "zhang") is None  # 张伟 or 张丽
    assert {m.display for m in index.search("zhang", 5)[:2]} == {"张伟 (上海华信科技)", "张丽 (杭州绿茶)"}


def test_a_name_with_its_company_beats_the_same_name_elsewhere(parser, index):
    # Jan Novák of Acme, not Jan Novak of Novak Plumbing
    intent = parser.parse("Jan Novák z Acme mi poslal připomínky k webu.", "cs", NOW, TZ)
    assert resolve(index, intent.mention) == "Jan Novák (Acme s.r.o.)"
    assert resolve(index, "jan novak") is None


# -- dates --------------------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "text", "day"), [
    ("en", "remind me 15/12 to call petr", date(2026, 12, 15)),
    ("en", "called dafydd, ring back 12/15", date(2026, 12, 15)),  # only month 12 can be read
    ("cs", "připomeň st 2.12 jana podpis", date(2026, 12, 2)),
    ("cs", "remind st 2.12 jana nov. podpis", date(2026, 12, 2)),  # English word, Czech date
    ("cs", "todo 3.12. 14:00 – Lucie, korektury", date(2026, 12, 3)),
    ("sl", "opomni me 15. 12. za pogodbo", date(2026, 12, 15)),
    ("cy", "atgoffa fi 2026-12-15 i ffonio Siân", date(2026, 12, 15)),
    ("en", "remind me 3/11 to call petr", date(2027, 11, 3)),  # no year: the next 3 November
])
def test_a_numeric_date_is_read_the_member_s_way(parser, lang, text, day):
    slots = parser.parse(text, lang, NOW, TZ).slots
    due = slots.get("due") or slots.get("due_odd")
    assert due is not None and local(due).date() == day
    # a day read almost a year off (3 November, three weeks past) is asked about, never kept as read
    assert slots.get("due_unclear", False) == (day.year > NOW.year)


def test_a_date_far_away_is_asked_about_not_stored(parser):
    intent = parser.parse("remind me 12/15/2115 to call petr", "en", NOW, TZ)
    assert "due" not in intent.slots
    assert as_json(intent, None)["ask"] is True


def test_an_amount_with_a_decimal_point_is_not_a_date(parser):
    intent = parser.parse("new deal acme 1.2 million eur", "en", NOW, TZ)
    assert (intent.slots.get("amount"), intent.slots.get("currency")) == (Decimal("1200000.00"), "EUR")
    assert "due" not in intent.slots


@pytest.mark.parametrize(("lang", "text", "moment"), [
    ("en", "remind me tonight to send Nina the quote", datetime(2026, 11, 25, 18, 0)),
    ("en", "remind me tomorrow noon - samples for wang fang", datetime(2026, 11, 26, 12, 0)),
    ("en", "remind me eod to send the invoice", datetime(2026, 11, 25, 17, 0)),
    ("cs", "zítra večer připomenout: poslat ceník", datetime(2026, 11, 26, 18, 0)),
    ("sl", "Opomni me jutri opoldne, da pošljem ponudbo.", datetime(2026, 11, 26, 12, 0)),
    ("az", "bu axşam Elvinə zəng etməyi xatırlat", datetime(2026, 11, 25, 18, 0)),
])
def test_a_part_of_the_day_has_its_hour(parser, lang, text, moment):
    assert local(parser.parse(text, lang, NOW, TZ).slots.get("due")) == moment


def test_a_day_in_a_logged_call_is_a_follow_up_only_when_one_is_asked_for(parser):
    told = parser.parse("WhatsApp from Eva Kučerová: the Acme board meets on 3 December", "en", NOW, TZ)
    assert told.name == "log_call" and "due" not in told.slots
    asked = parser.parse("spoke with Nina Kovačič, she'd like us to call her again on 8 December", "en", NOW, TZ)
    assert asked.name == "log_call" and local(asked.slots["due"]).date() == date(2026, 12, 8)


def test_a_day_in_a_complaint_is_part_of_the_story(parser):
    intent = parser.parse("complaint from lucie today: brochures printed in the wrong colours", "en", NOW, TZ)
    assert intent.name == "complaint" and "due" not in intent.slots


# -- stages and money -----------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "text", "stage"), [
    ("cs", "svoboda crm -> qualified", "qualified"),
    ("sl", "premakni Svoboda CRM rollout v negotiation", "negotiation"),
    ("zh", "Acme website的deal lost了，他们找了本地的agency", "lost"),
    ("cy", "deal Jon Smyth wedi'i golli, dim budget", "lost"),
])
def test_a_stage_word_in_english_or_in_its_case_form(parser, lang, text, stage):
    assert parser.parse(text, lang, NOW, TZ).slots.get("stage") == stage


@pytest.mark.parametrize(("lang", "text", "amount", "currency"), [
    ("en", "new deal petra 15 tis. Kč", "15000", "CZK"),
    ("en", "new deal acme 3,5 mil. Kč", "3500000", "CZK"),
    ("en", "New deal w/ Li Na @ Mingyue: 12万 RMB for the factory sensors", "120000", "CNY"),
    ("cy", "deal nwydd cyberdyne cam 2 - 250k usd", "250000", "USD"),
    ("cy", "Agor deal efo Jon Smyth am 1,800 USD.", "1800", "USD"),
    ("cy", "Hoffwn ychwanegu deal newydd i Maria Garcia: trwyddedau 2027, 1.2 miliwn ewro", "1200000", "EUR"),
])
def test_money_words_of_every_language_are_read(parser, lang, text, amount, currency):
    slots = parser.parse(text, lang, NOW, TZ).slots
    assert (slots.get("amount"), slots.get("currency")) == (Decimal(amount).quantize(Decimal("0.01")), currency)


@pytest.mark.parametrize(("lang", "text", "moment"), [
    ("en", "Remind me a week from today to check Acme paid", datetime(2026, 12, 2, 9, 0)),
    ("en", "remind me in a fortnight to call petr", datetime(2026, 12, 9, 9, 0)),
    ("en", "remind me in half an hour to join the team call", datetime(2026, 11, 25, 11, 30)),
    ("cs", "připomeň za dva týdny zavolat petrovi", datetime(2026, 12, 9, 9, 0)),
    ("sl", "Čez en teden od danes me opomni, da preverim plačilo.", datetime(2026, 12, 2, 9, 0)),
    ("cy", "atgoffa fi ymhen wythnos i ffonio Siân", datetime(2026, 12, 2, 9, 0)),
    ("az", "Bir həftədən sonra Günel xanımla əlaqə saxlamağı xatırlat", datetime(2026, 12, 2, 9, 0)),
    ("az", "İki həftəyə Aysel xanımın işini yoxlamağı yadıma sal", datetime(2026, 12, 9, 9, 0)),
    ("zh", "大后天上午提醒我跟进李娜", datetime(2026, 11, 28, 9, 0)),
])
def test_a_spelled_out_count_of_days_or_hours(parser, lang, text, moment):
    slots = parser.parse(text, lang, NOW, TZ).slots
    due = slots.get("due") or (NOW + slots["delay"] if slots.get("delay") else None)
    assert local(due) == moment


def test_a_mention_mixing_two_customers_is_asked_about(index):
    # each holds one of the typed words exactly: Sarah Connor "connor", Sara Conner "sara"
    assert resolve(index, "sara connor") is None
    assert resolve(index, "jon smith") is None
    # a word of another customer elsewhere in the message does not make it a mix
    assert resolve(index, "tomas svoboda kids names jan eva") == "Tomáš Svoboda (Svoboda Auto)"


def test_a_name_typed_without_its_own_letters(parser, index):
    intent = parser.parse("rashad cld, wnts mtg nxt wk, remind me mon am", "en", NOW, TZ)
    assert resolve(index, intent.mention) == "Rəşad Quliyev (Quliyev İnşaat)"
    assert resolve(index, "elvin aliyev") == "Elvin Əliyev (Əliyev Logistika)"


@pytest.mark.parametrize(("lang", "text", "moment"), [
    ("en", "Set a follow-up task: Luka Horvat, QBR prep, Mon 7th Dec", datetime(2026, 12, 7, 9, 0)),
    ("en", "bump that to next week tues", datetime(2026, 12, 1, 9, 0)),
    ("en", "Remind me about Jakub Veselý at the end of next week.", datetime(2026, 12, 4, 17, 0)),
    ("en", "he wants a demo Thursday next week at two, remind me", datetime(2026, 12, 3, 14, 0)),
    ("cy", "Reminder: pipeline review efo Bob, dydd Iau 4pm", datetime(2026, 11, 26, 16, 0)),
    ("cy", "atgoffa fi am bedwar i ffonio Zhang Li", datetime(2026, 11, 25, 16, 0)),
    ("sl", "Prosim za opomnik v ponedeljek ob 8.30. Hvala.", datetime(2026, 11, 30, 8, 30)),
    ("sl", "pon 10h – Vesna Kolar, poklicati", datetime(2026, 11, 30, 10, 0)),
    ("zh", "稍后 → 明早10点半", datetime(2026, 11, 26, 10, 30)),
    # a weekday beside a day of a month named in words: that date, not the next such weekday
    ("cs", "Připomeň mi ve středu 16. prosince zavolat Sarah Connor ohledně pilotu.", datetime(2026, 12, 16, 9, 0)),
    ("az", "16 dekabr, çərşənbə, Sarah Connor-a pilot barədə zəng etməyi xatırlat.", datetime(2026, 12, 16, 9, 0)),
    ("en", "remind me on Wednesday 16 December to call Sarah", datetime(2026, 12, 16, 9, 0)),
])
def test_weekdays_with_their_week_date_or_hour(parser, lang, text, moment):
    assert local(parser.parse(text, lang, NOW, TZ).slots.get("due")) == moment


def test_a_weekday_and_a_date_that_disagree_are_asked_about(parser):
    # 3 December 2026 is a Thursday
    intent = parser.parse("remind me to call Siân on Friday 3rd", "en", NOW, TZ)
    assert "due" not in intent.slots and as_json(intent, None)["ask"] is True
    # 17 December 2026 is a Thursday too
    intent = parser.parse("připomeň mi v pátek 17. prosince zavolat Petrovi", "cs", NOW, TZ)
    assert "due" not in intent.slots and as_json(intent, None)["ask"] is True


def test_a_duration_in_a_complaint_is_not_a_reminder(parser):
    intent = parser.parse("Maria G – complaint – shipment 2 weeks late", "en", NOW, TZ)
    assert intent.name == "complaint" and "delay" not in intent.slots and "due" not in intent.slots


def test_another_language_s_clock_is_not_read_into_money(parser):
    slots = parser.parse("Nov posel za Novaka, 10.000 EUR.", "sl", NOW, TZ).slots
    assert (slots.get("amount"), slots.get("currency"), slots.get("due")) == (Decimal("10000.00"), "EUR", None)


@pytest.mark.parametrize(("lang", "text", "amount", "currency"), [
    ("cs", "založ příležitost pro Svobodu na školení za osmdesát tisíc korun", "80000", "CZK"),
    ("cs", "nový obchod pro Lucii Černou za jeden a půl milionu korun", "1500000", "CZK"),
    ("cs", "deal pro Tomáše Svobodu za dvacet pět tisíc eur", "25000", "EUR"),
    ("az", "yeni sövdələşmə Günel xanım üçün təxminən qırx beş min manat", "45000", "AZN"),
    ("en", "new deal for Horvat um twelve thousand euros", "12000", "EUR"),
    ("sl", "em nov posel za Krajnca za tristo tisoč", "300000", None),
])
def test_a_spelled_out_amount(parser, lang, text, amount, currency):
    slots = parser.parse(text, lang, NOW, TZ).slots
    assert (slots.get("amount"), slots.get("currency")) == (Decimal(amount).quantize(Decimal("0.01")), currency)


def test_a_number_word_without_a_multiplier_stays_a_word(parser):
    intent = parser.parse("volal jsem dvěma klientům", "cs", NOW, TZ)
    assert "amount" not in intent.slots


@pytest.mark.parametrize(("lang", "text", "period"), [
    ("cs", "souhrn za minulého týdne", "last_week"),
    ("cs", "co mám po splatnosti", "overdue"),
    ("sl", "porocilo za prejsnji tedn", "last_week"),
    ("cy", "sut wnaethon ni fis diwetha", "last_month"),
    ("sl", "weekly report prosim", "this_week"),
])
def test_a_period_in_its_case_forms_or_in_english(parser, lang, text, period):
    assert parser.parse(text, lang, NOW, TZ).slots.get("period") == period


def test_a_one_word_period_is_not_read_into_another_word(parser):
    # "prošlé" (overdue) must not be read into "prosím"
    assert parser.parse("prosím souhrn", "cs", NOW, TZ).slots.get("period") is None


@pytest.mark.parametrize(("lang", "text", "language"), [
    ("en", "Switch to Welsh please.", "cy"),
    ("cs", "switch na slovenštinu", "sl"),
    ("sl", "Preklopi na angleščino.", "en"),
    ("cy", "Can you switch to English? ma Bob yn dysgu Cymraeg", "en"),
    ("zh", "language换成English", "en"),
    ("sl", "jezik: de", "de"),
])
def test_the_language_asked_for(parser, lang, text, language):
    intent = parser.parse(text, lang, NOW, TZ)
    assert intent.name == "set_language" and intent.slots.get("language") == language


async def test_switch_to_welsh_switches_the_member_s_language(alice, demo):
    await alice.send("Switch to Welsh please.")
    async with demo.db.sessions() as session:
        locales = set(await session.scalars(select(models.Member.locale).where(models.Member.name == "Alice")))
    assert locales == {"cy"}


def test_a_slovenian_genitive_of_a_name_in_a(parser, index):
    intent = parser.parse("complaint od Žige: GPS tracking kaže napačne lokacije", "sl", NOW, TZ)
    assert resolve(index, intent.mention) == "Žiga Novak (Novak Transport)"


@pytest.mark.parametrize(("lang", "text", "amount", "currency"), [
    ("zh", "hx 新商机 安全审计 28万rmb", "280000", "CNY"),
    ("zh", "Sara Connor那边开个新单 1万刀", "10000", "USD"),
    ("zh", "有个新机会：跨境ERP，50万港币", "500000", "HKD"),
    ("cy", "Deal newydd i Ddafydd Williams: synwyryddion y sied, pum mil o bunnoedd.", "5000", "GBP"),
])
def test_chinese_and_welsh_money_forms(parser, lang, text, amount, currency):
    slots = parser.parse(text, lang, NOW, TZ).slots
    assert (slots.get("amount"), slots.get("currency")) == (Decimal(amount).quantize(Decimal("0.01")), currency)


def test_a_past_day_in_a_logged_call_does_not_hide_the_follow_up(parser):
    text = "I spoke with Nina Kovačič earlier today, she would like us to call her again on 8 December"
    intent = parser.parse(text, "en", NOW, TZ)
    assert intent.name == "log_call" and local(intent.slots["due"]).date() == date(2026, 12, 8)


def test_a_welsh_weekday_after_a_mutated_part_of_the_day(parser):
    intent = parser.parse("galwad efo Siân, hoffai alwad yn ôl brynhawn Llun", "cy", NOW, TZ)
    assert local(intent.slots["due"]) == datetime(2026, 11, 30, 14, 0)


async def test_a_call_with_a_follow_up_years_away_asks_and_keeps_nothing(alice, demo):
    async with demo.db.sessions() as session:
        calls_before = len(list(await session.scalars(select(models.Interaction.id))))
        followups_before = len(list(await session.scalars(select(models.FollowUp.id))))
    [asked] = await alice.send("called dafydd williams, ring back 12/15/2115")
    # the day as read, with its weekday, and the same day this year, to press; nothing kept before
    assert asked.kind == "day_which" and "Sun, 15 Dec 2115" in asked.text and "Dafydd Williams" in asked.text
    assert [b.label for b in asked.buttons] == ["Tue, 15 Dec 2026 09:00", "Sun, 15 Dec 2115 09:00", "Cancel"]
    async with demo.db.sessions() as session:
        assert len(list(await session.scalars(select(models.Interaction.id)))) == calls_before
        assert len(list(await session.scalars(select(models.FollowUp.id)))) == followups_before


def test_a_day_that_no_month_has_is_no_date_and_no_crash(parser):
    # "30号" after "2月" once read as day "0"; 30 February is no day at all
    read = parser.parse("提醒我2月30号给李娜打电话", "zh", NOW, TZ)
    assert read.name == "remind"
    assert read.slots.get("due") is None


# -- periods ------------------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "text", "period"), [
    # an English command word with the member's own period word
    ("cs", "todo na dnes", "today"),
    ("sl", "todo za danes", "today"),
    ("az", "agenda bu gün", "today"),
    # a month named alone is the period it falls in (it is 25 November)
    ("cs", "souhrn za listopad", "this_month"),
    ("en", "summary for october please", "last_month"),
    ("sl", "povzetek za oktober", "last_month"),
    ("cy", "crynodeb ym mis Tachwedd", "this_month"),
    ("zh", "十一月份的汇总", "this_month"),
    ("az", "oktyabr üçün hesabat", "last_month"),
    # a month's own word beside it does not make it this month
    ("cy", "crynodeb mis Hydref", "last_month"),
])
def test_a_period_is_read_whatever_word_names_it(parser, lang, text, period):
    assert parser.parse(text, lang, NOW, TZ).slots.get("period") == period


def test_an_older_month_named_alone_is_its_days_and_may_is_no_month(parser):
    slots = parser.parse("summary for september", "en", NOW, TZ).slots
    assert slots.get("days") == ["2026-09-01", "2026-09-30"]
    # "may" is a word before it is a month
    slots = parser.parse("summary, may I see this week's", "en", NOW, TZ).slots
    assert "days" not in slots and slots.get("period") == "this_week"
    # a day of a month is a day, not the month ("summary 15. listopadu" is no month's summary)
    assert parser.parse("agenda for 3 december", "en", NOW, TZ).slots.get("period") is None


@pytest.mark.parametrize(("lang", "text", "day"), [
    ("cs", "Svoboda nebral, zkusím to zítra znova", date(2026, 11, 26)),
    ("en", "emailed jon smyth the quote, nudge him friday", date(2026, 11, 27)),
    ("zh", "给王芳发了报价，周五问问她", date(2026, 11, 27)),
    ("cy", "siarad efo Rhys Evans, anfon y pris fory", date(2026, 11, 26)),
    ("sl", "klical Matej Krajnc, preveri jutri", date(2026, 11, 26)),
    ("az", "Elvin zəng etdi, sabah yoxla", date(2026, 11, 26)),
])
def test_a_call_that_plans_something_later_keeps_the_day_as_its_follow_up(parser, lang, text, day):
    intent = parser.parse(text, lang, NOW, TZ)
    assert intent.name == "log_call" and local(intent.slots.get("due")).date() == day
