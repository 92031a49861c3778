"""The scenarios, each a function `(plan) -> Figures`; `control` first proves the counting.

    0 control  no faults: anything but all-ok means the harness, not crmbot, is wrong
    a  SQLite, Telegram long polling, kill -9 cycles of the one worker
    b  PostgreSQL, two workers behind the Telegram webhook and Slack HTTP, killed in turn
    c  reminders falling due in bursts on two PostgreSQL workers, killed mid-delivery
    d  the Bot API and the Slack Web API failing: 500s, 429 with retry_after, late answers, drops
    e  PostgreSQL stopped for 15 s under the stream
    f  hostile HTTP clients (bench/faults/hostile.py)
    g  sends held longer than a lease and a database stall: renewals and kept replies' deletes
    h  g on SQLite: one worker, long polling, the file locked by another process
"""

from __future__ import annotations

import asyncio
import re
import time

from bench.faults.figures import Figures
from bench.faults.harness import Plan, Run


async def control(plan: Plan) -> Figures:
    async with Run(plan, "0", 0, "control: no faults, SQLite, polling + Slack", slack_share=0.3, replies=True) as run:
        for _ in range(5):
            await run.remind(3, within=2.0)
            await asyncio.sleep(2.0)
        figures = await run.finish()
    figures.targets["every message answered"] = figures.replied == figures.handled
    return figures


async def sqlite_polling_kills(plan: Plan) -> Figures:
    async with Run(plan, "a", 1, "SQLite, Telegram long polling, kill -9 of the worker") as run:
        await run.kill_cycles(plan.cycles, reminders=5)
        return await run.finish()


async def postgres_webhook_kills(plan: Plan) -> Figures:
    async with Run(plan, "b", 2, "PostgreSQL, 2 workers, webhook + Slack, kill -9 in turn", engine="postgresql",
                   workers=2, polling=False, slack_share=0.4) as run:
        await run.kill_cycles(plan.cycles, reminders=5)
        return await run.finish()


SENDS = ("sendMessage", "chat.postMessage")


