"""Text normalisation shared by the parser and the fuzzy index."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers

_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
# letters written without spaces between words (Han, kana, Hangul): matched as substrings
CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_RUN = re.compile(f"[{CJK}]+")
# an e-mail address; Chinese written right against it is not part of it ("邮箱改成wang@x.cn")
_EMAIL_CHAR = rf"(?:(?![{CJK}])[\w-])"
EMAIL = re.compile(rf"(?:{_EMAIL_CHAR}|[.+])+@{_EMAIL_CHAR}+(?:\.{_EMAIL_CHAR}+)+")
# "d.o.o.", "s.r.o.", "e.g.": single letters joined by dots are one word ("doo"), as typed without them
_DOTTED = re.compile(r"(?<![^\W\d_])(?:[^\W\d_]\.){2,}[^\W\d_]?(?![^\W\d_])")
# letters that do not decompose into base + accent under NFKD
_FOLD = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "ß": "ss", "ı": "i", "ə": "e", "æ": "ae", "œ": "oe"})


def fold(text: str) -> str:
    """Lower case, full width to ASCII width, diacritics removed: for matching only, never shown."""
    if text.isascii():  # nothing to decompose or strip: the same result, several times sooner
        return " ".join(text.lower().split())
    text = unicodedata.normalize("NFKD", text.casefold().translate(_FOLD)).translate(_without_marks())
    return _SPACES.sub(" ", text.translate(_FOLD)).strip()


def fold_map(text: str) -> tuple[str, list[int]] | None:
    """`fold(text)` and, for each of its characters, the index of the character of `text` it
    came from; None when folding character by character does not give `fold`'s answer."""
    chars: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        piece = unicodedata.normalize("NFKD", ch.casefold().translate(_FOLD)).translate(_without_marks()).translate(_FOLD)
        for c in piece:
            if c.isspace():
                if not chars or chars[-1] == " ":
                    continue
                c = " "
            chars.append(c)
            where.append(i)
    while chars and chars[-1] == " ":
        chars.pop()
        where.pop()
    folded = "".join(chars)
    return (folded, where) if folded == fold(text) else None


def fold_many(texts: list[str]) -> list[str]:
    """[fold(t) for t in texts], folded as one string: a first index build folds hundreds of
    thousands of words. Every step maps characters on their own (NUL, the separator, is left
    alone by all of them), so the pieces are what folding each text would give."""
    if any("\0" in t for t in texts):
        return [fold(t) for t in texts]
    # ASCII texts take fold's short way; only the others are folded together (one Czech name
    # among a thousand English ones made all of them pay for decomposition, measured)
    folded = [" ".join(t.lower().split()) if t.isascii() else None for t in texts]
    rest = [i for i, piece in enumerate(folded) if piece is None]
    if rest:
        for i, piece in zip(rest, fold_pieces("\0".join([texts[i] for i in rest])).split("\0")):
            folded[i] = piece.strip()
    return folded  # type: ignore[return-value]


def fold_pieces(text: str) -> str:
    if text.isascii():
        return "\0".join(" ".join(piece.lower().split()) for piece in text.split("\0"))
    text = unicodedata.normalize("NFKD", text.casefold().translate(_FOLD))
    return _SPACES.sub(" ", text.translate(_without_marks()).translate(_FOLD))


@lru_cache(maxsize=1)
def _without_marks() -> dict[int, None]:
    """The same combining marks as a table that deletes them: str.translate drops them a few
    times faster than the regular expression (an import folds every name it reads)."""
    return dict.fromkeys((code for code in range(0x20000) if unicodedata.combining(chr(code))), None)


@lru_cache(maxsize=1)
def _combining() -> re.Pattern[str]:
    """Every combining mark (what `unicodedata.combining` tells from a base letter), as one
    character class: removing them with a regular expression is many times faster than asking
    character by character. Made on first use. Combining marks live in the first two planes
    (tests/test_search.py checks every plane), so only those are looked at."""
    ranges: list[list[int]] = []
    for code in range(0x20000):
        if unicodedata.combining(chr(code)):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return re.compile("[" + "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges) + "]")


