"""Changing a customer or a deal, said the way people say it in each of our six languages: each
message goes through the real parser, its customer mention through the real fuzzy index over the
sample team, and what is changed (field and value, a profile fact, a deal's amount, title or
close date) is read from the words. The edit readings stand on the rules alone (the classifier
was never taught them): crmbot/intents/edit_readings.py."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.parsing import NOW, resolve

TZ = "Europe/Prague"

CASES = [
    ('en', "change eva's phone to +420 777 999 888", 'edit_customer', 'Eva Kučerová (Acme s.r.o.)', {'field': 'phone', 'value': '+420 777 999 888'}),
    ('en', "update eva kucerova's email to eva@new.cz", 'edit_customer', 'Eva Kučerová (Acme s.r.o.)', {'field': 'email', 'value': 'eva@new.cz'}),
    ('en', "change eva's phone", 'edit_customer', 'Eva Kučerová (Acme s.r.o.)', {'field': 'phone'}),
    ('en', '/edit eva phone +420 777 999 888', 'edit_customer', 'Eva Kučerová (Acme s.r.o.)', {'field': 'phone', 'value': '+420 777 999 888'}),
    ('en', 'change the acme deal to 60k', 'edit_deal', None, {'amount': '60000.00'}),
    ('en', 'raise the cyberdyne deal to 90k USD', 'edit_deal', 'Sarah Connor (Cyberdyne)', {'amount': '90000.00', 'currency': 'USD'}),
    ('en', 'acme website deal closes end of january', 'edit_deal', None, {'due': '2027-01-31T16:00:00+00:00'}),
    ('en', 'rename the horvat deal to Horvat ERP phase 2', 'edit_deal', None, {'title': 'Horvat ERP phase 2'}),
    ('en', 'close the cyberdyne deal', 'edit_deal', 'Sarah Connor (Cyberdyne)', {'close': True}),
    ('en', 'delete deal kvetiny petra', 'delete_deal', 'Petra Dvořáková (Kvetiny Petra)', {}),
    ('en', 'remove the horvat deal', 'delete_deal', None, {}),
    ('en', '/deletedeal horvat', 'delete_deal', None, {}),
    ('en', 'eva new email eva@new.cz', 'add_note', 'Eva Kučerová (Acme s.r.o.)', {'field': 'email', 'value': 'eva@new.cz'}),
    ('en', "petr dvorak's birthday is 12 March", 'add_note', 'Petr Dvořák (Dvořák Stavby)', {'field': 'birthday', 'month': 3, 'day': 12}),
    ('en', 'eva plays golf', 'add_note', 'Eva Kučerová (Acme s.r.o.)', {'field': 'hobby', 'value': 'golf'}),
    ('en', 'eva is a customer now', 'add_note', 'Eva Kučerová (Acme s.r.o.)', {'field': 'status', 'value': 'customer'}),
    ('en', "remind me of petr dvorak's birthday", 'remind', 'Petr Dvořák (Dvořák Stavby)', {'occasion': 'birthday'}),
    ('en', "petr dvorak's wife is Marie", 'add_note', 'Petr Dvořák (Dvořák Stavby)', {'field': 'family', 'value': 'Marie', 'detail': 'wife'}),
    ('en', 'petr dvorak is in the Rotary club', 'add_note', 'Petr Dvořák (Dvořák Stavby)', {'field': 'membership', 'value': 'Rotary club'}),
    ('en', 'eva prefers whatsapp', 'add_note', 'Eva Kučerová (Acme s.r.o.)', {'field': 'channel', 'value': 'whatsapp'}),
    ('cs', 'změň Kučerové telefon na +420 777 999 888', 'edit_customer', 'Eva Kučerová (Acme s.r.o.)', {'field': 'phone', 'value': '+420 777 999 888'}),
    ('cs', 'Kučerová má nový e-mail eva@novy.cz', 'add_note', 'Eva Kučerová (Acme s.r.o.)', {'field': 'email', 'value': 'eva@novy.cz'}),
    ('cs', 'Kučerová je teď zákaznice', 'add_note', 'Eva Kučerová (Acme s.r.o.)', {'field': 'status', 'value': 'customer'}),
    ('cs', 'Dvořák má narozeniny 12. března', 'add_note', 'Petr Dvořák (Dvořák Stavby)', {'field': 'birthday', 'month': 3, 'day': 12}),
    ('cs', 'Kučerová hraje golf', 'add_note', 'Eva Kučerová (Acme s.r.o.)', {'field': 'hobby', 'value': 'golf'}),
    ('cs', 'manželka Dvořáka je Marie', 'add_note', 'Petr Dvořák (Dvořák Stavby)', {'field': 'family', 'value': 'Marie', 'detail': 'wife'}),
    ('cs', 'Kučerová je členkou Rotary klubu', 'add_note', 'Eva Kučerová (Acme s.r.o.)', {'field': 'membership', 'value': 'Rotary klubu'}),
    ('cs', 'Kučerová preferuje WhatsApp', 'add_note', 'Eva Kučerová (Acme s.r.o.)', {'field': 'channel', 'value': 'whatsapp'}),
    ('cs', 'připomeň mi narozeniny Dvořáka', 'remind', 'Petr Dvořák (Dvořák Stavby)', {'occasion': 'birthday'}),
    ('cs', 'změň obchod Acme na 60 tisíc', 'edit_deal', None, {'amount': '60000.00'}),
    ('cs', 'obchod Acme website se uzavře koncem ledna', 'edit_deal', None, {'due': '2027-01-31T16:00:00+00:00'}),
    ('cs', 'smaž obchod Horvat', 'delete_deal', None, {}),
    ('cs', 'uzavři obchod Cyberdyne', 'edit_deal', 'Sarah Connor (Cyberdyne)', {'close': True}),
    ('cs', 'přejmenuj obchod Horvat na Horvat ERP 2', 'edit_deal', None, {'title': 'Horvat ERP 2'}),
    ('cs', 'změň Kučerové telefon na +420 12', 'edit_customer', 'Eva Kučerová (Acme s.r.o.)', {'field': 'phone', 'value': '+420 12'}),
    ('sl', 'spremeni telefon Kovačič na +386 41 999 000', 'edit_customer', 'Nina Kovačič (Kovačič Solar)', {'field': 'phone', 'value': '+386 41 999 000'}),
    ('sl', 'nov e-mail Nine Kovačič: nina@novo.si', 'add_note', 'Nina Kovačič (Kovačič Solar)', {'field': 'email', 'value': 'nina@novo.si'}),
    ('sl', 'Nina Kovačič je zdaj stranka', 'add_note', 'Nina Kovačič (Kovačič Solar)', {'field': 'status', 'value': 'customer'}),
    ('sl', 'Nina Kovačič ima rojstni dan 12. marca', 'add_note', 'Nina Kovačič (Kovačič Solar)', {'field': 'birthday', 'month': 3, 'day': 12}),
    ('sl', 'Nina Kovačič igra golf', 'add_note', 'Nina Kovačič (Kovačič Solar)', {'field': 'hobby', 'value': 'golf'}),
    ('sl', 'mož Nine Kovačič je Marko', 'add_note', 'Nina Kovačič (Kovačič Solar)', {'field': 'family', 'value': 'Marko', 'detail': 'husband'}),
    ('sl', 'Nina Kovačič je članica Rotary kluba', 'add_note', 'Nina Kovačič (Kovačič Solar)', {'field': 'membership', 'value': 'Rotary kluba'}),
    ('sl', 'Maja raje komunicira po e-pošti kot po telefonu', 'add_note', 'Maja Horvat (Zeleni vrt)', {'field': 'channel', 'value': 'email'}),
    ('sl', 'opomni me na rojstni dan Nine Kovačič', 'remind', 'Nina Kovačič (Kovačič Solar)', {'occasion': 'birthday'}),
    ('sl', 'spremeni posel Horvat na 40 tisoč', 'edit_deal', None, {'amount': '40000.00'}),
    ('sl', 'posel Horvat ERP se zaključi konec januarja', 'edit_deal', None, {'due': '2027-01-31T16:00:00+00:00'}),
    ('sl', 'izbriši posel Horvat', 'delete_deal', None, {}),
    ('sl', 'zaključi posel Cyberdyne', 'edit_deal', 'Sarah Connor (Cyberdyne)', {'close': True}),
    ('sl', 'preimenuj posel Horvat v Horvat ERP 2', 'edit_deal', None, {'title': 'Horvat ERP 2'}),
    ('zh', '把张伟的电话改成13900001111', 'edit_customer', '张伟 (上海华信科技)', {'field': 'phone', 'value': '13900001111'}),
    ('zh', '李娜的新邮箱是 lina.new@mingyue.cn', 'add_note', '李娜 (深圳明月电子)', {'field': 'email', 'value': 'lina.new@mingyue.cn'}),
    ('zh', '张伟现在是正式客户了', 'add_note', '张伟 (上海华信科技)', {'field': 'status', 'value': 'customer'}),
    ('zh', '张伟的生日是3月12日', 'add_note', '张伟 (上海华信科技)', {'field': 'birthday', 'month': 3, 'day': 12}),
    ('zh', '张伟喜欢打高尔夫', 'add_note', '张伟 (上海华信科技)', {'field': 'hobby', 'value': '高尔夫'}),
    ('zh', '张伟的太太叫李梅', 'add_note', '张伟 (上海华信科技)', {'field': 'family', 'value': '李梅', 'detail': 'wife'}),
    ('zh', '张伟是扶轮社会员', 'add_note', '张伟 (上海华信科技)', {'field': 'membership', 'value': '扶轮社'}),
    ('zh', '张丽女士偏好微信沟通，不太接陌生电话。', 'add_note', '张丽 (杭州绿茶)', {'field': 'channel', 'value': 'wechat'}),
    ('zh', '提醒我张伟的生日', 'remind', '张伟 (上海华信科技)', {'occasion': 'birthday'}),
    ('zh', '把华信的单子改成60万', 'edit_deal', '张伟 (上海华信科技)', {'amount': '600000.00'}),
    ('zh', '华信的单子1月底签', 'edit_deal', '张伟 (上海华信科技)', {'due': '2027-01-31T16:00:00+00:00'}),
    ('zh', '删除华信的单子', 'delete_deal', '张伟 (上海华信科技)', {}),
    ('zh', '关闭华信的单子', 'edit_deal', '张伟 (上海华信科技)', {'close': True}),
    ('zh', '把华信的单子改名为华信云迁移二期', 'edit_deal', '张伟 (上海华信科技)', {'title': '华信云迁移二期'}),
    ('cy', 'newid ffôn Rhys Evans i +44 29 2018 1111', 'edit_customer', 'Rhys Evans (Evans Hire)', {'field': 'phone', 'value': '+44 29 2018 1111'}),
    ('cy', 'e-bost newydd Rhys Evans: rhys@newydd.co.uk', 'add_note', 'Rhys Evans (Evans Hire)', {'field': 'email', 'value': 'rhys@newydd.co.uk'}),
    ('cy', 'mae Rhys Evans yn gwsmer nawr', 'edit_customer', 'Rhys Evans (Evans Hire)', {'field': 'status', 'value': 'customer'}),
    ('cy', 'mae pen-blwydd Rhys Evans ar 12 Mawrth', 'add_note', 'Rhys Evans (Evans Hire)', {'field': 'birthday', 'month': 3, 'day': 12}),
    ('cy', 'mae Rhys Evans yn chwarae golff', 'add_note', 'Rhys Evans (Evans Hire)', {'field': 'hobby', 'value': 'golff'}),
    ('cy', 'gwraig Rhys Evans yw Megan', 'add_note', 'Rhys Evans (Evans Hire)', {'field': 'family', 'value': 'Megan', 'detail': 'wife'}),
    ('cy', 'mae Rhys Evans yn aelod o Glwb Rotary', 'add_note', 'Rhys Evans (Evans Hire)', {'field': 'membership', 'value': 'Glwb Rotary'}),
    ('cy', "mae'n well gan Rhys Evans WhatsApp", 'add_note', 'Rhys Evans (Evans Hire)', {'field': 'channel', 'value': 'whatsapp'}),
    ('cy', 'atgoffa fi o ben-blwydd Rhys Evans', 'remind', 'Rhys Evans (Evans Hire)', {'occasion': 'birthday'}),
    ('cy', 'newid bargen Evans Hire i 15k', 'edit_deal', 'Rhys Evans (Evans Hire)', {'amount': '15000.00'}),
    ('cy', 'bydd bargen Evans Hire yn cau ddiwedd Ionawr', 'edit_deal', 'Rhys Evans (Evans Hire)', {'due': '2027-01-31T16:00:00+00:00'}),
    ('cy', 'dileu bargen Evans Hire', 'delete_deal', 'Rhys Evans (Evans Hire)', {}),
    ('cy', 'cau bargen Cyberdyne', 'edit_deal', 'Sarah Connor (Cyberdyne)', {'close': True}),
    ('cy', 'ailenwi bargen Evans Hire yn Evans Hire 2027', 'edit_deal', 'Rhys Evans (Evans Hire)', {'title': 'Evans Hire 2027'}),
    ('cy', 'pen-blwydd priodas Rhys Evans ar 3 Mehefin', 'add_note', 'Rhys Evans (Evans Hire)', {'field': 'anniversary', 'detail': 'wedding', 'month': 6, 'day': 3}),
    ('az', 'Ayselin telefonunu +994 50 999 88 77 ilə dəyiş', 'edit_customer', 'Aysel Məmmədova (Bakı Tekstil)', {'field': 'phone', 'value': '+994 50 999 88 77'}),
    ('az', 'Ayselin yeni e-poçtu: aysel@yeni.az', 'add_note', 'Aysel Məmmədova (Bakı Tekstil)', {'field': 'email', 'value': 'aysel@yeni.az'}),
    ('az', 'Aysel artıq müştəridir', 'add_note', 'Aysel Məmmədova (Bakı Tekstil)', {'field': 'status', 'value': 'customer'}),
    ('az', 'Ayselin ad günü 12 martdır', 'add_note', 'Aysel Məmmədova (Bakı Tekstil)', {'field': 'birthday', 'month': 3, 'day': 12}),
    ('az', 'Aysel qolf oynayır', 'add_note', 'Aysel Məmmədova (Bakı Tekstil)', {'field': 'hobby', 'value': 'qolf'}),
    ('az', 'Ayselin əri Elçindir', 'add_note', 'Aysel Məmmədova (Bakı Tekstil)', {'field': 'family', 'value': 'Elçin', 'detail': 'husband'}),
    ('az', 'Aysel Rotary klubunun üzvüdür', 'add_note', 'Aysel Məmmədova (Bakı Tekstil)', {'field': 'membership', 'value': 'Rotary klubunun'}),
    ('az', 'Aysel WhatsApp-ı üstün tutur', 'add_note', 'Aysel Məmmədova (Bakı Tekstil)', {'field': 'channel', 'value': 'whatsapp'}),
    ('az', 'Ayselin ad gününü mənə xatırlat', 'remind', 'Aysel Məmmədova (Bakı Tekstil)', {'occasion': 'birthday'}),
    ('az', 'Bakı Tekstil sövdələşməsinin məbləğini 12 min manata dəyiş', 'edit_deal', 'Aysel Məmmədova (Bakı Tekstil)', {'amount': '12000.00', 'currency': 'AZN'}),
    ('az', 'Bakı Tekstil sövdələşməsi yanvarın sonunda bağlanacaq', 'edit_deal', 'Aysel Məmmədova (Bakı Tekstil)', {'due': '2027-01-31T16:00:00+00:00'}),
    ('az', 'Bakı Tekstil sövdələşməsini sil', 'delete_deal', 'Aysel Məmmədova (Bakı Tekstil)', {}),
    ('az', 'Cyberdyne sövdələşməsini bağla', 'edit_deal', 'Sarah Connor (Cyberdyne)', {'close': True}),
]


@pytest.mark.parametrize(("lang", "text", "intent", "customer", "slots"), CASES, ids=[f"{c[0]}:{c[1][:40]}" for c in CASES])
def test_a_change_is_understood_in_every_language(parser, index, lang, text, intent, customer, slots):
    read = parser.parse(text, lang, NOW, TZ)
    assert (read.name, read.alternatives) == (intent, ()), (text, read.name, read.alternatives)
    assert resolve(index, read.mention) == customer, (text, read.mention)
    for key, want in slots.items():
        have = read.slots.get(key)
        if key == "amount":
            want = Decimal(want)
        elif key == "due":
            have = have.isoformat()
        assert have == want, (text, key, have, want)


def test_every_language_says_every_kind_of_change():
    kinds = {"edit_customer", "edit_deal", "delete_deal", "remind"}
    for lang in ("en", "cs", "sl", "zh", "cy", "az"):
        said = [c for c in CASES if c[0] == lang]
        assert kinds <= {c[2] for c in said}, lang
        assert {"status", "birthday", "hobby", "family", "membership"} <= {c[4].get("field") for c in said}, lang
        assert any("amount" in c[4] for c in said) and any("due" in c[4] for c in said) and any(c[4].get("close") for c in said), lang


@pytest.mark.parametrize(("lang", "text", "intent"), [
    ("en", "update: acme signed the contract", "move_deal"),
    ("en", "closed the acme deal!", "move_deal"),
    ("en", "close the deal with evans hire, they signed", "move_deal"),
    ("en", "new deal with acme for the website redesign 60k", "new_deal"),
    ("en", "new customer Karel Malý from Pekárna, karel@pekarna.cz, +420 777 000 111", "add_customer"),
    ("en", "what's eva's email?", "find_customer"),
    ("en", "remind me to buy a birthday present for petr on friday", "remind"),
    ("cs", "telefon na Petra Dvořáka", "find_customer"),
    ("zh", "张伟的电话是多少", "find_customer"),
])
def test_talk_about_changes_that_is_no_change_keeps_its_reading(parser, lang, text, intent):
    assert parser.parse(text, lang, NOW, TZ).name == intent
