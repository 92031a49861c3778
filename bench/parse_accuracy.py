"""Per-language parse accuracy and speed: the blind corpora's tuning and sealed halves
(bench/corpora/, see bench/corpus_eval.py and bench/corpora/SCHEMA.md), then our own older test
tables in tests/data/parse_<lang>.toml.

    .venv/bin/python bench/parse_accuracy.py [--lang cs] [--half sealed] [--mode combined] [--show-failures]

The corpora are scored with each parser mode (rules alone, classifier alone, combined: the
product's) unless `--mode` picks some. `--show-failures` prints the tuning half's failures only
(of the last mode): the sealed half is never read for rules.

The older tables:

Runs the real parser and the real customer resolver (the fuzzy index over a seeded SQLite file,
accepted the way `crmbot parse` accepts a match) against a clock fixed at 2026-11-25T10:00:00Z,
member time zone Europe/Prague, and prints per language: intent accuracy, slot accuracy (a case
counts when every slot it is checked on is right), per-slot accuracy and the median parse time.

    .venv/bin/python bench/parse_accuracy.py [--lang cs] [--show-failures] [--tables DIR]

The tables follow tests/data/parse_en.json: customer, amount, currency and due are checked on
every case (left out = none expected; customer is not checked on add_customer cases unless
given), stage and period only when the case gives them. A `remind` whose due is a delay
("in 2 hours") is checked as clock + delay, as intents/followups.py uses it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import tomllib
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crmbot import sample  # noqa: E402
from crmbot.app import build  # noqa: E402
from crmbot.config import Settings  # noqa: E402
from crmbot.intents.parse import MODES, Parser  # noqa: E402
from crmbot.store.search import clear_winner  # noqa: E402

from bench import corpus_eval  # noqa: E402

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
TZ = "Europe/Prague"
SLOTS = ("customer", "stage", "amount", "currency", "due", "period")


def load_cases(path: Path) -> list[dict]:
    raw = path.read_text(encoding="utf-8")
    data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw)
    for key in ("case", "cases", "test", "tests"):
        if isinstance(data.get(key), list):
            return data[key]
    raise SystemExit(f"{path}: no [[case]] list")


def _due(value) -> datetime | None:
    if value in (None, ""):
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(TZ))


def _amount(value) -> Decimal | None:
    if value in (None, ""):
        return None
    return Decimal(str(value)).quantize(Decimal("0.01"))


def expected_slots(case: dict) -> dict:
    out = {}
    if case.get("intent") != "add_customer" or "customer" in case:  # a new customer is not looked up
        out["customer"] = case.get("customer") or None
    out |= {
        "amount": _amount(case.get("amount")),
        "currency": case.get("currency") or None,
        "due": _due(case.get("due")),
    }
    for key in ("stage", "period"):  # checked only when the case gives them
        if key in case:
            out[key] = case.get(key) or None
    return out


def got_slots(slots: dict, customer: str | None, intent: str) -> dict:
    amount = slots.get("amount")
    due = slots.get("due")
    if due is None and slots.get("delay") is not None and intent == "remind":
        due = NOW + slots["delay"]  # what intents/followups.py does with "in 2 hours"
    return {
        "customer": customer,
        "stage": slots.get("stage"),
        "amount": _amount(amount) if amount is not None else None,
        "currency": slots.get("currency"),
        "due": due,
        "period": slots.get("period"),
    }


async def run(tables: list[Path], show: bool) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        app = build(Settings(), db=f"sqlite:///{Path(tmp) / 'bench.db'}", clock=lambda: NOW)
        parser = Parser(app.i18n)
        try:
            async with app.db.sessions() as session, session.begin():
                team = await sample.seed(session, NOW)
            rows = []
            for path in tables:
                lang = path.stem.removeprefix("parse_")
                cases = load_cases(path)
                intent_ok = slot_ok = 0
                field_ok = {k: 0 for k in SLOTS}
                field_n = {k: 0 for k in SLOTS}
                timings: list[float] = []
                failures = []
                async with app.db.sessions() as session, session.begin():
                    for case in cases:
                        started = time.perf_counter()
                        intent = parser.parse(case["text"], lang, NOW, TZ)
                        timings.append(time.perf_counter() - started)
                        customer = None
                        if intent.mention:
                            winner = clear_winner(await app.bot.index.search(session, team.id, intent.mention))
                            customer = winner.display if winner else None
                        want, got = expected_slots(case), got_slots(intent.slots, customer, intent.name)
                        wrong = [k for k in want if want[k] != got[k]]
                        for k in want:
                            field_n[k] += 1
                            field_ok[k] += k not in wrong
                        intent_right = intent.name == case["intent"]
                        intent_ok += intent_right
                        slot_ok += not wrong
                        if show and (wrong or not intent_right):
                            failures.append((case, intent, got, want, wrong, intent_right))
                n = len(cases)
                rows.append((lang, n, intent_ok / n, slot_ok / n, {k: field_ok[k] / field_n[k] for k in SLOTS if field_n[k]}, statistics.median(timings) * 1000, max(timings) * 1000))
                for case, intent, got, want, wrong, intent_right in failures:
                    print(f"[{lang}] {case['text']!r}")
                    if not intent_right:
                        print(f"    intent: want {case['intent']}, got {intent.name} (mention {intent.mention!r})")
                    for k in wrong:
                        print(f"    {k}: want {want[k]}, got {got[k]}" + (f" (mention {intent.mention!r})" if k == "customer" else ""))
        finally:
            await app.close()
    print(f"{'lang':<5} {'cases':>5} {'intent':>7} {'slots':>7}  {'median ms':>9} {'max ms':>7}  per slot")
    for lang, n, ia, sa, per, med, mx in rows:
        per_text = " ".join(f"{k}={v:.0%}" for k, v in per.items())
        print(f"{lang:<5} {n:>5} {ia:>7.1%} {sa:>7.1%}  {med:>9.2f} {mx:>7.1f}  {per_text}")
    return 0


async def corpora(halves: list[str], langs: list[str] | None, show: bool, modes: tuple[str, ...],
                  rounds: list[int] | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = build(Settings(), db=f"sqlite:///{Path(tmp) / 'corpus.db'}", clock=lambda: NOW)
        try:
            scores = await corpus_eval.evaluate(app, halves, langs, NOW, show, modes, rounds)
        finally:
            await app.close()
    print("blind corpora (written from SCHEMA.md alone):")
    print("\n".join(corpus_eval.report(scores)))
    print()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lang", action="append", help="only these languages (repeatable)")
    ap.add_argument("--tables", type=Path, default=ROOT / "tests" / "data")
    ap.add_argument("--show-failures", action="store_true")
    ap.add_argument("--half", action="append", choices=("tuning", "sealed"), help="corpus halves (default both)")
    ap.add_argument("--mode", action="append", choices=MODES, help="parser modes for the corpora (default all)")
    ap.add_argument("--round", type=int, action="append", help="only these rounds of writing (repeatable; 1 is `<lang>.json`)")
    ap.add_argument("--no-tables", action="store_true", help="only the blind corpora")
    args = ap.parse_args()
    asyncio.run(corpora(args.half or ["tuning", "sealed"], args.lang, args.show_failures, tuple(args.mode or MODES), args.round))
    if args.no_tables:
        return 0
    tables = sorted([*args.tables.glob("parse_*.toml"), *args.tables.glob("parse_*.json")])
    if args.lang:
        tables = [t for t in tables if t.stem.removeprefix("parse_") in args.lang]
    if not tables:
        raise SystemExit(f"no parse_<lang>.toml in {args.tables}")
    return asyncio.run(run(tables, args.show_failures))


if __name__ == "__main__":
    raise SystemExit(main())
