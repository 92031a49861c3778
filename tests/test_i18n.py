"""Replies in every language: one layout per reply, each language's words from its catalog.

Catalogs translate every msgid the templates use (so no English leaks into a Czech reply), with
each language's own plural rules; every template renders in every language; labels pick their
plural form; a value put into a translated message still cannot switch markup on; and each
render gets its own language's words, so languages rendering at once never mix.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from decimal import Decimal
from importlib.resources import as_file
from pathlib import Path
from shutil import copytree
from types import SimpleNamespace as NS

import pytest
from babel import Locale
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from crmbot.i18n import DOMAIN, LOCALES_DIR, PLURAL_CATEGORIES, TEMPLATES_DIR, I18n, _neutralise_markup
from crmbot.intents.customers import split_contact
from crmbot.intents.parse import Parser

ROOT = Path(__file__).resolve().parent.parent
PLURAL_FORMS = {"cs": 3, "sl": 4, "cy": 6, "zh": 1, "az": 2}  # gettext's nplurals for each catalog
T0 = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
T1 = datetime(2026, 12, 3, 14, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def i18n() -> I18n:
    return I18n()


def catalog(code: str):
    with as_file(LOCALES_DIR / code / "LC_MESSAGES" / f"{DOMAIN}.po") as path, path.open("rb") as po:
        return read_po(po, locale=code)


def template_msgids() -> set[tuple[str | None, str]]:
    """(context, msgid) of every message the templates and formats use, found the way
    `pybabel extract -F babel.cfg` finds them (docs/translating.md)."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = set()
    for _, _, message, _, context in extract_from_dir(str(ROOT), method_map, options_map):
        found.add((context, message[0] if isinstance(message, tuple) else message))
    return found


# -- the catalogs ---------------------------------------------------------------------------------


def test_the_templates_use_messages_and_every_catalog_translates_each_of_them(i18n):
    used = template_msgids()
    assert len(used) > 100 and (None, "Pipeline") in used and ("punctuation", ": ") in used
    assert set(PLURAL_FORMS) == {code for code in i18n.codes if code != "en"}
    for code in PLURAL_FORMS:
        po = catalog(code)
        missing = [msgid for context, msgid in used
                   if not (m := po.get(msgid, context)) or m.fuzzy or not all(m.string if m.pluralizable else [m.string])]
        assert not missing, f"{code} leaves these in English: {missing}"
        unused = [m.id for m in po if m.id and (m.context, m.id[0] if m.pluralizable else m.id) not in used]
        assert not unused, f"{code} translates messages no template uses: {unused}"
        problems = [(m.id, [str(e) for e in errors]) for m, errors in po.check()]
        assert not problems, f"{code}: placeholders or plural forms differ from the msgid: {problems}"


def test_each_catalog_has_its_languages_plural_forms_and_they_agree_with_cldr(i18n):
    for code, forms in PLURAL_FORMS.items():
        assert catalog(code).num_plurals == forms, code
        # the catalog's Plural-Forms rule sorts counts into the same groups as CLDR's rules,
        # which pick the form of a strings.toml label: one rule per language, written twice
        gettext_form = i18n.language(code).translations.plural
        cldr = Locale.parse(code).plural_form
        pairs = {(gettext_form(n), cldr(n)) for n in range(0, 201)}
        assert len(pairs) == len({f for f, _ in pairs}) == len({c for _, c in pairs}) == forms, (code, pairs)


@pytest.mark.parametrize(("code", "counts"), [
    ("cs", {1: "má 1 otevřený obchod", 2: "má 2 otevřené obchody", 4: "4 otevřené obchody", 5: "má 5 otevřených obchodů", 22: "22 otevřených obchodů"}),
    ("sl", {1: "ima 1 odprt posel", 2: "ima 2 odprta posla", 3: "3 odprte posle", 5: "5 odprtih poslov", 101: "101 odprt posel", 102: "102 odprta posla"}),
    ("en", {1: "has 1 open deal.", 2: "has 2 open deals."}),
])
def test_a_count_picks_its_languages_plural_form(i18n, code, counts):
    for n, expected in counts.items():
        text = i18n.render(code, "deal_which", customer=NS(display_name="Acme"), deals=[object()] * n)
        assert expected in text, (n, text)


