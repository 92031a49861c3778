"""Replies kept while their platform could not take them, and the pass that sends them again.

    await outbox.keep(db, chat, replies, now)    # after the change they answer was committed
    await outbox.waiting(db, chat)               # True: new replies to this chat go behind those
    await PendingReplies(...).run_once(now)      # the reminder loop's pass, oldest first per chat

One row holds what one message said in one chat. A chat's rows go out in id order: the oldest
row is the chat's claim (a lease, as follow-ups have), and the worker that wins it claims the
chat's other rows with it, so no two workers ever send one chat's rows at once. A row that fails
holds back the rows behind it, and is tried again after a backoff; a permanent refusal (the bot
blocked, the chat gone) drops the chat's rows with a warning, and so does a row older than the
retry window.

A row that failed waits out a jittered exponential backoff, up to minutes in a long outage;
when its platform takes anything again, the wait ends (`retry_now`, see `recovery`): kept
replies go out when the platform is back, not minutes later. A new reply to a chat that has
kept replies is kept behind them and ends their wait too (`keep(..., behind=chat)`): it would
have been tried at once if nothing were waiting, so the chat's oldest is tried now instead —
and if the platform takes it, it is back for every chat. Without that, a member's DM held
every new answer behind a backoff of minutes after the platform was back.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.clock import Clock
from crmbot.messages import Button, Card, ChatRef, DeliveryFailed, Image, Reply, Sender
from crmbot.backoff import Backoff
from crmbot.reminders.lease import Renewal, extend
from crmbot.reminders.queue import RATE_LIMITED
from crmbot.store import models
from crmbot.store.db import Database
from crmbot.store.faults import describe, is_transient

log = logging.getLogger(__name__)

P = models.PendingReply
DELETE_RETRY = 0.25  # seconds between attempts to delete a delivered kept reply while the database is away


# -- replies as JSON ----------------------------------------------------------------------------


def encode(reply: Reply) -> dict[str, Any]:
    image = reply.image
    return {
        "text": reply.text,
        "buttons": [[b.label, b.action] for b in reply.buttons],
        "image": {"data": base64.b64encode(image.data).decode(), "filename": image.filename, "mime": image.mime,
                  "alt": image.alt} if image else None,
        "ephemeral": reply.ephemeral,
        "card": {"title": reply.card.title, "fields": [list(f) for f in reply.card.fields]} if reply.card else None,
        "kind": reply.kind,
    }


def decode(data: dict[str, Any]) -> Reply:
    image, card = data.get("image"), data.get("card")
    return Reply(
        text=data["text"],
        buttons=tuple(Button(label, action) for label, action in data.get("buttons") or ()),
        image=Image(base64.b64decode(image["data"]), image["filename"], image["mime"], image.get("alt", "")) if image else None,
        ephemeral=bool(data.get("ephemeral")),
        card=Card(card["title"], tuple((k, v) for k, v in card["fields"])) if card else None,
        kind=data.get("kind") or "",
    )


def chat_key(chat: ChatRef) -> str:
    """What "in order" is kept per: the chat, whatever message a reply quotes (Telegram), or a
    thread that is a conversation of its own (Slack): one thread's kept replies then never hold
    back another's, in a busy channel answered thread by thread."""
    key = f"{chat.adapter}|{chat.chat_id}"
    if chat.thread_apart and chat.thread:
        key += f"|{chat.thread}"
    return key[:160]


# -- what adapters call -------------------------------------------------------------------------


