"""Facts about a customer said in a message: a contact detail that changes ("change eva's phone to
+420 777 999 888", "eva new email eva@new.cz"), a status ("eva is a customer now"), the channel
they prefer, and the personal profile: a birthday or anniversary, family, a hobby, a membership
("petr's birthday is 12 March", "jan's wife is Marie", "eva plays golf").

All phrasing is data: each language's `[facts]` table lists the words that name fields,
statuses, channels, family relations and occasions, and `[facts.patterns]` the regular
expressions (over folded text) that say a fact. A pattern may use placeholders for those word
lists: `{field}`, `{status}`, `{channel}`, `{relation}`. Values keep the case and accents they
were typed with: the folded match is mapped back to the message as written.

A fact is said strongly ("change … to …", "new email …") or only stated ("her phone is …"): a
stated phone, e-mail or website counts only when the value has that shape, so "his phone is
broken" is no fact; a strongly said one with a bad value is asked about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from crmbot.i18n import Language
from crmbot.intents import days
from crmbot.text import EMAIL, fold, has_cjk

CONTACT_FIELDS = ("phone", "email", "website", "company", "address", "owner")
SHAPED = ("phone", "email", "website")  # fields whose value has a shape to check
PHONE_SHAPE = re.compile(r"(?:\+|00)?\d[\d ()./-]{5,}\d")
WEBSITE_SHAPE = re.compile(r"(?<![@\w.])(?:https?://)?(?:www\.)?[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?:/[^\s,;]*)?(?![@\w])")
PLACEHOLDERS = {"field": "fields", "status": "statuses", "channel": "channels", "relation": "relations"}
MAX_NAME_WORDS = 3  # a family member's name: "Marie", "Marie Anne Nováková"
MAX_VALUE = 300


@dataclass(frozen=True)
class Fact:
    field: str  # a contact field (CONTACT_FIELDS), "status", "channel", or a profile kind
    value: str = ""
    detail: str = ""  # a family member's relation, an anniversary's occasion
    month: int | None = None
    day: int | None = None
    year: int | None = None
    spans: tuple[tuple[int, int], ...] = ()  # what the fact's words took in the folded text
    strong: bool = False  # said as a change: a bad value is asked about, not ignored
    rest: bool = False  # the message says more than the fact
    renewed: bool = False  # said as a new value ("new email …"), not just given ("email: …")

    def slots(self) -> dict[str, Any]:
        """The fact as intent slots (plain values: they survive a button press)."""
        out: dict[str, Any] = {"field": self.field, "value": self.value}
        if self.detail:
            out["detail"] = self.detail
        for key in ("month", "day", "year"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.rest:
            out["rest"] = True
        return out


@dataclass(frozen=True)
class _Table:
    words: dict[str, dict[str, str]]  # placeholder -> folded word -> key
    patterns: dict[str, tuple[re.Pattern, ...]]
    birthday: tuple[str, ...]
    occasions: dict[str, str]  # folded word -> occasion key
    clubs: tuple[str, ...]
    stopwords: frozenset[str] = field(default_factory=frozenset)


def _alternation(words: dict[str, str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) or "(?!)"


@lru_cache(maxsize=16)  # Language is hashed by identity
def table(language: Language) -> _Table:
    data = language.data.get("facts", {})
    words = {placeholder: {fold(w): key for key, ws in data.get(name, {}).items() for w in ws}
             for placeholder, name in PLACEHOLDERS.items()}
    bound = language.data["meta"].get("spaces", True)
    patterns = {}
    # with a change asked for, a field and its value need no word between them ("/edit eva phone +420…")
    sources_by_name = {**data.get("patterns", {}), "bare": [r"{field}\s*[:=]?\s*(?P<value>.+)$"]}
    for name, sources in sources_by_name.items():
        compiled = []
        for source in sources:
            for placeholder, table_words in words.items():
                group = rf"(?P<{placeholder}>{_alternation(table_words)})"
                if bound:
                    group = rf"(?<![^\W\d_]){group}(?![^\W\d_])"
                source = source.replace("{" + placeholder + "}", group)
            compiled.append(re.compile(source))
        patterns[name] = tuple(compiled)
    occasions = {fold(w): key for key, ws in data.get("occasions", {}).items() for w in ws}
    stop = frozenset(fold(w) for w in language.data.get("stopwords", {}).get("words", []))
    return _Table(words, patterns, tuple(fold(w) for w in data.get("birthday", [])), occasions,
                  tuple(fold(w) for w in data.get("clubs", [])), stop)


# -- the message as typed, behind its folded form ------------------------------------------------


def aligned(text: str) -> tuple[str, list[int]]:
    """`text` folded character by character (runs of space as one), with the index in `text`
    each folded character came from: a match in folded text is mapped back to what was typed."""
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
                origin.append(i)
            continue
        for piece in fold(ch) or "":
            out.append(piece)
            origin.append(i)
    return "".join(out), origin


def as_typed(text: str, folded_value: str) -> str:
    """What was typed for a folded piece of the message ("marie" -> "Marie"); the folded piece
    itself when the message does not hold it as such (shorthand was spelled out)."""
    folded, origin = aligned(text)
    at = folded.find(folded_value)
    if at < 0 or not folded_value:
        return folded_value
    return text[origin[at]: origin[at + len(folded_value) - 1] + 1]


# -- reading --------------------------------------------------------------------------------------


def read(language: Language, folded: str, text: str, *, changing: bool = False) -> Fact | None:
    """The fact said in a message: `folded` is the parser's folded text, `text` as typed.
    `changing`: the message asks for a change ("change", "update"), so a merely stated
    field counts as strongly said."""
    words = table(language)
    for reader in (_dated, _family, _status, _channel, _contact, _membership, _hobby):
        found = reader(language, words, folded, text, changing)
        if found is not None:
            return found
    return None


def occasion(language: Language, folded: str) -> tuple[str, str, tuple[int, int]] | None:
    """A birthday or an anniversary named in the text (kind, occasion, where), date or not:
    "remind me of petr's birthday". The longest phrase wins: Welsh "pen-blwydd priodas" is a
    wedding anniversary, though "pen-blwydd" alone is a birthday."""
    words = table(language)
    found: list[tuple[int, str, str, tuple[int, int]]] = []
    for word in words.birthday:
        if said := _has(language, word, folded):
            found.append((len(word), "birthday", "", said.span()))
    for word, key in words.occasions.items():
        if said := _has(language, word, folded):
            found.append((len(word), "anniversary", key, said.span()))
    if not found:
        return None
    _, kind, detail, span = max(found, key=lambda f: f[0])
    return kind, detail, span


def field_named(language: Language, folded: str) -> str | None:
    """The customer field a message names, if any ("change eva's phone": phone)."""
    found = _any_field(language).search(folded)
    return table(language).words["field"][found.group(0)] if found else None


@lru_cache(maxsize=16)  # Language is hashed by identity
def _any_field(language: Language) -> re.Pattern:
    """Every field word in one pattern, longest first: asked of every message."""
    words = _alternation(table(language).words["field"])
    if not language.data["meta"].get("spaces", True):
        return re.compile(words)
    return re.compile(rf"(?<![^\W\d_])(?:{words})(?![^\W\d_])")


def _has(language: Language, word: str, folded: str) -> re.Match | None:
    return _word_pattern(word, has_cjk(word) or not language.data["meta"].get("spaces", True)).search(folded)


@lru_cache(maxsize=4096)
def _word_pattern(word: str, unspaced: bool) -> re.Pattern:
    """A word or phrase as a whole word; in unspaced writing, as it stands."""
    return re.compile(re.escape(word) if unspaced else rf"(?<![^\W\d_]){re.escape(word)}(?![^\W\d_])")


def _dated(language: Language, words: _Table, folded: str, text: str, changing: bool) -> Fact | None:
    named = occasion(language, folded)
    if named is None:
        return None
    kind, detail, said = named
    day = days.read(language, folded)
    if day is None:
        return Fact(kind, detail=detail, spans=(said,), strong=changing)
    return Fact(kind, detail=detail, month=day.month, day=day.day, year=day.year, spans=(said, day.span), strong=True)


def _first(patterns: tuple[re.Pattern, ...], folded: str) -> re.Match | None:
    found = [m for p in patterns if (m := p.search(folded))]
    return min(found, key=lambda m: m.start()) if found else None


def _taken(match: re.Match) -> tuple[tuple[int, int], ...]:
    """The words a fact took: its whole match, but for who it is about (a `who` group)."""
    start, end = match.span()
    if match.groupdict().get("who"):
        ws, we = match.span("who")
        return tuple(s for s in ((start, ws), (we, end)) if s[1] > s[0])
    return ((start, end),)


def _rest(words: _Table, folded: str, match: re.Match) -> tuple[tuple[int, int], ...]:
    """What follows a fact said after the customer's name ("eva plays golf, invite her to the
    tournament"): not part of the name, so it is no part of the mention either."""
    before = any(t not in words.stopwords for t in re.findall(r"[^\W_]+", folded[: match.start()]))
    return ((match.end(), len(folded)),) if before and _said_more(words, folded, match.end()) else ()


