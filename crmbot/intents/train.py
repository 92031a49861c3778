"""Train the intent classifier and write it into the package: one command, from a checkout.

    .venv/bin/python -m crmbot.intents.train            # writes crmbot/intents/model/intents.json
    .venv/bin/python -m crmbot.intents.train --cv 5     # also: cross-validated accuracy per language

It learns from the blind corpora's *tuning* halves (bench/corpora/tuning/, never the sealed
halves), our own tables (tests/data/parse_*.toml / .json) and each locale's intent words
(`[intents.*]` in locales/<lang>/language.toml) as short messages. Needs the `train` extra
(scikit-learn); the model it writes is read without it (crmbot/intents/classifier.py).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tomllib
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from crmbot import sample
from crmbot.i18n import I18n
from crmbot.intents.classifier import FORMAT, Classifier, Spec, features
from crmbot.text import fold

ROOT = Path(__file__).resolve().parents[2]
TUNING = ROOT / "bench" / "corpora" / "tuning"
TABLES = ROOT / "tests" / "data"
OUT = Path(__file__).resolve().parent / "model" / "intents.json"
C = 3.0  # inverse regularisation: picked by --cv on the tuning halves
KEEP = 0.1  # weights smaller than this are dropped from the shipped model: a fifteenth of the size, same --cv accuracy
# how much one training message counts, by source (picked by bench/intent_cv.py): a message
# written by others twice, a phrase-table word made into a message half (it is short and made up)
CORPUS_WEIGHT = 2.0
VOCABULARY_SAMPLE_WEIGHT = 0.5
# a customer's name alone, taught as a look-up, counts least: the name alone must not outvote
# the words around it ("new customer Petr Dvorak from …")
NAME_SAMPLE_WEIGHT = 0.2
_SOURCE_WEIGHT = {"vocabulary": VOCABULARY_SAMPLE_WEIGHT, "name": NAME_SAMPLE_WEIGHT}
SPEC = Spec(han_chars=True)  # what the model sees: picked by bench/intent_cv.py
DIGITS = 3  # decimals kept per weight
NAMES_PER_PHRASE = 3  # customers named beside each phrase-table word made into a message
VOCABULARY_WEIGHT = 2  # phrase-table words at least this strong become training messages
# intents whose messages name a customer: their vocabulary examples get a name from the book
NAMES_A_CUSTOMER = frozenset({
    "log_call", "add_note", "find_customer", "add_customer", "new_deal", "move_deal", "complaint",
    "resolve_complaint", "remind", "reassign", "forget",
})


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    lang: str
    source: str  # "corpus", "table", "vocabulary" or "name"
    round: int = 0  # a corpus message's blind round (bench/corpora/tuning/<lang>.<round>.json)


def corpus_examples(folder: Path = TUNING) -> list[Example]:
    out = []
    for path in sorted(folder.glob("*.json")):
        corpus = json.loads(path.read_text(encoding="utf-8"))
        out += [Example(c["text"], c["intent"], corpus["language"], "corpus", round_of(path)) for c in corpus["cases"]]
    return out


def table_examples(folder: Path = TABLES) -> list[Example]:
    out = []
    for path in sorted([*folder.glob("parse_*.toml"), *folder.glob("parse_*.json")]):
        raw = path.read_text(encoding="utf-8")
        data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw)
        lang = path.stem.removeprefix("parse_")
        out += [Example(c["text"], c["intent"], lang, "table") for c in data["cases"] if not c["text"].startswith("/")]
    return out


def vocabulary_examples(i18n: I18n) -> list[Example]:
    """Each intent word of every locale's phrase table as a short message of its own ("called
    Jan Novák", "undo"): teaches the classifier the words the rules know, rare intents too."""
    rng = random.Random(7)
    names = [name for name, *_ in sample.CUSTOMERS]
    out = []
    for code in i18n.codes:
        for intent, table in i18n.language(code).data.get("intents", {}).items():
            for phrase, weight in table.items():
                if weight < VOCABULARY_WEIGHT or not phrase.strip("?"):
                    continue
                if intent not in NAMES_A_CUSTOMER:
                    out.append(Example(phrase, intent, code, "vocabulary"))
                    continue
                # with several customers each, so a name teaches no intent of its own
                for name in rng.sample(names, NAMES_PER_PHRASE):
                    text = f"{phrase} {name}" if rng.random() < 0.5 else f"{name} {phrase}"
                    out.append(Example(text, intent, code, "vocabulary"))
    return out


