"""Long polling that confirms an update to Telegram only once it has been handled.

python-telegram-bot's Updater confirms a fetched batch (moves the getUpdates offset past it)
as soon as the batch is queued, before any handler ran, so a crash loses the batch. Here the
offset moves past an update only when `TelegramAdapter.feed` says it is done with: its
transaction committed, or it failed for good. An update the core could not handle now (the
database away, locked or full) ends the pass: after a backoff the same update is fetched again,
and the updates behind it wait their turn, in order. Telegram forgets updates below the offset
only when the next getUpdates carries it, so a crash at any point means redelivery, never loss,
and the stored update_id makes a redelivered update that was handled a no-op.

Within a long batch (a restart finds up to a hundred updates waiting) the updates done so far
are confirmed about once a second (`confirm_every`), with a getUpdates that asks for nothing
new, and on the way out: a worker killed soon after each start would otherwise fetch the same
handled updates again at every restart, and skip them one by one before reaching new ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
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


class Poller:
    """Polls until `stop` is set; the webhook must be deleted first (Telegram refuses getUpdates
    while one is set)."""

    def __init__(self, adapter: TelegramAdapter, allowed_updates: list[str], *, timeout: float = POLL_SECONDS,
                 backoff: Backoff | None = None, clock: Clock = system_clock,
                 confirm_every: timedelta = CONFIRM_EVERY) -> None:
        self.adapter = adapter
        self.allowed_updates = allowed_updates
        self.timeout = timeout
        self.backoff = backoff or Backoff(base=1.0, cap=30.0)
        self.clock = clock
        self.confirm_every = confirm_every
        self.offset: int | None = None  # the first update_id not yet done with
        self._confirmed: int | None = None  # the offset Telegram was last told
        self._confirmed_at = None  # when (by `clock`)

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
            for update in updates or ():
                if stop.is_set():
                    break
                if not await self._feed(update):
                    failures += 1  # not done: fetched again after the pause, with all behind it
                    await _pause(stop, self.backoff.delay(failures))
                    break
                self.offset = update.update_id + 1  # its transaction committed (or it failed for good)
                failures = 0
                if self._confirmed_at is None or self.clock() - self._confirmed_at >= self.confirm_every:
                    await self._confirm()
        await self._confirm()

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
