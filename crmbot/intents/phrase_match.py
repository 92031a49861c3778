"""Phrases found as whole words, compiled cheaply.

A phrase is a whole word when no letter of a spaced script touches it; Chinese, written without
spaces, has no word boundary to ask for. Written as a regex, that is `(?<![^\\W<CJK>])phrase
(?![^\\W<CJK>])`, and Python's `re` builds the CJK class anew in every pattern, in a Python loop
over its ~40,000 code points: 2–5 ms a pattern, ~10 s for the phrase tables of six languages at
every start. Here the phrase is a plain literal pattern and the boundary is checked in Python
by one class compiled once, with the same matches as the regex would give.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from itertools import groupby

from crmbot.text import CJK

_CJK_CHAR = re.compile(f"[{CJK}]")
_CJK_ONLY = re.compile(f"[{CJK}]+")
_SPACED_LETTER = re.compile(rf"[^\W{CJK}]")  # a word character of a script written with spaces
NOT_AFTER_WORD = rf"(?<![^\W{CJK}])"
NOT_BEFORE_WORD = rf"(?![^\W{CJK}])"


class CheckedPattern:
    """A literal pattern whose matches are kept only where `accept` says so. `search` and
    `finditer` behave as the equivalent regex: a refused match is tried again one character on,
    an accepted one continues after its end."""

    __slots__ = ("_literal", "_accept", "pattern", "_text")

    def __init__(self, literal: re.Pattern, accept: Callable[[str, re.Match], bool], pattern: str,
                 text: str | None = None) -> None:
        self._literal = literal
        self._accept = accept
        self.pattern = pattern  # the regex this stands for, for joining into a larger one
        self._text = text  # the phrase itself, when the literal pattern is just that text

    def may_occur(self, text: str) -> bool:
        """False when the pattern cannot match `text` (its phrase is not in it): a substring test,
        far cheaper than a search. Phrase tables hold hundreds of phrases; a message holds few."""
        return self._text is None or self._text in text

    def finditer(self, text: str) -> Iterator[re.Match]:
        if self._text is not None and self._text not in text:
            return
        position = 0
        while (match := self._literal.search(text, position)) is not None:
            if self._accept(text, match):
                yield match
                position = max(match.end(), match.start() + 1)
            else:
                position = match.start() + 1

    def search(self, text: str) -> re.Match | None:
        if self._text is not None and self._text not in text:
            return None
        return next(self.finditer(text), None)

    def sub(self, replacement: str, text: str) -> str:
        """Each match replaced by `replacement`, taken as it is (no group references)."""
        if self._text is not None and self._text not in text:
            return text
        pieces, last = [], 0
        for match in self.finditer(text):
            pieces += (text[last:match.start()], replacement)
            last = match.end()
        return "".join(pieces) + text[last:] if pieces else text


def _bounded(before: bool, after: bool) -> Callable[[str, re.Match], bool]:
    def accept(text: str, match: re.Match) -> bool:
        start, end = match.span()
        if before and start and _SPACED_LETTER.match(text, start - 1):
            return False
        return not (after and end < len(text) and _SPACED_LETTER.match(text, end))

    return accept


def _sides(phrase: str) -> tuple[bool, bool]:
    """Whether a phrase needs a word boundary before it and after it: not where it starts or
    ends with a character of a script written without spaces (a Latin word meets Chinese text
    without a space: "lost了" still says "lost")."""
    return not _CJK_CHAR.match(phrase[:1]), not _CJK_CHAR.match(phrase[-1:])


@lru_cache(maxsize=16384)
def whole_phrase(phrase: str) -> CheckedPattern:
    """`phrase` as a whole word; where it starts or ends with a character of a script written
    without spaces (Chinese), there is no word boundary to ask for on that side."""
    before, after = _sides(phrase)
    return CheckedPattern(re.compile(re.escape(phrase)), _bounded(before, after), whole_phrases([phrase]), phrase)


def whole_phrases(phrases: Iterable[str]) -> str:
    """The regex source for any of `phrases` as a whole word, tried in the order given: the
    alternation of their `whole_phrase` patterns, with one boundary class for each run of
    phrases that need the same boundaries rather than one per phrase (the same matches)."""
    parts = []
    for (before, after), run in groupby(phrases, key=_sides):
        body = "|".join(re.escape(p) for p in run)
        parts.append((NOT_AFTER_WORD if before else "") + f"(?:{body})" + (NOT_BEFORE_WORD if after else ""))
    return "|".join(parts)


def _all_cjk(text: str, match: re.Match) -> bool:
    return _CJK_ONLY.fullmatch(match.group(0)) is not None


@lru_cache(maxsize=4096)
def one_off(phrase: str) -> CheckedPattern:
    """A phrase of CJK characters with any one of them replaced by another CJK character. Any
    character stands in the pattern; a match is kept when all its characters are CJK, which
    (the rest being the phrase's own) is when the replaced one is."""
    source = "|".join(re.escape(phrase[:i]) + f"[{CJK}]" + re.escape(phrase[i + 1:]) for i in range(len(phrase)))
    literal = re.compile("|".join(re.escape(phrase[:i]) + "." + re.escape(phrase[i + 1:]) for i in range(len(phrase))), re.S)
    return CheckedPattern(literal, _all_cjk, source)
