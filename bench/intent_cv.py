"""Held-out intent accuracy of the combined parser on the blind corpora's tuning halves.

    .venv/bin/python bench/intent_cv.py [--k 5] [--c 3.0] [--mode combined]

The tuning halves are what the classifier trains on, so scoring them with the shipped model
says nothing. Here they are split into k folds; each fold is read by the real `Parser` (rules
and classifier combined as the product runs them) whose classifier was trained without that
fold's messages (with our own tables and the phrase-table vocabulary, as `train` does). Intents
are scored as bench/corpus_eval.py scores them: `intent` counts the reading crmbot puts first,
`asked` how often it would ask back, `wrong` how often it would change data on a wrong intent
without asking. The softmax temperature is fitted on the pooled held-out scores, as `train`
fits it. The sealed halves are never read.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crmbot.i18n import I18n  # noqa: E402
from crmbot.intents import train  # noqa: E402
from crmbot.intents.parse import HARMLESS, MODES, Parser  # noqa: E402


def corpus_cases(folder: Path = train.TUNING) -> list[tuple[train.Example, dict]]:
    """Each tuning message as a training example, with the clock and zone it was written at."""
    out = []
    for path in sorted(folder.glob("*.json")):
        corpus = json.loads(path.read_text(encoding="utf-8"))
        zone = corpus["timezone"]
        now = datetime.fromisoformat(corpus["now"]).replace(tzinfo=ZoneInfo(zone))
        for case in corpus["cases"]:
            example = train.Example(case["text"], case["intent"], corpus["language"], "corpus", train.round_of(path))
            out.append((example, {"now": now, "tz": zone}))
    return out


def cross_validate(k: int, c: float, mode: str, spec: train.Spec = train.SPEC, show: bool = False) -> dict[str, Counter]:
    i18n = I18n()
    cases = corpus_cases()
    when = {id(e): w for e, w in cases}
    examples = [e for e, _ in cases]
    fixed = train.table_examples() + train.vocabulary_examples(i18n) + train.name_examples()
    held = train.held_out_scores(examples, fixed, k, spec, c, train.KEEP)
    temperature = train.fit_temperature([(e, m.scores(e.text), m.classes) for e, m in held])
    parser = Parser(i18n, mode)
    counts: dict[str, Counter] = defaultdict(Counter)
    timings: list[float] = []
    for example, classifier in held:
        classifier.temperature = temperature
        parser.classifier = classifier
        w = when[id(example)]
        started = time.perf_counter()
        intent = parser.parse(example.text, example.lang, w["now"], w["tz"])
        timings.append(time.perf_counter() - started)
        for key in (example.lang, "all"):
            row = counts[key]
            row["n"] += 1
            row["intent"] += intent.name == example.intent
            row["asked"] += bool(intent.alternatives)
            row["offered"] += bool(intent.alternatives) and example.intent in (intent.name, *intent.alternatives)
            row["wrong"] += not intent.alternatives and intent.name != example.intent and intent.name not in HARMLESS
            row["model"] += classifier.read(example.text).best == example.intent
        if show and not intent.alternatives and intent.name != example.intent and intent.name not in HARMLESS:
            print(wrong_case(parser, example, intent, w))
    print(f"{f'{k}-fold' if k else 'leave-one-round-out'}, C={c}, temperature {temperature:.2f}, {spec}, median parse {statistics.median(timings) * 1000:.2f} ms")
    return counts


def wrong_case(parser: Parser, example: train.Example, intent, w: dict) -> str:
    """A message acted on with the wrong intent: what the rules and the held-out model read."""
    rule, _, tied, lead = parser._intent_of(example.text, parser.i18n.language(example.lang))
    top = ", ".join(f"{name} {p:.2f}" for name, p in parser.classifier.read(example.text).ranked[:3])
    return (f"[{example.lang}] {example.text!r}\n    want {example.intent}, got {intent.name}; "
            f"rules {rule}{'=' + '/'.join(tied) if tied else ''} lead {lead:.1f}; model {top}")


def report(counts: dict[str, Counter]) -> str:
    lines = [f"{'lang':<5} {'n':>4} {'intent':>7} {'model':>6} {'asked':>6} {'offered':>7} {'wrong':>6}"]
    for lang in sorted(counts, key=lambda l: (l == "all", l)):
        row = counts[lang]
        n = row["n"]
        lines.append(f"{lang:<5} {n:>4} " + " ".join(f"{row[key] / n:>{w}.1%}" for key, w in (("intent", 7), ("model", 6), ("asked", 6), ("offered", 7), ("wrong", 6))))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=5, help="folds; 0: leave one blind round out (a new writer's phrasing)")
    ap.add_argument("--c", type=float, default=train.C)
    ap.add_argument("--mode", choices=MODES, default="combined")
    ap.add_argument("--show-wrong", action="store_true", help="print the messages acted on with a wrong intent")
    args = ap.parse_args()
    print(report(cross_validate(args.k, args.c, args.mode, show=args.show_wrong)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
