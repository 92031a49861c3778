"""Money in a message: "50k EUR", "$12,500", "€3.2k", "20 tis. Kč", "5万元"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from itertools import groupby

from crmbot.i18n import Language
from crmbot.intents.phrase_match import whole_phrases
from crmbot.text import CJK, fold, words

# a letter of a spaced script: Chinese is written without spaces, so "签了5万元" has an amount
# right after a word and its currency right after the multiplier
# (case-blind as they are: under IGNORECASE, `re` would fold each of the CJK class's ~40,000
# code points at every compile, 60 ms a pattern)
_LETTER = rf"(?-i:[^\W\d_{CJK}])"
_WORDCHAR = rf"(?-i:[^\W{CJK}])"


MAX_AMOUNT = Decimal(10) ** 15


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str | None
    span: tuple[int, int]
    slip: tuple[int, int] | None = None  # an amount said before and put right ("2,5 mil. Kč?? ne,")


def _alternatives(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


@lru_cache(maxsize=32)
def _pattern(currencies: tuple[str, ...], multipliers: tuple[str, ...], joins: tuple[str, ...] = ()) -> re.Pattern:
    number = r"\d{1,3}(?:[ \u00a0\u202f.,]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?"
    cur = _alternatives(currencies)
    # a Latin multiplier ends its word ("5k", not "5 kids"); a Chinese one runs on ("28万rmb")
    # one lookahead per run of Latin multipliers, not one each: each compiles the CJK class anew
    runs = groupby(sorted(multipliers, key=len, reverse=True), key=lambda w: bool(re.search(f"[{CJK}]$", w)))
    mult = "|".join(f"(?:{_alternatives(run)})" + ("" if chinese else f"(?!{_WORDCHAR})") for chinese, run in runs)
    # currency before (symbol style) or after (word style) the number; the multiplier between;
    # a word such as "in" may stand before the currency after it: "50 tisíc v korunách", "4000 mewn punnoedd"
    join = rf"(?:\s(?:{_alternatives(joins)}))?" if joins else ""
    return re.compile(
        rf"(?<![.])(?<!{_WORDCHAR})(?:(?P<pre>{cur})\s?)?(?P<num>{number})(?:\s?(?P<mult>{mult}))?"
        rf"(?:{join}\s?(?P<post>{cur})(?!{_LETTER}))?",
        re.IGNORECASE,
    )


def _to_decimal(raw: str, decimal_mark: str, *, multiplied: bool = False) -> Decimal | None:
    raw = re.sub(r"[ \u00a0\u202f]", "", raw)
    other = "," if decimal_mark == "." else "."
    if raw.count(decimal_mark) > 1:
        raw = raw.replace(decimal_mark, "")
    # "12,500" in English, "12.500" in Czech: a separator before exactly three digits groups thousands
    if re.fullmatch(rf"\d{{1,3}}(?:{re.escape(other)}\d{{3}})+", raw) or re.fullmatch(rf"\d{{1,3}}(?:{re.escape(other)}\d{{3}})+{re.escape(decimal_mark)}\d+", raw):
        raw = raw.replace(other, "")
    elif other in raw and decimal_mark not in raw:
        raw = raw.replace(other, ".")
    elif decimal_mark == "." and not multiplied and re.fullmatch(r"[1-9]\d{0,2}\.\d{3}", raw):
        # "14.000 €" typed the continental way: no sum has three decimals (but "1.125m" and
        # "0.125" do: a multiplier or a leading zero says the point is a decimal one)
        raw = raw.replace(".", "")
    raw = raw.replace(decimal_mark, ".")
    try:
        return Decimal(raw)
    except InvalidOperation:
        return None


@lru_cache(maxsize=64)  # Language is hashed by identity
def _table(key: str, language: Language, others: tuple[Language, ...]) -> dict[str, object]:
    """A money table of the member's language over those of our other languages: "12万 RMB",
    "1.2 miliwn ewro", "15 tis. Kč" are understood whoever types them; where two languages
    read a word differently (Welsh "mil" a thousand, Czech "mil." a million) the member's wins."""
    merged: dict[str, object] = {}
    for lang in (*reversed(others), language):
        merged |= {k.lower(): v for k, v in lang.data.get(key, {}).items()}
    return merged


@lru_cache(maxsize=64)  # Language is hashed by identity
def _joins(language: Language, others: tuple[Language, ...]) -> tuple[str, ...]:
    """`[currency_words] in` of every language: the words that may stand between an amount and
    the currency after it ("in", "v", "mewn", "ilə")."""
    return tuple(sorted({w.lower() for lang in (language, *others) for w in lang.data.get("currency_words", {}).get("in", [])}))


