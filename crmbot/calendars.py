"""Each member's follow-ups as a calendar their phone subscribes to: a private address with a
secret in it (`crmbot calendar-url NAME`), served by crmbot's HTTP server, always current.

Only the secret's SHA-256 is stored, so the database never holds a working address; issuing a
new one (or revoking) makes the old address answer 404."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select

from crmbot.export_formats import followups_ics
from crmbot.exporter import row_json
from crmbot.store import Session, changes, models, records
from crmbot.store.audit import Actor
from crmbot.store.db import Database

PAST_DAYS = 30  # follow-ups this old still show, so a missed one is seen in the calendar


def _key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def address(base: str, secret: str) -> str:
    return f"{base.rstrip('/')}/calendar/{secret}.ics"


async def issue(session: Session, actor: Actor, member: models.Member, now: datetime) -> str:
    """A new secret for `member`'s calendar; any earlier address stops working."""
    secret = secrets.token_urlsafe(24)
    await changes.update(session, actor, now, member, calendar_key=_key(secret))
    return secret


async def revoke(session: Session, actor: Actor, member: models.Member, now: datetime) -> None:
    await changes.update(session, actor, now, member, calendar_key=None)


async def feed(db: Database, secret: str, now: datetime) -> bytes | None:
    """The calendar behind a secret: the member's open follow-ups from a month back on, or None
    when the secret is nobody's (never issued, revoked, or the member left)."""
    async with db.sessions() as session:
        member = await session.scalar(select(models.Member).where(
            models.Member.calendar_key == _key(secret), models.Member.active))
        if member is None:
            return None
        rows = [f for f in await records.pending_followups(session, member.team_id, member.id, now + timedelta(days=3650))
                if f.due_at >= now - timedelta(days=PAST_DAYS)]
        people = await records.customers_by_id(session, member.team_id, {f.customer_id for f in rows if f.customer_id})
    data = {"customers": [{"id": c.id, "name": c.display_name} for c in people.values()],
            "followups": [row_json(f) for f in rows]}
    return followups_ics(data, {member.id: member.name}, now)
