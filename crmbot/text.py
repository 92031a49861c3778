"""Text normalisation shared by the parser and the fuzzy index."""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
# letters written without spaces between words (Han, kana, Hangul): matched as substrings
CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_RUN = re.compile(f"[{CJK}]+")
# "d.o.o.", "s.r.o.", "e.g.": single letters joined by dots are one word ("doo"), as typed without them
_DOTTED = re.compile(r"(?<![^\W\d_])(?:[^\W\d_]\.){2,}[^\W\d_]?(?![^\W\d_])")
# letters that do not decompose into base + accent under NFKD
_FOLD = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "ß": "ss", "ı": "i", "ə": "e", "æ": "ae", "œ": "oe"})


def fold(text: str) -> str:
    """Lower case, full width to ASCII width, diacritics removed: for matching only, never shown."""
    text = unicodedata.normalize("NFKD", text.casefold().translate(_FOLD))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _SPACES.sub(" ", text.translate(_FOLD)).strip()


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
DIGIT_RUN = re.compile(r"(?<![\w+])(?:\+|00)?\d[\d \-./()]{5,}\d(?!\w)")


def contact_in(text: str) -> str:
    """The e-mail address or phone number in a message, as typed ("" when none): a customer is
    looked up by it exactly, never fuzzily."""
    found = EMAIL.search(text)
    if found:
        return found.group(0)
    for run in DIGIT_RUN.finditer(text):
        if sum(ch.isdigit() for ch in run.group(0)) >= 7:
            return run.group(0).strip()
    return ""


def same_number(typed: str, stored: str, region: str | None) -> bool:
    """Whether a number as typed is this stored one. Typed with its country code (+421, 00421),
    the codes must agree: +420 and +421 with the same digits are different people. Typed without,
    the digits after the code decide (phone_key)."""
    digits = re.sub(r"\D", "", typed)
    if typed.lstrip().startswith(("+", "00")):
        return normalise_phone("+" + digits.removeprefix("00")) == normalise_phone(stored)
    return phone_key(typed) == phone_key(stored)
