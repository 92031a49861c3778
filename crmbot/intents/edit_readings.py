"""When a message changes what is held — a customer's details or profile, a deal — rather than
what its first reading says.

The classifier was never taught edits, and edit words ("change", "update") are everywhere in
sales talk. So an edit reading stands only on what the message itself holds (the language's
`[edits]` words and `crmbot.intents.facts`):

- a deal word and a delete word: the deal is deleted ("delete deal kvetiny petra");
- a deal word and a change of it ("change the acme deal to 60k", "acme deal closes end of
  january", "close the cyberdyne deal"), where no stage is named and no new deal opened;
- a customer fact with its value ("change eva's phone to …", "eva new email …", "petr's birthday
  is 12 March"): kept in its field, as an edit when a change is asked for, else as a note about
  the customer (what the schema calls a fact to keep) — never read as a look-up or a new customer;
- "change eva's phone" names a field without its value: the edit asks for it.

Anything else read as an edit is read again without the edit words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from crmbot.i18n import Language
from crmbot.intents import facts
from crmbot.text import fold, has_cjk

EDITS = frozenset({"edit_customer", "edit_deal", "delete_deal"})
# readings a customer fact said with its value stands in for: none of them keeps anything else
FACT_READINGS = frozenset({"unknown", "find_customer", "add_customer", "add_note", "edit_customer"})
# readings a change of a deal stands in for
DEAL_READINGS = frozenset({"new_deal", "move_deal", "unknown", "find_customer", "add_note", *EDITS})
SHORT = 5  # words: "update jan novak's phone number"
NEVER = frozenset({"undo", "cancel", "help"})
FACT_INTENTS = frozenset({"edit_customer", "add_note"})  # the intents a customer fact is kept by  # what a message asks first, whatever else it holds


@dataclass(frozen=True)
class Evidence:
    fact: facts.Fact | None
    field_named: bool  # a customer field is named ("change eva's phone")
    change: bool  # a change is asked for
    deal: bool
    delete: bool
    close: bool  # close it now: won or lost is asked
    closes: bool  # when it is expected to close
    rename: bool
    words: int  # how many words the message has

    @property
    def said(self) -> bool:
        """Whether the message holds anything an edit could stand on (most hold nothing)."""
        return self.fact is not None or self.field_named or self.deal or self.closes

@lru_cache(maxsize=16)  # Language is hashed by identity
def _words(language: Language, key: str) -> re.Pattern | None:
    listed = [fold(w) for w in language.data.get("edits", {}).get(key, [])]
    if not listed:
        return None
    spaced = language.data["meta"].get("spaces", True)
    parts = []
    for word in sorted(listed, key=len, reverse=True):
        parts.append(re.escape(word) if (has_cjk(word) or not spaced) else rf"(?<![^\W\d_]){re.escape(word)}(?![^\W\d_])")
    return re.compile("|".join(parts))


def said(language: Language, key: str, folded: str) -> re.Match | None:
    """Where a word of the language's `[edits] key` list is in the text."""
    pattern = _words(language, key)
    return pattern.search(folded) if pattern is not None else None


def evidence(language: Language, folded: str, text: str, *, asked: bool = False, reading: str = "unknown",
             asking: bool = False) -> Evidence:
    """What the message holds that makes it a change. `asked`: it is one by its command ("/edit");
    `reading` and `asking`: what it was read as, and whether crmbot would ask (a fact is looked
    for only where it may stand in: most messages are calls and deals, read without it)."""
    change = asked or said(language, "change", folded) is not None
    wanted = change or asking or reading in FACT_READINGS
    named = facts.field_named(language, folded) is not None
    closes = said(language, "closes", folded) is not None
    return Evidence(
        fact=facts.read(language, folded, text, changing=change) if wanted else None, field_named=named, change=change,
        deal=said(language, "deal", folded) is not None, delete=said(language, "delete", folded) is not None,
        close=not closes and said(language, "close", folded) is not None, closes=closes,
        rename=said(language, "rename", folded) is not None, words=len(re.findall(r"[^\W_]+", folded)),
    )


def settle(name: str, alternatives: tuple[str, ...], evidence: Evidence, *, stage_said: bool, opened: bool,
           added: bool) -> str | None:
    """The edit that stands in for the reading `name` (crmbot's first reading); None to keep it.
    `alternatives`: the readings crmbot would ask about besides; `stage_said`: a stage is named
    as written; `opened`: the message opens a new deal ("new deal …"); `added`: it adds a new
    customer ("new customer …")."""
    if name in NEVER:
        return None
    if evidence.delete and evidence.deal and not opened:
        return "delete_deal"
    deal_change = evidence.change or evidence.closes or evidence.rename or evidence.close
    if evidence.deal and deal_change and name in DEAL_READINGS and not opened and not stage_said:
        return "edit_deal"
    fact = evidence.fact
    if fact is None or not (fact.strong or fact.value):
        return None
    if name == "add_customer" and fact.field in facts.CONTACT_FIELDS and not (fact.renewed or evidence.change):
        return None  # "add Tom Baker, email: tom@baker.co.uk": a new person's details, not a change
    said_new = fact.renewed or evidence.change  # "new email …", "change … to …"
    if name == "unknown" and fact.field in facts.CONTACT_FIELDS and not said_new:
        return None  # "Dvořák, tel: 731 222 333" alone is not yet a change of his number
    # a question crmbot would ask is settled by a fact said in so many words: a status, a day,
    # family, a hobby ("张伟现在是正式客户了"), a detail said to be new or changed; not when the
    # first reading is a new customer (then it is that person's details)
    outright = fact.field not in facts.CONTACT_FIELDS or said_new
    if alternatives:
        settles = outright and (name != "add_customer" or said_new) and bool(FACT_READINGS & {name, *alternatives})
    else:
        settles = name in FACT_READINGS
    if settles and not (added and "add_customer" in {name, *alternatives}):
        return "edit_customer" if evidence.change else "add_note"
    return None


def stated_outright(rules_reading: str, evidence: Evidence) -> bool:
    """Whether the message says, in a fact's own words, something more than a contact detail (a
    preference, a status, a day, family), and the rules heard nothing else in it (no call word)."""
    fact = evidence.fact
    return (rules_reading in FACT_READINGS - {"find_customer"} and fact is not None and fact.strong
            and fact.field not in facts.CONTACT_FIELDS)


def stands(name: str, evidence: Evidence) -> bool:
    """Whether an edit reading the rules gave is borne out by the message."""
    if name == "edit_customer":
        # without its value, only a short request is one: "change eva's phone" (asked for the
        # number); in a longer message a field and a change word are part of something else
        return evidence.fact is not None or (evidence.change and evidence.field_named and evidence.words <= SHORT)
    if name in ("edit_deal", "delete_deal"):
        return evidence.deal or evidence.closes
    return True


@lru_cache(maxsize=16)
def _title_patterns(language: Language) -> tuple[re.Pattern, ...]:
    return tuple(re.compile(p) for p in language.data.get("edits", {}).get("patterns", {}).get("title", []))


def title(language: Language, folded: str, text: str) -> tuple[str | None, tuple[int, int] | None]:
    """A deal's new title as typed ("rename the acme deal to Acme web shop"), and the words it took."""
    for pattern in _title_patterns(language):
        match = pattern.search(folded)
        if match and match.group("value").strip():
            value = facts.as_typed(text, re.sub(r"[\s,.;:!?。，；！？]+$", "", match.group("value").strip())).strip(" \"'“”„«»")
            if value:
                return value[:facts.MAX_VALUE], (match.start("value"), match.end())
    return None, None
