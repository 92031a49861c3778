"""Text + locale -> Intent. All phrasing is data from `locales/<lang>/language.toml`.

Slash commands are the precise path. Free text is read two ways: scored against each intent's
vocabulary (typo-tolerant rules), and by the learned classifier (crmbot/intents/classifier.py,
character n-grams, trained on messages written by other people). Where they agree, or one of
them is sure, that is the intent; otherwise the likely readings come back as alternatives and
the core asks. Then slots are pulled out: due date, amount, stage, period, interaction kind,
and what is left over — the customer mention, which the fuzzy index resolves later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Any

from rapidfuzz import fuzz, process

from crmbot.i18n import I18n, Language
from crmbot.intents import amounts, dates, days, doubts, edit_readings, facts
from crmbot.intents.classifier import Reading, shipped
from crmbot.intents.phrase_match import one_off, whole_phrase, whole_phrases
from crmbot.text import CJK, PHONE_REGION, clean, contact_in, fold, has_cjk, words

INTENTS = (
    "log_call", "add_note", "find_customer", "add_customer", "new_deal", "move_deal", "complaint",
    "resolve_complaint", "remind", "agenda", "followup_done", "followup_snooze", "summary", "undo",
    "cancel", "ack", "help", "set_language", "notify_here", "reassign", "forget", "tag", "untag", "list",
    "merge_customers", "history", "funnel", "lost_analysis", "forecast", "at_risk", "route_add", "route_list",
    "route_remove", "edit_customer", "edit_deal", "delete_deal", "unknown",
)
# how free text is read: the vocabulary rules alone, the classifier alone, or both (the product)
MODES = ("rules", "model", "combined")
MIN_SCORE = 2.0  # below this nothing was really asked
TYPO_RATIO = 85  # how close a typed word must be to a vocabulary word
TYPO_MIN_TYPED = 5  # shorter typed words must be spelled right: "lost"/"list" are too close to guess
TYPO_MIN_KNOWN = 4  # "helpp" -> "help", "undoo" -> "undo"
TYPO_WEIGHT = 0.8  # a word or phrase read through a typo counts for this much of its weight
START_BONUS = 1.0  # what a message opens with is usually what it is about
MAX_TEXT = 4000  # characters; longer messages are refused before parsing
# intents for which a named day is a period to look at, not a moment something is due
UNDATED = frozenset({"agenda", "summary", "help", "undo", "list", "tag", "untag", "history", "funnel", "lost_analysis",
                     "forecast", "at_risk"})
# intents that record what already happened: a past day names when, not a follow-up
RECORDS = frozenset({"log_call", "add_note", "complaint"})
# intents a named day is kept for: when a reminder is due, until when one is put off, when a
# deal should close, and the follow-up a call asks for. Elsewhere a day is part of the story
# ("complained today", "signed on Friday", "her birthday is 3.12."), never something due
DATED = frozenset({"remind", "followup_snooze", "new_deal", "log_call", "edit_deal", "complaint"})
# of those, the ones that tell of something that happened: a day is a follow-up only when the
# message asks for one ("remind me Monday", "call her back Friday"), not when it tells of a day
# ("the board meets on 3 December", "the boxes arrived crushed on Monday")
TOLD = frozenset({"log_call", "complaint"})
# intents whose bare number is money: "new deal acme 50k", "change the acme deal to 60k"
PRICED = frozenset({"new_deal", "edit_deal"})
# intents a delay ("in 2 hours", "2h") is kept for; elsewhere it is how long something took
# or how late it is ("shipment 2 weeks late")
DELAYED = frozenset({"remind", "followup_snooze"})
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")  # the same tokens as crmbot.text.words, with positions
# another of our languages is taken only when it understands a message this clearly
OTHER_LANGUAGE_SCORE = 4.0
MIN_STEM = 3  # a name ending is stripped only when this much of the word is left
# combining rules and classifier (picked by bench/intent_cv.py: k-fold held-out on the tuning
# halves; there the classifier alone reads intents better than the rules, so a reading is acted
# on when the classifier is clearly ahead or the rules lead by far, and asked about otherwise)
MODEL_SURE = 0.4  # the classifier's reading stands alone when it is this likely
MODEL_MARGIN = 0.4  # ... and this far ahead of its next reading
RULES_LEAD = 6.0  # the rules' reading stands when its score leads the next by this much
RULES_FLOOR = 0.25  # ... and the classifier does not rule it out
# an intent the classifier was never taught stands on the rules alone when it leads by this much
RULES_ALONE_LEAD = 2.0
OPENS = 4.0  # a new deal's or new customer's own phrase scores this much: the message opens one
CLOSE = 0.3  # readings at least this share of the best one's probability are offered too
MAX_OPTIONS = 3  # readings offered when crmbot asks back (plus cancel)
# intents that change nothing: when one of them is the only likely reading, it is just done
HARMLESS = frozenset({"find_customer", "agenda", "summary", "help", "ack", "cancel", "list", "history", "unknown",
                      "funnel", "lost_analysis", "forecast", "at_risk", "route_list"})
# intents that look at a day ("agenda for Friday"): the day named is kept as `day`
LOOKING = frozenset({"agenda", "list"})
# intents that put a tag on a customer or take it off: "tag eva vip"
TAGGING = frozenset({"tag", "untag"})
# a tag written as a hashtag, in any language: "#vip", "#trade-fair"
HASHTAG = re.compile(r"#(?P<tag>[^\W_][\w-]*)")


@dataclass
class Intent:
    name: str
    locale: str
    slots: dict[str, Any] = field(default_factory=dict)
    alternatives: tuple[str, ...] = ()  # other intents that scored as high: ask back

    @property
    def mention(self) -> str:
        return self.slots.get("mention", "")


@dataclass(frozen=True)
class _Vocabulary:
    single: dict[str, dict[str, float]]  # word -> {intent: weight}
    phrases: tuple[tuple[re.Pattern, str, float], ...]
    typo_words: tuple[str, ...]
    stopwords: frozenset[str]
    commands: dict[str, str]
    slang: re.Pattern | None  # phone shorthand ("tmrw", "w/", "abt") -> the words it stands for
    slang_words: dict[str, str]
    numerals: re.Pattern | None  # number words before a unit ("三天后", "十点") -> digits
    numeral_values: dict[str, int]
    cjk_stopwords: tuple[str, ...]  # longest first: removed as substrings from unspaced text
    name_endings: tuple[tuple[str, str], ...]  # case endings of names -> nominative, longest first
    # unspaced phrases of 3+ characters with any one character wrong: IME homophone slips
    # ("题醒我" for 提醒我) and traditional forms ("發了微信") are typos Chinese texters make
    typo_phrases: tuple[tuple[re.Pattern, str, float], ...]
    # spelled-out counts: "half an hour" -> "30 minutes", "čez en teden" -> "čez 1 teden"
    count_phrases: re.Pattern | None = None
    count_phrase_values: dict[str, str] = field(default_factory=dict)
    counts: re.Pattern | None = None
    count_values: dict[str, int] = field(default_factory=dict)
    # a number spelled out before a multiplier: "osmdesát tisíc", "on beş min", "sixty thousand"
    spelled: re.Pattern | None = None
    spelled_values: dict[str, float] = field(default_factory=dict)
    # `[intent_patterns.<intent>]`: a sentence's shape that names an intent ("leads … go to …"),
    # a regular expression over the folded text; a match adds its weight
    shapes: tuple[tuple[re.Pattern, str, float], ...] = ()
    # a count of thousands with more after it: "12 min bes yuz" (12 500), "1万5千" (15 000)
    compound: re.Pattern | None = None
    multiplier_values: dict[str, float] = field(default_factory=dict)
    # a spelled number with place words (`[numerals.places]`): "三千五百" 3500, "一百二十万" 1 200 000,
    # and the spoken short forms "九千八" 9800, "三万五" 35 000, "一万二" 12 000
    numeral_runs: re.Pattern | None = None
    numeral_places: dict[str, int] = field(default_factory=dict)
    # `[nicknames]`: the familiar forms of given names, as the index holds the name ("daf" ->
    # "dafydd", "honzovi" -> "jan"); a name's case forms are listed, as they change its stem
    nicknames: dict[str, str] = field(default_factory=dict)
    # `[gender]`: titles of a man and of a woman ("pana", "gospe", "Mr"), and the case endings
    # a man's surname takes ("s Horvatem", "Horvata"); a woman's foreign surname takes none
    men_titles: frozenset[str] = frozenset()
    women_titles: frozenset[str] = frozenset()
    man_endings: tuple[str, ...] = ()
    titles_after: bool = False  # "Elvin bəy", "王先生": the title follows the name
    kin: frozenset[str] = frozenset()  # "manželka", "žena", "太太": a relative of the titled one


def _spelled(language: Language) -> tuple[re.Pattern | None, dict[str, float]]:
    """`[number_words]`: words -> values, `and` the words joining them ("jeden a půl"). A run of
    them is read as digits only before a word of `[multipliers]`, so "dva klienti" stays words."""
    table = language.data.get("number_words", {})
    values = {fold(k): float(v) for k, v in table.get("values", {}).items()}
    multipliers = [fold(m) for m in language.data.get("multipliers", {}) if m.isalpha() and len(m) > 1]
    if not values or not multipliers:
        return None, {}
    word = "|".join(re.escape(k) for k in sorted(values, key=len, reverse=True))
    joiners = "|".join(re.escape(fold(j)) for j in table.get("and", [])) or "(?!)"
    after = "|".join(re.escape(m) for m in sorted(multipliers, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{word})(?:\s+(?:(?:{joiners})\s+)?(?:{word}))*(?=\s+(?:{after})(?!\w))"), values


def _compound(language: Language) -> tuple[re.Pattern | None, dict[str, float]]:
    """A number read with its multiplier and then more of it, spelled out or in digits, from
    `[multipliers]`, `[number_words]` and `[numerals]`: "12 min bes yuz manat" (a run of number
    words read as "12 min" before), "4 mil dau gant", "1万5千美金" (numerals read as digits)."""
    multipliers = {fold(k): float(v) for k, v in language.data.get("multipliers", {}).items()
                   if isinstance(v, (int, float)) and v >= 100 and (len(fold(k)) > 1 or has_cjk(fold(k)))}
    if not multipliers:
        return None, {}
    table = language.data.get("number_words", {})
    values = {fold(k): float(v) for k, v in table.get("values", {}).items()}
    joiners = "|".join(re.escape(fold(j)) for j in table.get("and", [])) or "(?!)"
    mult = "|".join(re.escape(m) for m in sorted(multipliers, key=len, reverse=True))
    word = "|".join(re.escape(k) for k in sorted(values, key=len, reverse=True)) or "(?!)"
    cjk = "|".join(re.escape(m) for m in sorted(multipliers, key=len, reverse=True) if has_cjk(m)) or "(?!)"
    run = rf"(?:{word})(?:\s+(?:(?:{joiners})\s+)?(?:{word}))*"
    spaced = rf"(?<![\w.,])(?P<n>\d+|{run})\s+(?P<mult>{mult})\s+(?:(?:{joiners})\s+)?(?P<rest>(?:{word})(?:\s+(?:(?:{joiners})\s+)?(?:{word}))*)(?!\w)(?!\s+(?:{mult})(?!\w))"
    unspaced = rf"(?<![\d.,])(?P<cn>\d+)(?P<cmult>{cjk})(?P<crest>\d+)(?P<csmall>{cjk})"
    return re.compile(f"{spaced}|{unspaced}"), {**multipliers, **values}


def _compound_value(match: re.Match, values: dict[str, float], spelled: dict[str, float]) -> str:
    """The whole amount in digits ("12 min bes yuz" -> "12500"), when what follows the
    multiplier is less than it; otherwise the text as it was."""
    if match.group("n") is not None:
        big = values[match.group("mult")]
        rest = match.group("rest")
        small = float(_spelled_value(rest, spelled))
        count = match.group("n")
        total = (int(count) if count.isdigit() else float(_spelled_value(count, spelled))) * big + small
    else:
        big, unit = values[match.group("cmult")], values[match.group("csmall")]
        small = int(match.group("crest")) * unit
        total = int(match.group("cn")) * big + small
    if not 0 < small < big:
        return match.group(0)
    return f"{total:g}" if total < 1e15 else match.group(0)


def _spelled_value(run: str, values: dict[str, float]) -> str:
    """"osmdesat" 80, "tri sta" 300, "dvacet pet" 25, "jeden a pul" 1.5: hundreds multiply
    what came before, anything else adds."""
    current = 0.0
    for token in run.split():
        value = values.get(token)
        if value is None:
            continue  # a joining word
        current = (current or 1) * value if value == 100 else current + value
    return f"{current:g}"


def _counts(language: Language) -> tuple[re.Pattern | None, dict[str, str], re.Pattern | None, dict[str, int]]:
    """`[count_phrases]` (a phrase -> the words it stands for) and `[count_words]` (a number
    word, read as digits only before a unit of `[units]`: "dva týdny", not "dva klienti")."""
    phrases = {fold(k): fold(v) for k, v in language.data.get("count_phrases", {}).items()}
    phrase_re = None
    if phrases:
        keys = sorted(phrases, key=len, reverse=True)
        phrase_re = re.compile(whole_phrases(keys))
    values = {fold(k): int(v) for k, v in language.data.get("count_words", {}).items()}
    units = [fold(u) for u in language.data.get("units", {})]
    count_re = None
    if values and units:
        numbers = "|".join(re.escape(k) for k in sorted(values, key=len, reverse=True))
        unit_words = "|".join(re.escape(u) for u in sorted(units, key=len, reverse=True))
        count_re = re.compile(rf"(?<!\w)(?:{numbers})(?=\s+(?:{unit_words}))")
    return phrase_re, phrases, count_re, values


@lru_cache(maxsize=16)
def _vocabulary(language: Language) -> _Vocabulary:
    single: dict[str, dict[str, float]] = {}
    phrases = []
    cjk_phrases = []
    for intent, table in language.data.get("intents", {}).items():
        for phrase, weight in table.items():
            key = fold(phrase)
            if re.fullmatch(r"\w+", key) and not has_cjk(key):
                single.setdefault(key, {})[intent] = float(weight)
            else:
                phrases.append((len(key), whole_phrase(key), intent, float(weight)))
                if all(_CJK_CHAR.match(ch) for ch in key):
                    cjk_phrases.append((key, intent, float(weight)))
    stop = set(fold(w) for w in language.data.get("stopwords", {}).get("words", []))
    stop |= set(single)
    commands = {fold(k): v for k, v in language.data.get("commands", {}).items()}
    typo_words = tuple(w for w in single if len(w) >= TYPO_MIN_KNOWN)
    slang_words = {fold(k): fold(v) for k, v in language.data.get("slang", {}).items()}
    slang = None
    if slang_words:
        keys = "|".join(re.escape(k) for k in sorted(slang_words, key=len, reverse=True))
        slang = re.compile(rf"(?<![\w/])(?:{keys})(?![\w/])" if not has_cjk(keys) else rf"(?:{keys})")
    table = language.data.get("numerals", {})
    values = {fold(k): int(v) for k, v in table.get("values", {}).items()}
    numerals = None
    if values:
        chars = "".join(re.escape(k) for k in values)
        units = "|".join(re.escape(fold(u)) for u in sorted(table.get("before", []), key=len, reverse=True))
        numerals = re.compile(rf"[{chars}]+(?=\s?(?:{units}))")
    places = {fold(k): int(v) for k, v in table.get("places", {}).items()}
    runs = None
    if values and places:
        every = "".join(re.escape(k) for k in (*values, *places))
        big = "".join(re.escape(k) for k, v in places.items() if v >= 100)
        runs = re.compile(rf"[{every}]*[{big}][{every}]*")
    cjk_stop = tuple(sorted((w for w in stop if has_cjk(w)), key=len, reverse=True))
    endings = tuple(sorted(((fold(k), fold(v)) for k, v in language.data.get("name_endings", {}).items()), key=lambda kv: -len(kv[0])))
    gender = language.data.get("gender", {})
    # longest phrases first: "投诉已解决" is one resolve phrase, not also the complaint word "投诉"
    phrases.sort(key=lambda p: -p[0])
    typo_phrases = tuple((one_off(key), intent, weight) for key, intent, weight in cjk_phrases if len(key) >= 3)
    shapes = tuple((re.compile(pattern), intent, float(weight))
                   for intent, table in language.data.get("intent_patterns", {}).items() for pattern, weight in table.items())
    return _Vocabulary(single, tuple(p[1:] for p in phrases), typo_words, frozenset(stop), commands, slang, slang_words, numerals, values, cjk_stop, endings, typo_phrases,
                       *_counts(language), *_spelled(language), shapes, *_compound(language),
                       numeral_runs=runs, numeral_places=places,
                       nicknames={fold(k): fold(v) for k, v in language.data.get("nicknames", {}).items()},
                       men_titles=frozenset(map(fold, gender.get("men", []))),
                       women_titles=frozenset(map(fold, gender.get("women", []))),
                       man_endings=tuple(sorted(map(fold, gender.get("man_endings", [])), key=len, reverse=True)),
                       titles_after=bool(gender.get("titles_after", False)), kin=frozenset(map(fold, gender.get("kin", []))))


def _place_number(run: str, values: dict[str, int], places: dict[str, int]) -> str:
    """A run of number and place words as digits: "三千五百" 3500, "一百二十万" 1200000, "一千零五"
    1005. A digit said right after a place of a hundred or more counts in the place below it, as
    people say prices: "九千八" 9800, "三万五" 35000. A run that opens with a place word ("千万别忘",
    "万一") or holds no digit is no number and stays as it was."""
    if run[0] not in values and places.get(run[0]) != 10 or not any(ch in values for ch in run):
        return run
    total = section = 0
    digit: int | None = None
    last_place: int | None = None
    for ch in run:
        if ch in places and ch not in values or places.get(ch, 0) >= 100:
            place = places[ch]
            if place >= 10_000:  # 万 closes a section: what came before counts in tens of thousands
                total += (section + (digit or 0)) * place
                section = 0
            else:
                section += (1 if digit is None else digit) * place
            digit, last_place = None, place
        elif places.get(ch) == 10 or values.get(ch) == 10:
            section += (1 if digit is None else digit) * 10
            digit, last_place = None, 10
        else:
            digit = values[ch]
            if digit == 0:
                last_place = None  # 一千零五: the zero holds the places apart
    if digit is not None:
        section += digit * (last_place // 10) if last_place and last_place >= 100 else digit
    number = total + section
    wan = next((k for k, v in places.items() if v == 10_000), None)
    if wan and number >= 10_000:
        # in tens of thousands, as the amounts read them: "phase 2 十万" is 2 and 10万, no "2 100000"
        return f"{(Decimal(number) / 10_000).normalize():f}{wan}"
    return str(number)


def _number(word: str, values: dict[str, int]) -> int:
    """"十" 10, "十二" 12, "二十" 20, "两" 2: digits with an optional tens word (value 10)."""
    tens = next((k for k, v in values.items() if v == 10), None)
    if tens and tens in word:
        left, _, right = word.partition(tens)
        return (values.get(left, 1) if left else 1) * 10 + (values.get(right, 0) if right else 0)
    total = 0
    for ch in word:
        total = total * 10 + values.get(ch, 0)
    return total


def _normalise(vocab: _Vocabulary, text: str) -> str:
    """Folded text with phone shorthand spelled out, so every later rule sees plain words."""
    folded = fold(text)
    if vocab.slang is not None:
        folded = vocab.slang.sub(lambda m: vocab.slang_words[m.group(0)], folded)
    if vocab.numeral_runs is not None:
        folded = vocab.numeral_runs.sub(lambda m: _place_number(m.group(0), vocab.numeral_values, vocab.numeral_places), folded)
    if vocab.numerals is not None:
        folded = vocab.numerals.sub(lambda m: str(_number(m.group(0), vocab.numeral_values)), folded)
    if vocab.compound is not None:
        folded = vocab.compound.sub(lambda m: _compound_value(m, vocab.multiplier_values, vocab.spelled_values), folded)
    if vocab.count_phrases is not None:
        folded = vocab.count_phrases.sub(lambda m: vocab.count_phrase_values[m.group(0)], folded)
    if vocab.counts is not None:
        folded = vocab.counts.sub(lambda m: str(vocab.count_values[m.group(0)]), folded)
    if vocab.spelled is not None:
        folded = vocab.spelled.sub(lambda m: _spelled_value(m.group(0), vocab.spelled_values), folded)
    return folded


@lru_cache(maxsize=256)  # Language is hashed by identity; one parse asks for the same text up to six times
def _normalised(language: Language, text: str) -> str:
    """`_normalise` with the language's vocabulary, worked out once per text."""
    return _normalise(_vocabulary(language), text)


