"""Amounts spelled with more after their multiplier, days named by a month word, and the base
form of names with case endings: the parser alone, no database."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from crmbot.i18n import I18n
from crmbot.intents.parse import Parser
from tests.parsing import TZ, local

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo(TZ))


@pytest.fixture(scope="module")
def parser() -> Parser:
    return Parser(I18n())


@pytest.mark.parametrize(("lang", "text", "amount", "currency"), [
    ("az", "yeni sövdələşmə Leyla on iki min beş yüz manat", "12500", "AZN"),
    ("cy", "deal newydd i Ffion Roberts pedair mil dau gant o bunnoedd", "4200", "GBP"),
    ("zh", "给John Smith建个新的deal吧大概一万五千美金", "15000", "USD"),
    ("en", "new deal acme twelve thousand five hundred eur", "12500", "EUR"),
    ("cs", "nový obchod svoboda 80 tisíc na 5 dní", "80000", None),  # the days are no part of the sum
])
def test_an_amount_spelled_on_past_its_multiplier_is_read_whole(parser, lang, text, amount, currency):
    intent = parser.parse(text, lang, NOW, TZ)
    assert intent.slots.get("amount") == Decimal(amount) and intent.slots.get("currency") == currency


@pytest.mark.parametrize(("lang", "text", "day"), [
    ("cy", "atgoffa fi 10 Rhag i yrru pris i Dafydd", date(2026, 12, 10)),
    ("az", "Dekabrın 1-də Quliyev İnşaata hesab göndərməyi xatırlat", date(2026, 12, 1)),
    ("az", "Yanvarın 5-də Leylanı təbrik etməyi xatırlat", date(2027, 1, 5)),
    ("cs", "připomeň v pá poslat Novákové smlouvu", date(2026, 11, 27)),
    ("sl", "opomni me nasl tedn", date(2026, 11, 30)),
])
def test_days_named_by_month_word_or_as_people_shorten_them(parser, lang, text, day):
    due = parser.parse(text, lang, NOW, TZ).slots.get("due")
    assert due is not None and due.astimezone(NOW.tzinfo).date() == day


def test_a_name_takes_its_longest_case_ending_off(parser):
    # "s Evou" is Eva: the stem left by "-ou" is short, and no shorter ending is tried instead
    assert parser.parse("update: oběd s Evou z Acme", "cs", NOW, TZ).mention.split()[:1] == ["eva"]


@pytest.mark.parametrize(("lang", "text", "due"), [
    ("en", "remind me tomorrow at half past nine to call Petr", datetime(2026, 11, 26, 9, 30)),
    ("en", "remind me tomorrow at quarter to 3 to call Petr", datetime(2026, 11, 26, 14, 45)),
    ("cs", "připomeň mi zítra o půl desáté zavolat Petrovi", datetime(2026, 11, 26, 9, 30)),
    ("cs", "připomeň mi zítra ve tři čtvrtě na deset zavolat Evě", datetime(2026, 11, 26, 9, 45)),
    ("cs", "připomeň mi v pátek ve čtyři zavolat Svobodovi", datetime(2026, 11, 27, 16, 0)),
    ("sl", "opomni me jutri ob pol desetih da pokličem Majo", datetime(2026, 11, 26, 9, 30)),
    ("sl", "opomni me v ponedeljek ob desetih, da pokličem Nino", datetime(2026, 11, 30, 10, 0)),
    ("zh", "提醒我明天早上八点半去机场接王芳", datetime(2026, 11, 26, 8, 30)),
    ("cy", "atgoffa fi dydd Gwener am hanner awr wedi tri i ffonio Rhys", datetime(2026, 11, 27, 15, 30)),
    ("cy", "atgoffa fi fory am chwarter wedi un ar ddeg i ffonio Siân", datetime(2026, 11, 26, 11, 15)),
    ("az", "sabah doqquz yarımda xatırlat Rəşada zəng edim", datetime(2026, 11, 26, 9, 30)),
    ("az", "saat beşdə xatırlat ki Rəşaddan ödənişi yoxlayım", datetime(2026, 11, 25, 17, 0)),
])
def test_a_clock_time_in_words_is_the_due_time(parser, lang, text, due):
    intent = parser.parse(text, lang, NOW, TZ)
    assert local(intent.slots["due"]) == due


@pytest.mark.parametrize(("lang", "text", "mention"), [
    ("sl", "opomba k Maji, januarja se selijo v nove prostore", "maji januarja selijo prostora"),
    ("cs", "Luce jsme vytiskli letáky znova", "luce vytiskli letaky"),
])
def test_a_common_word_in_another_case_or_again_is_no_part_of_the_name(parser, lang, text, mention):
    """"nove" (new) is "nova" in its base form, a common word: no Novák is read from it."""
    assert parser.parse(text, lang, NOW, TZ).mention == mention


@pytest.mark.parametrize(("lang", "text", "mention"), [
    ("en", "emailed the smith & co contract over", "smith co"),
    ("cs", "volal jsem do Procházka & syn", "prochazka syn"),
])
def test_a_word_joined_by_an_ampersand_is_part_of_the_company_name(parser, lang, text, mention):
    """"co" and "syn" are common words, but "Smith & Co" names John Smith's company."""
    assert parser.parse(text, lang, NOW, TZ).mention == mention


