"""`python -m bench.faults`: run the scenarios, print a line of figures each, exit non-zero on a miss."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench.faults import hostile, scenarios
from bench.faults.harness import Plan
from tests.support.pgserver import PostgresUnavailable

SCENARIOS = {
    "a": scenarios.sqlite_polling_kills,
    "b": scenarios.postgres_webhook_kills,
    "c": scenarios.reminder_kills,
    "d": scenarios.platform_outage,
    "e": scenarios.database_outage,
    "f": hostile.hostile_clients,
    "g": scenarios.slow_sends_and_database_stall,
    "h": scenarios.sqlite_slow_sends_and_stall,
}


# The CI run: both engines under kill -9 (SQLite with long polling; PostgreSQL with two workers
# behind the webhook and Slack), small enough for a CI step. Its targets hold whatever the luck
# of the kills: no record lost or duplicated, no reminder lost, none later than 30 s, and at
# most one reminder sent twice per kill.
CI_SCENARIOS = "ab"
CI_CYCLES = 12


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument("--cycles", type=int, help="kill -9 cycles per engine (a, b); c does a quarter (default 100)")
    parser.add_argument("--quick", action="store_true", help="short outages and waits")
    parser.add_argument("--only", help="scenarios to run after the control, e.g. a,d (0: none; default all)")
    parser.add_argument("--keep", type=Path, help="keep databases and worker logs in this folder")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--ci", action="store_true",
                        help=f"the CI run (~2-3 min): --quick, scenarios {CI_SCENARIOS}, {CI_CYCLES} kill cycles each, "
                             "and reminders sent twice bounded by the kills (see figures.py), not by the 1%% target")
    args = parser.parse_args(argv)
    args.quick = args.quick or args.ci
    if args.cycles is None:
        args.cycles = CI_CYCLES if args.ci else 100
    if args.only is None:
        args.only = CI_SCENARIOS if args.ci else "".join(SCENARIOS)
    args.only = [s for s in args.only.replace(",", "") if s in SCENARIOS]
    return args


async def run(args: argparse.Namespace, folder: Path) -> int:
    # SIGTERM unwinds like Ctrl-C: workers killed, the PostgreSQL server stopped, nothing left running
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
    plan = Plan(cycles=args.cycles, quick=args.quick, folder=folder, ci=args.ci)
    print(f"crmbot fault runs: {'CI' if args.ci else 'quick' if args.quick else 'full'}, {args.cycles} kill cycles, scenarios "
          f"{','.join(args.only)}; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; files in {folder}", flush=True)
    results = []
    status = 0
    try:
        try:
            control = await scenarios.control(plan)
        except Exception as error:
            print(f"0 control: could not run: {type(error).__name__}: {error}", flush=True)
            return 2
        print(control.line(), flush=True)
        results.append(control)
        if control.missed:
            print("the control run, which has no faults, missed targets: crmbot or the harness is broken; stopping",
                  flush=True)
            return 2
        for name in sorted(args.only, key=lambda s: (s in "eg", s)):  # e and g stop the PostgreSQL server: last
            try:
                figures = await SCENARIOS[name](plan)
            except (PostgresUnavailable, RuntimeError, OSError) as error:  # no server, a worker that won't start
                print(f"{name}: could not run: {type(error).__name__}: {error}", flush=True)
                status = 1
                continue
            print(figures.line(), flush=True)
            results.append(figures)
            status = status or (1 if figures.missed else 0)
    finally:
        if plan.postgres is not None:
            await asyncio.to_thread(plan.postgres.close)
        if args.json:
            args.json.write_text(json.dumps([f.as_dict() for f in results], indent=2, ensure_ascii=False))
    return status


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    # a worker killed mid-request leaves the stand-ins a half-read request, which aiohttp logs
    # with a traceback; that is the point of the run, not news
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    began = time.monotonic()
    try:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            status = asyncio.run(run(args, args.keep))
        else:
            with tempfile.TemporaryDirectory(prefix="crmbot-faults-") as folder:
                status = asyncio.run(run(args, Path(folder)))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("stopped before the end", flush=True)
        return 3
    print(f"{'all targets met' if status == 0 else 'targets missed'} in {time.monotonic() - began:.0f} s; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