_CJK_CHAR = re.compile(f"[{CJK}]")


def _known_word(vocab: _Vocabulary, token: str) -> str | None:
    if token in vocab.single:
        return token
    if len(token) >= TYPO_MIN_TYPED and vocab.typo_words:
        found = process.extractOne(token, vocab.typo_words, scorer=fuzz.ratio, score_cutoff=TYPO_RATIO)
        if found:
            return found[0]
    return None


def _score(vocab: _Vocabulary, folded: str) -> tuple[dict[str, float], list[tuple[int, int]]]:
    scores: dict[str, float] = {}
    spans: list[tuple[int, int]] = []
    for pattern, intent, weight in vocab.phrases:
        if not pattern.may_occur(folded):
            continue
        # the longer phrases were tried first; the words they took are not read again
        match = next((m for m in pattern.finditer(folded) if not any(s < m.end() and m.start() < e for s, e in spans)), None)
        if match:
            bonus = START_BONUS if match.start() == 0 else 0.0
            scores[intent] = scores.get(intent, 0.0) + weight + bonus
            spans.append(match.span())
    for pattern, intent, weight in vocab.typo_phrases:
        match = next((m for m in pattern.finditer(folded) if not any(s < m.end() and m.start() < e for s, e in spans)), None)
        if match:
            scores[intent] = scores.get(intent, 0.0) + weight * TYPO_WEIGHT + (START_BONUS if match.start() == 0 else 0.0)
            spans.append(match.span())
    for position, found in enumerate(_TOKEN.finditer(folded)):
        # "follow up" is one remind phrase, not also the word "follow" (~"followup")
        if any(start <= found.start() < end for start, end in spans):
            continue
        token = found.group(0)
        word = _known_word(vocab, token)
        if word is None:
            continue
        typo = 1.0 if word == token else TYPO_WEIGHT
        for intent, weight in vocab.single[word].items():
            bonus = START_BONUS if position == 0 else 0.0
            scores[intent] = scores.get(intent, 0.0) + weight * typo + bonus
    for pattern, intent, weight in vocab.shapes:
        if pattern.search(folded):
            scores[intent] = scores.get(intent, 0.0) + weight
    return scores, spans


