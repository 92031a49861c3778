"""The blind corpora's tuning halves (bench/corpora/tuning/), understood by the product's parser.

These messages were written by people shown only bench/corpora/SCHEMA.md, never the rules, and
the classifier was trained on them (python -m crmbot.intents.train), so this is a floor that
catches a regression of the rules, the classifier or their combination, not a measure of how
well crmbot generalises: that is the sealed half, which only bench/parse_accuracy.py reads.
Scored exactly as the bench scores them (bench/corpus_eval.py): the real parser, the real
customer index over the sample team in a SQLite file, `clear_winner`.
"""

from __future__ import annotations

import asyncio

import pytest

from bench import corpus_eval
from crmbot.app import build
from crmbot.config import Settings
from tests.parsing import NOW

# what the combined parser reaches on the tuning halves (2026-12-03, after round 7, with spelled
# clock times, company and title readings of names, follow-up phrases and stage transitions:
# intent 99.4-99.8%, slots az 94.3 cs 92.3 cy 90.2 en 93.7 sl 92.0 zh 93.0, as
# bench/parse_accuracy.py --half tuning --mode combined prints them: both score through
# bench/corpus_eval.py), less about a point; the 95% floor is met nowhere yet. Intent is
# near 100% because the classifier was trained on these messages. With blind round 8 in the
# tuning halves (2026-12-03, after the slot rules of branch parser6b): intent 97.1-98.3%, slots
# az 93.4 cs 91.4 cy 90.0 en 93.9 sl 91.5 zh 93.7. With blind round 9 in the tuning halves and
# branch parser8's rules (2026-12-04: surnames a letter apart ask, nicknames, possessives,
# follow-up words, az compound weekdays), the classifier not yet trained on round 9: intent
# 98.5-99.2%, slots az 94.2 cs 92.4 cy 93.3 en 93.2 sl 92.5 zh 94.6; trained on it: intent
# 99.4-99.7%, slots az 94.4 cs 92.5 cy 93.5 en 93.2 sl 92.5 zh 94.9.
MIN_INTENT = {"az": 0.97, "cs": 0.97, "cy": 0.97, "en": 0.97, "sl": 0.97, "zh": 0.97}
MIN_SLOTS = {"az": 0.935, "cs": 0.915, "cy": 0.925, "en": 0.925, "sl": 0.915, "zh": 0.94}
MAX_ACTED_WRONG = 0.02  # changed data on a wrong intent without asking


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    async def run():
        app = build(Settings(), db=f"sqlite:///{tmp_path_factory.mktemp('corpus') / 'crm.db'}", clock=lambda: NOW)
        try:
            return await corpus_eval.evaluate(app, ["tuning"], None, NOW, show=False)
        finally:
            await app.close()

    return {s.lang: s for s in asyncio.run(run())}


def test_every_language_has_a_tuning_half(scores):
    assert set(scores) >= set(MIN_INTENT)
    assert all(s.cases >= 150 for s in scores.values())


@pytest.mark.parametrize("lang", sorted(MIN_INTENT))
def test_tuning_half_is_understood(scores, lang, capsys):
    score = scores[lang]
    intent, slots, wrong = score.intent_ok / score.cases, score.slots_ok / score.cases, score.acted_wrong / score.cases
    with capsys.disabled():
        print(f"\n{lang} tuning: intent {intent:.1%}, slots {slots:.1%}, acted wrong {wrong:.1%}, asked {score.asked / score.cases:.1%}")
    assert intent >= MIN_INTENT[lang]
    assert slots >= MIN_SLOTS[lang]
    assert wrong <= MAX_ACTED_WRONG