def test_czech_complaints_agree_with_their_count(i18n):
    render = lambda n: i18n.render("cs", "complaint_which", customer=NS(display_name="Acme"), complaints=[object()] * n)  # noqa: E731
    assert [re.search(r"má (.+?)\.", render(n)).group(1) for n in (1, 2, 5)] == [
        "1 otevřenou stížnost", "2 otevřené stížnosti", "5 otevřených stížností"]


# -- every template in every language -------------------------------------------------------------


def customer(**changes):
    values = dict(display_name="Jan Novák (Acme)", name="Jan Novák", phones=["+420 777 000 111"], emails=["jan@acme.cz"],
                  address="Praha 1", website="acme.cz", status="customer", preferred_channel="email", notes="likes coffee")
    return NS(**{**values, **changes})


def deal(**changes):
    values = dict(title="Website", amount=Decimal("12500"), currency="EUR", stage="lost", competitor="Contoso", lost_reason="price")
    return NS(**{**values, **changes})


FOLLOWUP = NS(due_at=T1, created_at=T0, note="bring the quote", customer_id=1, member_id=1)
MEMBER = NS(name="Alice", role="manager")
COMPLAINT = NS(severity="high", product="printer", text="broken again", resolution="replaced", created_at=T0)
CHANGE = NS(label="Phone", old="+420 777 123 457", new="+420 777 999 888")
PIPELINE = {"lead": {"count": 2, "values": {"EUR": Decimal("1000")}}, "won": {"count": 1, "values": {}}}
ACTIVITY = {"Alice": {"call": 3, "meeting": 1}}
RULE = {"id": 3, "entity": "complaint", "conditions": [("word", "invoice"), ("country", "Czechia")], "names": ["Bob", "Dana"], "in_turn": True}


def import_report(kind: str = "deals"):
    from collections import Counter

    from crmbot.imports.report import Report, Skip

    skips = [Skip(3, "Amount", "bad_amount", {"value": "a lot"}), Skip(4, None, "no_title"),
             Skip(5, None, "ambiguous_customer", {"name": "Jan Novák"}), Skip(6, None, "deal_held", {"deal": "Roof", "customer": "Eva"})]
    return Report(kind=kind, rows=40, added=30, updated=4, skipped=6, skips=skips, customers_added=2,
                  unknown_owners=Counter({"Carol White": 2}), unknown_stages=Counter({"Site visit": 3}))