def name_examples() -> list[Example]:
    """Each sample customer's name and surname alone, as a look-up: the corpora's
    writers read a bare name so, and without these the model reads a name alone as whatever the
    messages about that customer mostly did ("petr dvorak" → move_deal)."""
    out = []
    for name, *_ in sample.CUSTOMERS:  # (not companies: "new customer X from Acme" is no look-up)
        for text in dict.fromkeys([name, fold(name), name.split()[-1]]):
            out.append(Example(text, "find_customer", "en", "name"))
    return out


def _matrix(examples: list[Example], spec: Spec, columns: dict[str, int], grow: bool):
    """Each message's features scaled to unit length, as Classifier.scores scales them."""
    from scipy.sparse import csr_matrix

    data, indices, indptr = [], [], [0]
    for example in examples:
        present = set(features(example.text, spec))
        for feature in present:
            if grow:
                columns.setdefault(feature, len(columns))
            if feature in columns:
                indices.append(columns[feature])
                data.append(1.0 / math.sqrt(len(present)))
        indptr.append(len(indices))
    return csr_matrix((data, indices, indptr), shape=(len(examples), len(columns)), dtype="float64")


def fit(examples: list[Example], spec: Spec, c: float = C, corpus_weight: float | None = None):
    """A linear support vector machine, one score per intent (one-vs-rest). Messages written by
    others count `corpus_weight` times as much as our own tables (they are what real members
    type), phrase words made into messages half as much (short and made up)."""
    from sklearn.svm import LinearSVC

    weight = CORPUS_WEIGHT if corpus_weight is None else corpus_weight
    columns: dict[str, int] = {}
    x = _matrix(examples, spec, columns, grow=True)
    model = LinearSVC(C=c)
    model.fit(x, [e.intent for e in examples], sample_weight=[_SOURCE_WEIGHT.get(e.source, 1.0) * (weight if e.source == "corpus" else 1.0) for e in examples])
    return columns, model


def taught(examples: list[Example]) -> list[str]:
    """The intents people's messages teach (the rest come from the locales' words alone)."""
    return sorted({e.intent for e in examples if e.source == "corpus"})


def to_data(columns: dict[str, int], model, spec: Spec, temperature: float, keep: float = KEEP,
            taught: list[str] = ()) -> dict:
    weights: dict[str, list[list[float]]] = {}
    coef = model.coef_
    for feature, j in columns.items():
        kept = [[i, round(float(coef[i, j]), DIGITS)] for i in range(coef.shape[0]) if abs(coef[i, j]) >= keep]
        if kept:
            weights[feature] = kept
    return {
        "format": FORMAT,
        "spec": asdict(spec),
        "classes": [str(c) for c in model.classes_],
        "intercept": [round(float(b), DIGITS) for b in model.intercept_],
        "temperature": temperature,
        "weights": weights,
        "taught": list(taught),
    }


def folds(examples: list[Example], k: int, seed: int = 13) -> list[list[Example]]:
    shuffled = examples[:]
    random.Random(seed).shuffle(shuffled)
    return [shuffled[i::k] for i in range(k)]


def rounds(examples: list[Example]) -> list[list[Example]]:
    """The corpus messages grouped by the blind round that wrote them (every language's file of
    that round together): leaving one round out is reading a new writer's phrasing."""
    by: dict[int, list[Example]] = defaultdict(list)
    for example in examples:
        by[example.round].append(example)
    return [by[r] for r in sorted(by)]


def round_of(path: Path) -> int:
    """The round a tuning file comes from: `en.json` is the first, `en.3.json` the third."""
    middle = path.name.split(".")[1:-1]
    return int(middle[0]) if middle else 1


