"""One scenario's run: a seeded database, both stand-ins, N crmbot workers, the message stream
and follow-ups falling due; at the end, a wait for quiescence and the count by token."""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import time
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from bench.faults.database import Postgres, Store
from bench.faults.figures import Figures, Interval, gaps, lateness
from bench.faults.platforms import WEBHOOK_SECRET, Platforms
from bench.faults.traffic import WEBHOOK_URL, Deliveries, Stream, Tokens
from bench.faults.workers import Worker


@dataclass
class Plan:
    """How big the runs are (--cycles, --quick) and where they keep their files."""

    cycles: int
    quick: bool
    folder: Path
    seed: int = 14
    postgres: Postgres | None = None
    ci: bool = False  # reminders sent twice bounded by the kills, not by 1% (too few for a rate)

    @property
    def quiet(self) -> float:
        """At the end, stop waiting once nothing changed for this long: in the full run longer
        than the 120 s reminder lease crmbot once had, so a reminder sent again once a dead
        worker's lease runs out is still seen (twice)."""
        return 30.0 if self.quick else 150.0

    @property
    def settle_limit(self) -> float:
        return 150.0 if self.quick else 600.0

    def random(self, scenario: str) -> random.Random:
        return random.Random(f"{self.seed}-{scenario}")

    def database(self, scenario: str, engine: str) -> str:
        if engine == "sqlite":
            path = self.folder / f"{scenario}.db"
            for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                leftover.unlink(missing_ok=True)  # a kept folder from an earlier run
            return f"sqlite:///{path}"
        if self.postgres is None:
            self.postgres = Postgres().start()
        return self.postgres.new_database()


def load() -> str:
    return "{:.1f}".format(os.getloadavg()[0])


