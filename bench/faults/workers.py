"""`crmbot run --telegram --slack` as a child process: started, waited for, killed with SIGKILL,
restarted, stopped. Each worker remembers when it was up, so lateness can be measured from the
moment some worker could have delivered."""

from __future__ import annotations

import asyncio
import ctypes
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

CRMBOT = Path(sys.executable).with_name("crmbot")  # the venv's console script, next to its python
START_TIMEOUT = 120.0  # imports alone take 5-8 s on a loaded 2-core machine
STOP_TIMEOUT = 20.0
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: the child gets SIGKILL when the harness dies, however it dies: no orphans."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Worker:
    """One crmbot process slot: the same port and log across restarts."""

    name: str
    env: dict[str, str]  # CRMBOT_* settings, on top of a clean environment
    folder: Path  # cwd (so no stray .env is read) and where the log goes
    open_files: int | None = None  # RLIMIT_NOFILE for the child, as a production box would set it
    port: int = field(default_factory=free_port)
    up: list[tuple[float, float | None]] = field(default_factory=list)  # (ready, down) in time.time()
    starts: int = 0
    killed: list[float] = field(default_factory=list)  # time.time() of each kill -9
    _process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / f"{self.name}.log"

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def ready(self) -> bool:
        return self.alive and bool(self.up) and self.up[-1][1] is None

    async def start(self) -> None:
        """Start the process and return once /healthz answers (the HTTP server is up; Telegram
        and the reminder loop start right after it)."""
        environment = {k: v for k, v in os.environ.items() if not k.startswith("CRMBOT_")}
        environment.update(self.env, CRMBOT_HTTP_HOST="127.0.0.1", CRMBOT_HTTP_PORT=str(self.port))
        limit = self.open_files

        def in_child() -> None:
            _die_with_parent()
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        with open(self.log, "ab") as log:
            log.write(f"\n=== start {self.starts + 1} at {time.strftime('%H:%M:%S')} ===\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                [str(CRMBOT), "run", "--telegram", "--slack"], cwd=self.folder, env=environment,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=in_child, start_new_session=True,
            )
        self.starts += 1
        await self._wait_healthy()
        self.up.append((time.time(), None))

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if not self.alive:
                    raise RuntimeError(f"{self.name} exited with {self._process.returncode} while starting; see {self.log}")
                try:
                    async with http.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{self.name} did not answer /healthz within {START_TIMEOUT:.0f} s; see {self.log}")

    def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        if self.alive:
            self._process.send_signal(signal.SIGKILL)
            self.killed.append(time.time())
            self._process.wait()
        self._went_down()

    async def stop(self) -> None:
        """SIGTERM (crmbot's clean stop), then SIGKILL if it does not exit in time."""
        if self.alive:
            self._process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while self._process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGKILL)
                self._process.wait()
        self._went_down()

    def _went_down(self) -> None:
        if self.up and self.up[-1][1] is None:
            self.up[-1] = (self.up[-1][0], time.time())
