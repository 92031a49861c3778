"""The scenarios, each a function `(plan) -> Figures`; `control` first proves the counting.

    0 control  no faults: anything but all-ok means the harness, not crmbot, is wrong
    a  SQLite, Telegram long polling, kill -9 cycles of the one worker
    b  PostgreSQL, two workers behind the Telegram webhook and Slack HTTP, killed in turn
    c  reminders falling due in bursts on two PostgreSQL workers, killed mid-delivery
    d  the Bot API and the Slack Web API failing: 500s, 429 with retry_after, late answers, drops
    e  PostgreSQL stopped for 15 s under the stream
    f  hostile HTTP clients (bench/faults/hostile.py)
"""

from __future__ import annotations

import asyncio
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