@lru_cache(maxsize=256)  # Language is hashed by identity
def _scores(language: Language, folded: str) -> dict[str, float]:
    """`_score`'s intents for a message, read once: the edit readings ask again."""
    return _score(_vocabulary(language), folded)[0]


@lru_cache(maxsize=256)  # Language is hashed by identity
def _table_phrases(language: Language, table: str) -> tuple[tuple[tuple[str, int, str], ...], dict[str, str]]:
    """`[table]`'s phrases folded once: (key, length as written, folded phrase), and its
    one-word phrases for typo matching."""
    phrases = tuple((key, len(p), fold(p)) for key, ps in language.data.get(table, {}).items() for p in ps)
    singles = {f: key for key, n, f in phrases if n >= TYPO_MIN_KNOWN and re.fullmatch(r"\w+", f)}
    return phrases, singles


@lru_cache(maxsize=1024)  # Language is hashed by identity; the same text is asked about twice
def _phrase_in(language: Language, table: str, folded: str, typos: bool = True) -> tuple[str | None, tuple[int, int] | None]:
    """The key of `[table]` whose longest listed phrase occurs in the text; failing that, a
    one-word phrase typed with a typo ("signd", "negotation")."""
    phrases, singles = _table_phrases(language, table)
    best: tuple[int, str, tuple[int, int]] | None = None
    for key, length, phrase in phrases:
        match = whole_phrase(phrase).search(folded)
        if match and (best is None or length > best[0]):
            best = (length, key, match.span())
    if best is None and table in STEMMED_TABLES:
        # "minulého týdne", "prejsnji tedn": the phrase's words with other endings
        for key, length, phrase in phrases:
            match = _stem_regex(phrase).search(folded)
            if match and (best is None or length > best[0]):
                best = (length, key, match.span())
    if best or not typos:
        return (best[1], best[2]) if best else (None, None)
    for found in _TOKEN.finditer(folded):
        if len(found.group(0)) >= TYPO_MIN_TYPED and singles:
            near = process.extractOne(found.group(0), list(singles), scorer=fuzz.ratio, score_cutoff=TYPO_RATIO)
            if near:
                return singles[near[0]], found.span()
    return None, None