async def reminder_kills(plan: Plan) -> Figures:
    """Bursts of reminders fall due just before each kill, and the platforms take 0.3 s to take
    a message, so many kills land while reminders are claimed and being sent."""
    cycles = max(5, plan.cycles // 4)
    async with Run(plan, "c", 3, "reminders in bursts, 2 PostgreSQL workers, kill -9 mid-delivery",
                   engine="postgresql", workers=2, polling=False, rate=0.0) as run:
        run.platforms.outage(24 * 3600, methods=SENDS, lag=0.3)
        for cycle in range(cycles):
            victim = run.crmbots[cycle % 2]
            await run.remind(20, within=1.0)
            await asyncio.sleep(run.random.uniform(1.0, 2.0))  # due, claimed, being sent
            victim.kill()
            await victim.start()
        return await run.finish()


# (name, seconds in the quick run, in the full run, how the platforms misbehave, blocks delivery)
PLATFORM_TROUBLE = [
    ("500", 20, 480, dict(status=500), True),
    ("429", 15, 40, dict(status=429, retry_after=5), True),
    ("late 8s", 20, 60, dict(delay=8.0), False),
    ("drop", 10, 40, dict(drop=True), True),
]


async def platform_outage(plan: Plan) -> Figures:
    async with Run(plan, "d", 4, "Bot API and Slack API outages, SQLite, webhook + Slack", polling=False,
                   rate=2.0, slack_share=0.4, replies=True) as run:
        for name, quick, full, trouble, blocks in PLATFORM_TROUBLE:
            seconds = quick if plan.quick else full
            await run.remind(4, within=3.0)
            await asyncio.sleep(3.0)
            began = time.time()
            run.platforms.outage(seconds, **trouble)
            if blocks:
                run.unavailable.append((began, began + seconds))
            for _ in range(int(seconds // 5)):
                await run.remind(2, within=5.0)
                await asyncio.sleep(5.0)
            await asyncio.sleep(seconds % 5)
        await run.remind(4, within=3.0)
        await asyncio.sleep(5.0)
        figures = await run.finish()
    figures.targets["no reply lost"] = figures.replied == figures.handled
    figures.info["phases"] = "/".join(f"{n} {q if plan.quick else f}s" for n, q, f, _, _ in PLATFORM_TROUBLE)
    return figures


async def database_outage(plan: Plan) -> Figures:
    async with Run(plan, "e", 5, "PostgreSQL stopped 15 s, 2 workers, webhook + Slack", engine="postgresql",
                   workers=2, polling=False, slack_share=0.4) as run:
        await run.remind(10, within=25.0)
        await asyncio.sleep(5.0)
        down, up = await plan.postgres.outage(15.0)
        run.unavailable.append((down, up))
        await asyncio.sleep(10.0)
        figures = await run.finish()
    figures.info["database down"] = f"{up - down:.0f}s"
    return figures


SLOW_ANSWER = 9.0  # seconds the platforms take to answer a send they took: longer than the 6 s lease
# How long the database is away: within a lease's margin (6 s, renewed every 2 s). PostgreSQL is
# stopped (a renewal fails at once, the next comes a period later); the SQLite file is held by
# another process for longer than a renewal thread waits for it (1 s), while the event loop's
# statements wait in SQLite's busy handler, holding the loop (a stall of the loop and the file)
STALL = {"postgresql": 1.5, "sqlite": 3.0}
# what the workers' logs say when the paths this scenario is for were taken
TAKEN = {
    "renewals failed": re.compile(r"could not renew a delivery lease"),
    "records retried": re.compile(r"were delivered but could not be recorded"),
    "kept replies' deletes retried": re.compile(r"kept reply \d+ was delivered but could not be deleted \("),
    "kept replies given up on": re.compile(r"could not be deleted within a lease"),
    "taken over": re.compile(r"taken over: the lease of"),
}


async def stall(plan: Plan, run: Run) -> float:
    """The database away for `STALL[engine]` seconds: PostgreSQL stopped, or the SQLite file held by
    another process's write. Counted as time when nothing could be delivered; returns how long."""
    if run.engine == "postgresql":
        down, up = await plan.postgres.outage(STALL[run.engine])
    else:
        down, up = await run.store.locked(STALL[run.engine])
    run.unavailable.append((down, up))
    return up - down


async def slow_sends_and_database_stall(plan: Plan) -> Figures:
    """Two PostgreSQL workers behind the webhook and Slack, no kills (`sqlite_slow_sends_and_stall`:
    one SQLite worker, long polling, the file held by another process's write instead).

    1. The platforms take every send at once but answer it 9 s later (longer than the 6 s lease)
       while reminders fall due; PostgreSQL is stopped for 1.5 s in the middle. Each reminder
       in flight stays its worker's by the lease renewals (a thread's, off the event loop), so
       the other worker never sends it again; the answers that come while the database is away
       are recorded when it is back.
    2. The platforms refuse every send (500) for 15 s, so answers to users are kept; then they
       take sends again, answering 2 s late, and reminders falling due then bring the kept
       answers forward; PostgreSQL is stopped for 1.5 s as they go out. A kept answer the
       platform took meanwhile is deleted once the database is back, never sent again.

    Targets beside the usual: no answer to a user sent twice. The line says how often each path
    was taken (the workers' logs), so a run that missed the moments shows it."""
    return await _slow_sends(plan, Run(plan, "g", 7, "sends answered 9 s late and PostgreSQL stalls, 2 workers, webhook + Slack",
                                       engine="postgresql", workers=2, polling=False, rate=2.0, slack_share=0.4, replies=True))


async def sqlite_slow_sends_and_stall(plan: Plan) -> Figures:
    """g on SQLite: one worker, Telegram long polling and Slack; the database stalls are the file
    held by another process for 3 s, during which the worker's event loop waits in SQLite's busy
    handler whenever it writes. One worker's own next pass would take a reminder whose lease
    lapsed while its send was in flight, and send it again."""
    return await _slow_sends(plan, Run(plan, "h", 8, "g on SQLite: sends answered 9 s late, the file locked, polling + Slack",
                                       rate=2.0, slack_share=0.4, replies=True))


async def _slow_sends(plan: Plan, run: Run) -> Figures:
    async with run:
        run.platforms.outage(40.0, methods=SENDS, delay=SLOW_ANSWER)
        await run.remind(12, within=25.0)
        await asyncio.sleep(15.0)
        stalls = [await stall(plan, run)]
        await asyncio.sleep(max(0.0, 40.0 - 15.0 - stalls[0]) + SLOW_ANSWER)
        began = time.time()
        run.platforms.outage(15.0, methods=SENDS, status=500)
        run.unavailable.append((began, began + 15.0))
        await run.remind(4, within=15.0)
        await asyncio.sleep(15.0)
        run.platforms.outage(30.0, methods=SENDS, delay=2.0)
        await run.remind(4, within=1.0)
        await asyncio.sleep(1.5)
        stalls.append(await stall(plan, run))
        await asyncio.sleep(30.0)
        figures = await run.finish()
        logs = "".join(w.log.read_text(errors="replace") for w in run.crmbots if w.log.exists())
        replies = run.platforms.replies()
    twice = sum(1 for p in run.deliveries.pushed if len(replies.get(p.ref, ())) > 1)
    figures.info["answers sent twice"] = twice
    figures.targets["no answer sent twice"] = twice == 0
    figures.info["database down"] = "/".join(f"{s:.1f}s" for s in stalls)
    figures.info["paths taken"] = ", ".join(f"{name} {len(pattern.findall(logs))}" for name, pattern in TAKEN.items())
    return figures