SAMPLES = {  # values that take every template through its wordiest branches
    "add_customer_needs_name": {}, "amount_invalid": {}, "ask_customer": {}, "button_not_yours": {}, "button_unknown": {},
    "button_used": {}, "question_closed": {}, "cancelled": {}, "customer_gone": {}, "due_needed": {}, "empty": {}, "error": {},
    "intent_which": {"seen": {"customer": "Jan Novák (Acme s.r.o.)", "amount": Decimal("40000"), "currency": "CZK", "due": T1}},
    "currency_which": {"amount": Decimal("40000"), "seen": {"customer": "Jan Novák (Acme s.r.o.)", "amount": None, "currency": None, "due": None}},
    "day_which": {"seen": {"customer": None, "amount": None, "currency": None, "due": T1}},
    "not_allowed": {}, "nothing_to_undo": {}, "notify_off": {}, "notify_on": {}, "slow_down": {}, "stage_needed": {},
    "stranger": {}, "too_long": {}, "followup_gone": {}, "ack": {}, "followup_already_done": {"followup": FOLLOWUP},
    "agenda": {"sections": [{"kind": kind, "at": T1, "items": [FOLLOWUP]} for kind in ("overdue", "today", "tomorrow", "day")],
               "customers": {1: customer()}, "span": "this_week", "day": T1, "members": {1: MEMBER}, "total": 14, "first": 11, "shown": 4},
    "announce_complaint": {"complaint": COMPLAINT, "customer": customer()},
    "announce_deal": {"deal": deal(), "customer": customer(), "member": MEMBER},
    "card": {"customer": customer(), "owner": MEMBER, "members": {1: MEMBER},
             "interactions": [NS(happened_at=T0, kind="call", member_id=1, summary="wants a quote")],
             "deals": [deal(stage="proposal")], "complaints": [COMPLAINT], "followup": FOLLOWUP, "tags": ["vip", "trade fair"],
             "channel": "WhatsApp", "phones": ["+420 777 000 111"],
             "profile": [("Birthday", "12 March 1980"), ("Family", "Marie (wife)"), ("Hobbies", "golf")]},
    "complaint_recorded": {"complaint": COMPLAINT, "customer": customer(), "assignee": NS(name="Carol"), "followup": FOLLOWUP},
    "complaint_assigned": {"complaint": COMPLAINT, "customer": customer(), "reporter": NS(name="Bob")},
    "complaint_resolved": {"complaint": COMPLAINT, "customer": customer()},
    "complaint_which": {"customer": customer(), "complaints": [COMPLAINT] * 3},
    "customer_added": {"customer": customer(), "assignee": NS(name="Carol")},
    "customer_assigned": {"customer": customer(), "adder": NS(name="Bob")},
    "auto_followup_saved": {"trigger": "new_lead", "days": 2, "note": "Call the new lead"},
    "auto_followup_what": {},
    "import_assigned": {"name": "leads.csv", "count": 3},
    "customer_same": {"name": "Jan Novak", "matches": [NS(customer=customer(), reason="email"), NS(customer=customer(display_name="Jana Nováková"), reason="phone"),
                                                       NS(customer=customer(display_name="Jan Novák"), reason="name")]},
    "customer_used": {"customer": customer(), "added": ["jan@novak.cz", "+420777000222"], "owner": NS(name="Bob")},
    "customer_unknown": {"mention": "karel"},
    "merge_needs_two": {}, "merge_same": {"customer": customer()},
    "merge_not_yours": {"customer": customer(), "owner": NS(name="Bob")},
    "merge_confirm": {"customers": [NS(id=1, display_name="Karel Malý (Pekárna)"), NS(id=2, display_name="Karel")],
                      "counts": {1: {"interactions": 3, "deals": 1, "complaints": 2, "followups": 5}, 2: {"interactions": 0}}},
    "merged": {"survivor_name": "Karel Malý (Pekárna)", "absorbed_name": "Karel", "moved": {"interactions": 2, "deals": 1, "complaints": 0, "followups": 1},
               "conflicts": ["Company", "Address"]},
    "history": {"items": [{"number": 1, "entity": "deal", "action": "create", "at": T0, "details": ["Siân Jones", "Kiosk", "£700.00"], "undoable": True},
                          {"number": 2, "entity": "customer", "action": "merge", "at": T0, "details": ["Karel Malý", "Karel"], "undoable": True},
                          {"number": 3, "entity": "customer", "action": "update", "at": T0, "details": [], "undoable": True},
                          {"number": 4, "entity": "customer", "action": "erase", "at": T0, "details": [], "undoable": False}]},
    "history_empty": {},
    "undo_blocked": {"later": {"entity": "deal_stage_change", "action": "create", "at": T1, "details": ["Acme website", "Won"]},
                     "by": NS(name="Bob"), "yours": False},
    "undo_already": {}, "undo_erased": {},
    "customer_not_found": {"mention": "novak"},
    "customer_which": {"mention": "novak", "matches": [NS(display="Jan Novák (Acme)"), NS(display="Jana Nováková")]},
    "deal_already": {"deal": deal(stage="won"), "customer": customer()},
    "deal_created": {"deal": deal(stage="lead"), "customer": customer()},
    "deal_moved": {"deal": deal(), "customer": customer(), "previous": "proposal"},
    "deal_which": {"customer": customer(), "deals": [deal()] * 2},
    "digest": {"member": MEMBER, "overdue": [FOLLOWUP], "today": [FOLLOWUP], "failed": [FOLLOWUP], "customers": {1: customer()},
               "morning": False},
    "due_in_past": {"due": T0},
    "followup_done": {"followup": FOLLOWUP},
    "followup_snoozed": {"followup": FOLLOWUP},
    "forget_confirm": {"customer": customer()},
    "forgotten": {"name": "Olga Petrová"},
    "help": {"member": MEMBER},
    "import_done": {"name": "deals.csv", "report": import_report(), "skips": import_report().skips, "contact": None},
    "import_preview": {"name": "contacts.csv", "report": import_report("contacts"), "skips": import_report().skips},
    "import_refused": {"problem": "no_customer_column", "name": "deals.csv", "found": "Deal Name, Amount"},
    "import_gone": {},
    "language_set": {"language": NS(name="Čeština")},
    "language_choose": {"current": NS(name="Čeština")},
    "customer_what": {"customer": customer()},
    "contact_not_found": {},
    "mail_unknown": {"subject": "Quote for the kiosk", "people": ["Jan Novák <jan@acme.cz>", "eva@beta.cz"]},
    "language_unknown": {"wanted": "de", "languages": {"en": NS(name="English"), "cs": NS(name="Čeština")}},
    "logged": {"kind": "meeting", "customer": customer(), "interaction": None, "followup": FOLLOWUP},
    "no_open_complaint": {"customer": customer()},
    "no_open_deal": {"customer": customer()},
    "reassign_who": {"members": [NS(name="Alice"), NS(name="Bob")]},
    "reassigned": {"customer": customer(), "owner": NS(name="Bob"), "previous": NS(name="Alice")},
    "customer_changed": {"customer": customer(), "changes": [CHANGE, NS(label="Hobby", old=None, new="golf")]},
    "value_invalid": {"customer": customer(), "field": "phone", "value": "+420 12"},
    "edit_what": {"customer": customer(), "field": "phone"},
    "not_yours": {"what": "Jan Novák (Acme)", "owner": "Bob"},
    "nothing_changed": {"customer": customer()},
    "fact_needs_day": {"customer": customer(), "kind": "birthday", "occasion": "birthday"},
    "yearly_set": {"customer": customer(), "occasion": "birthday", "followup": FOLLOWUP, "already": True},
    "deal_changed": {"deal": deal(), "customer": customer(), "changes": [NS(label="Amount", old="€50,000.00", new="€60,000.00")]},
    "deal_deleted": {"deal": deal(), "customer": customer(), "cancelled": 2},
    "deal_close_how": {"deal": deal(), "customer": customer()},
    "deal_pick": {"customer": None, "deals": [deal()] * 3},
    "deal_edit_what": {"deal": deal(), "customer": customer()},
    "no_deal": {"customer": customer()},
    "deal_gone": {},
    "reminder": {"followup": FOLLOWUP, "customer": customer(), "late": True},
    "reminder_set": {"followup": FOLLOWUP, "customer": customer()},
    "reminder_undeliverable": {"member": MEMBER, "followup": FOLLOWUP, "customer": customer(), "reason": "blocked"},
    "summary": {"title": "**Team summary: this week** (since 1 Dec 2026)", "period": "week", "since": T0, "whole_team": True, "rep": None, "pipeline": PIPELINE, "won": [deal(stage="won")],
                "lost": [deal()], "activity": ACTIVITY, "new_complaints": [COMPLAINT], "open_complaints": [COMPLAINT],
                "overdue": [FOLLOWUP], "customers": {}, "members": {}},
    "undone": {"entity": "deal", "action": "create", "at": T0, "details": ["Siân Jones", "Kiosk", "£700.00", "Lead"]},
    "unknown": {"text": "blah", "mention": "blah"},
    "list_deals": {"rows": [deal(stage="negotiation", customer_id=1, owner_id=1, expected_close=T1)] * 2, "total": 12, "first": 11,
                   "totals": {"EUR": Decimal("25000"), "CZK": Decimal("120000")}, "customers": {1: customer()}, "members": {1: MEMBER},
                   "query": {"what": "deals", "stage": "negotiation", "period": "this_month", "closing": True}, "owner": None,
                   "customer": None, "whose": "team"},
    "list_customers": {"rows": [customer(id=1, owner_id=1)] * 2, "total": 12, "first": 11, "tags": {1: ["vip", "trade fair"]},
                       "tag": "vip", "members": {1: MEMBER}, "query": {"what": "customers", "status": "lead"}, "owner": None,
                       "customer": None, "whose": "team"},
    "list_complaints": {"rows": [NS(**vars(COMPLAINT), customer_id=1, assignee_id=1)] * 2, "total": 12, "first": 11,
                        "customers": {1: customer()}, "members": {1: MEMBER}, "query": {"what": "complaints"}, "owner": None,
                        "customer": None, "whose": "mine"},
    "list_which": {},
    "list_nobody": {"mention": "xyz"},
    "tag_needed": {"intent": "untag"},
    "tagged": {"customer": customer(), "added": ["vip"], "already": ["hot"], "tags": ["hot", "vip"]},
    "untagged": {"customer": customer(), "removed": ["vip"], "missing": ["hot"], "tags": []},
    "weekly_summary": {"member": MEMBER, "since": T0, "activity": ACTIVITY, "won": [deal(stage="won")], "lost": [deal()],
                       "new_complaints": [COMPLAINT], "open_complaints": [], "overdue": {"Alice": 2}, "failed": 1,
                       "quiet": [customer()], "stalled": [(deal(), customer())], "old_complaints": [(COMPLAINT, customer())]},
    "welcome": {"member": MEMBER},
    "funnel": {"period": "this_month", "since": T0, "whole_team": False, "rep": NS(name="Bob"), "average": "€1,000.00",
               "stages": ("lead", "qualified"), "customers": [("lead", 0.25), ("customer", 0.75)],
               "funnel": NS(reached={"lead": 6, "qualified": 4, "won": 1}, conversion={"lead": 4 / 6, "qualified": None},
                            days_in_stage={"lead": 2.0, "qualified": None}, open_share={"lead": 0.5, "qualified": 0.5},
                            win_rate=0.25, won=1, lost=3)},
    "lost_analysis": {"period": "this_quarter", "since": T0, "whole_team": True, "rep": None,
                      "reasons": [("price", 2, "€5,000.00"), ("timing", 1, "")], "competitors": []},
    "forecast": {"whole_team": True, "rep": None, "months": [{"month": T0, "total": "€3,000.00", "reps": [("Dana", "€3,000.00")]},
                                                            {"month": T1, "total": "", "reps": []}],
                 "chances": [("lead", 0.1), ("negotiation", 0.75)]},
    "at_risk": {"whole_team": False, "rep": None, "totals": {"customers": 12, "complaints": 1, "deals": 2},
                "days": {"customer": 30, "complaint": 7, "deal": 21}, "shown": 5, "others": ["Jana Nováková", "Olga Petrova"], "more": 3},
    "at_risk_customer": {"customer": customer(), "reasons": [
        {"kind": "complaint", "since": T0, "what": "broken again"}, {"kind": "deal", "since": T0, "what": "Website", "stage": "proposal"},
        {"kind": "quiet", "since": T0, "days": 45}, {"kind": "quiet", "since": None, "days": None}]},
    "call_what": {"kind": "call", "customer": customer()},
    "route_confirm": {"rule": RULE},
    "route_saved": {"rule": RULE},
    "route_list": {"rules": [RULE, {**RULE, "id": 4, "conditions": [], "in_turn": False}]},
    "route_who": {"members": [NS(name="Alice"), NS(name="Bob")]},
    "route_which_field": {"value": "acme"},
    "route_remove_confirm": {"rule": RULE},
    "route_removed": {"rule": RULE},
    "route_not_found": {"number": 7},
}


