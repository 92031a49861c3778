"""Score the parser on the blind corpora (bench/corpora/<half>/<lang>.json, see SCHEMA.md).

The corpora were written by people shown only SCHEMA.md, never the rules; `tuning/` may be
looked at when rules change, `sealed/` is only measured. A case's meaning is compared with what
crmbot understood: the intent, and the slots that decide what gets stored — the customer (as
the real resolver and `clear_winner` settle it: one name, "?" when crmbot would ask, none), the
amount and currency, the due moment (the date alone when the case names only a day), stage and
period. A follow-up or deal in `also` is what crmbot keeps of the same message, so its due or
amount is checked as part of the message.

Each parser mode is scored (crmbot/intents/parse.py MODES): the vocabulary rules alone, the
learned classifier alone, and both combined (the product). Intent counts the reading crmbot
puts first; `asked` is how often it would ask back instead of acting (`askclr`: of those, the
messages whose case has no `ask`, which a careful person would act on), `wrong` how often it would
change data on a wrong intent without asking (a wrong look-up or help is not counted there).
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from crmbot import sample
from crmbot.intents.doubts import asks
from crmbot.intents.parse import HARMLESS, MODES, Parser
from crmbot.intents.context import DEAL_MOVES
from crmbot.store.search import clear_winner, gender_cue

CORPORA = Path(__file__).resolve().parent / "corpora"
SLOTS = ("customer", "amount", "currency", "due", "stage", "period")
AMBIGUOUS = "?"
# the resolver shows "Name (Company)"; the corpora name customers as the book does
DISPLAY_TO_NAME = {f"{name} ({company})": name for name, company, *_ in sample.CUSTOMERS}


@dataclass
class Score:
    lang: str
    half: str
    mode: str
    cases: int = 0
    intent_ok: int = 0
    asked: int = 0
    asked_clear: int = 0  # asked about a message whose case says a careful person would not
    acted_wrong: int = 0
    slots_ok: int = 0
    per_slot: dict[str, list[int]] = field(default_factory=lambda: {k: [0, 0] for k in SLOTS})
    timings: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def corpus_files(half: str, langs: list[str] | None, rounds: list[int] | None = None) -> list[Path]:
    """A half's files: `<lang>.json`, and `<lang>.<n>.json` for each later round of writing."""
    files = sorted((CORPORA / half).glob("*.json"))
    return [f for f in files if (not langs or f.name.split(".")[0] in langs) and (not rounds or round_of(f) in rounds)]


def round_of(path: Path) -> int:
    """`cs.json` is round 1, `cs.4.json` round 4."""
    parts = path.name.split(".")
    return int(parts[1]) if len(parts) == 3 else 1


def _decimal(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value)).quantize(Decimal("0.01"))


def wanted(case: dict) -> dict:
    """What the case says must be stored, flattened over `also`."""
    facts = [case, *case.get("also", [])]
    want: dict = {}
    customer = case.get("customer", "absent")
    if customer != "absent" and case["intent"] != "add_customer":
        want["customer"] = None if isinstance(customer, dict) else customer
    money = next((f for f in facts if f.get("amount") not in (None, "")), None)
    want["amount"] = _decimal(money.get("amount")) if money else None
    want["currency"] = money.get("currency") if money else None
    due = next((f.get("due") for f in facts if f.get("due")), None)
    want["due"] = due
    for key in ("stage", "period"):
        if case.get(key):
            want[key] = case[key]
    return want


def _due_matches(gold: str | None, got: datetime | None, zone: ZoneInfo) -> bool:
    if gold is None or got is None:
        return gold is None and got is None
    local = got.astimezone(zone)
    if "T" not in gold:
        return local.date() == date.fromisoformat(gold)
    return local.replace(tzinfo=None, second=0, microsecond=0) == datetime.fromisoformat(gold)


async def understood_customer(app, session, team_id: int, mention: str, intent: str = "",
                              slots: dict | None = None) -> str | None:
    if not mention:
        return None
    matches = await app.bot.index.search(session, team_id, mention, about_deal=intent in DEAL_MOVES,
                                         gender=gender_cue(slots or {}))
    winner = clear_winner(matches)
    if winner is not None:
        return DISPLAY_TO_NAME.get(winner.display, winner.display)
    return AMBIGUOUS if matches else None