@pytest.mark.parametrize(("lang", "text", "day", "follow_up"), [
    ("en", "met Anna Schmidt at the booth, she asked for the API docs, send by Fri", date(2026, 11, 27), True),
    ("en", "spoke with Rashad, he'll send the drawings by Friday", date(2026, 11, 27), False),  # theirs to do
    ("cs", "tel Krajnc, ok, další týden znova", date(2026, 11, 30), True),
    ("sl", "poklicala sem krajnca, bom poskusila spet v ponedeljek", date(2026, 11, 30), True),
    ("cy", "cyfarfod yn Evans Hire, isio dyfynbris arall erbyn dydd Gwener", date(2026, 11, 27), True),
    ("cy", "neges gan Eva: mae bwrdd Acme yn cwrdd ar 3 Rhagfyr", date(2026, 12, 3), False),  # a day told of
    ("az", "Elvinlə danışdım, birigün ofisinə gedirəm", date(2026, 11, 27), True),
    ("zh", "wf电话打完了，要报价单，周五前发", date(2026, 11, 27), True),
])
def test_a_call_that_asks_for_something_later_keeps_its_day_as_a_follow_up(parser, lang, text, day, follow_up):
    intent = parser.parse(text, lang, NOW, TZ)
    assert intent.name == "log_call"
    due = intent.slots.get("due")
    assert (local(due).date() == day) if follow_up else due is None


@pytest.mark.parametrize(("lang", "text", "stage"), [
    ("en", "dvorak cams qualified->proposal", "proposal"),
    ("en", "Jan Novak from Novak Plumbing is now a qualified lead", "qualified"),  # one stage, with its adjective
    ("cs", "Dvořákovy kamery posuň z kvalifikace do vyjednávání.", "negotiation"),
    ("az", "Quliyevin sövdələşməsini təklif mərhələsinə yox danışıqlara keçir", "negotiation"),
    ("zh", "Beta fleet tracking 谈判完成，赢了", "won"),
    ("sl", "Tomáš Svoboda je rekel ne – ostajajo pri Pipedrivu", "lost"),
    ("cy", "Collwyd bargen Svoboda i Salesforce", "lost"),
])
def test_of_two_stages_named_the_deal_goes_to_the_last(parser, lang, text, stage):
    assert parser.parse(text, lang, NOW, TZ).slots.get("stage") == stage


@pytest.mark.parametrize(("text", "mention"), [
    ("找一下小张", "张"),
    ("给王姐打电话", "王"),
    ("两小时后提醒我回刘总电话", "回 刘 电话"),
    ("请把李经理的商机标记为赢单", "李"),
])
def test_a_chinese_surname_with_its_title_or_familiar_prefix_is_read_as_the_surname(parser, text, mention):
    assert parser.parse(text, "zh", NOW, TZ).mention == mention


