"""A platform is back: what waits out a backoff from its outage goes now.

Reminders and kept replies that failed back off (a jittered exponential, up to minutes in a
long outage). The moment the platform takes anything again — a reminder, a kept reply, a new
answer — that wait is pointless, so the rows of that platform waiting out such a backoff become
due at once. Only a rate limit's wait is kept: the platform said how long.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from crmbot.reminders import outbox, queue
from crmbot.store.db import Database
from crmbot.store.faults import describe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hurried:
    reminders: int = 0
    replies: int = 0  # kept replies


async def platform_back(db: Database, platform: str, now: datetime) -> Hurried:
    """`platform` took something: bring its backing-off reminders and kept replies forward to
    `now`, in one transaction. Never raises (nothing is hurried when the database can't be)."""
    try:
        async with db.writer_turn(), db.sessions() as session, session.begin():
            hurried = Hurried(await queue.retry_now(session, platform=platform, now=now),
                              await outbox.retry_now(session, adapter=platform, now=now))
    except Exception as error:
        log.warning("could not bring retrying %s reminders and replies forward: %s", platform, describe(error))
        return Hurried()
    if hurried.reminders or hurried.replies:
        log.info("%s is back: %d retrying reminder(s) and %d kept repl%s go now", platform, hurried.reminders,
                 hurried.replies, "y" if hurried.replies == 1 else "ies")
    return hurried
