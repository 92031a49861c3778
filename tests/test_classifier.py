"""The learned intent classifier reads a message as its model says (crmbot.intents.classifier)."""

import math

import pytest

from crmbot.intents.classifier import FORMAT, Classifier, Spec, features


def plain_scores(data: dict, text: str) -> list[float]:
    """The model's definition, feature by feature: the intercept, plus each present feature's
    weights over the square root of the number of distinct features."""
    present = set(features(text, Spec(**data["spec"])))
    scores = list(data["intercept"])
    for feature in present:
        for c, w in data["weights"].get(feature, ()):
            scores[int(c)] += w / math.sqrt(len(present))
    return scores


MODEL = {
    "format": FORMAT, "spec": {"char_min": 2, "char_max": 3, "word_pairs": True, "han_chars": True},
    "classes": ["log_call", "remind", "unknown"], "intercept": [0.1, -0.2, 0.3], "temperature": 0.7,
    "weights": {"w:called": [[0, 2.0], [2, -0.5]], "c:ca": [[0, 0.25]], "c: c": [[0, 0.5], [1, 0.125]],
                "p:called eva": [[0, 1.5]], "w:remind": [[1, 3.0]], "c:nd": [[1, 0.75], [2, 0.25]],
                "h:打": [[0, 1.0]], "w:0": [[1, -1.0]]},
}


@pytest.mark.parametrize("text", ["called Eva", "remind me, called and called again at 9", "给张伟打电话", "", "👍 zzz"])
def test_each_class_scores_its_weights_over_the_message_s_features(text):
    classifier = Classifier(MODEL)
    assert classifier.scores(text) == pytest.approx(plain_scores(MODEL, text), abs=1e-12)


def test_a_message_with_no_known_feature_scores_the_intercepts_and_reads_them_as_probabilities():
    classifier = Classifier(MODEL)
    assert classifier.scores("xyz") == MODEL["intercept"]
    reading = classifier.read("xyz")
    assert reading.best == "unknown" and sum(p for _, p in reading.ranked) == pytest.approx(1.0)


def test_the_shipped_model_reads_a_logged_call_as_one():
    from crmbot.intents.classifier import shipped

    classifier = shipped()
    if classifier is None:
        pytest.skip("no trained model shipped")
    text = "called Ivana Kisabyuakova, wants a quote by friday"
    assert classifier.scores(text) == pytest.approx(plain_scores({
        "spec": classifier.spec.__dict__, "intercept": classifier.intercept, "weights": classifier.weights}, text), abs=1e-9)
    assert classifier.read(text).best == "log_call"
