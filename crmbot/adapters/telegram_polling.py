"""Long polling that confirms an update to Telegram only once it has been handled.

python-telegram-bot's Updater confirms a fetched batch (moves the getUpdates offset past it)
as soon as the batch is queued, before any handler ran, so a crash loses the batch. Here the
offset moves past an update only when `TelegramAdapter.feed` says it is done with: its
transaction committed, or it failed for good. An update the core could not handle now (the
database away, locked or full) ends the pass: after a backoff the same update is fetched again,
and the updates behind it wait their turn, in order. Telegram forgets updates below the offset
only when the next getUpdates carries it, so a crash at any point means redelivery, never loss,
and the stored update_id makes a redelivered update that was handled a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from telegram.error import TelegramError

from crmbot.backoff import Backoff

if TYPE_CHECKING:
    from telegram import Update

    from crmbot.adapters.telegram import TelegramAdapter

log = logging.getLogger(__name__)

T = TypeVar("T")
POLL_SECONDS = 10  # how long one getUpdates waits for news; a stop cuts it short


class Poller:
    """Polls until `stop` is set; the webhook must be deleted first (Telegram refuses getUpdates
    while one is set)."""

    def __init__(self, adapter: TelegramAdapter, allowed_updates: list[str], *, timeout: float = POLL_SECONDS,
                 backoff: Backoff | None = None) -> None:
        self.adapter = adapter
        self.allowed_updates = allowed_updates
        self.timeout = timeout
        self.backoff = backoff or Backoff(base=1.0, cap=30.0)
        self.offset: int | None = None  # the first update_id not yet done with

    async def run(self, stop: asyncio.Event) -> None:
        bot = self.adapter.bot
        failures = 0
        while not stop.is_set():
            try:
                updates = await _unless(stop, bot.get_updates(offset=self.offset, timeout=self.timeout,
                                                              allowed_updates=self.allowed_updates))
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
                self.offset = update.update_id + 1
                failures = 0
        await self._confirm()

    async def _feed(self, update: Update) -> bool:
        try:
            return await self.adapter.feed(update)
        except Exception:  # the core answers its own failures, so this is an update PTB cannot process
            log.exception("Telegram update %s could not be processed; skipped", update.update_id)
            return True

    async def _confirm(self) -> None:
        """On the way out, tell Telegram which updates are done, so a restart does not fetch
        them again (it would skip them, but only after reading them)."""
        if self.offset is None:
            return
        try:
            await self.adapter.bot.get_updates(offset=self.offset, timeout=0, allowed_updates=self.allowed_updates)
        except TelegramError as error:
            log.info("could not confirm the last Telegram updates (%s); they will be fetched and skipped", error)


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
