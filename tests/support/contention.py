"""Proof that two transactions really are in flight at once on PostgreSQL, whatever the scheduling.

    results = await both_blocked_then_released(app, select(Row).where(...).with_for_update(), [one, two])

A third transaction takes the row lock, starts both coroutines, waits until PostgreSQL reports
both waiting on a lock, then lets them go and returns their results.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from sqlalchemy import Executable, text


async def both_blocked_then_released(app: Any, lock: Executable, sends: list[Awaitable]) -> list:
    async with app.db.sessions() as holder:
        async with holder.begin():
            await holder.execute(lock)
            tasks = [asyncio.ensure_future(send) for send in sends]
            async with app.db.sessions() as watcher:
                for _ in range(1000):
                    waiting = await watcher.scalar(
                        text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
                    )
                    await watcher.rollback()  # a fresh snapshot of pg_stat_activity each time
                    if waiting == 2 or any(t.done() for t in tasks):
                        break
                    await asyncio.sleep(0.01)
            assert waiting == 2 and not any(t.done() for t in tasks)
    return await asyncio.gather(*tasks)
