"""Reminders when workers die: real worker processes killed (SIGKILL) mid-delivery against the
Telegram stand-in, on both engines. A file of its own: it is the suite's slowest, and whole
files go to one worker each (`--dist loadfile`), so it runs beside the rest."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from crmbot.store import models, teams
from crmbot.store.db import open_database

FAULT_ROWS = 160
FAULT_KILLS = 6


def slow_telegram(**options):
    from tests.standins.telegram_api import TelegramStandIn

    class SlowTelegram(TelegramStandIn):
        """Telegram taking 20 ms per message, so kills land mid-delivery."""

        async def _send_message(self, params):
            await asyncio.sleep(0.02)
            return await super()._send_message(params)

    return SlowTelegram(**options)


async def test_fault_workers_killed_mid_delivery_lose_nothing(db_url, tmp_path):
    import random
    import re

    pytest.importorskip("telegram")
    from tests.support import reminder_worker

    processes = reminder_worker.processes()
    db = open_database(db_url)
    now = datetime.now(timezone.utc)
    async with db.sessions() as session, session.begin():
        team = await teams.create_team(session, "Faults", now)
        people = []
        for n in range(4):
            person = await teams.create_member(session, team.id, f"Rep {n}", now)
            await teams.bind_identity(session, person, "telegram", str(5000 + n), now, chat_id=str(5000 + n))
            people.append(person)
        session.add_all(
            models.FollowUp(team_id=team.id, member_id=people[i % 4].id, due_at=now - timedelta(seconds=i % 30),
                            note=f"fault-{i}", state="pending", created_at=now, attempts=0, late=False)
            for i in range(FAULT_ROWS)
        )

    async def undelivered() -> int:
        async with db.sessions() as session:
            return len(list(await session.scalars(select(models.FollowUp.id).where(models.FollowUp.delivered_at.is_(None)))))

    chance = random.Random(5)
    kills = 0
    try:
        async with slow_telegram(token="777:FAULT") as api:
            def spawn(name: str):
                worker = processes.Process(target=reminder_worker.run, name=name, daemon=True,
                                           args=(db_url, api.base_url, api.token, name, str(tmp_path / f"{name}.log")))
                worker.start()
                return worker

            async def ended(worker) -> None:
                await asyncio.to_thread(worker.join)

            for k in range(FAULT_KILLS):
                if not await undelivered():
                    break
                seen = len(api.calls_to("sendMessage"))
                worker = spawn(f"worker-{k}")
                try:
                    await api.wait_for("sendMessage", seen + 1, timeout=60)
                except AssertionError:
                    worker.kill()
                    raise AssertionError((tmp_path / f"worker-{k}.log").read_text()[-3000:]) from None
                await asyncio.sleep(chance.uniform(0.0, 0.4))
                worker.kill()  # SIGKILL: no clean-up of any kind, as in a power cut
                await ended(worker)
                kills += 1
            final = spawn("final")
            deadline = asyncio.get_running_loop().time() + 60
            while await undelivered() and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.1)
            final.terminate()
            await ended(final)
            texts = [c.params["text"] for c in api.calls_to("sendMessage")]
    finally:
        async with db.sessions() as session:
            rows = list(await session.scalars(select(models.FollowUp)))
        await db.close()

    seen_notes = Counter(int(n) for text in texts for n in re.findall(r"fault-(\d+)", text))
    lost = set(range(FAULT_ROWS)) - set(seen_notes)
    duplicates = {n: c for n, c in seen_notes.items() if c > 1}
    print(f"\nfault test ({db_url.split(':')[0]}): {FAULT_ROWS} follow-ups, {kills} workers killed mid-delivery, "
          f"{len(texts)} messages sent, {len(lost)} lost, {sum(c - 1 for c in duplicates.values())} duplicates "
          f"({len(duplicates)} follow-ups)")
    assert not lost
    assert all(r.delivered_at is not None and r.state == "pending" for r in rows), [r.id for r in rows if r.delivered_at is None]
    # a duplicate needs a kill between the platform's "ok" and our commit: at most the sends in flight
    assert sum(c - 1 for c in duplicates.values()) <= kills * 4
