"""What a complaint, a note, a call or a reminder keeps: what the person said, without the
command words around it ("complaint from lucie cerna:", "remind me to", "stížnost od", "提醒我")
and without the customer's name and the date words when they were only the command's
arguments ("remind me on Friday to send Lucie the proofs" keeps "send Lucie the proofs").

The words come from the locale's `[notes]` table and the intent's own vocabulary
(`[intents.<intent>]`):
- `lead`: framing words that may open the command ("me", "from", "pan", "我");
- `then`: words after which what was said begins ("to", "that", "že", "abych"): once one is
  passed, nothing more is taken away at the start;
- `polite`: courtesy at either end ("please", "thanks", "děkuji", "谢谢").

Only the start and the end of the message are trimmed; what lies between is kept as typed.
A name is taken away at the start only when the command goes on after it ("Lucie Černá si
stěžuje, že …", "complaint from lucie cerna: …"), not when it is the object of what was said
("Aysel xanıma zəng etməyi xatırlat" keeps "Aysel xanıma zəng etməyi").
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache

from typing import TYPE_CHECKING

from crmbot.i18n import Language
from crmbot.intents import dates
from crmbot.text import fold, fold_map, has_cjk

if TYPE_CHECKING:
    from crmbot.intents.context import Context
    from crmbot.intents.parse import Intent
    from crmbot.store import models

# intents whose text is stored as what was said
# (a call keeps the whole message: its story and the follow-up it asks for are read from it)
NOTED = frozenset({"complaint", "resolve_complaint", "add_note", "remind"})
_SEPARATORS = ":,;-–—=>→|/•*()[]\"'“”„‘’.!?。，：；！？、…"


def _alternation(phrases: set[str]) -> re.Pattern | None:
    parts = []
    for phrase in sorted(phrases, key=len, reverse=True):
        if not phrase:
            continue
        parts.append(re.escape(phrase) + ("" if has_cjk(phrase[-1]) else r"(?!\w)"))
    return re.compile("|".join(parts)) if parts else None


@lru_cache(maxsize=64)  # Language is hashed by identity
def _words(language: Language, intent: str) -> tuple[re.Pattern | None, re.Pattern | None, re.Pattern | None]:
    """(command words: the intent's vocabulary, `lead` and `polite`; `then`; `polite`)."""
    table = language.data.get("notes", {})
    own = {fold(k) for k in language.data.get("intents", {}).get(intent, {})}
    lead = {fold(w) for w in table.get("lead", [])}
    polite = {fold(w) for w in table.get("polite", [])}
    then = {fold(w) for w in table.get("then", [])}
    # at the end only courtesy, and a reminder's own word ("Bir gün əvvəl xatırlat"): a call's or
    # a complaint's words at the end are what was said ("the printer is broken")
    closing = own | polite if intent == "remind" else polite
    return _alternation(own | lead | polite), _alternation(then), _alternation(closing)


def _skip_separators(folded: str, pos: int) -> tuple[int, bool]:
    """The position after spaces and punctuation, and whether punctuation was passed."""
    passed = False
    while pos < len(folded) and (folded[pos].isspace() or folded[pos] in _SEPARATORS):
        passed = passed or not folded[pos].isspace()
        pos += 1
    return pos, passed


def _same_name(token: str, name: str) -> bool:
    """"novakovi" is Novák, "cerne" Černá, "lucii" Lucie: a case form shares all of the name
    but its last letters (names of four letters or more)."""
    if len(name) < 4 or len(token) < 3 or has_cjk(name):
        return False
    shared = 0
    for a, b in zip(token, name):
        if a != b:
            break
        shared += 1
    return shared >= max(3, len(name) - 2)


def _mention_at(folded: str, pos: int, names: tuple[str, ...], endings: tuple[tuple[str, str], ...]) -> int | None:
    """The end of the customer's name (its words, in any case form) written at `pos`."""
    end = None
    while True:
        for name in names:
            if has_cjk(name) and folded.startswith(name, pos):
                end = pos = pos + len(name)
                break
        else:
            word = re.match(r"[^\W_]+", folded[pos:])
            if word is None or has_cjk(word.group(0)):
                return end
            token = word.group(0)
            stems = {token, *(token[: len(token) - len(e)] + b for e, b in endings if token.endswith(e))}
            if not stems & set(names) and not any(_same_name(token, n) for n in names):
                return end
            end = pos + len(token)
            nxt = re.match(r" ", folded[end:])
            pos = end + (1 if nxt else 0)


def stored(ctx: Context, intent: Intent, customer: models.Customer | None) -> str:
    """The text a handler keeps for `intent` about `customer` (None: no customer named)."""
    text = intent.slots.get("text", "")
    names: list[str] = []
    if customer is not None:
        for part in (customer.name, customer.company or ""):
            for word in fold(part).split():
                names.append(word)
                if has_cjk(word) and 2 <= len(word) <= 3:
                    names.append(word[0])  # "张总", "王女士": the family name with a title
    language = ctx.i18n.language(intent.locale if intent.locale in ctx.i18n.codes else ctx.locale)
    english = ctx.i18n.language("en") if "en" in ctx.i18n.codes else language
    return clean(text, language, intent.name, " ".join(names), ctx.now, ctx.tz, fallback=english)


def clean(text: str, language: Language, intent: str, mention: str, now: datetime, tz: str,
          fallback: Language | None = None) -> str:
    """What `text` keeps of what was said, once the command words around it are gone."""
    mapped = fold_map(text)
    if mapped is None or intent not in NOTED:
        return text.strip()
    folded, where = mapped
    command, then, closing = _words(language, intent)
    found = dates.extract(language, folded, now, tz, fallback=fallback)
    spans = list(found.spans)
    _, delay = dates.duration(language, folded, spans)
    if delay is not None:
        spans.append(delay)
    names = tuple(t for t in mention.split() if t)
    endings = tuple(sorted(((fold(k), fold(v)) for k, v in language.data.get("name_endings", {}).items()),
                           key=lambda kv: -len(kv[0])))

    start, _ = _skip_separators(folded, 0)
    name_taken = False
    while start < len(folded):
        span = next((e for s, e in spans if s == start), None)
        if span is not None:
            start, _ = _skip_separators(folded, span)
            continue
        joined = then.match(folded, start) if then else None
        if joined:
            start, _ = _skip_separators(folded, joined.end())
            break  # what was said begins here
        word = command.match(folded, start) if command else None
        if word:
            start, _ = _skip_separators(folded, word.end())
            continue
        named = _mention_at(folded, start, names, endings) if names and not name_taken else None
        if named is not None:
            # the name once, and only when the command goes on after it
            after, passed = _skip_separators(folded, named)
            goes_on = after < len(folded) and (passed or (command and command.match(folded, after))
                                               or (then and then.match(folded, after)) or any(s == after for s, _ in spans))
            if goes_on:
                start, name_taken = after, True
                continue
        break

    rest = _mention_at(folded, start, names, endings) if names else None
    if rest is not None and _skip_separators(folded, rest)[0] >= len(folded):
        return text.strip()  # nothing but the command and the name: keep the message as it was
    end = len(folded)
    closed = False
    while end > start:
        trimmed = end
        while trimmed > start and (folded[trimmed - 1].isspace() or folded[trimmed - 1] in _SEPARATORS):
            trimmed -= 1
        span = next((s for s, e in spans if e == trimmed and s > start), None)
        if span is None and closing is not None and not closed:
            tail = next((m for m in closing.finditer(folded, start, trimmed) if m.end() == trimmed and m.start() > start
                         and (not folded[m.start() - 1].isalnum() or has_cjk(folded[m.start()]))), None)
            span = tail.start() if tail else None
            closed = tail is not None  # one command word at the end: "xatırlat", not what came before it
        if span is None or span == end:
            end = trimmed
            break
        end = span
    if end <= start:
        return text.strip()  # nothing but the command: keep the message as it was
    kept = text[where[start]: where[end - 1] + 1].strip()
    return kept.strip(_SEPARATORS + " ") or text.strip()