async def keep(db: Database, chat: ChatRef, replies: Sequence[Reply], now: datetime, *,
               behind: ChatRef | None = None) -> bool:
    """Store replies to send later, in a transaction of their own. `behind`: they were not
    tried, only kept because that chat has earlier ones waiting, whose backoff then ends (see
    the module's doc). False (logged) when the database cannot take them either: then they are lost, and
    the log says so."""
    try:
        async with db.writer_turn(), db.sessions() as session, session.begin():
            team_id = next((r.team_id for r in replies if r.team_id is not None), None)
            session.add(P(team_id=team_id, adapter=chat.adapter, chat_id=chat.chat_id, thread=chat.thread, chat_key=chat_key(chat),
                          replies=[encode(r) for r in replies], created_at=now, attempts=0))
            if behind is not None:
                await _retry_now(session, P.chat_key == chat_key(behind), now)
        return True
    except Exception as error:
        log.error("a reply to a %s chat could not be sent nor kept, and is lost: %s", chat.adapter, describe(error))
        return False


async def waiting(db: Database, chat: ChatRef) -> bool:
    """Whether earlier replies to this chat are still kept (new ones must go behind them)."""
    try:
        async with db.sessions() as session:
            return await session.scalar(select(P.id).where(P.chat_key == chat_key(chat)).limit(1)) is not None
    except Exception as error:  # the database away: sending now is better than not at all
        log.warning("could not look for kept replies: %s", describe(error))
        return False


# -- the queue ----------------------------------------------------------------------------------


async def retry_now(session: AsyncSession, *, adapter: str, now: datetime) -> int:
    """Kept replies to `adapter`'s chats waiting out a backoff become due now, but those a rate
    limit deferred (the platform said how long to wait)."""
    return await _retry_now(session, P.adapter == adapter, now)