def held_out_scores(examples: list[Example], fixed: list[Example], k: int, spec: Spec, c: float, keep: float):
    """For each example of `examples`, the classifier's scores when trained without its fold
    (but with all of `fixed`): [(example, Classifier trained without it)]. k = 0: the folds
    are the rounds (leave one round out)."""
    out = []
    parts = folds(examples, k) if k else rounds(examples)
    for i, held in enumerate(parts):
        rest = [e for j, part in enumerate(parts) if j != i for e in part]
        classifier = Classifier(to_data(*fit(rest + fixed, spec, c), spec, 1.0, keep, taught(rest + fixed)))
        out += [(example, classifier) for example in held]
    return out


def fit_temperature(scored: list[tuple[Example, list[float], tuple[str, ...]]]) -> float:
    """The temperature that makes the softmax of held-out scores most likely (least log loss)."""
    def log_loss(t: float) -> float:
        total = 0.0
        for example, scores, classes in scored:
            top = max(scores)
            log_sum = math.log(sum(math.exp((s - top) / t) for s in scores))
            right = scores[classes.index(example.intent)] if example.intent in classes else top - 10
            total -= (right - top) / t - log_sum
        return total
    return min((0.05 * i for i in range(1, 61)), key=log_loss)


def train(examples: list[Example], spec: Spec = SPEC, c: float = C, keep: float = KEEP, k: int = 5) -> dict:
    held = held_out_scores(examples, [], k, spec, c, keep)
    temperature = fit_temperature([(e, m.scores(e.text), m.classes) for e, m in held])
    return to_data(*fit(examples, spec, c), spec, round(temperature, 2), keep, taught(examples))


def report(held: list[tuple[Example, Classifier]]) -> list[str]:
    """Intent accuracy per language of the rules alone, the classifier alone and both combined,
    with how often the combination asks back and how often it acts on a wrong intent."""
    from crmbot.intents import parse

    rules = parse.Parser(I18n(), "rules")
    now = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
    counts: dict[str, Counter] = defaultdict(Counter)
    for example, classifier in held:
        language = rules.i18n.language(example.lang)
        name, _, tied, lead = rules._intent_of(example.text, language)
        reading = classifier.read(example.text)
        chosen, alternatives = parse.combine(name, tied, lead, reading)
        row = counts[example.lang]
        row["n"] += 1
        row["rules"] += rules.parse(example.text, example.lang, now, "Europe/Prague").name == example.intent
        row["model"] += reading.best == example.intent
        row["combined"] += chosen == example.intent and not alternatives
        row["asked"] += bool(alternatives)
        row["offered"] += bool(alternatives) and example.intent in (chosen, *alternatives)
        row["wrong"] += not alternatives and chosen != example.intent
    lines = [f"{'lang':<5} {'n':>4} {'rules':>6} {'model':>6} {'both':>6} {'asked':>6} {'offered':>7} {'wrong':>6}"]
    for lang, row in sorted(counts.items()):
        n = row["n"]
        lines.append(f"{lang:<5} {n:>4} " + " ".join(f"{row[k] / n:>{w}.1%}" for k, w in (("rules", 6), ("model", 6), ("combined", 6), ("asked", 6), ("offered", 7), ("wrong", 6))))
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cv", type=int, default=0, help="k-fold cross-validation on the tuning halves first")
    ap.add_argument("--c", type=float, default=C)
    ap.add_argument("--keep", type=float, default=KEEP)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    corpus, tables = corpus_examples(), table_examples() + vocabulary_examples(I18n()) + name_examples()
    counts = defaultdict(Counter)
    for e in corpus + tables:
        counts[e.source][e.lang] += 1
    print("examples:", {source: dict(langs) for source, langs in counts.items()})
    if args.cv:
        # each corpus message read by a model trained without its fold, calibrated as train() does
        held = held_out_scores(corpus, tables, args.cv, SPEC, args.c, args.keep)
        temperature = fit_temperature([(e, m.scores(e.text), m.classes) for e, m in held])
        for _, classifier in held:
            classifier.temperature = temperature
        print(f"tuning halves, {args.cv}-fold cross-validated (temperature {temperature:.2f}):")
        print("\n".join(report(held)))
    data = train(corpus + tables, SPEC, args.c, args.keep)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(data['classes'])} intents, {len(data['weights'])} features, {args.out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