def _last_stage(language: Language, english: Language, folded: str) -> tuple[str | None, tuple[int, int] | None]:
    """Of two stages named, the one said last: "qualified -> proposal", "z kvalifikace do
    vyjednávání", "not lead any more, qualified", "谈判完成，赢了" all end on where the deal goes.
    None when fewer than two different stages are named (`_phrase_in` reads the one)."""
    found: list[tuple[int, int, str]] = []
    for table_language in dict.fromkeys((language, english)):
        for key, _, phrase in _table_phrases(table_language, "stages")[0]:
            found += [(m.start(), m.end(), key) for m in whole_phrase(phrase).finditer(folded)]
    # a phrase inside a longer one is part of it ("closed won" holds "closed")
    kept = [f for f in found if not any(o[0] <= f[0] and f[1] <= o[1] and (o[1] - o[0]) > (f[1] - f[0]) for o in found)]
    if len({key for _, _, key in kept}) < 2:
        return None, None
    kept.sort()
    (_, before_end, _), (start, end, key) = kept[-2], kept[-1]
    if not folded[before_end:start].strip():
        return None, None  # "qualified lead": one stage said with its adjective
    return key, (start, end)


STEMMED_TABLES = frozenset({"periods"})  # tables whose phrases are also read with other word endings


@lru_cache(maxsize=4096)
def _stem_regex(phrase: str) -> re.Pattern:
    """A phrase whose words may end differently: "minuly tyden" also reads "minulého týdne".
    In a phrase of several words, each word of five letters or more may lose its last two; a
    phrase of one word is read less freely (its last letter, from six letters on: "prosle" must
    not read "prosim"). Shorter words, and Chinese, must be as written."""
    words_ = phrase.split()
    parts = []
    for word in words_:
        cut = (2 if len(word) >= 5 else 0) if len(words_) > 1 else (1 if len(word) >= 6 else 0)
        if not cut or has_cjk(word) or not word.isalpha():
            parts.append(re.escape(word))
        else:
            parts.append(re.escape(word[:-cut]) + r"\w*")
    return re.compile(r"(?<!\w)" + r"\s+".join(parts) + r"(?!\w)")


def _capture(language: Language, key: str, folded: str, group: str) -> tuple[str | None, tuple[int, int] | None]:
    for pattern in language.compiled.get(key, []):
        match = pattern.search(folded)
        if match and match.group(group):
            # only the captured words leave the mention: "lost ACME to contoso" keeps acme
            start = match.start(group) if key != "reason" else match.start()
            return match.group(group).strip(), (start, match.end())
    return None, None