def extract(language: Language, text: str, taken: list[tuple[int, int]], *, bare_ok: bool = False,
            others: tuple[Language, ...] = ()) -> Money | None:
    """The first amount in folded `text` outside the `taken` spans that names a currency or a
    multiplier; failing that, when `bare_ok` (a deal command), the first bare number."""
    currencies = _table("currencies", language, others)
    multipliers = _table("multipliers", language, others)
    pattern = _pattern(tuple(currencies), tuple(multipliers), _joins(language, others))
    marked = [m for m in pattern.finditer(text) if m.group("pre") or m.group("post") or m.group("mult")]
    # "cam 2 - 250k usd": the number with money signs is the amount, not the one before it
    for match in [*marked, *(pattern.finditer(text) if bare_ok else ())]:
        if any(s < match.end() and match.start() < e for s, e in taken):
            continue
        pre, post, mult = match.group("pre"), match.group("post"), match.group("mult")
        value = _to_decimal(match.group("num"), language.data["meta"].get("decimal", "."), multiplied=bool(mult))
        if value is None:
            continue
        if mult:
            value *= Decimal(multipliers[mult.lower()])
        code = currencies.get((pre or post or "").lower())
        if code is None and mult:  # slang for a thousand of a currency: "10 jurjev", "5 litrů"
            code = language.data.get("multiplier_currencies", {}).get(mult.lower())
        if value >= MAX_AMOUNT:  # no deal is that big; Decimal could not even round it to cents
            continue
        later = _put_right(language, text, match, pattern, taken)
        if later is not None:
            # "2,5 mil. Kč?? ne, 25 tisíc eur", "一万二，不对，一万五千块": the amount put right is meant
            meant = extract(language, text, [*taken, (0, later.start())], bare_ok=bare_ok, others=others)
            if meant is not None:
                return Money(meant.amount, meant.currency, (match.start(), meant.span[1]), (match.start(), later.start()))
        return Money(value.quantize(Decimal("0.01")), code, match.span())
    return None


# what may stand between a slip and the amount that puts it right besides the correction word:
# a filler ("uh", "呃", "的")
_GAP_WORDS = 1
_GAP_CJK = 2


@lru_cache(maxsize=64)  # Language is hashed by identity
def corrections(language: Language) -> re.Pattern | None:
    """`[corrections] words` as a pattern over folded text: "no", "ne", "yox", "sori", "不对"."""
    said = sorted({fold(w) for w in language.data.get("corrections", {}).get("words", [])}, key=len, reverse=True)
    return re.compile(whole_phrases(said)) if said else None


def put_right(language: Language, gap: str) -> bool:
    """Whether the folded text between two readings of one thing says the second replaces the
    first: a correction word and at most a filler beside it ("??, ne,", "，不对，", " na ")."""
    pattern = corrections(language)
    if pattern is None or not pattern.search(gap):
        return False
    rest = pattern.sub(" ", gap)
    cjk = sum(1 for ch in rest if re.match(f"[{CJK}]", ch))
    return cjk <= _GAP_CJK and len([w for w in words(re.sub(f"[{CJK}]", " ", rest)) if not w.isdigit()]) <= _GAP_WORDS


def _put_right(language: Language, text: str, match: re.Match, pattern: re.Pattern,
               taken: list[tuple[int, int]]) -> re.Match | None:
    """The next amount after `match`, when what stands between them puts the first right; an
    amount said with money signs is put right only by another ("15k EUR, no discount, 2 years")."""
    marked = lambda m: bool(m.group("pre") or m.group("post") or m.group("mult"))  # noqa: E731
    for later in pattern.finditer(text, match.end()):
        if any(s < later.end() and later.start() < e for s, e in taken) or not later.group("num"):
            continue
        if marked(match) and not marked(later):
            return None
        return later if put_right(language, text[match.end():later.start()]) else None
    return None


@lru_cache(maxsize=64)
def _currency_words(currencies: tuple[str, ...]) -> re.Pattern:
    """A currency word or symbol standing on its own ("eur", "Kč", "$")."""
    return re.compile(rf"(?<![^\W\d_])(?:{_alternatives(currencies)})(?![^\W\d_])")


def _currencies_named(language: Language, text: str, taken: list[tuple[int, int]],
                      others: tuple[Language, ...]) -> list[tuple[str, tuple[int, int]]]:
    """Each currency folded `text` names outside `taken`, and where."""
    currencies = _table("currencies", language, others)
    if not currencies:
        return []
    return [(currencies[m.group(0).lower()], m.span()) for m in _currency_words(tuple(currencies)).finditer(text)
            if not any(s < m.end() and m.start() < e for s, e in taken) and m.group(0).lower() in currencies]


def names_currency(language: Language, text: str, taken: list[tuple[int, int]], others: tuple[Language, ...] = ()) -> bool:
    """Whether folded `text` names a currency outside `taken`: with no amount found, the
    number is missing or unreadable ("new deal acme $", "deal acme eur ??")."""
    return bool(_currencies_named(language, text, taken, others))


def currency_named(language: Language, text: str, taken: list[tuple[int, int]],
                   others: tuple[Language, ...] = ()) -> tuple[str | None, tuple[int, int] | None]:
    """The one currency folded `text` names apart from its amount ("7,5k, v eurech", "2k a
    month, pounds"), outside `taken`, and where; None when it names none or more than one."""
    found = _currencies_named(language, text, taken, others)
    return found[0] if len({code for code, _ in found}) == 1 else (None, None)