def _said_more(words: _Table, folded: str, end: int) -> bool:
    """Whether more than punctuation and little words follows the fact ("eva plays golf, invite
    her to the tournament" says more: it is kept as a note too)."""
    return any(t not in words.stopwords for t in re.findall(r"[^\W_]+", folded[end:]))


def _value(folded: str, match: re.Match, text: str) -> str:
    raw = match.group("value").strip()
    raw = re.sub(r"[\s,.;:!?。，；！？]+$", "", raw)
    return as_typed(text, raw).strip()[:MAX_VALUE]


def _family(language: Language, words: _Table, folded: str, text: str, changing: bool) -> Fact | None:
    match = _first(words.patterns.get("family", ()), folded)
    if match is None:
        return None
    relation = words.words["relation"][match.group("relation")]
    name_words = []
    for token in re.findall(r"[^\s,.;:!?]+", match.group("value")):
        if token in words.stopwords or len(name_words) == MAX_NAME_WORDS:
            break
        name_words.append(token)
    if not name_words:
        return None
    folded_name = " ".join(name_words)
    name = as_typed(text, folded_name)
    # a name is written with a capital (where the script has them), unless it is said to be one
    if not match.groupdict().get("named") and name[:1].isalpha() and not name[:1].isupper() and not has_cjk(name):
        return None
    start = match.start()
    name_end = match.start("value") + match.group("value").find(name_words[0]) + len(folded_name)
    # what the pattern read after the name is no more than the name ("Elçindir": a copula)
    end = match.end() if not _said_more(words, folded[: match.end()], name_end) else name_end
    who = match.groupdict().get("who")  # "manželka Dvořáka je Marie": Dvořák is who it is about
    spans = ((start, match.start("who")), (match.end("who"), end)) if who else ((start, end),)
    more = _said_more(words, folded, end)
    before = any(t not in words.stopwords for t in re.findall(r"[^\W_]+", folded[:start]))
    rest = ((end, len(folded)),) if more and (before or who) else ()
    return Fact("family", value=name[:MAX_VALUE], detail=relation, spans=spans + rest, strong=True, rest=more)