class Parser:
    def __init__(self, i18n: I18n, mode: str = "combined") -> None:
        if mode not in MODES:
            raise ValueError(f"parser mode {mode!r}: one of {MODES}")
        self.i18n = i18n
        self.classifier = shipped() if mode != "rules" else None
        self.mode = mode if self.classifier is not None else "rules"  # no trained model: rules alone

    @cached_property
    def _short_phrases(self):
        return doubts.short_phrases([self.i18n.language(c).data.get("intents", {}) for c in self.i18n.codes])

    def command_intent(self, command: str, locale: str) -> str | None:
        """Slash commands from any of our languages work for everyone."""
        key = fold(command)
        for code in dict.fromkeys([locale, "en", *self.i18n.codes]):
            found = _vocabulary(self.i18n.language(code)).commands.get(key)
            if found:
                return found
        return None

    def parse(self, text: str, locale: str, now: datetime, tz: str = "UTC") -> Intent:
        text = clean(text)
        language = self.i18n.language(locale)
        if not text:
            return Intent("unknown", language.code, {"text": "", "reason": "empty"})
        if len(text) > MAX_TEXT:
            return Intent("unknown", language.code, {"text": "", "reason": "too_long"})
        short = doubts.short_answer(self._short_phrases, text)
        if short is not None:
            # "cancel", "zrušit", "取消", "ok 👍": the same in every language, whatever the member's
            return Intent(short, language.code, {"text": text})
        if contact_in(text, PHONE_REGION.get(language.code)) == text:
            # a phone number or e-mail address alone: whose is it? (looked up exactly)
            return Intent("find_customer", language.code, {"text": text, "mention": text})
        own = language
        # edits are read apart (crmbot/intents/edit_readings.py): everything else is read as if
        # their words were not there, and an edit stands only on what the message holds
        name, body, alternatives, lead = self._intent_of(text, language, exclude=edit_readings.EDITS)
        if name == "unknown" and not text.startswith("/"):
            # a message clearly written in another of our languages is still understood
            other = self._other_language(text, language)
            if other is not None:
                language = other
                name, body, alternatives, lead = self._intent_of(text, language, exclude=edit_readings.EDITS)
        rule = name  # the rules' own reading, before the classifier has its say
        reading = None
        if self.classifier is not None and not text.startswith("/") and not _contact_looked_up(language, rule, alternatives, text):
            reading = self.classifier.read(text)
        if reading is not None:
            if self.mode == "model":
                name, alternatives = reading.best, ()
            else:
                name, alternatives = combine(name, alternatives, lead, reading)
        commanded = text.startswith("/") and name in edit_readings.EDITS  # "/edit eva phone +420…"
        edits = edit_readings.evidence(language, _normalised(language, body), body, asked=commanded,
                                       reading=rule if rule in edit_readings.FACT_READINGS else name,
                                       asking=bool(alternatives))
        first = (name, alternatives)
        if not text.startswith("/"):
            name, alternatives = self._edit_reading(text, language, name, alternatives, edits, rule)
        slots = self._slots(body, language, name, now, tz, edits)
        if name == "edit_deal" and not text.startswith("/") and not _deal_change_said(slots):
            # a deal named with a change word but nothing to change on it: not an edit after all
            name, alternatives = first
            slots = self._slots(body, language, name, now, tz, edits)
        if name == "list" and text.startswith("/") and "what" not in slots:
            # "/deals", "/customers": the command names what to list
            command = fold(text[1:].partition(" ")[0].split("@", 1)[0])
            for code in dict.fromkeys([language.code, "en"]):
                what, _ = _phrase_in(self.i18n.language(code), "lists", command, typos=False)
                if what:
                    slots["what"] = what
                    break
        if language is not own:
            slots = self._merge_own(slots, self._slots(body, own, name, now, tz))
            vocab = _vocabulary(own)
            kept = [t for t in slots.get("mention", "").split() if t not in vocab.stopwords and _known_word(vocab, t) is None
                    and _phrase_in(own, "periods", t, typos=False)[0] is None]
            slots["mention"] = " ".join(_nominative(t, vocab.name_endings) for t in kept)
        if self.mode == "rules" and not text.startswith("/"):
            # the classifier learned when a named call is a plan; the rules are told: tied readings
            # that both mean a plan ("call smith.., follow up nxt wk") are one reading
            folded = _normalised(language, body)
            name, *rest = dict.fromkeys(_retarget(language, n, slots, folded) for n in (name, *alternatives))
            alternatives = tuple(rest)
        name, alternatives = self._doubts(text, language, own, name, alternatives, (rule, lead), reading, slots, now)
        return Intent(name, language.code, slots, alternatives)

    def _doubts(self, text: str, language: Language, own: Language, name: str, alternatives: tuple[str, ...],
                rules: tuple[str, float], reading: Reading | None, slots: dict[str, Any], now: datetime) -> tuple[str, tuple[str, ...]]:
        """What crmbot should ask about before acting (crmbot/intents/doubts.py); `rules` is the
        rules' own reading and how far it led."""
        rule, lead = rules
        folded = _normalised(language, text)
        slip = slots.pop("amount_slip", None)
        if name in PRICED:
            others = tuple(self.i18n.language(c) for c in self.i18n.codes if c != own.code)
            if slip is not None and folded == _normalised(language, slots.get("text", "")):
                folded = folded[:slip[0]] + " " * (slip[1] - slip[0]) + folded[slip[1]:]
            doubts.currency_doubt(own, others, folded, slots)
        if name in DATED and not text.startswith("/") and "occasion" not in slots:  # a birthday comes back yearly
            doubts.due_doubt(slots, now)
        if name in edit_readings.EDITS or "field" in slots:
            return name, alternatives  # an edit stands on the change the message holds (edit_readings.py)
        said = _said_as_written(language, name, folded)
        rule = _retarget(language, rule, slots, folded)  # the rules' "call petr tmrw 10am" is a plan too
        return doubts.review(name, alternatives, rule=rule, lead=lead, reading=reading, said=said, text=text,
                             region=PHONE_REGION.get(own.code))

    @staticmethod
    def _merge_own(other: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
        """A message read through another language's words ("todo 3.12. 14:00 – Lucie" from
        a Czech member) still writes numbers, dates and money the member's way: what the
        member's own language finds there wins."""
        merged = dict(other)
        for keys in (("due", "due_in_past"), ("amount", "currency"), ("delay",)):
            if own.get(keys[0]) is not None:
                for key in keys:
                    merged.pop(key, None)
                    if key in own:
                        merged[key] = own[key]
        # "todo dnes", "bu həftənin agendası": the command word is English, the period the
        # member's own; what only the member's language reads is kept
        for key in ("period", "days", "stage", "kind"):
            if merged.get(key) is None and own.get(key) is not None:
                merged[key] = own[key]
        return merged

    def _other_language(self, text: str, own: Language) -> Language | None:
        best: tuple[float, Language] | None = None
        for code in self.i18n.codes:
            language = self.i18n.language(code)
            if language is own:
                continue
            scores = _scores(language, _normalised(language, text))
            ranked = sorted((v for k, v in scores.items() if k not in edit_readings.EDITS), reverse=True)
            if not ranked or ranked[0] < OTHER_LANGUAGE_SCORE or (len(ranked) > 1 and ranked[1] == ranked[0]):
                continue
            if best is None or ranked[0] > best[0]:
                best = (ranked[0], language)
        return best[1] if best else None

    def _edit_reading(self, text: str, language: Language, name: str, alternatives: tuple[str, ...],
                      edits: edit_readings.Evidence, rules_reading: str = "unknown") -> tuple[str, tuple[str, ...]]:
        """The edit a message asks for, when it does (crmbot/intents/edit_readings.py): the rules'
        own edit reading, when it leads clearly and the message bears it out; or the change the
        message holds, in place of a reading that would keep nothing else. `rules_reading`: what
        the rules alone read, before the classifier had its say."""
        if not edits.said:
            return name, alternatives
        folded = _normalised(language, text)
        scores = _scores(language, folded)
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        if ranked and ranked[0][0] in edit_readings.EDITS and ranked[0][1] >= MIN_SCORE \
                and edit_readings.stands(ranked[0][0], edits):
            lead = ranked[0][1] - (ranked[1][1] if len(ranked) > 1 else 0.0)
            # a change word that leads, and the changed value said with it ("změň Kučerové
            # telefon na …", where "telefon na" is also how a number is asked for)
            outright = ranked[0][0] == "edit_customer" and edits.fact is not None and edits.change and lead > 0
            if lead >= RULES_ALONE_LEAD or outright:
                return ranked[0][0], ()
        said = {"stage_said": _phrase_in(language, "stages", folded, typos=False)[0] is not None,
                "opened": _said_as_written(language, "new_deal", folded) >= OPENS,
                "added": _said_as_written(language, "add_customer", folded) >= OPENS}
        settled = edit_readings.settle(name, alternatives, edits, **said)
        if settled is None and rules_reading != name and edit_readings.stated_outright(rules_reading, edits):
            # "mae'n well gan Rhys Evans WhatsApp": the rules read the fact's own words; a
            # classifier that hears "WhatsApp" as a message sent does not outvote them
            settled = edit_readings.settle(rules_reading, (), edits, **said)
        return (settled, ()) if settled else (name, alternatives)

    def _intent_of(self, text: str, language: Language, exclude: frozenset[str] = frozenset()) -> tuple[str, str, tuple[str, ...], float]:
        """(intent, the text slots are read from, intents tied with it, how far the rules'
        best score leads the next); the intents in `exclude` are not read."""
        if text.startswith("/"):
            head, _, rest = text[1:].partition(" ")
            command = head.split("@", 1)[0]
            found = self.command_intent(command, language.code)
            return (found or "unknown"), rest.strip(), (), 0.0
        folded = _normalised(language, text)
        scores = _scores(language, folded)
        ranked = sorted(((k, v) for k, v in scores.items() if k not in exclude), key=lambda kv: -kv[1])
        if not ranked or ranked[0][1] < MIN_SCORE:
            return "unknown", text, (), 0.0
        tied = tuple(name for name, score in ranked[1:] if score == ranked[0][1])
        lead = ranked[0][1] - (ranked[1][1] if len(ranked) > 1 else 0.0)
        return ranked[0][0], text, tied, lead

    def _slots(self, body: str, language: Language, intent: str, now: datetime, tz: str,
               edits: edit_readings.Evidence | None = None) -> dict[str, Any]:
        vocab = _vocabulary(language)
        folded = _normalised(language, body)
        slots: dict[str, Any] = {"text": body}
        taken: list[tuple[int, int]] = []

        # what a change is about comes first: a new phone number is not an amount or a date
        if edits is not None and intent in edit_readings.FACT_INTENTS:
            fact = edits.fact
            if fact is not None and (fact.strong or fact.value or intent == "edit_customer"):
                slots.update(fact.slots())
                taken.extend(fact.spans)
            elif intent == "edit_customer" and (named := facts.field_named(language, folded)) is not None:
                slots["field"] = named  # "change eva's phone": the value is asked for
        if intent == "edit_deal":
            title, span = edit_readings.title(language, folded, body)
            if title:
                slots["title"] = title
                taken.append(span)
        end_of_month = None
        if intent == "edit_deal":
            # "closes end of january", "1月底签": the month's last day, before any other date reading
            end_of_month, span = days.end_of_month(language, folded, now, tz)
            if end_of_month is not None:
                taken.append(span)
        if intent == "remind" and (said := facts.occasion(language, folded)) is not None:
            # "remind me of petr's birthday": every year, on the day the profile holds
            slots["occasion"], slots["occasion_detail"] = said[0], said[1]
            taken.append(said[2])
            day = days.read(language, folded)
            if day is not None:
                slots.update(month=day.month, day=day.day)
                if day.year is not None:
                    slots["year"] = day.year

        competitor, span = _capture(language, "lost_to", folded, "competitor")
        if competitor:
            slots["competitor"] = competitor
            taken.append(span)
        reason, span = _capture(language, "reason", folded, "reason")
        if reason:
            slots["reason"] = reason
            taken.append(span)

        english = self.i18n.language("en") if "en" in self.i18n.codes else language
        found = dates.extract(language, folded, now, tz, fallback=english)
        if intent in RECORDS and found.in_past:
            # "spoke with her earlier today, call her again on 8 December": the day it
            # happened is not the follow-up; another day in the message may be
            masked = "".join(" " if any(s <= i < e for s, e in found.spans) else ch for i, ch in enumerate(folded))
            later = dates.extract(language, masked, now, tz, fallback=english)
            if later.value is not None and not later.in_past:
                found = dates.Found(later.value, found.spans + later.spans, False, later.odd)
        if found.value is not None and found.spans:
            found = _day_put_right(language, folded, now, tz, english, found)
        taken.extend(found.spans)
        if found.odd and intent not in UNDATED:
            # "ring back 12/15/2115": a date this far off is a slip; crmbot asks for the day
            slots["due_unclear"] = True
            if intent in DATED:
                slots["due_odd"] = found.value  # the day as read, for the question
        elif found.value is not None and intent in DATED and not (intent in RECORDS and found.in_past) \
                and (intent not in TOLD or _asks_follow_up(language, folded)):
            # "talked to smith today" says when the call was; only a future day is a follow-up
            slots["due"] = found.value
            slots["due_in_past"] = found.in_past

        # money before durations: "1.5m czk" is an amount, not five minutes
        others = tuple(self.i18n.language(c) for c in self.i18n.codes if c != language.code)
        money = amounts.extract(language, folded, taken, bare_ok=intent in PRICED, others=others)
        if money is not None:
            # a currency said apart from its number: "7,5k, v eurech", "2k a month, pounds"
            currency = money.currency
            if currency is None:
                currency, span = amounts.currency_named(language, folded, [*taken, money.span], others)
                if span is not None:
                    taken.append(span)
            slots["amount"], slots["currency"] = money.amount, currency
            taken.append(money.span)
            if money.slip is not None:
                slots["amount_slip"] = money.slip  # its currency is no rival of the one meant
        elif intent == "new_deal" and amounts.names_currency(language, folded, taken, others):
            slots["amount_invalid"] = True  # "new deal acme $": a currency but no number

        if end_of_month is not None:
            slots["due"], slots["due_in_past"] = end_of_month, False
        if intent == "edit_deal" and edits is not None and edits.close and not ({"due", "amount", "title"} & set(slots)):
            slots["close"] = True  # "close the cyberdyne deal": won or lost is asked

        delay, span = dates.duration(language, folded, taken)
        if delay is not None and "due" not in slots and intent in DELAYED:
            slots["delay"] = delay
            taken.append(span)

        spans: dict[str, tuple[int, int]] = {}
        for table, slot in (("stages", "stage"), ("periods", "period"), ("kinds", "kind")):
            value, span = _last_stage(language, english, folded) if table == "stages" else (None, None)
            if value is None:
                value, span = _phrase_in(language, table, folded)
            if value is None and language is not english:
                # CRM words are often English inside other languages: "svoboda crm -> qualified"
                value, span = _phrase_in(english, table, folded, typos=False)
            if value:
                slots[slot] = value
                spans[slot] = span
                if slot != "kind":
                    taken.append(span)
        if intent == "summary":
            # "summary 1.11.-15.11.", "since 1 November": days named by date, beside any period word
            named = dates.day_range(language, folded, now, tz, [spans["period"]] if "period" in spans else [])
            if named is not None:
                slots["days"] = [named.first.isoformat(), named.last.isoformat()]
                taken.extend(named.spans)
        if intent in UNDATED and "days" not in slots and (alone := days.month_alone(language, folded)) is not None:
            # "report za listopad", "numbers for October", "十月份的业绩": the month named is the
            # period, over a bare month word beside it ("ym mis Hydref")
            period, (first, last) = days.month_period(alone[0], now, tz)
            if period is not None:
                slots["period"] = period
            elif intent == "summary":
                slots["days"] = [first.isoformat(), last.isoformat()]
            taken.append(alone[1])
        if "competitor" in slots:
            slots["stage"] = "lost"
        product, span = _capture(language, "product", folded, "product")
        if product and intent == "complaint":
            slots["product"] = product
            taken.append(span)
        if intent == "complaint" and any(p.search(folded) for p in language.compiled.get("severity_high", [])):
            slots["severity"] = "high"

        if intent in LOOKING and found.value is not None and not found.odd:
            slots["day"] = found.value  # "agenda for Friday": the day to look at
        if intent in LOOKING or intent in TAGGING:
            _list_slots(body, language, english, folded, intent, slots, spans, taken)
        if intent == "set_language":
            slots["language"] = self._language_named(language, folded)
        # `titles`: a name said with its title or a familiar prefix ("小张", "王姐", "刘总") is
        # read as the name alone, set apart from the words run on to it; "possessive" is dropped
        possessive = [*language.compiled.get("possessive", []), *language.compiled.get("titles", [])]
        slots["mention"] = _mention(folded, taken, vocab, possessive)
        slots.update(_gender_said(vocab, folded, slots["mention"]))
        if intent == "merge_customers":
            slots["mentions"] = _two_mentions(language, vocab, folded, taken, possessive)
        return slots

    def _language_named(self, language: Language, folded: str) -> str | None:
        """The language a member asks for ("switch to Welsh", "switch na slovenštinu",
        "language换成English"): the first named, by `[language_names]` of any of our languages
        ("switch to English? Bob is learning Welsh" asks for English); failing a name, a bare
        ISO code ("jezik: de")."""
        found: list[tuple[int, str]] = []
        for code in self.i18n.codes:
            for iso, names in self.i18n.language(code).data.get("language_names", {}).items():
                for name in names:
                    match = whole_phrase(fold(name)).search(folded) or (None if has_cjk(name) else _stem_regex(fold(name)).search(folded))
                    if match:
                        found.append((match.start(), iso))
        if found:
            return min(found)[1]
        codes = {iso for code in self.i18n.codes for iso in self.i18n.language(code).data.get("language_names", {})}
        return next((t for t in words(folded) if t in codes), None)


def _list_slots(body: str, language: Language, english: Language, folded: str, intent: str, slots: dict[str, Any],
                spans: dict[str, tuple[int, int]], taken: list[tuple[int, int]]) -> None:
    """The tags a message names (`tags`, as typed), and for a list what it lists (`what`: deals,
    customers, complaints, followups), a customer `status`, whose (`scope`: mine or team, for an
    agenda too) and whether deals are looked at by when they close (`closing`). The words of each come from the
    locale's `[patterns] tag` / `tagged` and its `[lists]`, `[statuses]`, `[scope]`, `[closing]`."""
    # only the tag's own words leave the mention: the words around it are the command's
    if intent == "agenda":  # "the team's overdue follow-ups": whose agenda
        value, span = _phrase_in(language, "scope", folded, typos=False)
        if value:
            slots["scope"] = value
        return
    found = [(m.group("tag"), m.span()) for m in HASHTAG.finditer(folded)]
    for pattern in language.compiled.get("tag" if intent in TAGGING else "tagged", []):
        matches = [(m.group("tag"), m.span("tag")) for m in pattern.finditer(folded) if m.group("tag")]
        if intent == "list":
            # "show vip customers" names a tag; "show churned customers", "show my customers" do not
            matches = [(tag, span) for tag, span in matches if not _list_word(language, english, tag)]
        if matches:
            found += matches
            break
    if intent in TAGGING and not found:
        guess = _last_word(language, folded, taken)
        if guess is not None:
            found.append(guess)
            slots["tag_guessed"] = True  # the handler checks it is no part of the customer's name
    if found:
        slots["tags"] = list(dict.fromkeys(_as_typed(body, tag.strip()) for tag, _ in found))
        taken.extend(span for _, span in found)
    if intent != "list":
        return
    for table, slot in (("lists", "what"), ("statuses", "status"), ("scope", "scope"), ("closing", "closing")):
        typos = table in ("lists", "statuses")
        value, span = _phrase_in(language, table, folded, typos=typos)
        if value is None and language is not english:
            value, span = _phrase_in(english, table, folded, typos=False)
        if value:
            slots[slot] = value
            spans[slot] = span
            taken.append(span)
    # a word that says what is listed or that deals are closing names no stage, though it may
    # read as one: "成交" (won) in "要成交", Welsh "bargeinion" (deals) like "bargeinio" (haggling)
    stage = spans.get("stage")
    if stage and any(s < stage[1] and stage[0] < e for s, e in (spans.get("closing", (0, 0)), spans.get("what", (0, 0)))):
        slots.pop("stage")


LIST_TABLES = ("statuses", "scope", "lists", "closing", "periods", "stages")


def _day_put_right(language: Language, folded: str, now: datetime, tz: str, english: Language,
                   found: dates.Found) -> dates.Found:
    """A day said and put right at once ("v pátek, ne, ve čtvrtek", "tomorrow, no wait, Friday",
    "周五不对周四"): the day after the correction word is the one meant (`amounts.put_right`)."""
    said_end = max(e for _, e in found.spans)
    if not any(ch.isalnum() for ch in folded[said_end:]):
        return found  # the day ends the message ("… by friday"): nothing after it to put it right
    rest = " " * said_end + folded[said_end:]
    later = dates.extract(language, rest, now, tz, fallback=english)
    if later.value is None or not later.spans:
        return found
    start = min(s for s, _ in later.spans)
    if not amounts.put_right(language, folded[said_end:start]):
        return found
    return dates.Found(later.value, (*found.spans, (said_end, start), *later.spans), later.in_past, later.odd)


def _list_word(language: Language, english: Language, word: str) -> bool:
    """Whether a word read where a list names its tag is a word of the list itself: a status,
    whose, what is listed, a period or stage, or any word of the language's vocabulary."""
    vocab = _vocabulary(language)
    if word in vocab.single or word in vocab.stopwords:
        return True
    return any(_phrase_in(lang, table, word, typos=False)[0] is not None for lang in (language, english) for table in LIST_TABLES)


_TYPED_WORD = re.compile(r"[^\W_][\w-]*")


def _last_word(language: Language, folded: str, taken: list[tuple[int, int]]) -> tuple[str, tuple[int, int]] | None:
    """"tag eva vip", "/tag jan novak vip": with no tag word around it, the tag is the last word
    of those that are not the message's command, provided a word is left for the customer."""
    vocab = _vocabulary(language)
    _, phrase_spans = _score(vocab, folded)
    left = [m for m in _TYPED_WORD.finditer(folded)  # "key-account" is one tag
            if not any(s <= m.start() < e for s, e in (*taken, *phrase_spans))
            and not m.group(0).isdigit() and m.group(0) not in vocab.stopwords and _known_word(vocab, m.group(0)) is None]
    return (left[-1].group(0), left[-1].span()) if len(left) >= 2 else None


def _as_typed(body: str, folded_tag: str) -> str:
    """A tag read from the folded text, as the member typed it ("VIP", "Důležitý")."""
    for match in _TYPED_WORD.finditer(body):
        if fold(match.group(0)) == folded_tag:
            return match.group(0)
    inside = re.search(re.escape(folded_tag), body, re.IGNORECASE)  # "加标签VIP": part of a run
    return inside.group(0) if inside else folded_tag


def _contact_looked_up(language: Language, rule: str, tied: tuple[str, ...], text: str) -> bool:
    """"find +420 731 222 333", "who is petr@dvorakstavby.cz": look-up words and a phone number or
    e-mail address, nothing else. Exact, as the contact alone is; the classifier is not asked
    (it learned that a message holding a phone number mostly adds someone)."""
    if rule != "find_customer" or tied:
        return False
    contact = contact_in(text, PHONE_REGION.get(language.code))
    if not contact:
        return False
    vocab = _vocabulary(language)
    folded = _normalised(language, text.replace(contact, " "))
    _, spans = _score(vocab, folded)
    return not _mention(folded, spans, vocab, [])


def _said_as_written(language: Language, intent: str, folded: str) -> float:
    """The weight of the strongest word or phrase of `intent` in the text, as written (no typo
    reading: "为客户" is not "新客户")."""
    vocab = _vocabulary(language)
    found = [weight for pattern, name, weight in vocab.phrases if name == intent and pattern.search(folded)]
    found += [vocab.single[t][intent] for t in _TOKEN.findall(folded) if intent in vocab.single.get(t, {})]
    return max(found, default=0.0)


def _deal_change_said(slots: dict[str, Any]) -> bool:
    """Whether a deal edit says what changes: an amount, a day, a title, or closing it."""
    return bool({"amount", "amount_invalid", "due", "due_unclear", "title", "close"} & set(slots))


def _asks_follow_up(language: Language, folded: str) -> bool:
    """Whether a logged call asks for something later ("call her again Friday", "remind me
    Monday", "I'll send the quote tomorrow"), not just tells of a day ("the board meets on
    3 December", "back next week"): the reminder words, or the locale's `[follow_up]` phrases."""
    scores = _scores(language, folded)
    if scores.get("remind", 0.0) > 0:
        return True
    return any(whole_phrase(fold(p)).search(folded) for p in language.data.get("follow_up", {}).get("phrases", []))


def combine(rule: str, tied: tuple[str, ...], lead: float, reading: Reading) -> tuple[str, tuple[str, ...]]:
    """One intent from the rules' reading (the best intent, the ones tied with it, how far it
    leads) and the classifier's; alternatives when crmbot should ask back instead of acting."""
    if rule == reading.best and not tied:
        return rule, ()
    if rule != "unknown" and not reading.knows(rule) and not tied and lead >= RULES_ALONE_LEAD:
        return rule, ()
    # a whole command phrase ("new customer …") stands unless the classifier rules it out: the
    # classifier also weighs the names it met in training, which say nothing of the intent
    if rule != "unknown" and not tied and lead >= RULES_LEAD and reading.probability(rule) >= RULES_FLOOR:
        return rule, ()
    if reading.confidence >= MODEL_SURE and reading.margin >= MODEL_MARGIN:
        return reading.best, ()
    if rule == "unknown" and reading.confidence < MODEL_SURE:
        return "unknown", ()  # no intent word and no sure reading: a bare name is looked up, not asked about
    close = [name for name, p in reading.ranked[:MAX_OPTIONS] if p >= reading.confidence * CLOSE]
    if rule == "unknown" and not tied and "unknown" in close:
        return "unknown", ()  # no intent word, and "nothing to do" is a likely reading too ("12345")
    options = [name for name in dict.fromkeys([*close[:1], rule, *tied, *close[1:]]) if name != "unknown"]
    if not options:
        return "unknown", ()
    if len(options) == 1 and options[0] in HARMLESS:
        return options[0], ()  # nothing is changed by a look-up: show it rather than ask
    # "cancel" is always one of the answers offered: nothing changes until a button is pressed
    return options[0], (*options[1:MAX_OPTIONS], "cancel")


def _retarget(language: Language, name: str, slots: dict[str, Any], folded: str) -> str:
    """A call named with a future moment and no past-tense verb is a plan, not a record:
    "call petr tmrw 10am" is a reminder. The words come from `[when_future.<intent>]`."""
    rule = language.data.get("when_future", {}).get(name)
    if not rule or slots.get("due") is None or slots.get("due_in_past"):
        return name
    if any(whole_phrase(fold(w)).search(folded) for w in rule.get("unless", [])):
        return name
    return rule.get("becomes", name)


def _mention(folded: str, taken: list[tuple[int, int]], vocab: _Vocabulary, possessive: list[re.Pattern]) -> str:
    """What is left once intent words, dates, amounts and stage words are taken out."""
    chars = list(folded)
    for start, end in taken:
        for i in range(start, min(end, len(chars))):
            chars[i] = " "
    rest = "".join(chars)
    for pattern, _, _ in (*vocab.phrases, *vocab.typo_phrases):
        rest = pattern.sub(" ", rest)
    for pattern in possessive:  # "jana's complaint" is about jana; "回刘总电话" is about 刘
        rest = pattern.sub(lambda m: f" {m.group('name')} " if "name" in m.re.groupindex else "", rest)
    for word in vocab.cjk_stopwords:  # unspaced text: "给王总" -> "王", the family name
        rest = rest.replace(word, " ")
    # a word joined by "&" is part of a company's name, common or not: "Smith & Co", "& syn"
    joined = set(_JOINED.findall(rest))
    kept = [t for t in words(rest) if t in joined or (t not in vocab.stopwords and not t.isdigit() and _known_word(vocab, t) is None)]
    # a common word in another case is still a common word: "nove" is "nova" (new), no name
    named = (t if t in joined else vocab.nicknames.get(t) or _nominative(t, vocab.name_endings) for t in kept)
    return " ".join(t for t in named if t in joined or t not in vocab.stopwords)


def _gender_said(vocab: _Vocabulary, folded: str, mention: str) -> dict[str, str]:
    """Whether the message says by its grammar that the surname it names is a man's or a
    woman's: a title beside a word of the mention ("pana Horvata", "gospe Horvat", "Ms Horvat",
    "Aysel xanım", "王先生") or a man's case ending on a word of the mention ("s Horvatem",
    "Horvata": `gender_stem` lists the words such endings were taken from, the surname among
    them). Nothing is said when the message names a relative ("manželka pana Horvata": his
    wife is meant) or titles of both. The look-up uses it only to tell apart people sharing
    that surname (`search._settled_by_gender`)."""
    named = mention.split()
    if not named:
        return {}
    said = words(folded)
    if vocab.kin.intersection(said) or any(has_cjk(k) and k in folded for k in vocab.kin):
        return {}

    def beside(titles: frozenset[str]) -> str | None:
        """The word of the mention a title stands beside."""
        for i, word in enumerate(said):
            if word in titles:
                near = said[i - 1] if vocab.titles_after else (said[i + 1] if i + 1 < len(said) else "")
                if near and any(n[:4] == near[:4] for n in named):
                    return near
        return next((n for t in titles for n in named if has_cjk(t) and (n + t if vocab.titles_after else t + n) in folded), None)

    men, women = beside(vocab.men_titles), beside(vocab.women_titles)
    if men and women:
        return {}  # two people, or a couple
    if women or men:
        return {"gender": "f" if women else "m", "gender_titled": women or men}
    stems = []
    for token in said:
        for ending in vocab.man_endings:
            stem = token[: len(token) - len(ending)]
            # "-ova"/"-eva" is a woman's surname ("Horvatova") or a possessive, not a man's case
            if (token.endswith(ending) and len(stem) > MIN_STEM and stem[-1] not in "aeiouy" and not stem.endswith(("ov", "ev"))
                    and any(n.startswith(stem) for n in named)):
                stems.append(stem)
                break
    return {"gender": "m", "gender_stem": " ".join(stems)} if stems else {}


_JOINED = re.compile(r"(?<=\w)\s*&\s*(\w+)")


def _two_mentions(language: Language, vocab: _Vocabulary, folded: str, taken: list[tuple[int, int]],
                  possessive: list[re.Pattern]) -> list[str]:
    """The two customers "merge karel and karel maly" names, split at the first of the
    language's `[merge] joiners` ("and", "with", "a", "和") that leaves a name on both sides;
    word joiners are tried before signs ("smith & co and john smith"). [] when it names fewer."""
    joiners = language.data.get("merge", {}).get("joiners", [])
    for group in ([j for j in joiners if j[:1].isalnum()], [j for j in joiners if not j[:1].isalnum()]):
        for joiner in group:
            pattern = whole_phrase(fold(joiner)) if joiner[:1].isalnum() else re.compile(re.escape(joiner))
            for match in pattern.finditer(folded):
                left = _mention(folded[:match.start()], taken, vocab, possessive)
                right = _mention(" " * match.end() + folded[match.end():], taken, vocab, possessive)
                if left and right:
                    return [left, right]
    return []


def _nominative(token: str, endings: tuple[tuple[str, str], ...]) -> str:
    """A name as it is indexed: "novakovi" -> "novak", "memmedovaya" -> "memmedova". The
    locale's `[name_endings]` lists case endings that no name ends with in its base form; the
    stem left is close enough to the name for the fuzzy index."""
    for ending, base in endings:
        if token.endswith(ending):
            stem = token[: len(token) - len(ending)]
            # the longest ending that fits is the one: "evou" is Eva (ev-ou), never "evo-u"
            return stem + base if len(stem) >= MIN_STEM or (len(stem) >= 2 and len(ending) >= 2 and len(stem + base) >= MIN_STEM) else token
    return token


def as_json(intent: Intent, customer: str | None) -> dict[str, Any]:
    """The shape `crmbot parse` prints: a debugging window into understanding. `"ask": true`
    is added when crmbot would ask back instead of acting."""
    slots = intent.slots
    amount = slots.get("amount")
    due = slots.get("due")
    asked = {"ask": True, "readings": [intent.name, *intent.alternatives]} if intent.alternatives else {}
    if doubts.asks(slots, intent.alternatives) and not asked:
        asked = {"ask": True, "readings": [intent.name]}
    return {
        "intent": intent.name,
        "customer": customer,
        "stage": slots.get("stage"),
        "amount": float(amount) if isinstance(amount, Decimal) else amount,
        "currency": slots.get("currency"),
        "due": due.isoformat() if due else None,
        "period": slots.get("period"),
        "text": slots.get("text", ""),
        # what a change is about, when it is one: "field": "phone", "value": "+420 777 999 888"
        **{key: slots[key] for key in ("field", "value", "detail", "title", "occasion") if slots.get(key)},
        **asked,
    }
