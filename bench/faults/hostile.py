"""Scenario f: hostile HTTP clients against one worker limited to 1,024 open files (a common
default), while users keep writing and /healthz is polled.

  * deeply nested JSON, correctly authenticated, on the Telegram webhook and on Slack's endpoint;
  * a body larger than the server accepts;
  * 1,500 slow clients (bounded in number and time): half send their headers a line every few
    seconds, half send complete headers and then dribble a body.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import time

import aiohttp

from bench.faults.figures import Figures
from bench.faults.harness import Plan, Run
from bench.faults.platforms import SIGNING_SECRET, WEBHOOK_SECRET
from bench.faults.traffic import SECRET_HEADER, WEBHOOK_PATH, Background
from tests.standins.slack_api import sign

SLOW_CLIENTS = 1500
WORKER_OPEN_FILES = 1024
DRIP_EVERY = 4.0
NESTING = 100_000
MAX_POLLS = 2_000  # /healthz polls: a bound well past the attack's length


def nested(depth: int) -> bytes:
    return b'{"update_id": 1, "message": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"


async def post_status(url: str, body: bytes, headers: dict[str, str]) -> str:
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=30)) as response:
                await response.read()
                return str(response.status)
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        return type(error).__name__


class HealthPoller(Background):
    """GET /healthz every half second (2 s timeout) until stopped, each time on a new
    connection as a load balancer's check would (a kept-alive one never waits to be accepted)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.ok = self.failed = 0
        self.longest_down = 0.0

    async def _run(self) -> None:
        down_since = None
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            for _ in range(MAX_POLLS):
                try:
                    async with http.get(self.url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                        healthy = response.status == 200
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    healthy = False
                now = time.monotonic()
                if healthy:
                    self.ok += 1
                    down_since = None
                else:
                    self.failed += 1
                    down_since = down_since or now
                    self.longest_down = max(self.longest_down, now - down_since)
                if await self._pause(0.5):
                    return


class SlowClient:
    """One connection that never finishes its request; notes whether the server hung up on it."""

    def __init__(self, port: int, body: bool) -> None:
        self.port = port
        self.body = body
        self.connected = False
        self.closed_after: float | None = None  # seconds until the server closed it

    async def run(self, hold: float) -> None:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), 5.0)
        except (OSError, asyncio.TimeoutError):
            return
        self.connected, began = True, time.monotonic()
        head = f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        try:
            if self.body:  # authenticated, so the webhook goes on to read the body
                writer.write((head + f"{SECRET_HEADER}: {WEBHOOK_SECRET}\r\nContent-Length: 1000000\r\n\r\n{{").encode())
            else:
                writer.write(head.encode())
            while time.monotonic() - began < hold:
                try:
                    # EOF, or an answer (408, 413…): either way the server is done with us
                    await asyncio.wait_for(reader.read(1024), DRIP_EVERY)
                    self.closed_after = time.monotonic() - began
                    return
                except asyncio.TimeoutError:
                    writer.write(b'"a",' if self.body else b"X-Slow: 1\r\n")
                    await writer.drain()
        except (ConnectionError, OSError):
            self.closed_after = time.monotonic() - began
        finally:
            writer.close()


def allow_open_files(wanted: int) -> int:
    """Raise this process's own open-file limit as far as allowed; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


async def hostile_clients(plan: Plan) -> Figures:
    hold = 30.0 if plan.quick else 60.0
    clients_wanted = SLOW_CLIENTS
    limit = allow_open_files(clients_wanted + 500)
    clients_count = min(clients_wanted, limit - 200)
    async with Run(plan, "f", 6, f"hostile clients, SQLite, 1 worker with {WORKER_OPEN_FILES} open files",
                   polling=False, rate=1.0, slack_share=0.4, open_files=WORKER_OPEN_FILES) as run:
        worker = run.crmbots[0]
        log_before = worker.log.stat().st_size
        body = nested(NESTING)
        statuses = {
            "nested JSON webhook": await post_status(worker.url + WEBHOOK_PATH, body, {
                "Content-Type": "application/json", SECRET_HEADER: WEBHOOK_SECRET}),
            "nested JSON slack": await post_status(worker.url + "/slack/events", body, {
                **sign(SIGNING_SECRET, body, int(time.time())), "Content-Type": "application/json"}),
            "32 MB body": await post_status(worker.url + WEBHOOK_PATH, b" " * (32 << 20), {
                "Content-Type": "application/json", SECRET_HEADER: WEBHOOK_SECRET}),
        }
        poller = HealthPoller(worker.url + "/healthz")
        poller.start()
        clients = [SlowClient(worker.port, body=n % 2 == 1) for n in range(clients_count)]
        attack = []
        for start in range(0, len(clients), 100):  # connect in waves, as a real crowd would
            attack += [asyncio.ensure_future(c.run(hold)) for c in clients[start:start + 100]]
            await asyncio.sleep(0.2)
        await asyncio.gather(*attack)
        await poller.stop()
        log_growth = worker.log.stat().st_size - log_before
        tracebacks = worker.log.read_text(errors="replace").count("Traceback")
        figures = await run.finish()
    connected = sum(c.connected for c in clients)
    closed = sorted(c.closed_after for c in clients if c.closed_after is not None)
    when = f" (after p50 {statistics.median(closed):.1f}s, max {closed[-1]:.1f}s)" if closed else ""
    for name, status in statuses.items():
        figures.info[name] = status
    figures.info["slow clients"] = (f"{connected}/{clients_count} connected, {len(closed)} closed by the server "
                                    f"within {hold:.0f}s{when}")
    figures.info["/healthz"] = f"{poller.ok} ok {poller.failed} failed (longest {poller.longest_down:.1f}s)"
    figures.info["log"] = f"+{log_growth / 1e6:.1f} MB, {tracebacks} tracebacks"
    figures.targets["hostile bodies 4xx"] = all(s.isdigit() and 400 <= int(s) < 500 for s in statuses.values())
    figures.targets["/healthz up"] = poller.failed == 0
    return figures