def _status(language: Language, words: _Table, folded: str, text: str, changing: bool) -> Fact | None:
    match = _first(words.patterns.get("status", ()), folded)
    if match is None:
        return None
    return Fact("status", value=words.words["status"][match.group("status")], spans=_taken(match) + _rest(words, folded, match), strong=True,
                rest=_said_more(words, folded, match.end()))


def _channel(language: Language, words: _Table, folded: str, text: str, changing: bool) -> Fact | None:
    match = _first(words.patterns.get("channel", ()), folded)
    if match is None:
        return None
    return Fact("channel", value=words.words["channel"][match.group("channel")], spans=_taken(match) + _rest(words, folded, match), strong=True,
                rest=_said_more(words, folded, match.end()))


def _contact(language: Language, words: _Table, folded: str, text: str, changing: bool) -> Fact | None:
    for name, strong in (("renewed", True), ("change", True), ("stated", changing), ("bare", True)):
        if name == "bare" and not changing:
            continue
        match = _first(words.patterns.get(name, ()), folded)
        if match is None:
            continue
        key = words.words["field"][match.group("field")]
        value = _value(folded, match, text)
        if key in SHAPED:
            # "telefon na Petra" asks for a number; only a change asked for outright ("change eva's
            # phone to 12", "new email eva.cz") has its bad value asked about
            shaped = _shape(key, value)
            if shaped is None and not (changing or (name == "renewed" and _attempt(key, value))):
                continue
            value = shaped or value
        elif not value or (not strong and not _looks_like_a_name(key, value)):
            continue
        return Fact(key, value=value, spans=_taken(match), strong=strong, renewed=name == "renewed")
    return None


def _shape(key: str, value: str) -> str | None:
    """The phone number, e-mail address or web address in a value, as typed; None when it has none."""
    if key == "email":
        found = EMAIL.search(value)
    elif key == "phone":
        found = PHONE_SHAPE.search(value)
    else:
        found = None if EMAIL.search(value) else WEBSITE_SHAPE.search(value)
    return found.group(0).strip() if found else None


def _attempt(key: str, value: str) -> bool:
    """Whether a value said to be new is meant as one, though it has not the shape ("new email
    eva.new.cz", "new number 777 12"): not a story ("new website for Svoboda launched")."""
    first = value.split()[0] if value.split() else ""
    if key == "phone":
        return len(re.sub(r"\D", "", value)) >= 4
    return "@" in first or "." in first.strip(".")


def _looks_like_a_name(key: str, value: str) -> bool:
    """A merely stated company or address is kept only when it reads as one: capitalised (in a
    script with capitals), or with a house number; "her company is doing well" is no company."""
    first = value[:1]
    if not first:
        return False
    if key == "address" and re.search(r"\d", value):
        return True
    return first.isalnum() and not first.islower()


def _membership(language: Language, words: _Table, folded: str, text: str, changing: bool) -> Fact | None:
    for name, needs_club in (("membership", False), ("membership_club", True)):
        match = _first(words.patterns.get(name, ()), folded)
        if match is None:
            continue
        value = match.group("value").strip()
        if needs_club and not any(_has(language, club, value) for club in words.clubs):
            continue
        typed = _value(folded, match, text)
        if not typed:
            continue
        return Fact("membership", value=typed, spans=_taken(match) + _rest(words, folded, match), strong=True, rest=_said_more(words, folded, match.end()))
    return None


def _hobby(language: Language, words: _Table, folded: str, text: str, changing: bool) -> Fact | None:
    match = _first(words.patterns.get("hobby", ()), folded)
    if match is None:
        return None
    typed = _value(folded, match, text)
    if not typed:
        return None
    return Fact("hobby", value=typed, spans=_taken(match) + _rest(words, folded, match), strong=True, rest=_said_more(words, folded, match.end()))
