"""The database side of a fault run: a SQLite file or a database on a throwaway PostgreSQL
server, seeded with the people who talk; follow-ups added while the run goes; and, at the end,
the records counted by their unique tokens (never by totals)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, select

from bench.faults.platforms import TOKEN, WORKSPACE
from crmbot import sample
from crmbot.store import models, teams
from crmbot.store.db import Database, open_database
from tests.support.pgserver import ThrowawayPostgres


@dataclass(frozen=True)
class Person:
    name: str
    telegram: int | None = None  # user id, also their private chat with the bot
    slack: str | None = None  # user id in WORKSPACE, also where a DM to them goes


# Reps write the messages; each has both accounts. Reminders go to people with one platform
# each, so both senders are exercised.
REPS = tuple(Person(f"Rep {n}", telegram=7100 + n, slack=f"U0REP{n:02d}") for n in range(1, 7))
REMINDED = (
    *(Person(f"Tg {n}", telegram=7200 + n) for n in range(1, 4)),
    *(Person(f"Sl {n}", slack=f"U0SL{n:02d}") for n in range(1, 4)),
)


@dataclass
class Store:
    """One scenario's database: its URL for crmbot, and the harness's own connection."""

    url: str
    db: Database
    reminded_ids: list[int]
    team_id: int

    @classmethod
    async def create(cls, url: str) -> Store:
        # migrations run in a thread: the stand-ins share this event loop
        db = await asyncio.to_thread(open_database, url)
        now = datetime.now(timezone.utc)
        async with db.sessions() as session, session.begin():
            team = await sample.seed(session, now)
            await teams.bind_workspace(session, team, WORKSPACE)
            ids = []
            for person in (*REPS, *REMINDED):
                member = await teams.create_member(session, team.id, person.name, now, role="rep")
                if person.telegram is not None:
                    await teams.bind_identity(session, member, "telegram", str(person.telegram), now,
                                              chat_id=str(person.telegram))
                if person.slack is not None:
                    await teams.bind_identity(session, member, "slack", person.slack, now, workspace=WORKSPACE,
                                              chat_id=person.slack)
                if person in REMINDED:
                    ids.append(member.id)
            team_id = team.id
        return cls(url, db, ids, team_id)

    async def close(self) -> None:
        await self.db.close()

    async def locked(self, seconds: float) -> tuple[float, float]:
        """SQLite: another process's write holds the file for `seconds` (a backup, a migration,
        a slow disk): every writer waits, then gives up. Returns (from, to) in time.time()."""
        path = self.db.url.database

        def hold() -> tuple[float, float]:
            holder = sqlite3.connect(path, isolation_level=None, timeout=30)
            try:
                holder.execute("BEGIN EXCLUSIVE")
                began = time.time()
                time.sleep(seconds)
                holder.execute("ROLLBACK")
                return began, time.time()
            finally:
                holder.close()

        return await asyncio.to_thread(hold)

    async def add_reminders(self, due: dict[str, datetime]) -> None:
        """One follow-up per token, due when given, spread over the reminded people."""
        now = datetime.now(timezone.utc)
        async with self.db.sessions() as session, session.begin():
            for n, (token, at) in enumerate(due.items()):
                session.add(models.FollowUp(
                    team_id=self.team_id, member_id=self.reminded_ids[n % len(self.reminded_ids)], due_at=at,
                    note=f"check {token}", state="pending", created_at=now, attempts=0, late=False,
                ))

    async def records(self) -> Counter[str]:
        """Token -> how many interactions carry it."""
        I = models.Interaction
        async with self.db.sessions() as session:
            summaries = await session.scalars(select(I.summary).where(I.summary.like("%#8%"), I.deleted_at.is_(None)))
            return Counter(token for summary in summaries for token in set(TOKEN.findall(summary)))

    async def kept_replies(self) -> int:
        """Replies crmbot keeps to send once their platform takes them again (its outbox)."""
        async with self.db.sessions() as session:
            return await session.scalar(select(func.count()).select_from(models.PendingReply)) or 0

    async def reminders(self) -> dict[str, tuple[str, bool]]:
        """Reminder token -> (state, whether crmbot recorded it delivered)."""
        F = models.FollowUp
        async with self.db.sessions() as session:
            rows = await session.execute(select(F.note, F.state, F.delivered_at).where(F.note.like("check #9%")))
            return {token: (state, delivered is not None) for note, state, delivered in rows for token in TOKEN.findall(note)}

    async def reminder_rows(self) -> dict[str, dict[str, object]]:
        """Reminder token -> its row's id, last claimant, attempts and delivery time: to find a
        reminder in the workers' logs ("reminder <id> delivered …")."""
        F = models.FollowUp
        async with self.db.sessions() as session:
            rows = await session.execute(select(F.note, F.id, F.claimed_by, F.attempts, F.delivered_at)
                                         .where(F.note.like("check #9%")))
            return {token: {"id": id_, "claimed_by": by, "attempts": attempts, "delivered_at": str(at)}
                    for note, id_, by, attempts, at in rows for token in TOKEN.findall(note)}


class Postgres:
    """One throwaway server for the PostgreSQL scenarios: a fresh database each, and a way to
    stop it for a while as an outage does (fast shutdown: clients are disconnected)."""

    def __init__(self) -> None:
        self.server = ThrowawayPostgres()

    def start(self) -> Postgres:
        self.server.start()
        return self

    def close(self) -> None:
        self.server.stop()

    def new_database(self) -> str:
        return self.server.url("psycopg", self.server.create_database())

    async def outage(self, seconds: float) -> tuple[float, float]:
        """Stop the server, wait, start it again on the same port; returns (down, up) in time.time()."""
        server = self.server
        pg_ctl = os.path.join(server.bindir, "pg_ctl")
        await asyncio.to_thread(server._run_as_server, [pg_ctl, "stop", "-D", server.data_dir, "-m", "fast", "-w", "-t", "60"])
        down = time.time()
        await asyncio.sleep(seconds)
        log = str(Path(server.base_dir) / "server.log")
        await asyncio.to_thread(server._run_as_server, [pg_ctl, "start", "-D", server.data_dir, "-l", log, "-w", "-t", "60",
                                                        "-o", f"-p {server.port}"])
        return down, time.time()