def words(text: str) -> list[str]:
    return _WORD.findall(undot(text))


def undot(text: str) -> str:
    """Dotted abbreviations as the one word they are: "horvat d.o.o." -> "horvat doo"."""
    return _DOTTED.sub(lambda m: m.group(0).replace(".", ""), text)


def has_cjk(text: str) -> bool:
    return _CJK_RUN.search(text) is not None


def cjk_runs(text: str) -> list[str]:
    return _CJK_RUN.findall(text)


def bigrams(run: str) -> list[str]:
    """Overlapping character pairs of a run written without spaces: "上海华信科技" ->
    上海 海华 华信 信科 科技. Any word of two or more characters then shares a token with it."""
    if len(run) < 2:
        return [run] if run else []
    return [run[i:i + 2] for i in range(len(run) - 1)]


def phone_key(phone: str) -> str:
    """The last nine digits: enough to tell numbers apart, blind to +420 / 00420 / 0 prefixes."""
    digits = re.sub(r"\D", "", phone)
    return digits[-9:] if len(digits) >= 6 else ""


def clean(text: str) -> str:
    """Drop control characters (keep newlines and tabs) so nothing invisible reaches storage."""
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C").strip()


def normalise_phone(raw: str, region: str | None = None) -> str:
    """E.164 when the number can be read ("+420 777 123 456" -> "+420777123456"); else as typed."""
    try:
        number = phonenumbers.parse(raw, None if raw.strip().startswith("+") else region)
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    return raw.strip()


# the region a bare national number is read in, by the member's language
PHONE_REGION = {"cs": "CZ", "sl": "SI", "az": "AZ", "cy": "GB", "zh": "CN", "en": "GB"}
DIGIT_RUN = re.compile(r"(?<![\w+$€£¥₼])(?:\+|00)?\d[\d \-./()]{5,}\d(?![\w%])")
DATE_SHAPE = re.compile(r"\d{1,4}([./-])\d{1,2}\1\d{1,4}")  # 12.11.2024, 2024-11-30, 30/11/24
MONEY_AFTER = re.compile(r"\s*(?:[A-Z]{3}\b|Kč|€|£|¥|元|₼|manat|tis\b|mil\b)", re.I)


def contact_in(text: str, region: str | None = None) -> str:
    """The e-mail address or phone number in a message, as typed ("" when none): a customer is
    looked up by it exactly, never fuzzily. Dates and amounts are not phone numbers: a run of
    digits counts only if it is not date-shaped, no currency follows it, and it has the length
    of a phone number (with its country code, or possible in the member's region)."""
    found = EMAIL.search(text)
    if found:
        return found.group(0)
    for run in DIGIT_RUN.finditer(text):
        raw = run.group(0).strip()
        digits = re.sub(r"\D", "", raw)
        if DATE_SHAPE.fullmatch(raw) or MONEY_AFTER.match(text, run.end()) or len(digits) < 8:
            continue
        international = raw.startswith(("+", "00"))
        try:
            number = phonenumbers.parse("+" + digits.removeprefix("00") if international else digits, None if international else region)
        except phonenumbers.NumberParseException:
            number = None
        if (number is not None and phonenumbers.is_possible_number(number)) or (not international and len(digits) >= 9 and region is None):
            return raw
    return ""


def same_number(typed: str, stored: str, region: str | None) -> bool:
    """Whether a number as typed is this stored one. Typed with its country code (+421, 00421),
    the codes must agree: +420 and +421 with the same digits are different people. Typed without,
    the digits after the code decide (phone_key)."""
    digits = re.sub(r"\D", "", typed)
    if typed.lstrip().startswith(("+", "00")):
        return normalise_phone("+" + digits.removeprefix("00")) == normalise_phone(stored)
    return phone_key(typed) == phone_key(stored)
