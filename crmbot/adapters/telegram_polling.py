"""Long polling that confirms an update to Telegram only once it has been handled.

python-telegram-bot's Updater confirms a fetched batch (moves the getUpdates offset past it)
as soon as the batch is queued, before any handler ran, so a crash loses the batch. Here the
offset moves past an update only when `TelegramAdapter.feed` says it is done with: its
transaction committed, or it failed for good. Telegram forgets updates below the offset only
when the next getUpdates carries it, so a crash at any point means redelivery, never loss, and
the stored update_id makes a redelivered update that was handled a no-op.

A batch is handled chat by chat: each chat's updates in order, in one task (a sender's updates
in several chats too: those chats share the task); different chats at once, at most
`concurrency` of them, so a slow Bot API (a reply answered seconds late) holds up
only its own chat. The offset moves past the longest run of updates, from the batch's first,
that are done with, never past one still running or not done. An update the core could not
handle now (the database away, locked or full) ends its chat's part of the pass; the other
chats finish theirs, then, after a backoff, the batch is fetched again from the first update
not done. Updates done beyond it are skipped from memory (and would be no-ops if handled).
A stop lets the handlers running finish; no new update is begun.

Within a long batch (a restart finds up to a hundred updates waiting) the updates done so far
are confirmed about once a second (`confirm_every`), with a getUpdates that asks for nothing
new, and on the way out: a worker killed soon after each start would otherwise fetch the same
handled updates again at every restart, and skip them one by one before reaching new ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from telegram.error import TelegramError

from crmbot.backoff import Backoff
from crmbot.clock import Clock, system_clock

if TYPE_CHECKING:
    from telegram import Update

    from crmbot.adapters.telegram import TelegramAdapter

log = logging.getLogger(__name__)

T = TypeVar("T")
POLL_SECONDS = 10  # how long one getUpdates waits for news; a stop cuts it short
CONFIRM_EVERY = timedelta(seconds=1)  # within a batch, what is done is confirmed this often
# Chats handled at once. Enough for the batch gathered while a slow send was waited for to go out
# in one wave (fault run h, every message in a chat of its own, sends answered 9 s late: with 8,
# the ninth chat waited a second 9 s); a handler holds a database connection only while it writes.
CONCURRENCY = 16


class Poller:
    """Polls until `stop` is set; the webhook must be deleted first (Telegram refuses getUpdates
    while one is set)."""

    def __init__(self, adapter: TelegramAdapter, allowed_updates: list[str], *, timeout: float = POLL_SECONDS,
                 backoff: Backoff | None = None, clock: Clock = system_clock,
                 confirm_every: timedelta = CONFIRM_EVERY, concurrency: int = CONCURRENCY) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.adapter = adapter
        self.allowed_updates = allowed_updates
        self.timeout = timeout
        self.backoff = backoff or Backoff(base=1.0, cap=30.0)
        self.clock = clock
        self.confirm_every = confirm_every
        self.concurrency = concurrency
        self.offset: int | None = None  # the first update_id not yet done with
        self._confirmed: int | None = None  # the offset Telegram was last told
        self._confirmed_at = None  # when (by `clock`)
        # update_ids done with beyond the offset (a chat's failure held the offset back): skipped
        # when fetched again, not fed to the core a second time
        self._done_ahead: set[int] = set()

    async def run(self, stop: asyncio.Event) -> None:
        bot = self.adapter.bot
        failures = 0
        while not stop.is_set():
            try:
                offset = self.offset
                updates = await _unless(stop, bot.get_updates(offset=offset, timeout=self.timeout,
                                                              allowed_updates=self.allowed_updates))
                if updates is not None:  # answered (None: stopped first, maybe never sent)
                    self._told(offset)
            except TelegramError as error:
                failures += 1
                log.warning("polling Telegram failed (%s); trying again", error)
                await _pause(stop, self.backoff.delay(failures))
                continue
            except Exception:  # a batch python-telegram-bot cannot read: keep polling, and say so
                failures += 1
                log.exception("could not read the updates Telegram sent; trying again")
                await _pause(stop, self.backoff.delay(failures))
                continue
            if not updates:
                continue
            before = self.offset
            all_done = await self._handle(updates, stop)
            if self.offset != before:
                failures = 0  # progress: a failure now starts the backoff afresh
            if not all_done and not stop.is_set():
                failures += 1  # fetched again after the pause, from the first update not done
                await _pause(stop, self.backoff.delay(failures))
        await self._confirm()

    async def _handle(self, updates: Sequence[Update], stop: asyncio.Event) -> bool:
        """Handle a batch chat by chat, moving the offset as its first updates are done with;
        True when every update in it is."""
        done = [update.update_id in self._done_ahead for update in updates]
        runs = _in_turns([index for index in range(len(updates)) if not done[index]], updates)
        finished: asyncio.Queue[int | None] = asyncio.Queue()  # an index done with; None: a chat's task ended
        turns = asyncio.Semaphore(self.concurrency)

        async def chat(indexes: list[int]) -> None:
            try:
                async with turns:
                    for index in indexes:
                        # not done (or stopping): the chat's later updates wait for the next pass
                        if stop.is_set() or not await self._feed(updates[index]):
                            return
                        finished.put_nowait(index)
            finally:
                finished.put_nowait(None)

        first = self._advance(updates, done, 0)
        tasks = [asyncio.create_task(chat(indexes)) for indexes in runs]
        running = len(tasks)
        try:
            while running:
                index = await finished.get()
                if index is None:
                    running -= 1
                    continue
                done[index] = True
                self._done_ahead.add(updates[index].update_id)
                first = self._advance(updates, done, first)
                if self._confirmed_at is None or self.clock() - self._confirmed_at >= self.confirm_every:
                    await self._confirm()
        finally:
            # all ended by now, unless this task was cancelled: a handler cut short is not done,
            # so the offset never passed its update
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return all(done)

    def _advance(self, updates: Sequence[Update], done: list[bool], first: int) -> int:
        """Move the offset past the updates done with from `first` on, up to the first not done;
        return that one's index."""
        moved = False
        while first < len(updates) and done[first]:
            # never backwards: an update redelivered below the offset was done with long ago
            self.offset = max(self.offset or 0, updates[first].update_id + 1)
            first, moved = first + 1, True
        if moved:
            self._done_ahead = {update_id for update_id in self._done_ahead if update_id >= (self.offset or 0)}
        return first

    def _told(self, offset: int | None) -> None:
        if offset is not None:
            self._confirmed, self._confirmed_at = offset, self.clock()

    async def _feed(self, update: Update) -> bool:
        try:
            return await self.adapter.feed(update)
        except Exception:  # the core answers its own failures, so this is an update PTB cannot process
            log.exception("Telegram update %s could not be processed; skipped", update.update_id)
            return True

    async def _confirm(self) -> None:
        """Tell Telegram which updates are done (within a batch, and on the way out), so a
        restart does not fetch them again (it would skip them, but only after reading them).
        The getUpdates asks for one update at most and waits for none: what it returns is not
        done with, so it is not confirmed, and is handled from the batch in hand or the next."""
        if self.offset is None or self.offset == self._confirmed:
            return
        offset = self.offset
        try:
            await self.adapter.bot.get_updates(offset=offset, limit=1, timeout=0, allowed_updates=self.allowed_updates)
            self._told(offset)
        except TelegramError as error:
            log.info("could not confirm the last Telegram updates (%s); they will be fetched and skipped", error)
            self._confirmed_at = self.clock()  # not again at once: the next confirmation is a second away