def test_every_reply_template_has_sample_values():
    replies = {t.name.removesuffix(".j2") for t in TEMPLATES_DIR.iterdir() if t.name.endswith(".j2") and not t.name.startswith("_")}
    assert replies == set(SAMPLES)


@pytest.mark.parametrize("code", ["en", *PLURAL_FORMS])
def test_every_template_renders_in_every_language(i18n, code):
    for template, values in SAMPLES.items():
        text = i18n.render(code, template, "Europe/Prague", **values)
        assert text and not re.search(r"%\(|\{\{|\{%|\}\}", text), (code, template, text)
        if code != "en":  # the words are the language's own: nothing reads as the English reply
            assert text != i18n.render("en", template, "Europe/Prague", **values), (code, template)


def test_chinese_layout_uses_its_own_punctuation(i18n):
    text = i18n.render("zh", "card", **SAMPLES["card"])
    assert "负责人：Alice · 状态：客户" in text and "通话（Alice）：wants a quote" in text
    text = i18n.render("zh", "merge_confirm", **SAMPLES["merge_confirm"])
    assert "• **Karel Malý (Pekárna)**：3 条记录、1 个商机、2 条投诉、5 条提醒" in text and "• **Karel**：暂无" in text, text


# -- markup -----------------------------------------------------------------------------------------


