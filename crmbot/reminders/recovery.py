"""A platform is back: what waits out a backoff from its outage goes now.

Reminders and kept replies that failed back off (a jittered exponential, up to minutes in a
long outage). The moment the platform takes anything again — a reminder, a kept reply, a new
answer — that wait is pointless, so the rows of that platform waiting out such a backoff become
due at once. Only a rate limit's wait is kept: the platform said how long.

Reminders first: while some of the platform's reminders are brought forward, its kept replies
keep their wait. Both would go out at once, and hundreds of kept replies took most of the
platform's rate (Telegram: 30 messages a second) while the reminders, which are late after 30
s, waited. The next sign that the platform is back finds no reminder backing off, and brings
the kept replies forward then: a pass later, seconds.
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
            reminders = await queue.retry_now(session, platform=platform, now=now)
            replies = 0 if reminders else await outbox.retry_now(session, adapter=platform, now=now)
            hurried = Hurried(reminders, replies)
    except Exception as error:
        log.warning("could not bring retrying %s reminders and replies forward: %s", platform, describe(error))
        return Hurried()
    if hurried.reminders or hurried.replies:
        log.info("%s is back: %d retrying reminder(s) and %d kept repl%s go now", platform, hurried.reminders,
                 hurried.replies, "y" if hurried.replies == 1 else "ies")
    return hurried
