"""A reminder worker process for the fault test: the real loop, delivering through the real
python-telegram-bot to a Telegram stand-in, until it is killed.

Workers are forked from a server that has imported all this once (multiprocessing's forkserver
with this module preloaded), so starting one costs milliseconds instead of seconds of imports,
and the test can afford to kill many.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from multiprocessing.context import ForkServerContext

from telegram import Bot

from crmbot.adapters.telegram import TelegramSender
from crmbot.i18n import I18n
from crmbot.reminders import ReminderLoop
from crmbot.store.db import open_database


def processes() -> ForkServerContext:
    """Where to start workers from: a fork server that has this module imported."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def run(db_url: str, base_url: str, token: str, worker: str, log: str) -> None:
    """The process's body: the reminder loop with a short lease, logging to `log`."""
    with open(log, "w") as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    asyncio.run(_loop(db_url, base_url, token, worker))


async def _loop(db_url: str, base_url: str, token: str, worker: str) -> None:
    db = open_database(db_url)
    async with Bot(token, base_url=base_url) as bot:
        loop = ReminderLoop(db, I18n(), {"telegram": TelegramSender(bot)}, worker_id=worker, lease_seconds=2,
                            batch_size=8, concurrency=4, poll_seconds=0.2, digests_enabled=False)
        await loop.run(asyncio.Event())
