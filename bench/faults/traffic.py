"""The users' side: a steady stream of messages, each carrying a unique token, delivered the way
each platform delivers — queued for long polling, or posted to the workers' webhooks with the
platform's own retries (Telegram keeps retrying a failed webhook; Slack retries an event three
times: at once, after a minute and after five, each time giving up on an answer after 3 s)."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from bench.faults.database import REPS, Person
from bench.faults.platforms import CHANNEL, GROUPS, SIGNING_SECRET, WEBHOOK_SECRET, Platforms
from bench.faults.workers import Worker
from tests.standins.slack_api import sign

WEBHOOK_PATH = "/telegram/hook"
WEBHOOK_URL = "https://faults.invalid" + WEBHOOK_PATH  # crmbot serves its path; only setWebhook sees the host
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TELEGRAM_WAIT = 60.0  # how long the platform waits for a webhook's answer
SLACK_WAIT = 3.0
SLACK_RETRIES = (0.0, 60.0, 300.0)  # after the first failure: retry 1, 2, 3
MAX_ATTEMPTS = 500  # a Telegram webhook retry loop's bound (over an hour at the longest back-off)
MAX_MESSAGES = 100_000  # a stream's bound, whatever its stop


class Tokens:
    """Unique tokens: '#8' records, '#9' reminders, then the scenario's digit and a serial."""

    def __init__(self, scenario: int) -> None:
        self.scenario = scenario
        self._serial = itertools.count(1)

    def record(self) -> str:
        return f"#8{self.scenario}{next(self._serial):07d}"

    def reminder(self) -> str:
        return f"#9{self.scenario}{next(self._serial):07d}"


@dataclass(frozen=True)
class Pushed:
    """A user message: its token, and how its answer is recognised (message id or Slack ts)."""

    token: str
    platform: str
    ref: str
    at: float


class Deliveries:
    """The platforms' delivery side: every message reaches a worker or is retried, until `close`."""

    def __init__(self, platforms: Platforms, workers: Sequence[Worker], *, polling: bool) -> None:
        self.platforms = platforms
        self.workers = workers
        self.polling = polling
        self.pushed: list[Pushed] = []
        self.statuses: dict[int | str, int] = {}  # what the workers answered, by status (or error name)
        self.given_up = 0  # Slack events dropped after their last retry
        self._updates: dict[str, int] = {}  # token -> update_id, for messages queued for polling
        self._retrying: set[str] = set()  # tokens of webhook requests not yet answered 2xx
        self._tasks: set[asyncio.Task] = set()
        self._turn = itertools.count()
        self._closing = False
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Deliveries:
        self._http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def idle(self) -> bool:
        """Nothing in flight or waiting to be retried, and nothing unconfirmed in the poll queue."""
        return not self._tasks and not (self.polling and self.platforms.telegram.pending_updates)

    def waiting(self) -> set[str]:
        """Tokens the platform still holds: unconfirmed in the poll queue, or being retried."""
        queued = {u["update_id"] for u in self.platforms.telegram.pending_updates}
        return {t for t, update_id in self._updates.items() if update_id in queued} | self._retrying

    async def close(self) -> None:
        """Stop retrying: what is still undelivered stays so (and will count as lost)."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    # -- messages ----------------------------------------------------------------------------------

    def telegram(self, person: Person, text: str, token: str) -> None:
        api = self.platforms.telegram
        group = GROUPS - len(self.pushed)
        update = api.text_update(group, person.telegram, text, chat_type="supergroup", first_name=person.name)
        self.pushed.append(Pushed(token, "telegram", str(update["message"]["message_id"]), time.time()))
        if self.polling:
            self._updates[token] = update["update_id"]
            api.push_update(update)
        else:
            self._spawn(token, self._post_telegram(update))

    def slack(self, person: Person, text: str, token: str) -> None:
        body = self.platforms.slack.app_mention_event(person.slack, text, CHANNEL)
        self.pushed.append(Pushed(token, "slack", json.loads(body)["event"]["ts"], time.time()))
        self._spawn(token, self._post_slack(body))

    def _spawn(self, token: str, work) -> None:
        self._retrying.add(token)
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # delivered, or given up by the platform (lost): either way no longer waiting
        task.add_done_callback(lambda t: t.cancelled() or self._retrying.discard(token))

    def _worker(self) -> Worker | None:
        """Round robin over the workers that are up, as a load balancer checking /healthz would."""
        up = [w for w in self.workers if w.ready]
        return up[next(self._turn) % len(up)] if up else None

    async def _post(self, path: str, body: bytes, headers: dict[str, str], wait: float) -> bool:
        worker = self._worker()
        if worker is None:
            self._note("no worker up")
            return False
        try:
            async with self._http.post(worker.url + path, data=body, headers=headers,
                                       timeout=aiohttp.ClientTimeout(total=wait)) as response:
                await response.read()
                self._note(response.status)
                return 200 <= response.status < 300
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            self._note(type(error).__name__)
            return False

    def _note(self, outcome: int | str) -> None:
        self.statuses[outcome] = self.statuses.get(outcome, 0) + 1

    async def _post_telegram(self, update: dict) -> None:
        body = json.dumps(update).encode()
        headers = {"Content-Type": "application/json", SECRET_HEADER: WEBHOOK_SECRET}
        backoff = 0.5
        for _ in range(MAX_ATTEMPTS):  # until `close`, in practice
            if await self._post(WEBHOOK_PATH, body, headers, TELEGRAM_WAIT):
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 8.0)

    async def _post_slack(self, body: bytes) -> None:
        for retry, pause in enumerate((None, *SLACK_RETRIES)):
            if pause is not None:
                await asyncio.sleep(pause)
            headers = {**sign(SIGNING_SECRET, body, int(time.time())), "Content-Type": "application/json"}
            if retry:
                headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_error"})
            if await self._post("/slack/events", body, headers, SLACK_WAIT):
                return
        self.given_up += 1


class Background:
    """A task running `_run` from `start()` until `stop()`; `_pause` says whether it was stopped."""

    def __init__(self) -> None:
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def _pause(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
            return True
        except asyncio.TimeoutError:
            return False


class Stream(Background):
    """`rate` messages a second from the reps, a `slack_share` of them on Slack, until stopped."""

    def __init__(self, deliveries: Deliveries, tokens: Tokens, *, rate: float, slack_share: float, seed: int) -> None:
        super().__init__()
        self.deliveries = deliveries
        self.tokens = tokens
        self.rate = rate
        self.slack_share = slack_share
        self.random = random.Random(seed)

    async def _run(self) -> None:
        for n in range(MAX_MESSAGES):
            person = REPS[n % len(REPS)]
            token = self.tokens.record()
            text = f"/note jana {token}"
            if self.random.random() < self.slack_share:
                self.deliveries.slack(person, text, token)
            else:
                self.deliveries.telegram(person, text, token)
            if await self._pause(self.random.expovariate(self.rate)):
                return