async def _retry_now(session: AsyncSession, which: Any, now: datetime) -> int:
    result = await session.execute(
        update(P).where(which, P.next_attempt_at > now,
                        and_(*(P.last_error.not_like(f"%{words}%") for words in RATE_LIMITED)))
        .values(next_attempt_at=now).execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def _due(now: datetime) -> list:
    return [or_(P.next_attempt_at.is_(None), P.next_attempt_at <= now), or_(P.claim_expires_at.is_(None), P.claim_expires_at <= now)]


async def claim(session: AsyncSession, *, worker: str, now: datetime, lease: timedelta, limit: int,
                adapters: Sequence[str], postgres: bool) -> list[str]:
    """Take up to `limit` chats whose oldest row is due, with all their rows; returns their keys."""
    heads = select(func.min(P.id)).where(P.adapter.in_(list(adapters))).group_by(P.chat_key)
    pick = select(P.id).where(P.id.in_(heads), *_due(now)).order_by(P.id).limit(limit)
    if postgres:  # lock the heads first, skipping those another worker is claiming right now
        ids = list((await session.scalars(pick.with_for_update(of=P, skip_locked=True))).all())
        if not ids:
            return []
        target = P.id.in_(ids)
    else:  # SQLite has one writer: one statement picks and claims
        target = P.id.in_(pick.scalar_subquery())
    until = now + lease
    keys = list((await session.execute(
        update(P).where(target, *_due(now)).values(claimed_by=worker, claim_expires_at=until).returning(P.chat_key)
        .execution_options(synchronize_session=False)
    )).scalars())
    if keys:  # the rows behind each head: nobody else can take them while we hold the head
        await session.execute(
            update(P).where(P.chat_key.in_(keys), or_(P.claim_expires_at.is_(None), P.claim_expires_at <= now))
            .values(claimed_by=worker, claim_expires_at=until).execution_options(synchronize_session=False)
        )
    return keys


async def due(session: AsyncSession, now: datetime, adapters: Sequence[str]) -> bool:
    """Whether any kept reply could be sent now (usually not: a read is cheaper than a claim)."""
    return await session.scalar(select(P.id).where(P.adapter.in_(list(adapters)), *_due(now)).limit(1)) is not None


async def counts(session: AsyncSession) -> tuple[int, datetime | None]:
    """For `crmbot doctor`: how many replies are kept, and since when."""
    found = (await session.execute(select(func.count(), func.min(P.created_at)))).one()
    return found[0] or 0, found[1]


# -- the pass -----------------------------------------------------------------------------------


@dataclass
class RepliesReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    platform_back: set[str] = field(default_factory=set)  # adapters that took a kept reply in this pass
    hurried: int = 0  # rows of those adapters brought forward from a backoff


class PendingReplies:
    """The reminder loop's pass over kept replies, through the same senders as reminders."""

    def __init__(self, db: Database, senders: dict[str, Sender], clock: Clock, *, worker: str, lease: timedelta,
                 send_timeout: float, backoff: Backoff, give_up_after: timedelta, batch_size: int = 50,
                 concurrency: int = 50, on_back: Callable[[str, datetime], Awaitable[int]] | None = None,
                 busy: Callable[[str], bool] | None = None, overlap_after: float = 0.2) -> None:
        self.db = db
        self.senders = senders
        self.clock = clock
        self.worker = worker
        self.lease = lease
        self.send_timeout = send_timeout
        self.backoff = backoff
        self.give_up_after = give_up_after
        self.batch_size = batch_size
        # every chat of a batch in flight at once: at 16, a platform answering in 8 s took two
        # kept replies a second, and the backlog of an outage went out over minutes
        self.concurrency = concurrency
        # a platform took a kept reply: what else waits out a backoff for it may go (returns how
        # many kept replies it brought forward)
        self.on_back = on_back
        # whether reminders are being sent through a platform right now: then its kept replies
        # go one at a time, so the reminders (due now, and late once 30 s pass) take the
        # platform's rate budget first, and the kept replies still move
        self.busy = busy
        self.overlap_after = overlap_after
        self._one_at_a_time = asyncio.Lock()

    async def run_once(self, now: datetime) -> RepliesReport:
        report = RepliesReport()
        held_until = self.clock() + self.lease
        async with self.db.writer_turn(), self.db.sessions() as session, session.begin():
            keys = await claim(session, worker=self.worker, now=now, lease=self.lease, limit=self.batch_size,
                               adapters=list(self.senders), postgres=self.db.is_postgres)
        if not keys:
            return report
        async with self.db.sessions() as session:
            rows = list(await session.scalars(select(P).where(P.chat_key.in_(keys), P.claimed_by == self.worker).order_by(P.id)))
        chats: dict[str, list[models.PendingReply]] = {}
        for row in rows:
            chats.setdefault(row.chat_key, []).append(row)
        limit = asyncio.Semaphore(self.concurrency)

        async def one(chat_rows: list[models.PendingReply], held: Renewal) -> None:
            async with limit:
                await self._chat(chat_rows, now, report, held)

        async with Renewal(self.db, self.lease, self.clock, extend(P, [r.id for r in rows], self.worker),
                           held_until=held_until) as held:
            await asyncio.gather(*(one(chat_rows, held) for chat_rows in chats.values()))
        return report

    async def _chat(self, rows: list[models.PendingReply], now: datetime, report: RepliesReport, held: Renewal) -> None:
        """One chat's rows, oldest first, until one fails; each deleted as soon as the platform
        took it (a crash in between sends it twice)."""
        for row in rows:
            if not held.holds(self.clock()):  # renewals failing: the rows may soon be another worker's
                log.warning("kept replies for a %s chat left to their lease: it could not be renewed", row.adapter)
                return
            chat = ChatRef(row.adapter, row.chat_id, row.thread)
            try:
                await self._paced(row.adapter, asyncio.wait_for(
                    self.senders[row.adapter].send(chat, [decode(r) for r in row.replies]), self.send_timeout))
            except Exception as error:
                failure = error if isinstance(error, DeliveryFailed) else DeliveryFailed(f"{type(error).__name__}: {error}")
                await self._failed(row, now, failure, report)
                return
            await self._delete_sent(row)
            report.sent.append(row.id)
            if row.adapter not in report.platform_back:  # it is back: the rest of its chats need not wait
                report.platform_back.add(row.adapter)
                if self.on_back is not None:
                    report.hurried += await self.on_back(row.adapter, now)

    async def _delete_sent(self, row: models.PendingReply) -> None:
        """The platform took it: deleted at once, and while the database is away (PostgreSQL
        restarting, SQLite locked) tried again every `DELETE_RETRY` seconds for as long as a
        lease lasts (the pass renews it meanwhile, when it can). Given up, the row stays claimed
        until its lease runs out and the reply goes out a second time, late rather than lost."""
        warned = False
        give_up = time.monotonic() + self.lease.total_seconds()
        while True:
            try:
                async with self.db.writer_turn(urgent=True), self.db.sessions() as session, session.begin():
                    deleted = await session.execute(delete(P).where(P.id == row.id, P.claimed_by == self.worker))
                if deleted.rowcount == 0:  # our lease ran out and another worker took it: it may send it again
                    log.warning("kept reply %s was delivered, but another worker had taken it meanwhile", row.id)
                return
            except Exception as error:
                if not is_transient(error):
                    raise
                if time.monotonic() >= give_up:
                    log.warning("kept reply %s was delivered but could not be deleted within a lease (%s): "
                                "it will go out again", row.id, describe(error))
                    return
                if not warned:
                    log.warning("kept reply %s was delivered but could not be deleted (%s); trying again every %.2f s",
                                row.id, describe(error), DELETE_RETRY)
                    warned = True
            await asyncio.sleep(DELETE_RETRY)

    async def _paced(self, adapter: str, send: Awaitable[None]) -> None:
        """A kept reply's send. While reminders go out through the same platform, one at a
        time: the next begins when this one is done, or once it has been in flight for
        `overlap_after` (a slow platform: waiting for each answer in turn held a backlog of
        kept replies back for minutes while the platform took every one of them in 8 s)."""
        if self.busy is None or not self.busy(adapter):
            await send
            return
        task = None
        try:
            async with self._one_at_a_time:
                task = asyncio.ensure_future(send)
                await asyncio.wait({task}, timeout=self.overlap_after)
            await task
        finally:
            if task is None:
                send.close()  # cancelled before its turn: never begun
            elif not task.done():  # cancelled: the send goes with it
                task.cancel()

    async def _failed(self, row: models.PendingReply, now: datetime, error: DeliveryFailed, report: RepliesReport) -> None:
        too_old = row.created_at < now - self.give_up_after
        async with self.db.writer_turn(), self.db.sessions() as session, session.begin():
            if error.permanent or too_old:
                gone = P.chat_key == row.chat_key if error.permanent else P.id == row.id
                dropped = list((await session.execute(
                    delete(P).where(gone, P.claimed_by == self.worker).returning(P.id)
                    .execution_options(synchronize_session=False))).scalars())
                report.dropped.extend(dropped)
                log.warning("dropped %d kept %s repl%s for chat %s: %s", len(dropped), row.adapter,
                            "y" if len(dropped) == 1 else "ies", row.chat_id, "refused for good" if error.permanent else
                            f"undeliverable since {row.created_at:%Y-%m-%d %H:%M} UTC ({error})")
            else:
                retry_at = now + timedelta(seconds=self.backoff.delay(row.attempts + 1, error.retry_after))
                await session.execute(update(P).where(P.id == row.id, P.claimed_by == self.worker).values(
                    attempts=row.attempts + 1, next_attempt_at=retry_at, last_error=str(error)[:500]))
                report.retrying.append(row.id)
                log.info("kept reply %s for a %s chat: attempt %d failed (%s); next at %s", row.id, row.adapter,
                         row.attempts + 1, error, f"{retry_at:%H:%M:%S}")
            # the rest of the chat waits behind the failed row: let go of it
            await session.execute(update(P).where(P.chat_key == row.chat_key, P.claimed_by == self.worker)
                                  .values(claimed_by=None, claim_expires_at=None))