def test_a_value_cannot_switch_bold_on_inside_a_translated_message(i18n):
    for code in i18n.codes:
        text = i18n.render(code, "complaint_recorded", complaint=COMPLAINT, customer=customer(display_name="***x** y**"), assignee=None, followup=None)
        assert text.count("**") == 2, text  # the message's own pair, around the neutralised name
    text = i18n.render("cs", "customer_same", name="**a**", matches=[NS(customer=customer(display_name="**b**"), reason="email")])
    assert "**" + _neutralise_markup("**b**") + "**" in text and "„*\u200b*a*\u200b*“" in text, text  # bold by the layout only


@pytest.mark.parametrize("value", ["**x**", "***x***", "****", "a**b*c", "*"])
def test_neutralising_leaves_no_pair_of_stars_and_is_idempotent(value):
    once = _neutralise_markup(value)
    assert "**" not in once and _neutralise_markup(once) == once and once.replace("\u200b", "") == value
    assert _neutralise_markup("**x**") == "*\u200b*x*\u200b*"  # as it always was for a pair


# -- each render its own language --------------------------------------------------------------------


def test_translations_are_handed_to_each_render_never_installed_on_the_environment(i18n):
    i18n.render("cs", "help", member=MEMBER)
    assert not {"gettext", "ngettext", "pgettext"} & set(i18n.env.globals)
    expected = {code: i18n.render(code, "summary", **SAMPLES["summary"]) for code in i18n.codes}
    jobs = [code for code in i18n.codes for _ in range(40)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        rendered = list(pool.map(lambda code: (code, i18n.render(code, "summary", **SAMPLES["summary"])), jobs))
    assert all(text == expected[code] for code, text in rendered)


def test_an_unknown_language_renders_english(i18n):
    assert i18n.render("xx", "error") == i18n.render("en", "error")


# -- labels (strings.toml) ------------------------------------------------------------------------------


def test_a_counted_label_picks_its_plural_form_with_the_rules_of_the_language_that_has_it(i18n, tmp_path):
    assert [i18n.string("en", "slack.pipeline_line", count=n) for n in (1, 2)] == ["1 deal", "2 deals"]
    assert i18n.string("cs", "slack.pipeline_line", count=3) == "3 deals"  # English's table, English's rule
    with as_file(LOCALES_DIR) as locales:
        copytree(locales, tmp_path / "locales")
    czech = tmp_path / "locales" / "cs" / "strings.toml"
    czech.write_text(czech.read_text(encoding="utf-8") + '\n[slack]\npipeline_line = { one = "{count} obchod", '
                     'few = "{count} obchody", many = "{count} obchodu", other = "{count} obchodů" }\n', encoding="utf-8")
    own = I18n(root=tmp_path / "locales")
    assert [own.string("cs", "slack.pipeline_line", count=n) for n in (1, 2, 5)] == ["1 obchod", "2 obchody", "5 obchodů"]


def test_every_plural_label_has_the_forms_its_language_counts_with(i18n):
    def tables(node):
        for value in node.values():
            if isinstance(value, dict):
                yield from [value] if value.keys() <= PLURAL_CATEGORIES else tables(value)
    found = 0
    for code, language in i18n.languages.items():
        counted = {language.babel.plural_form(n) for n in range(0, 201)}  # the forms whole counts take
        for table in tables(language.strings):
            found += 1
            assert counted <= set(table) <= language.babel.plural_form.tags | {"other"}, (code, table)
    assert found


# -- the words that were English-only in code -----------------------------------------------------------


EXPECTED_NEW_CUSTOMER = {
    "en": ("Jan Novák", "Acme", ["jan@acme.cz"]), "cs": ("Jan Novák", "Acme", ["jan@acme.cz"]),
    "sl": ("Luka Horvat", "Horvat d.o.o.", ["luka@horvat.si"]), "zh": ("陈明", "广州明达", ["chenming@mingda.cn"]),
    "cy": ("Rhys Evans", "Evans Hire", ["rhys@evanshire.co.uk"]), "az": ("Orxan Hüseynov", "Hüseynov Group", ["orxan@huseynov.az"]),
}


@pytest.mark.parametrize("code", list(EXPECTED_NEW_CUSTOMER))
def test_the_new_customer_example_of_each_help_text_adds_that_customer(i18n, code):
    example = i18n.language(code).translations.gettext('"new customer Jan Novák from Acme, jan@acme.cz"').strip('"„“»«”')
    intent = Parser(i18n).parse(example, code, T0)
    assert (intent.name, intent.locale) == ("add_customer", code)
    name, company, emails, phones = split_contact(intent.slots["text"], i18n.language(intent.locale))
    assert (name, company, emails) == EXPECTED_NEW_CUSTOMER[code] and phones == []


def test_notify_off_is_understood_in_every_language(i18n):
    assert i18n.words("notify.off") >= {"off", "vypnout", "izklopi", "关闭", "diffodd", "söndür"}


# -- packaging ------------------------------------------------------------------------------------------


def test_the_wheel_ships_every_template_and_catalog():
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]["crmbot"]
    package = ROOT / "crmbot"
    files = [p.relative_to(package).as_posix() for folder in ("templates", "locales") for p in (package / folder).rglob("*") if p.is_file()]
    assert any(f.endswith(".po") for f in files) and any(f.endswith(".j2") for f in files)
    assert [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)] == []
