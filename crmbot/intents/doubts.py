"""Never a silent wrong guess: whether a message that would change data is clear enough to act on.

The parser reads a message two ways (the phrase tables' rules, the learned classifier) and
`parse.combine` picks a reading. This module looks at that reading once more, before anything
is done, and turns a doubtful one into a question (the likely readings as buttons, plus
"cancel"):

- a reading that changes data and that neither the rules nor the classifier bear out well
  enough (`CLEAR`: how likely the classifier must find it, by whether the rules read the same,
  nothing, or something else);
- a reading that takes something back or wipes it out at once (undo, delete a deal)
  said only with a weak word ("nazaj" is "back" as in "called back", "geri al" is "take back");
- a new customer with no new-customer words and no contact details ("Kovacic Solar contact");
- an amount whose currency the message leaves open ("40k, chf or eur?", "币种还没确定");
- a day far off ("12/15/2115"; "11月20号" read as next November), kept as `due_odd`.

The thresholds were picked on the blind corpora's tuning halves, read held-out
(bench/intent_cv.py): each fold by a classifier trained without it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from crmbot.i18n import Language
from crmbot.intents.classifier import Reading
from crmbot.intents.phrase_match import whole_phrase
from crmbot.text import contact_in, fold, has_cjk

# intents that take something back or wipe it out at once: they stand on a strong phrase, or a
# sure classifier (forgetting a person and merging two ask for a confirming press of their own)
SWEEPING = frozenset({"undo", "delete_deal"})
STRONG = 5.0  # a sweeping intent's phrase of at least this weight says it outright ("undo", "delete the deal")
SURE = 0.9  # ... or the classifier finds it at least this likely
BACKED = 0.6  # ... or both: a strong phrase, and the classifier finds it at least this likely
OPENS = 4.0  # a new customer's own phrase ("new customer", "nový kontakt"), as parse.OPENS
# how likely the classifier must find a data-changing reading to act on it: when the rules read
# the same intent, when they read none, when they read another
CLEAR = {"agree": 0.5, "alone": 0.7, "other": 0.75}
AGREED_LEAD = 2.0  # the rules' own reading, this far ahead of the next, stands when the classifier reads it first too
OVERRULED = 4.0  # the rules' reading leads by this much: the classifier's other reading is asked about
QUESTION = re.compile(r"[?？]\s*$")  # a message that asks ("how do I add a customer?") changes nothing unless sure
ASKED_SURE = 0.95
OFFERED = 0.1  # the classifier's other readings at least this likely are offered as buttons
MAX_OPTIONS = 3  # readings offered (plus cancel)
FAR_OFF = timedelta(days=300)  # a day further than this is more likely a slip than a plan


def review(name: str, alternatives: tuple[str, ...], *, rule: str, lead: float, reading: Reading | None, said: float,
           text: str, region: str | None) -> tuple[str, tuple[str, ...]]:
    """(intent, alternatives) once more: alternatives (ending in "cancel") when crmbot should ask."""
    from crmbot.intents.parse import HARMLESS  # parse reads through this module

    if alternatives or name in HARMLESS or text.startswith("/"):
        return name, alternatives
    known = reading is not None and reading.knows(name)
    p = reading.probability(name) if known else None
    if name in SWEEPING:
        clear = said >= STRONG if p is None else (p >= SURE or (said >= STRONG and p >= BACKED))
    elif name == "add_customer":
        clear = said >= OPENS or bool(contact_in(text, region))
    elif p is None:
        clear = True  # the classifier was never taught this intent: the rules' reading stands
    else:
        clear = p >= CLEAR["agree" if rule == name else "alone" if rule == "unknown" else "other"]
        if rule == name == reading.best and lead >= AGREED_LEAD:
            clear = True  # the rules read it outright ("tag eva as vip"): a less sure classifier does not undo that
        if rule not in (name, "unknown") and lead >= OVERRULED:
            clear = False  # the rules read another intent outright: the classifier alone does not overrule them
        if QUESTION.search(text) and p < ASKED_SURE:
            clear = False
    if clear:
        return name, alternatives
    return name, options(name, rule, reading)


def options(name: str, rule: str, reading: Reading | None) -> tuple[str, ...]:
    """The alternatives to `name` worth a button, most likely first, then "cancel"."""
    likely = [n for n, p in (reading.ranked if reading is not None else ()) if p >= OFFERED]
    kept = [n for n in dict.fromkeys([name, *likely[:MAX_OPTIONS], rule]) if n not in ("unknown", "cancel")]
    return (*kept[1:MAX_OPTIONS], "cancel")


def currencies_named(language: Language, others: tuple[Language, ...], folded: str) -> list[str]:
    """The currencies a message names, each once, in the order named ("chf or eur" -> CHF, EUR;
    "欧元还是人民币" -> EUR, CNY). A word inside a longer currency word is not named again:
    "美元" is dollars, not also "元"."""
    table: dict[str, str] = {}
    for lang in (*reversed(others), language):
        table |= {fold(k): v for k, v in lang.data.get("currencies", {}).items()}
    found: list[tuple[int, int, str]] = []
    for word in sorted(table, key=len, reverse=True):
        # a Chinese word has no spaces around it
        pattern = re.escape(word) if has_cjk(word) else rf"(?<![^\W\d_]){re.escape(word)}(?![^\W\d_])"
        for match in re.finditer(pattern, folded):
            if not any(s < match.end() and match.start() < e for s, e, _ in found):
                found.append((match.start(), match.end(), table[word]))
    return list(dict.fromkeys(code for _, _, code in sorted(found)))


def currency_doubt(language: Language, others: tuple[Language, ...], folded: str, slots: dict[str, Any]) -> None:
    """An amount whose currency the message leaves open: two currencies named ("40k, chf or
    eur"), or none and the word for currency itself ("币种还没确定", "měna zatím nejistá").
    The currencies to choose from are kept in `currency_unclear` (empty: the team's and the
    member's are offered)."""
    if slots.get("amount") is None:
        return
    named = currencies_named(language, others, folded)
    if len(named) >= 2:
        slots["currency_unclear"] = named
        slots.pop("currency", None)
    elif not named and any(whole_phrase(fold(w)).search(folded) for w in language.data.get("currency_words", {}).get("words", [])):
        slots["currency_unclear"] = []


def due_doubt(slots: dict[str, Any], now: datetime) -> None:
    """A day far off ("12/15/2115", or a day just past read as next year's): asked about."""
    due = slots.get("due")
    if due is not None and due - now > FAR_OFF:
        slots["due_unclear"] = True
        slots["due_odd"] = slots.pop("due")
        slots.pop("due_in_past", None)


def asks(slots: dict[str, Any], alternatives: tuple[str, ...]) -> bool:
    """Whether crmbot asks back instead of acting on this reading."""
    return bool(alternatives) or bool(slots.get("due_unclear")) or "currency_unclear" in slots


# what a whole message may be made of to be only an answer: "cancel", "zrušit", "取消", "ok 👍"
SHORT_ANSWERS = ("cancel", "ack")
_PIECES = re.compile(r"[^\w\s]|\w+(?:\s+\w+)*", re.UNICODE)


def short_phrases(tables: list[dict[str, Any]]) -> tuple[tuple[str, tuple[re.Pattern, ...]], ...]:
    """Each short answer's phrases in all our languages, longest first, as `short_answer` matches
    them; built once per parser (`tables` are the languages' `[intents]` tables)."""
    out = []
    for intent in SHORT_ANSWERS:
        phrases = sorted({fold(p) for table in tables for p in table.get(intent, {})}, key=len, reverse=True)
        out.append((intent, tuple(re.compile(re.escape(phrase)) if not phrase.isascii() or not phrase[:1].isalnum()
                                  else whole_phrase(phrase) for phrase in phrases)))
    return tuple(out)


def short_answer(phrases: tuple[tuple[str, tuple[re.Pattern, ...]], ...], text: str) -> str | None:
    """"cancel", "never mind", "zrušit", "取消" (cancel) and "ok", "thanks", "👍" (ack), in any
    of our languages, whatever the member's: the intent when the whole message is made only of
    such words (and punctuation), else None. `phrases`: from `short_phrases`."""
    folded = fold(text).strip()
    if not folded or len(folded) > 40:
        return None
    for intent, patterns in phrases:
        rest = folded
        for pattern in patterns:
            rest = pattern.sub(" ", rest)
        if rest != folded and not re.sub(r"[\s!.,…。！，~]+", "", rest):
            return intent
    return None
