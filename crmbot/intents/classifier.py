"""The learned intent classifier: character n-grams and words of one message, a linear model.

The model is data (`model/intents.json`, written by `python -m crmbot.intents.train`): the
feature spec, the classes, an intercept per class and, per feature, its weight for each class
it matters to, and a temperature. Reading a message is a dot product in plain Python over the
message's features, then a softmax of the scores divided by the temperature (fitted so the
probabilities are calibrated), so running crmbot needs no scikit-learn. `features()` is the one
definition of what the model sees, used by training and by inference alike.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable

import numpy as np

from crmbot.text import fold

MODEL: Traversable = files("crmbot.intents") / "model" / "intents.json"
FORMAT = 1
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# letters, digit runs, and any other single non-space character (punctuation, emoji: "👍", "?")
_TOKENS = re.compile(r"[^\W\d_]+|\d+|[^\w\s]")


@dataclass(frozen=True)
class Spec:
    """What counts as a feature: character n-grams of each word padded with spaces (as
    scikit-learn's `char_wb`), words, and pairs of adjacent words."""

    char_min: int = 2
    char_max: int = 5
    word_pairs: bool = True
    # each Han character on its own too: Chinese has no spaces, so a "word" is a whole clause and
    # its n-grams alone miss a one-character verb (打, 约, 删) wherever it sits
    han_chars: bool = False


def features(text: str, spec: Spec) -> list[str]:
    """The features of a message. Numbers read as one shape ("15000" and "8" are both "0"), so
    the model learns that an amount or an hour is there, not which."""
    tokens = ["0" if t.isdigit() else t for t in _TOKENS.findall(fold(text))]
    out = [f"w:{t}" for t in tokens]
    if spec.word_pairs:
        out += [f"p:{a} {b}" for a, b in zip(tokens, tokens[1:])]
    for token in tokens:
        if not token[0].isalpha():
            continue
        padded = f" {token} "
        for n in range(spec.char_min, spec.char_max + 1):
            out += [f"c:{padded[i:i + n]}" for i in range(len(padded) - n + 1)]
    if spec.han_chars:
        out += [f"h:{ch}" for ch in _HAN.findall(" ".join(tokens))]
    return out


@dataclass(frozen=True)
class Reading:
    """The model's view of one message: every class with its probability, most likely first."""

    ranked: tuple[tuple[str, float], ...]
    # the intents the model learned from people's messages (the blind corpora); the others it
    # knows only from the locales' intent words, too few to outvote the rules. Empty: all of them
    taught: frozenset[str] = frozenset()

    @property
    def best(self) -> str:
        return self.ranked[0][0]

    @property
    def confidence(self) -> float:
        return self.ranked[0][1]

    @property
    def margin(self) -> float:
        """How far the best reading is ahead of the next one."""
        return self.ranked[0][1] - (self.ranked[1][1] if len(self.ranked) > 1 else 0.0)

    def probability(self, intent: str) -> float:
        return next((p for name, p in self.ranked if name == intent), 0.0)

    def knows(self, intent: str) -> bool:
        """Whether the model learned this intent from messages (newer intents are the rules' alone)."""
        if self.taught:
            return intent in self.taught
        return any(name == intent for name, _ in self.ranked)


class Classifier:
    def __init__(self, data: dict) -> None:
        if data.get("format") != FORMAT:
            raise ValueError(f"intent model format {data.get('format')!r}, expected {FORMAT}")
        self.spec = Spec(**data["spec"])
        self.classes: tuple[str, ...] = tuple(data["classes"])
        self.intercept: tuple[float, ...] = tuple(data["intercept"])
        self.temperature = float(data["temperature"])
        # feature -> ((class index, weight), ...): only the weights training kept. As tuples of
        # numbers, which the garbage collector stops walking after its first look; as loaded
        # (a list per pair) they were ~270k lists that every full collection walked (~0.1 s each)
        self.weights: dict[str, tuple[tuple[int, float], ...]] = {
            feature: tuple((int(c), w) for c, w in pairs) for feature, pairs in data["weights"].items()}
        self.taught = frozenset(data.get("taught", ()))
        # the same weights laid out for reading: feature -> its row, and row r's (class, weight)
        # pairs at _ptr[r]:_ptr[r + 1] of _classes and _values, summed per class by numpy
        self._rows = {feature: row for row, feature in enumerate(self.weights)}
        sizes = np.fromiter(map(len, self.weights.values()), dtype=np.int64, count=len(self.weights))
        self._ptr = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=self._ptr[1:])
        pairs = np.array([pair for row in self.weights.values() for pair in row], dtype=np.float64).reshape(-1, 2)
        self._classes, self._values = pairs[:, 0].astype(np.intp), pairs[:, 1].copy()

    def scores(self, text: str) -> list[float]:
        """The linear model's score of each class: the intercept, and the weights of the
        message's features each over the square root of their count (each message's feature
        vector has unit length)."""
        present = set(features(text, self.spec))
        rows = np.fromiter((row for row in map(self._rows.get, present) if row is not None), dtype=np.int64)
        if not len(rows):
            return list(self.intercept)
        starts, sizes = self._ptr[rows], self._ptr[rows + 1] - self._ptr[rows]
        # the positions of every pair of those rows, one run per row
        at = np.arange(int(sizes.sum()), dtype=np.int64) + np.repeat(starts - (np.cumsum(sizes) - sizes), sizes)
        summed = np.bincount(self._classes[at], weights=self._values[at], minlength=len(self.classes))
        return (np.asarray(self.intercept) + summed / math.sqrt(len(present))).tolist()

    def read(self, text: str) -> Reading:
        scores = [s / self.temperature for s in self.scores(text)]
        top = max(scores)
        exp = [math.exp(s - top) for s in scores]
        total = sum(exp)
        ranked = sorted(((name, e / total) for name, e in zip(self.classes, exp)), key=lambda kv: -kv[1])
        return Reading(tuple(ranked), self.taught)


@lru_cache(maxsize=1)
def shipped() -> Classifier | None:
    """The model shipped in the package, or None when it has not been trained yet."""
    if not MODEL.is_file():
        return None
    return Classifier(json.loads(MODEL.read_text(encoding="utf-8")))
