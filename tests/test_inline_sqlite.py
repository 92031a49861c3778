"""SQLite statements run on the event loop (crmbot/store/inline_sqlite.py), and the loop never
waits on them: a lock held elsewhere is waited out in asyncio sleeps, a slow read and the rows
beyond the first few hundred are read in a worker thread."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

from sqlalchemy import text
from sqlalchemy.engine import make_url

from crmbot.store import inline_sqlite
from crmbot.store.db import open_database


class Ticker:
    """Counts the event loop's turns while it runs: proof that nothing held the loop."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            self.ticks += 1
            await asyncio.sleep(0)

    async def until(self, ticks: int) -> None:
        start = self.ticks
        while self.ticks - start < ticks:
            await asyncio.sleep(0)

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_a_write_waits_out_another_writers_lock_without_holding_the_loop(sqlite_db_url):
    db = open_database(sqlite_db_url)
    other = sqlite3.connect(make_url(sqlite_db_url).database, isolation_level=None)  # another process, say
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE notes (body TEXT)"))
        other.execute("BEGIN IMMEDIATE")  # holds the write lock
        async with Ticker() as ticker:
            async def write() -> None:
                async with db.engine.begin() as conn:
                    await conn.execute(text("INSERT INTO notes VALUES ('waited')"))

            writing = asyncio.create_task(write())
            await ticker.until(500)  # the loop turns while the write waits for the lock
            assert not writing.done()
            other.execute("ROLLBACK")  # let go: the write goes through
            await asyncio.wait_for(writing, 10)
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT body FROM notes"))).scalars().all() == ["waited"]
    finally:
        other.close()
        await db.close()


async def test_slow_reads_and_many_rows_leave_the_loop_and_come_back_whole(sqlite_db_url):
    db = open_database(sqlite_db_url)
    try:
        many = inline_sqlite.INLINE_ROWS * 3 + 7
        count = ("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < :top) SELECT x FROM n")
        async with Ticker() as ticker, db.engine.connect() as conn:
            rows = (await conn.execute(text(count), {"top": many})).scalars().all()
            assert rows == list(range(1, many + 1))
            # long enough to run past its time on the loop: stopped there, read again in a thread
            before = ticker.ticks
            slow = f"SELECT count(*) FROM ({count})"
            assert (await conn.execute(text(slow), {"top": 400_000})).scalar_one() == 400_000
            assert ticker.ticks > before  # the loop went on meanwhile
    finally:
        await db.close()
