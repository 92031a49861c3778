"""The English understanding table: phone-style messages -> intent and slots.

Each message goes through the real Parser, and its customer mention through the real fuzzy
index (CustomerIndex) over the sample team in a SQLite file, resolved with the same rule the
handlers use (Context.customer): one clear winner or nothing. The table lives in
tests/data/parse_en.json so it can grow without touching code.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crmbot.intents.parse import INTENTS, Parser
from crmbot.store.search import TeamIndex
from tests.parsing import NOW, resolve

TZ = "Europe/Prague"
TABLE = json.loads((Path(__file__).parent / "data" / "parse_en.json").read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = TABLE["cases"]
# slots a case may check; the first four default to null, so a stray amount or date is caught
DEFAULT_NULL = ("customer", "amount", "currency", "due")
CHECKED = (*DEFAULT_NULL, "stage", "period", "due_in_past", "competitor", "reason", "product", "severity", "amount_invalid")


def understood(parser: Parser, index: TeamIndex, text: str) -> dict[str, Any]:
    intent = parser.parse(text, "en", NOW, TZ)
    slots = intent.slots
    # a tie between intents makes the bot ask back: that is not understanding the message
    name = intent.name if not intent.alternatives else "ask:" + "/".join((intent.name, *intent.alternatives))
    got = {key: slots.get(key) for key in CHECKED}
    got.update(intent=name, customer=resolve(index, intent.mention), mention=intent.mention)
    return got


def mismatches(case: dict[str, Any], got: dict[str, Any]) -> list[str]:
    wrong = []
    if got["intent"] != case["intent"]:
        wrong.append(f"intent {got['intent']!r} != {case['intent']!r}")
    for key in CHECKED:
        if key not in case and key not in DEFAULT_NULL:
            continue
        want, have = case.get(key), got[key]
        if key == "amount" and want is not None:
            want = Decimal(want)
        if key == "due" and want is not None:
            want = datetime.fromisoformat(want.replace("Z", "+00:00"))
        if isinstance(have, str) and isinstance(want, str):
            have, want = have.strip().lower(), want.strip().lower()
        if have != want:
            wrong.append(f"{key} {have!r} != {want!r}")
    return wrong


def _param(case: dict[str, Any]):
    marks = [pytest.mark.xfail(strict=True, reason=case["known"])] if case.get("known") else []
    return pytest.param(case, id=case["text"][:40] or "<empty>", marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_message_is_understood(case, parser, index):
    got = understood(parser, index, case["text"])
    wrong = mismatches(case, got)
    assert not wrong, f"{case['text']!r}: {'; '.join(wrong)} (mention {got['mention']!r})"


def test_table_covers_every_intent_and_slot():
    # the table must keep exercising every intent and every kind of slot the issue names
    assert len(CASES) >= 160
    assert {c["intent"] for c in CASES} == set(INTENTS)
    for key in ("stage", "amount", "currency", "due", "period"):
        assert any(c.get(key) is not None for c in CASES), key
    assert any(c["customer"] is None and c["intent"] in ("log_call", "find_customer") for c in CASES)


def test_accuracy(parser, index, capsys):
    wrong = {}
    for case in CASES:
        problems = mismatches(case, understood(parser, index, case["text"]))
        if problems:
            wrong[case["text"]] = problems
    accuracy = 1 - len(wrong) / len(CASES)
    with capsys.disabled():
        print(f"\nparse_en: {len(CASES) - len(wrong)}/{len(CASES)} messages fully understood ({accuracy:.1%})")
        for text, problems in wrong.items():
            print(f"  {text!r}: {'; '.join(problems)}")
    # cases marked `known` wait on a fix outside the parser; every other case must be right
    unexpected = {t: p for t, p in wrong.items() if not next(c for c in CASES if c["text"] == t).get("known")}
    assert not unexpected
