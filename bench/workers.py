"""Benchmark: `log_call` messages per second on PostgreSQL, one worker process against two.

    .venv/bin/python bench/workers.py                       # a throwaway server, 100k customers
    .venv/bin/python bench/workers.py --db postgresql://…   # an empty database of your own

A throwaway PostgreSQL server (tests/support/pgserver.py) gets one team with the realistic
customer book of bench/names.py and one member per worker. Each worker is a process of its own
(its own App, engine and look-up index, as `crmbot serve` runs), warms its index, waits for the
start, then handles its messages ("called <typo'd name>, wants a quote by friday") one after
another through `Bot.handle`, each in its own transaction. First one worker runs alone, then
two at once (different members: one sender's messages take turns across workers by design).
Prints messages per second for each run, CPU ms per message, and the ratio two / one. The
machine's load is printed too: on 2 cores the server shares them with the workers.

On a machine with fewer free cores than two workers and the server need, the wall-clock ratio
says more about the machine than about crmbot. So the CPU each message costs is measured too,
in each worker (its process's CPU clock) and in the server (its processes' CPU from /proc, a
throwaway server only): if two workers cost no more CPU per message than one, nothing in
crmbot or the database serialises them, and two workers with a core each (and the server its
share) handle what `ratio by CPU` says: 2 × (CPU per message, one worker) / (CPU per message,
two workers), the workers' and the server's together.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, update  # noqa: E402

from bench.names import make_customers, mentions  # noqa: E402
from bench.run import NOW, STATUSES, TEAM, settings  # noqa: E402
from crmbot.adapters.console import ConsoleChat  # noqa: E402
from crmbot.app import build  # noqa: E402
from crmbot.store import models, teams  # noqa: E402

TARGET_RATIO = 1.7


def member_name(n: int) -> str:
    return f"Worker {n}"


async def generate(url: str, size: int, workers: int, seed: int) -> None:
    app = build(settings(), db=url, clock=lambda: NOW)
    try:
        async with app.db.sessions() as session, session.begin():
            team = await teams.create_team(session, TEAM, NOW)
            people = []
            for n in range(workers):
                person = await teams.create_member(session, team.id, member_name(n), NOW, role="admin")
                await teams.bind_identity(session, person, "console", member_name(n), NOW, chat_id=member_name(n))
                people.append(person)
            rev = (await session.execute(
                update(models.Team).where(models.Team.id == team.id)
                .values(customer_rev=models.Team.customer_rev + 1).returning(models.Team.customer_rev))).scalar_one()
        created = NOW - timedelta(days=30)
        rows = [{**row, "team_id": team.id, "owner_id": people[i % len(people)].id, "created_at": created,
                 "updated_at": created, "rev": rev, "status": STATUSES[i % len(STATUSES)]}
                for i, row in enumerate(make_customers(size, seed))]
        async with app.db.engine.begin() as conn:
            for start in range(0, len(rows), 20_000):
                await conn.execute(insert(models.Customer.__table__), rows[start:start + 20_000])
    finally:
        await app.close()


async def worker(url: str, n: int, messages: int, seed: int) -> dict:
    """One worker process: warm up, say ready, wait for the start, handle `messages` messages."""
    app = build(settings(), db=url, clock=lambda: NOW)
    try:
        async with app.db.sessions() as session:
            team_id = await session.scalar(select(models.Team.id).where(models.Team.name == TEAM))
            names = list(await session.scalars(select(models.Customer.name).where(models.Customer.team_id == team_id)))
            await app.bot.index.search(session, team_id, "warm up")
        chat = ConsoleChat(app.bot, member_name(n))
        texts = [f"called {mention}, wants a quote by friday"
                 for _, mention, _, _ in mentions(random.Random(seed + n), names, messages + 20)]
        for text in texts[:20]:  # the first messages of a process compile what every later one reuses
            await app.bot.handle(chat.incoming(text))
        print("ready", flush=True)
        sys.stdin.readline()
        started, cpu = time.perf_counter(), time.process_time()
        logged = 0
        for text in texts[20:]:
            replies = (await app.bot.handle(chat.incoming(text))).replies
            logged += bool(replies) and "logged with" in replies[0].text
        return {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu, "messages": messages,
                "logged": logged}
    finally:
        await app.close()


def server_cpu(data_dir: str | None) -> float | None:
    """CPU seconds the PostgreSQL server's processes used so far (the postmaster, the backends
    it reaped and those still running), from /proc; None when that cannot be read."""
    if data_dir is None:
        return None
    try:
        with open(os.path.join(data_dir, "postmaster.pid")) as fh:
            postmaster = int(fh.readline())
        tick = os.sysconf("SC_CLK_TCK")

        def fields(pid: int) -> list[str]:
            with open(f"/proc/{pid}/stat") as fh:
                return fh.read().rsplit(")", 1)[1].split()

        own = fields(postmaster)  # fields after the name: [0] state, [1] ppid, [11..14] utime stime cutime cstime
        total = sum(int(v) for v in own[11:15])
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != postmaster:
                try:
                    theirs = fields(int(entry))
                except OSError:
                    continue
                if int(theirs[1]) == postmaster:
                    total += int(theirs[11]) + int(theirs[12])
        return total / tick
    except (OSError, ValueError):
        return None


def run(url: str, count: int, messages: int, seed: int, data_dir: str | None = None) -> dict:
    """`count` worker processes at once; the messages per second all of them handled together."""
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", str(n), "--db", url, "--messages", str(messages),
                               "--seed", str(seed)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for n in range(count)]
    for proc in procs:
        line = proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"a worker did not start: {line!r}")
    started, server_started = time.perf_counter(), server_cpu(data_dir)
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"a worker failed ({proc.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.perf_counter() - started
    server_done = server_cpu(data_dir)
    total = sum(r["messages"] for r in results)
    return {"workers": count, "per_s": total / wall, "wall_s": wall,
            "cpu_ms": 1000 * sum(r["cpu"] for r in results) / total,
            "worker_cpu_ms": [1000 * r["cpu"] / r["messages"] for r in results],
            "server_cpu_ms": None if server_started is None or server_done is None
            else 1000 * (server_done - server_started) / total,
            "logged": sum(r["logged"] for r in results), "messages": total}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="an empty PostgreSQL database (default: a throwaway server)")
    parser.add_argument("--size", type=int, default=100_000, help="customers in the team")
    parser.add_argument("--messages", type=int, default=400, help="messages per worker")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(asyncio.run(worker(args.db, args.worker, args.messages, args.seed))))
        return 0

    from tests.support.pgserver import ThrowawayPostgres

    server = None
    url = args.db
    if url is None:
        server = ThrowawayPostgres().start()
        url = server.url("psycopg", server.create_database("bench_workers"))
    data_dir = server.data_dir if server is not None else None
    try:
        print(f"{args.size:,} customers: generating…", file=sys.stderr, flush=True)
        asyncio.run(generate(url, args.size, 2, args.seed))
        load_start = os.getloadavg()[0]
        one = run(url, 1, args.messages, args.seed, data_dir)
        two = run(url, 2, args.messages, args.seed, data_dir)
        load_end = os.getloadavg()[0]
    finally:
        if server is not None:
            server.stop()
    ratio = two["per_s"] / one["per_s"]
    print(f"PostgreSQL, {args.size:,} customers, log_call messages through Bot.handle")
    for r in (one, two):
        server_ms = "" if r["server_cpu_ms"] is None else f", {r['server_cpu_ms']:.2f} ms in the server"
        print(f"  {r['workers']} worker{'s' if r['workers'] > 1 else ''}: {r['per_s']:.0f} messages/s"
              f" ({r['messages']} in {r['wall_s']:.1f} s, {r['cpu_ms']:.2f} ms CPU per message in the workers"
              f" [{' / '.join(f'{ms:.2f}' for ms in r['worker_cpu_ms'])} each]{server_ms}, {r['logged']} logged)")
    print(f"  two workers / one, wall clock: {ratio:.2f}× (target ≥ {TARGET_RATIO}) {'✓' if ratio >= TARGET_RATIO else '✗'}")
    if one["server_cpu_ms"] is not None and two["server_cpu_ms"] is not None:
        per_one, per_two = one["cpu_ms"] + one["server_cpu_ms"], two["cpu_ms"] + two["server_cpu_ms"]
        print(f"  CPU per message, workers and server: {per_one:.2f} ms with one worker, {per_two:.2f} ms with two;"
              f" ratio by CPU (cores enough for both): {2 * per_one / per_two:.2f}×")
    print(f"machine: {os.cpu_count()} cores, 1-min load average {load_start:.1f} at start, {load_end:.1f} at end")
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