async def score_file(app, parser: Parser, team_id: int, path: Path, half: str, score: Score | None = None) -> Score:
    """Score one corpus file, adding to `score` (a language's earlier rounds) when given."""
    corpus = json.loads(path.read_text(encoding="utf-8"))
    lang, zone = corpus["language"], ZoneInfo(corpus["timezone"])
    now = datetime.fromisoformat(corpus["now"]).replace(tzinfo=zone)
    score = score or Score(lang, half, parser.mode)
    async with app.db.sessions() as session, session.begin():
        for case in corpus["cases"]:
            started = time.perf_counter()
            intent = parser.parse(case["text"], lang, now, corpus["timezone"])
            score.timings.append(time.perf_counter() - started)
            due = intent.slots.get("due")
            if due is None and intent.slots.get("delay") is not None:
                due = now + intent.slots["delay"]
            got = {
                "customer": await understood_customer(app, session, team_id, intent.mention, intent.name, intent.slots),
                "amount": _decimal(intent.slots.get("amount")),
                "currency": intent.slots.get("currency"),
                "due": due,
                "stage": intent.slots.get("stage"),
                "period": intent.slots.get("period"),
            }
            want = wanted(case)
            wrong = [k for k in want if not (_due_matches(want[k], got[k], zone) if k == "due" else want[k] == got[k])]
            score.cases += 1
            score.intent_ok += intent.name == case["intent"]
            # asking back: two readings alike, a currency or a day in doubt (crmbot/intents/doubts.py)
            asked = asks(intent.slots, intent.alternatives)
            score.asked += asked
            score.asked_clear += asked and not case.get("ask")
            score.acted_wrong += not asked and intent.name != case["intent"] and intent.name not in HARMLESS
            score.slots_ok += not wrong
            for k in want:
                score.per_slot[k][1] += 1
                score.per_slot[k][0] += k not in wrong
            if wrong or intent.name != case["intent"]:
                lines = [f"[{lang}/{half}] {case['text']!r}"]
                if intent.name != case["intent"]:
                    lines.append(f"    intent: want {case['intent']}, got {intent.name} (mention {intent.mention!r})")
                lines += [f"    {k}: want {want[k]}, got {got[k]}" for k in wrong]
                score.failures.append("\n".join(lines))
    return score


def report(scores: list[Score]) -> list[str]:
    out = [f"{'lang':<5} {'half':<7} {'mode':<8} {'cases':>5} {'intent':>7} {'slots':>7} {'asked':>6} {'askclr':>6} {'wrong':>6} {'median ms':>9}  per slot"]
    for s in sorted(scores, key=lambda s: (s.half != "sealed", s.lang, MODES.index(s.mode))):
        per = " ".join(f"{k}={ok / n:.0%}" for k, (ok, n) in s.per_slot.items() if n)
        median = statistics.median(s.timings) * 1000 if s.timings else 0.0
        out.append(f"{s.lang:<5} {s.half:<7} {s.mode:<8} {s.cases:>5} {s.intent_ok / s.cases:>7.1%} {s.slots_ok / s.cases:>7.1%} "
                   f"{s.asked / s.cases:>6.1%} {s.asked_clear / s.cases:>6.1%} {s.acted_wrong / s.cases:>6.1%} {median:>9.2f}  {per}")
    return out


async def evaluate(app, halves: list[str], langs: list[str] | None, now: datetime, show: bool,
                   modes: tuple[str, ...] = ("combined",), rounds: list[int] | None = None) -> list[Score]:
    async with app.db.sessions() as session, session.begin():
        team = await sample.seed(session, now - timedelta(days=1))
    scores: dict[tuple[str, str, str], Score] = {}
    for mode in modes:
        parser = Parser(app.i18n, mode)
        for half in halves:
            for path in corpus_files(half, langs, rounds):
                key = (mode, half, path.name.split(".")[0])
                scores[key] = await score_file(app, parser, team.id, path, half, scores.get(key))
            if show and half == "tuning" and mode == modes[-1]:  # the sealed half is never read for rules
                for (m, h, _), score in scores.items():
                    if (m, h) == (mode, half):
                        print("\n".join(score.failures))
    return list(scores.values())
