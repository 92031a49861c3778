"""Whole phrases matched with the boundary checked in Python find exactly what the regex they
stand for finds: the same spans, the same text left after `sub`."""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from crmbot.intents.phrase_match import one_off, whole_phrase, whole_phrases

# Latin letters with an accent, digits, CJK, spaces and signs: every kind of boundary
LETTERS = st.sampled_from(list("abnoé1_ 了王总签.-"))
TEXT = st.text(LETTERS, max_size=24)
PHRASE = st.text(LETTERS, min_size=1, max_size=4).filter(lambda p: p.strip() == p and p)


def spans(matches) -> list[tuple[int, int]]:
    return [m.span() for m in matches]


@settings(deadline=None)  # a loaded machine is no failure
@given(phrase=PHRASE, text=TEXT)
@example(phrase="lost", text="lost了 lost lostx xlost")
@example(phrase="ana", text="anana ana")
@example(phrase="a了a", text="ba了a了a")  # refused at 1 (after "b"), found at 3, overlapping it
def test_a_whole_phrase_matches_where_its_regex_does(phrase, text):
    checked = whole_phrase(phrase)
    regex = re.compile(checked.pattern)
    assert spans(checked.finditer(text)) == spans(regex.finditer(text))
    found, expected = checked.search(text), regex.search(text)
    assert (found and found.span()) == (expected and expected.span())
    assert checked.sub(" ", text) == regex.sub(" ", text)


@settings(deadline=None)  # a loaded machine is no failure
@given(phrases=st.lists(PHRASE, min_size=1, max_size=5), text=TEXT)
@example(phrases=["ab", "了ab", "ab了", "a"], text="ab了ab abx 了a")
def test_phrases_joined_match_as_their_patterns_joined_one_by_one(phrases, text):
    one_by_one = re.compile("|".join(whole_phrase(p).pattern for p in phrases))
    assert spans(re.finditer(whole_phrases(phrases), text)) == spans(one_by_one.finditer(text))


@settings(deadline=None)  # a loaded machine is no failure
@given(phrase=st.text(st.sampled_from(list("王总签了")), min_size=3, max_size=4),
       text=st.text(st.sampled_from(list("王总签了经a1 ")), max_size=16))
@example(phrase="签合同", text="签a同 签了同 签合同")
def test_a_chinese_phrase_with_one_character_changed_matches_as_its_regex(phrase, text):
    checked = one_off(phrase)
    assert spans(checked.finditer(text)) == spans(re.finditer(checked.pattern, text))
