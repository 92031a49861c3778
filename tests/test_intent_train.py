"""Training the intent classifier: leaving one blind round out, as bench/intent_cv.py --k 0 does."""

from pathlib import Path

from crmbot.intents import train
from crmbot.intents.classifier import Spec


def test_a_tuning_file_name_gives_its_round():
    assert train.round_of(Path("en.json")) == 1
    assert train.round_of(Path("en.3.json")) == 3
    assert train.round_of(Path("zh.12.json")) == 12


def test_corpus_messages_carry_their_round():
    examples = train.corpus_examples()
    assert {e.round for e in examples} >= {1, 2}
    assert all(e.round >= 1 for e in examples)


def test_rounds_put_every_language_of_a_round_together():
    examples = [train.Example(f"t{i}", "ack", lang, "corpus", r)
                for i, (lang, r) in enumerate([("en", 1), ("cs", 2), ("cs", 1), ("zh", 3), ("en", 2)])]
    parts = train.rounds(examples)
    assert [[e.text for e in part] for part in parts] == [["t0", "t2"], ["t1", "t4"], ["t3"]]


def test_leaving_a_round_out_trains_without_any_of_its_messages():
    # each round has a word of its own: the model that reads a round never saw that round's word
    words = {1: "alpha", 2: "bravo", 3: "charlie"}
    examples = [train.Example(f"{words[r]} {verb} {i}", intent, "en", "corpus", r)
                for r in words for i in range(3)
                for verb, intent in (("called", "log_call"), ("remind", "remind"))]
    held = train.held_out_scores(examples, [], 0, Spec(), 1.0, 0.0)
    assert len(held) == len(examples)
    for example, classifier in held:
        own = f"w:{words[example.round]}"
        assert own not in classifier.weights
        assert all(f"w:{w}" in classifier.weights for r, w in words.items() if r != example.round)
