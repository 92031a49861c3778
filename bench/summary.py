"""Benchmark: a manager's summary with its chart, and the HTML report, on a large team.

    .venv/bin/python bench/summary.py                       # 100k customers, 50k deals
    .venv/bin/python bench/summary.py --customers 20000 --deals 10000 --db /tmp/s.db

A fresh SQLite file gets a realistic customer book (bench/names.py), deals spread over the
stages with their stage history, and a year of interactions by ten reps. Then, each several
times: the summary's numbers (the queries), drawing its chart (matplotlib, as the bot does in a
worker thread), the whole summary message through the bot, and `crmbot report`'s page. Prints
medians with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select  # noqa: E402

from bench.names import make_customers  # noqa: E402
from crmbot import charts, report  # noqa: E402
from crmbot.adapters.console import ConsoleChat  # noqa: E402
from crmbot.app import build, console_member  # noqa: E402
from crmbot.config import Settings  # noqa: E402
from crmbot.intents import insights, summary  # noqa: E402
from crmbot.store import models, teams  # noqa: E402

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
REPS = 10
BATCH = 5000
CURRENCIES = ("EUR", "EUR", "EUR", "CZK", "USD", "GBP", "CNY", "AZN")
OUTCOME = ("lead", "qualified", "proposal", "negotiation", "won", "lost")


async def fill(app, customers: int, deals: int, seed: int) -> int:
    rng = random.Random(seed)
    async with app.db.sessions() as session, session.begin():
        team = await teams.create_team(session, "Bench", NOW - timedelta(days=400))
        reps = [await teams.create_member(session, team.id, f"Rep {n}", NOW - timedelta(days=400), role="rep")
                for n in range(REPS)]
        boss = await teams.create_member(session, team.id, "Boss", NOW - timedelta(days=400), role="manager")
        await teams.bind_identity(session, boss, "console", "Boss", NOW, chat_id="Boss")
    rep_ids = [r.id for r in reps]
    book = make_customers(customers, seed)
    async with app.db.sessions() as session, session.begin():
        for start in range(0, customers, BATCH):
            await session.execute(insert(models.Customer), [
                {"team_id": team.id, "name": c["name"], "company": c["company"], "emails": c["emails"], "phones": c["phones"],
                 "status": rng.choice(("lead", "prospect", "customer", "customer", "churned")), "owner_id": rng.choice(rep_ids),
                 "created_at": NOW - timedelta(days=rng.randrange(400)), "updated_at": NOW, "rev": 0}
                for c in book[start:start + BATCH]])
        ids = list(await session.scalars(select(models.Customer.id).where(models.Customer.team_id == team.id)))
        for start in range(0, deals, BATCH):
            rows, moves = [], []
            for _ in range(min(BATCH, deals - start)):
                created = NOW - timedelta(days=rng.randrange(365), hours=rng.randrange(24))
                last = rng.choices(OUTCOME, weights=(30, 20, 15, 10, 15, 10))[0]
                rows.append({"team_id": team.id, "customer_id": rng.choice(ids), "owner_id": rng.choice(rep_ids),
                             "title": f"Deal {start + len(rows)}", "amount_minor": rng.randrange(100, 100_000) * 100,
                             "currency": rng.choice(CURRENCIES), "stage": last,
                             "expected_close": NOW + timedelta(days=rng.randrange(-30, 90)) if last not in ("won", "lost") else None,
                             "lost_reason": rng.choice(("price", "timing", "features", "no budget")) if last == "lost" else None,
                             "competitor": rng.choice(("Contoso", "Initech", None)) if last == "lost" else None,
                             "created_at": created, "updated_at": created, "closed_at": created + timedelta(days=20) if last in ("won", "lost") else None})
            result = await session.execute(insert(models.Deal).returning(models.Deal.id, models.Deal.stage, models.Deal.created_at), rows)
            for deal_id, stage, created in result:
                path = OUTCOME[:OUTCOME.index(stage) + 1] if stage != "lost" else (*OUTCOME[:rng.randrange(1, 4)], "lost")
                for step, to_stage in enumerate(path):
                    moves.append({"team_id": team.id, "deal_id": deal_id, "to_stage": to_stage, "changed_at": created + timedelta(days=5 * step)})
            await session.execute(insert(models.DealStageChange), moves)
        for start in range(0, deals * 2, BATCH):
            await session.execute(insert(models.Interaction), [
                {"team_id": team.id, "customer_id": rng.choice(ids), "member_id": rng.choice(rep_ids),
                 "kind": rng.choice(("call", "email", "meeting", "note")), "summary": "bench",
                 "happened_at": NOW - timedelta(days=rng.randrange(365)), "created_at": NOW}
                for _ in range(min(BATCH, deals * 2 - start))])
    return team.id


async def timed(work, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = await work()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


async def main(args: argparse.Namespace) -> None:
    folder = Path(args.db).parent if args.db else Path(tempfile.mkdtemp(prefix="crmbot-summary-"))
    url = f"sqlite:///{args.db or folder / 'summary.db'}"
    app = build(Settings(_env_file=None), db=url, clock=lambda: NOW)
    try:
        began = time.perf_counter()
        team_id = await fill(app, args.customers, args.deals, args.seed)
        print(f"filled {args.customers:,} customers, {args.deals:,} deals, {args.deals * 2:,} interactions "
              f"in {time.perf_counter() - began:.0f} s; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
        since, until = summary.period_span(NOW, "UTC", "this_month")

        async def numbers():
            async with app.db.sessions() as session:
                return await summary.gather(session, team_id, None, since, until, NOW)

        took, data = await timed(numbers, args.repeat)
        print(f"summary numbers (queries):   median {took * 1000:7.1f} ms")
        picture = summary.chart(app.i18n, "en", "UTC", "Team summary", {"period": "this_month", **data}, "s.png")
        charts.draw(picture)  # matplotlib's first import and font cache are not what is measured
        took, _ = await timed(lambda: asyncio.to_thread(charts.draw, picture), args.repeat)
        print(f"drawing the chart:           median {took * 1000:7.1f} ms")
        await console_member(app, "Boss", NOW, team_name="Bench")
        boss = ConsoleChat(app.bot, "Boss")
        took, replies = await timed(lambda: boss.send("summary this month"), args.repeat)
        assert replies and replies[0].image is not None
        print(f"'summary this month' → reply: median {took * 1000:7.1f} ms (text, numbers and chart)")

        async def page():
            async with app.db.sessions() as session:
                team = await session.get(models.Team, team_id)
                return await report.page(session, app.i18n, team, "this_month", NOW)

        took, html = await timed(page, max(1, args.repeat // 2))
        print(f"crmbot report page:          median {took * 1000:7.1f} ms ({len(html) / 1024:.0f} KiB)")

        async def analysis():
            async with app.db.sessions() as session:
                team = await session.get(models.Team, team_id)
                return await insights.at_risk(session, team, NOW)

        took, risk = await timed(analysis, max(1, args.repeat // 2))
        print(f"customers at risk:           median {took * 1000:7.1f} ms ({len(risk.quiet_customers):,} quiet)")
        print(f"load {os.getloadavg()[0]:.1f}")
    finally:
        await app.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--deals", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", help="SQLite file to fill (default: a temporary one)")
    asyncio.run(main(parser.parse_args()))
