"""A routing rule read from a sentence: "new leads from the web go to Bob", "complaints about
invoices go to Carol", "spread new leads between Bob and Dana".

The words are data in each locale (`[routing]` and the `route_*` patterns of `language.toml`);
the members are the team's, found by name. What a value after "from" is (a lead source, a
country, a company) is read from what the team's records hold; when it could be more than one,
the reading says so and the handler asks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from babel import Locale

from crmbot.i18n import Language
from crmbot.store import models
from crmbot.store.routes import same_word
from crmbot.intents.phrase_match import whole_phrase
from crmbot.text import CJK, fold, has_cjk, words

MAX_ENDING = 3  # a member's name said with a case ending: "Bobovi", "Bobu", "Boba"
VOWELS = "aeiouy"


@dataclass
class RuleSaid:
    entity: str = "customer"  # what it routes: new customers, or complaints
    conditions: list[tuple[str, str]] = field(default_factory=list)
    assignees: list[models.Member] = field(default_factory=list)
    round_robin: bool = False
    # a value whose field is not clear ("from Acme": the source, or the company?) and the
    # fields it could be, for the member to choose
    unclear: tuple[str, tuple[str, ...]] | None = None


def _listed(language: Language, key: str) -> list[str]:
    return [fold(w) for w in language.data.get("routing", {}).get(key, [])]


def _said(folded: str, phrase: str) -> re.Match | None:
    """A phrase as whole words; in Chinese, where words touch, as a substring."""
    return whole_phrase(phrase).search(folded)


def _any_said(folded: str, phrases: list[str]) -> bool:
    return any(_said(folded, p) for p in phrases)


def _captured(language: Language, key: str, folded: str) -> list[tuple[int, str]]:
    found = []
    for pattern in language.compiled.get(key, []):
        for match in pattern.finditer(folded):
            value = (match.group("value") or "").strip(" \t,.;:!?\"'“”„")
            if value:
                found.append((match.start("value"), value))
    return found


def _without_ending(language: Language, value: str) -> str:
    """"fakturalarla" -> "faktura": the case and plural endings `[routing] endings` lists,
    longest first, while enough of the word is left."""
    for ending in sorted(_listed(language, "endings"), key=len, reverse=True):
        if value.endswith(ending) and len(value) - len(ending) >= 4:
            return value[: len(value) - len(ending)]
    return value


def _names_member(token: str, member: models.Member) -> bool:
    """A word that is a member's first name, perhaps with a short case ending: "bobovi", and
    for a name ending in a vowel, that vowel changed: "danu", "alici"."""
    name = fold(member.name)
    first = (words(name) or [name])[0]
    if token in (name, first):
        return True
    if len(first) < 3 or has_cjk(first):
        return False
    stem = first[:-1] if first[-1] in VOWELS and len(first) >= 4 else first
    return token.startswith(stem) and len(token) - len(stem) <= MAX_ENDING


def members_named(folded: str, members: list[models.Member]) -> list[models.Member]:
    """The active members the text names, in the order it names them: by full name, first name,
    or first name with a short case ending ("Bobovi", "Danu")."""
    tokens = [(m.start(), m.group(0)) for m in re.finditer(rf"[^\W\d_{CJK}]+|[{CJK}]+", folded)]
    found: list[tuple[int, models.Member]] = []
    for member in members:
        if not member.active:
            continue
        name = fold(member.name)
        first = (words(name) or [name])[0]
        where = _said(folded, name)
        if where is None and has_cjk(name):
            where = re.search(re.escape(name), folded)
        at = where.start() if where else None
        if at is None and len(first) >= 3 and not has_cjk(first):
            at = next((start for start, token in tokens if _names_member(token, member)), None)
        if at is not None:
            found.append((at, member))
    return [member for _, member in sorted(found, key=lambda pair: pair[0])]


def _same(name: str, value: str) -> bool:
    """A name and a value said in a sentence are the same: equal, the same word with another
    ending, or (Chinese, written without spaces) the name inside the value."""
    if has_cjk(name):
        return name in value
    return name == value or (" " not in name and same_word(name, value))


@lru_cache(maxsize=16)
def _countries(locale_name: str, articles: tuple[str, ...]) -> dict[str, str]:
    """Folded country name (in this language and in English, with and without a leading
    article: "yr almaen", "almaen") -> ISO code."""
    names: dict[str, str] = {}
    for locale in (Locale.parse("en"), Locale.parse(locale_name)):
        for territory, name in locale.territories.items():
            if len(territory) == 2 and territory.isalpha():
                names[fold(name)] = territory
                first, _, rest = fold(name).partition(" ")
                if rest and first in articles:
                    names[rest] = territory
    return names


def country_in(language: Language, value: str) -> str | None:
    """The ISO code of the country a value names ("Germany", "Německa", "德国", "CZ")."""
    if len(value) == 2 and value.isalpha() and value.upper() in Locale.parse("en").territories:
        return value.upper()
    names = _countries(str(language.babel), tuple(_listed(language, "articles")))
    if value in names:
        return names[value]
    return next((code for name, code in names.items() if _same(name, value)), None)


def source_in(language: Language, english: Language, value: str, known: list[str]) -> str | None:
    """The lead source a value names, spelled as the team's records spell it: one of `known`,
    or the English name `[routing.sources]` gives it ("z webu" -> "web")."""
    for record in known:
        if _same(fold(record), value):
            return record
    for table in (language, english):
        for name, said in table.data.get("routing", {}).get("sources", {}).items():
            if any(_same(fold(s), value) for s in said):
                return next((r for r in known if fold(r) == fold(name)), name)
    return None


def company_in(value: str, known: list[str]) -> str | None:
    """The company a value names, as the records write it ("acme" -> "Acme s.r.o.")."""
    return next((c for c in known if fold(c) == value or (" " not in value and fold(c).split()[:1] == [value])), None)


def as_typed(text: str, value: str) -> str:
    """The words of `text` that fold to `value` ("contoso" -> "Contoso"), or `value` itself."""
    typed = words(text)
    folded = [fold(w) for w in typed]
    wanted = value.split()
    for start in range(len(typed) - len(wanted) + 1):
        if folded[start:start + len(wanted)] == wanted:
            return " ".join(typed[start:start + len(wanted)])
    return value


def read(language: Language, english: Language, text: str, members: list[models.Member],
         sources: list[str], companies: list[str]) -> RuleSaid:
    folded = fold(text)
    rule = RuleSaid(assignees=members_named(folded, members))

    def a_member(value: str) -> bool:  # "... go to Bob": Bob is who, not what
        return any(_names_member(value, m) for m in rule.assignees)

    if _any_said(folded, _listed(language, "complaints")):
        rule.entity = "complaint"
    elif _any_said(folded, _listed(language, "leads")):
        rule.conditions.append(("status", "lead"))
    rule.round_robin = len(rule.assignees) > 1 or _any_said(folded, _listed(language, "in_turn"))
    if rule.entity == "complaint":  # what a complaint is about: a word in it, or its product
        for _, value in sorted(_captured(language, "route_about", folded)):
            if not a_member(value):
                rule.conditions.append(("text", _without_ending(language, value)))
                break
        for _, value in sorted(_captured(language, "route_product", folded)):
            rule.conditions.append(("product", value))
            break
    for _, value in sorted(_captured(language, "route_from", folded)):
        value = _without_ending(language, value)
        articles = _listed(language, "articles")
        first, _, rest = value.partition(" ")
        if rest and first in articles:
            value = rest
        if a_member(value):
            continue
        country = country_in(language, value)
        source = source_in(language, english, value, sources)
        company = company_in(value, companies)
        readings = [(f, v) for f, v in (("source", source), ("country", country), ("company", company)) if v]
        if len(readings) == 1:
            rule.conditions.append(readings[0])
        else:  # nothing the records know, or several: the member says which
            rule.unclear = (as_typed(text, value), tuple(f for f, _ in readings) or ("source", "company"))
        break
    return rule