def _in_turns(indexes: list[int], updates: Sequence[Update]) -> list[list[int]]:
    """The updates at `indexes` in runs that may go at once: one run holds every update of a chat
    and every update of a sender (their private chat and a group they write in share a run, so
    an "undo" in one never overtakes the change it undoes in the other), each run in order."""
    parent: dict[object, object] = {}

    def root(key: object) -> object:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    keys = {index: _keys_of(updates[index]) for index in indexes}
    for found in keys.values():
        for other in found[1:]:
            parent[root(other)] = root(found[0])
    runs: dict[object, list[int]] = {}
    for index in indexes:
        runs.setdefault(root(keys[index][0]), []).append(index)
    return list(runs.values())


def _keys_of(update: Update) -> tuple[object, ...]:
    """Whose turn an update waits for: its chat's and its sender's (a press on a message sent
    inline has no chat: the core answers in the sender's private chat); else its own."""
    keys = tuple((kind, found.id) for kind, found in (("chat", update.effective_chat), ("user", update.effective_user))
                 if found is not None and isinstance(found.id, int))
    return keys or (("update", update.update_id),)


async def _unless(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None when `stop` is set first (the work is then cancelled: nothing
    fetched by a cancelled getUpdates was confirmed, so nothing is lost)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, TelegramError):
        await task
    return None


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