@dataclass
class Run:
    """`async with Run(...) as run:` starts everything; `await run.finish()` counts."""

    plan: Plan
    scenario: str  # "a", "b", ...
    index: int  # the digit in this scenario's tokens
    title: str
    engine: str = "sqlite"
    workers: int = 1
    polling: bool = True
    rate: float = 3.0  # user messages a second
    slack_share: float = 0.0
    open_files: int | None = None
    # wait for an answer to every handled message before counting: a reply crmbot still keeps
    # (its platform was down) is late, not lost, until the wait for quiet is over
    replies: bool = False
    unavailable: list[Interval] = field(default_factory=list)  # outages the scenario caused
    due: dict[str, float] = field(default_factory=dict)  # reminder token -> due (time.time())

    async def __aenter__(self) -> Run:
        self._cleanup = AsyncExitStack()
        try:
            await self._start()
        except BaseException:
            await self._cleanup.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._cleanup.aclose()

    async def _start(self) -> None:
        self.started = time.time()
        self.load_before = load()
        self.random = self.plan.random(self.scenario)
        self.tokens = Tokens(self.index)
        folder = self.plan.folder / self.scenario
        folder.mkdir(parents=True, exist_ok=True)
        self.store = await Store.create(await asyncio.to_thread(self.plan.database, self.scenario, self.engine))
        self._cleanup.push_async_callback(self.store.close)
        self.platforms = await self._cleanup.enter_async_context(Platforms())
        env = {
            **self.platforms.env(),
            "CRMBOT_DATABASE_URL": self.store.url,
            "CRMBOT_RATE_LIMIT_PER_MINUTE": "1000000",  # the runs measure faults, not the flood guard
            "CRMBOT_REMINDER_POLL_SECONDS": "1",
        }
        if not self.polling:
            env.update(CRMBOT_TELEGRAM_WEBHOOK_URL=WEBHOOK_URL, CRMBOT_TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET)
        self.crmbots = [Worker(f"worker{n}", env, folder, self.open_files) for n in range(self.workers)]
        for worker in self.crmbots:
            self._cleanup.callback(worker.kill)
            await worker.start()
        self.deliveries = await self._cleanup.enter_async_context(
            Deliveries(self.platforms, self.crmbots, polling=self.polling))
        self.stream = Stream(self.deliveries, self.tokens, rate=self.rate, slack_share=self.slack_share,
                             seed=self.random.randrange(1 << 30))
        self._cleanup.push_async_callback(self.stream.stop)
        if self.rate:
            self.stream.start()

    # -- during the run ----------------------------------------------------------------------------

    async def remind(self, count: int, within: float) -> None:
        """`count` follow-ups falling due over the next `within` seconds."""
        now = time.time()
        due = {self.tokens.reminder(): now + self.random.uniform(0.0, within) for _ in range(count)}
        await self.store.add_reminders({t: datetime.fromtimestamp(at, timezone.utc) for t, at in due.items()})
        self.due.update(due)

    async def kill_cycles(self, cycles: int, *, reminders: int) -> None:
        """Kill -9 a worker (in turn) `cycles` times under the stream, restarting it each time;
        `reminders` follow-ups a cycle fall due evenly over the run (a restart takes ~10 s), so
        kills land in every phase of their delivery as often as that phase lasts."""
        for cycle in range(cycles):
            victim = self.crmbots[cycle % len(self.crmbots)]
            up_for = self.random.uniform(0.3, 2.5)
            if reminders:
                await self.remind(reminders, within=up_for + 10.0)
            await asyncio.sleep(up_for)
            victim.kill()
            await victim.start()

    # -- the end -----------------------------------------------------------------------------------

    async def finish(self) -> Figures:
        await self.stream.stop()
        await self._settle()
        for worker in self.crmbots:
            await worker.stop()
        return await self.count()

    def _accounted(self, records, states, sent, replies) -> bool:
        return (
            self.deliveries.idle
            and all(records[p.token] for p in self.deliveries.pushed)
            and all(sent.get(t) and states.get(t, ("", False))[1] for t in self.due)
            and (not self.replies or all(replies.get(p.ref) for p in self.deliveries.pushed))
        )

    async def _settle(self) -> None:
        """Wait until every message has its record and every due reminder is sent and marked,
        or nothing has changed for `plan.quiet` seconds, bounded by `plan.settle_limit`."""
        began = last_change = time.monotonic()
        seen = None
        while time.monotonic() - began < self.plan.settle_limit:
            records, states, sent = await self.store.records(), await self.store.reminders(), self.platforms.reminders_sent()
            if self._accounted(records, states, sent, self.platforms.replies()):
                await asyncio.sleep(2.0)  # room for a late duplicate
                return
            now_seen = (sum(records.values()), sum(map(len, sent.values())), len(self.platforms.sent()),
                        sum(d for _, d in states.values()), len(self.deliveries.pushed), self.deliveries.idle)
            if now_seen != seen:
                seen, last_change = now_seen, time.monotonic()
            elif self.deliveries.idle and time.monotonic() - last_change > self.plan.quiet:
                return
            await asyncio.sleep(1.0)

    async def count(self) -> Figures:
        figures = Figures(f"{self.scenario} {self.title}", kills=sum(len(w.killed) for w in self.crmbots))
        replies, records, waiting = self.platforms.replies(), await self.store.records(), self.deliveries.waiting()
        figures.count_records(self.deliveries.pushed, records, replies, waiting)
        kept = await self.store.kept_replies()
        if kept:  # not sent by the end: still in crmbot's outbox, or not
            figures.info["replies still kept by crmbot"] = kept
        ended = time.time()
        up = [(ready, down or ended) for w in self.crmbots for ready, down in w.up]
        unavailable = [*gaps(up, self.started, ended), *self.unavailable]
        sent, states = self.platforms.reminders_sent(), await self.store.reminders()
        figures.count_reminders(self.due, sent, states, unavailable, [k for w in self.crmbots for k in w.killed],
                                twice_per_kill=self.plan.ci)
        if self.replies:  # how late answers came, per platform, not counting time they could not
            for platform in sorted({p.platform for p in self.deliveries.pushed}):
                late = sorted(lateness(p.at, min(replies[p.ref]), unavailable)
                              for p in self.deliveries.pushed if p.platform == platform and replies.get(p.ref))
                if late:
                    figures.info[f"{platform} answers late"] = (f"p50 {statistics.median(late):.1f}s "
                                                                f"p99 {late[int(0.99 * (len(late) - 1))]:.1f}s max {late[-1]:.1f}s")
        await self._write_events(records, replies, waiting, sent, states, unavailable)
        if self.deliveries.statuses:
            answers = sorted(self.deliveries.statuses.items(), key=lambda kv: -kv[1])
            figures.info["webhook answers"] = " ".join(f"{status}×{n}" for status, n in answers)
        if self.deliveries.given_up:
            figures.info["Slack gave up on"] = self.deliveries.given_up
        figures.info["load"] = f"{self.load_before}→{load()}"
        figures.info["took"] = f"{ended - self.started:.0f}s"
        return figures

    async def _write_events(self, records, replies, waiting, sent, states, unavailable) -> None:
        """What went wrong, token by token, with the workers' lives: for whoever digs in."""
        rows = await self.store.reminder_rows()

        def reminder(t: str) -> dict[str, object]:
            late = lateness(self.due[t], min(sent[t]), unavailable) if sent.get(t) else None
            return {"due": self.due[t], "sent": sent.get(t, []), "late": late, "state": states.get(t), **rows.get(t, {})}

        events = {
            "workers": {w.name: w.up for w in self.crmbots},
            "kills": {w.name: w.killed for w in self.crmbots},
            "unavailable": self.unavailable,
            "records": {
                "lost": [asdict(p) for p in self.deliveries.pushed if not records[p.token] and p.token not in waiting],
                "queued": sorted(t for t in waiting if not records[t]),
                "duplicated": sorted(t for t, n in records.items() if n > 1),
                "unanswered": [asdict(p) for p in self.deliveries.pushed if records[p.token] and not replies.get(p.ref)],
            },
            "reminders": {t: reminder(t) for t in self.due if len(sent.get(t, [])) != 1},
            # the latest ten, and any over 10 s late
            # the latest answers to users, when the scenario waits for them
            "answers late": sorted(({"token": p.token, "platform": p.platform, "pushed": p.at, "answered": min(replies[p.ref]),
                                     "late": lateness(p.at, min(replies[p.ref]), unavailable)}
                                    for p in self.deliveries.pushed if replies.get(p.ref)),
                                   key=lambda a: -a["late"])[:20] if self.replies else [],
            "late": {t: reminder(t) for t in sorted(
                (t for t in self.due if sent.get(t)), key=lambda t: -lateness(self.due[t], min(sent[t]), unavailable))[:10]}
            | {t: reminder(t) for t in self.due if sent.get(t) and lateness(self.due[t], min(sent[t]), unavailable) > 10},
        }
        (self.plan.folder / self.scenario / "events.json").write_text(json.dumps(events, indent=1, default=str))