@pytest.mark.parametrize(("text", "word"), [
    ("帮我查一下小程序的报价", "程序"), ("华信资金总额多少", "额"), ("日常总结发我", "日常"), ("小文件发给刘总了", "文件"),
])
def test_a_word_that_only_looks_like_a_title_keeps_its_characters(parser, text, word):
    """小程序 is a mini-program and 总额 a total, not 程 or 金 with a title: the word stays whole."""
    assert word in parser.parse(text, "zh", NOW, TZ).mention


@pytest.mark.parametrize(("lang", "text", "currency"), [
    ("cs", "Deal pro Evu, 7,5k, v eurech", "EUR"),
    ("en", "rang Cerys, she wants the design retainer, like 2k a month, pounds", "GBP"),
    ("sl", "posel za Majo 4000 – evri ali dolarji, še ne vem", None),  # two named: unclear
])
def test_a_currency_said_apart_from_its_amount_is_its_currency(parser, lang, text, currency):
    assert parser.parse(text, lang, NOW, TZ).slots.get("currency") == currency


@pytest.mark.parametrize(("text", "due"), [
    ("snooze bazar ertəsinə qədər", datetime(2026, 11, 30, 9, 0)),  # Monday, not bazar (Sunday)
    ("Leyla xanım zəng etdi, təklif istəyir, çərşənbə axşamına", datetime(2026, 12, 1, 9, 0)),  # Tuesday
    ("cümə axşamına saxla", datetime(2026, 11, 26, 9, 0)),  # Thursday, not cümə (Friday)
    ("bu gun gunorta sonra elvine zeng xatirlat", datetime(2026, 11, 25, 14, 0)),  # after noon
    ("İş gününün sonunda Leylanın faylını yoxlamağı xatırlat", datetime(2026, 11, 25, 17, 0)),
])
def test_az_two_word_days_with_a_case_ending_and_parts_of_the_day(parser, text, due):
    intent = parser.parse(text, "az", NOW, TZ)
    assert local(intent.slots["due"]) == due


@pytest.mark.parametrize(("lang", "text", "day"), [
    ("zh", "刚跟张伟开完meeting，他要一个new quote，周五前", date(2026, 11, 27)),
    ("zh", "msg 王芳 ok 周四见", date(2026, 11, 26)),
    ("sl", "z Žigo sva se zmenila za testno vozilo, v četrtek ob dveh", date(2026, 11, 26)),
    ("cs", "s p. Dvořákem jsme prošli počet kamer, v pondělí posílám objednávku", date(2026, 11, 30)),
    ("cy", "Cwrdd â Tomáš yn y ffair, anfona i o ddydd Llun", date(2026, 11, 30)),
    ("az", "Rəşad bəy yazıb, təklif istəyir, 3 gün içində", date(2026, 11, 28)),
    ("az", "Günel xanım zəng eləmişdi, fabrikə baxmağa gələk ay sonu", date(2026, 11, 30)),
])
def test_a_logged_call_that_asks_for_something_on_a_day_is_followed_up(parser, lang, text, day):
    intent = parser.parse(text, lang, NOW, TZ)
    assert intent.name == "log_call" and local(intent.slots["due"]).date() == day


@pytest.mark.parametrize(("lang", "text"), [
    ("cs", "Jan z Acme volal, že nabídka je ok a do pátku pošle objednávku"),  # his to do, not ours
    ("zh", "李娜发邮件确认了下周三的演示时间"),
])
def test_a_logged_call_that_only_tells_of_a_day_is_not_followed_up(parser, lang, text):
    assert "due" not in parser.parse(text, lang, NOW, TZ).slots


@pytest.mark.parametrize(("lang", "text", "mention"), [
    ("cy", "atgoffa fi bore fory i ffonio Daf", "dafydd"),
    ("cy", "cinio efo Gaz yn y Ship", "gareth ship"),
    ("cs", "Honza z Acme volal", "jan acme"),
    ("cs", "Kubovi jsem volala", "jakub"),
])
def test_a_familiar_form_of_a_given_name_is_read_as_the_name(parser, lang, text, mention):
    assert parser.parse(text, lang, NOW, TZ).mention == mention


