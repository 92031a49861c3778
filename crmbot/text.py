"""Text normalisation shared by the parser and the fuzzy index."""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
# letters that do not decompose into base + accent under NFKD
_FOLD = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "ß": "ss", "ı": "i", "ə": "e", "æ": "ae", "œ": "oe"})


def fold(text: str) -> str:
    """Lower case, full width to ASCII width, diacritics removed: for matching only, never shown."""
    text = unicodedata.normalize("NFKD", text.casefold().translate(_FOLD))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _SPACES.sub(" ", text.translate(_FOLD)).strip()


def words(text: str) -> list[str]:
    return _WORD.findall(text)


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
