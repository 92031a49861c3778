"""Benchmark of `crmbot duplicates`: likely duplicate pairs in a large customer book.

    .venv/bin/python bench/duplicates.py                      # 100k customers
    .venv/bin/python bench/duplicates.py --customers 20000 --db /tmp/d.db

A fresh SQLite file gets a realistic customer book (bench/names.py) with duplicates planted the
ways they come about: the same e-mail under a misspelt name, the same phone written another
way, a name with one typo in the same company, a name typed without its diacritics and no
company, a first name alone in the same company. Then, several times each: reading the book
(`duplicates.team_book`), finding the pairs (`duplicates.likely_pairs`), and the whole command
in a process of its own. Prints medians, how many planted pairs were found (recall), and the
machine's load: it is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bench.names import ascii_fold_keep_case, make_customers  # noqa: E402
from crmbot.app import build  # noqa: E402
from crmbot.config import Settings  # noqa: E402
from crmbot.store import duplicates, models, teams  # noqa: E402

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
BATCH = 5000
KINDS = ("same e-mail", "same phone", "typo, same company", "no diacritics, no company", "first name, same company")


def _typo(rng: random.Random, name: str) -> str:
    """One letter of the name's longest word doubled, dropped or swapped with the next."""
    words = name.split()
    i = max(range(len(words)), key=lambda w: len(words[w]))
    word = words[i]
    at = rng.randrange(1, len(word) - 1) if len(word) > 2 else 0
    kind = rng.choice(("double", "drop", "swap"))
    if kind == "double":
        word = word[:at] + word[at] + word[at:]
    elif kind == "drop" and len(word) > 3:
        word = word[:at] + word[at + 1:]
    else:
        word = word[:at] + word[at + 1:at + 2] + word[at] + word[at + 2:]
    words[i] = word
    return " ".join(words)


def _phone_other_way(phone: str) -> str:
    digits = phone.replace(" ", "")
    return f"00{digits[1:4]} {digits[4:7]}-{digits[7:10]}-{digits[10:]}"


def planted_book(size: int, planted: int, seed: int) -> tuple[list[dict], list[tuple[int, int, str]]]:
    """The book and the planted pairs (original's position, copy's position, kind)."""
    rng = random.Random(seed + 1)
    book = make_customers(size - planted, seed)
    spaced = [i for i, c in enumerate(book) if " " in c["name"]]  # a first name and a surname
    pairs = []
    for n in range(planted):
        kind = KINDS[n % len(KINDS)]
        while True:
            position = rng.choice(spaced)
            original = book[position]
            if (kind not in ("typo, same company", "first name, same company") or original["company"]):
                break
        copy = {"name": original["name"], "company": original["company"], "emails": [], "phones": []}
        if kind == "same e-mail":
            copy.update(name=_typo(rng, original["name"]), company=None, emails=[original["emails"][0].upper()])
        elif kind == "same phone":
            copy.update(name=original["name"].split()[0], company=None, phones=[_phone_other_way(original["phones"][0])])
        elif kind == "typo, same company":
            copy.update(name=_typo(rng, original["name"]))
        elif kind == "no diacritics, no company":
            copy.update(name=ascii_fold_keep_case(original["name"]), company=None)
        else:
            copy.update(name=original["name"].split()[0])
        book.append(copy)
        pairs.append((position, len(book) - 1, kind))
    return book, pairs


async def fill(path: str, book: list[dict]) -> list[int]:
    app = build(Settings(), db=path, clock=lambda: NOW)
    try:
        async with app.db.sessions() as session, session.begin():
            team = await teams.create_team(session, "Bench", NOW)
            for start in range(0, len(book), BATCH):
                await session.execute(insert(models.Customer), [
                    {"team_id": team.id, "name": c["name"], "company": c["company"], "emails": c["emails"], "phones": c["phones"],
                     "status": "lead", "created_at": NOW, "updated_at": NOW, "rev": 0} for c in book[start:start + BATCH]])
        async with app.db.sessions() as session:
            return (await duplicates.team_book(session, team.id)).ids
    finally:
        await app.close()


async def read(path: str) -> tuple[float, duplicates.Book]:
    app = build(Settings(), db=path, clock=lambda: NOW)
    try:
        async with app.db.sessions() as session:
            team = await teams.the_only_team(session)
            started = time.perf_counter()
            book = await duplicates.team_book(session, team.id)
            return time.perf_counter() - started, book
    finally:
        await app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--planted", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--db", help="SQLite file to fill (default: a temporary one)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    path = args.db or os.path.join(tempfile.mkdtemp(prefix="crmbot-dup-"), "book.db")
    if os.path.exists(path):
        os.remove(path)
    book, planted = planted_book(args.customers, args.planted, args.seed)
    ids = asyncio.run(fill(path, book))

    reads, finds, cpu = [], [], []
    for _ in range(args.repeat):
        took, stored = asyncio.run(read(path))
        reads.append(took)
        started, started_cpu = time.perf_counter(), time.process_time()
        pairs = duplicates.likely_pairs(stored)
        finds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    found = {(p.first, p.second) for p in pairs}
    by_kind: dict[str, list[bool]] = {}
    for original, copy, kind in planted:
        by_kind.setdefault(kind, []).append(tuple(sorted((ids[original], ids[copy]))) in found)

    started, children = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    command = subprocess.run([sys.executable, "-m", "crmbot", "duplicates", "--db", path, "--format", "json"],
                             capture_output=True, text=True, cwd=ROOT, check=True)
    whole = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    whole_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    listed = len(json.loads(command.stdout))

    print(f"crmbot duplicates at {args.customers:,} customers ({args.planted:,} planted duplicates), "
          f"load {load:.1f} → {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  read the book:      median {statistics.median(reads):.2f} s")
    print(f"  find the pairs:     median {statistics.median(finds):.2f} s, {statistics.median(cpu):.2f} s of CPU  ({len(pairs):,} pairs)")
    print(f"  whole command:      {whole:.2f} s, {whole_cpu:.2f} s of CPU (a process of its own, start-up included;"
          f" JSON out: {listed:,} pairs)")
    print("  planted pairs found:")
    for kind in KINDS:
        hits = by_kind.get(kind, [])
        print(f"    {kind:<26} {sum(hits)}/{len(hits)}")
    total = [hit for hits in by_kind.values() for hit in hits]
    print(f"    {'all':<26} {sum(total)}/{len(total)} ({sum(total) / max(1, len(total)):.1%})")


if __name__ == "__main__":
    main()