@pytest.mark.parametrize(("text", "amount"), [
    ("klicala maji, zeli ponudbo za 3 trgovine, cca 2 jurja", "2000.00"),
    ("ustvari nov deal za horvata 10 jurjev", "10000.00"),
])
def test_sl_jurij_is_a_thousand_euros(parser, text, amount):
    slots = parser.parse(text, "sl", NOW, TZ).slots
    assert (str(slots["amount"]), slots["currency"]) == (amount, "EUR")


@pytest.mark.parametrize("text", ["kaj mi je ušlo?", "zaostanki?", "kaj nisem uspela narediti?"])
def test_sl_what_slipped_is_the_overdue_agenda(parser, text):
    intent = parser.parse(text, "sl", NOW, TZ)
    assert (intent.name, intent.slots.get("period")) == ("agenda", "overdue")


@pytest.mark.parametrize(("text", "due"), [
    ("atgoffa fi ar ôl cinio i e-bostio Cerys", datetime(2026, 11, 25, 14, 0)),  # after lunch
    ("Ffonio Luka Horvat, cwrdd bnawn Llun", datetime(2026, 11, 30, 14, 0)),  # Monday afternoon
])
def test_cy_after_lunch_and_a_mutated_afternoon_before_a_day(parser, text, due):
    intent = parser.parse(text, "cy", NOW, TZ)
    assert local(intent.slots["due"]) == due


def test_three_digits_after_a_decimal_point_are_thousands_not_a_clock_time(parser):
    slots = parser.parse("Cyfle newydd i Maria Garcia, 14.000 €", "cy", NOW, TZ).slots
    assert (str(slots["amount"]), slots["currency"], slots.get("due")) == ("14000.00", "EUR", None)


@pytest.mark.parametrize(("text", "period"), [
    ("be dw i wedi'i fethu", "overdue"),
    ("rhestrwch yr holl nodiadau atgoffa sydd wedi mynd heibio eu dyddiad", "overdue"),
    ("Ch4 hyd yma?", "this_quarter"),
])
def test_cy_missed_and_quarter_periods(parser, text, period):
    assert parser.parse(text, "cy", NOW, TZ).slots.get("period") == period


@pytest.mark.parametrize(("lang", "text", "mention"), [
    ("cs", "Svobodův CRM je teď kvalifikovaný", "svobod"),  # Svoboda's: read near Svoboda
    ("sl", "Kontakt od Lukinega finančnika?", "luka financnika"),
])
def test_a_possessive_of_a_name_is_read_as_the_name(parser, lang, text, mention):
    assert parser.parse(text, lang, NOW, TZ).mention == mention


@pytest.mark.parametrize(("lang", "text", "period"), [
    ("az", "nəyi unutmuşam?", "overdue"),
    ("cs", "co hoří", "overdue"),
    ("cs", "Mohla bys mi prosím ukázat dnešní úkoly?", "today"),
    ("sl", "kaj gori", "overdue"),
    ("zh", "明儿有啥", "tomorrow"),
    ("zh", "拖着没办的有哪些", "overdue"),
    ("en", "mtd numbers?", "this_month"),
])
def test_everyday_words_for_an_agenda_or_summary_period(parser, lang, text, period):
    assert parser.parse(text, lang, NOW, TZ).slots.get("period") == period


@pytest.mark.parametrize(("lang", "text", "amount", "currency"), [
    ("en", "new deal cyberdyne 1.125m usd", "1125000", "USD"),  # a multiplier: the point is a decimal one
    ("en", "new deal cyberdyne worth $1.250k", "1250", "USD"),
    ("cy", "deal newydd Evans Hire 2.500m punnoedd", "2500000", "GBP"),
    ("zh", "新商机 华信 1.125m usd", "1125000", "USD"),
    ("en", "new deal cyberdyne 14.000 €", "14000", "EUR"),  # no multiplier: continental thousands
])
def test_three_decimals_before_a_multiplier_are_decimals_and_no_clock_time(parser, lang, text, amount, currency):
    intent = parser.parse(text, lang, NOW, TZ)
    assert intent.slots.get("amount") == Decimal(amount) and intent.slots.get("currency") == currency
    assert intent.slots.get("due") is None  # "1.12" of "1.125m" is no clock time
