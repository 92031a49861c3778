"""Benchmark of `crmbot import` on a large HubSpot-shaped CSV, beside a bare csv + sqlite3 insert
of the same file (the floor: no header mapping, no phones read, no duplicates looked for, no
audit).

    .venv/bin/python bench/imports.py                  # 100,000 rows
    .venv/bin/python bench/imports.py --rows 20000

The file is deterministic (bench/names.py's six-language book, valid Czech mobile numbers). Each
run imports into a fresh SQLite file, in one transaction as `crmbot import` does, then imports
the same file again (every row already held: the "twice changes nothing" path). Prints rows/s
and peak RSS (the file is written by a child process, so the figure is the import's own: it
starts from what the loaded libraries take), and the machine's load average, since the
machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import multiprocessing
import os
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.names import make_customers  # noqa: E402
from crmbot.importer import import_file  # noqa: E402
from crmbot.store import teams  # noqa: E402
from crmbot.store.db import open_database  # noqa: E402

HEADERS = ["Record ID", "First Name", "Last Name", "Email", "Phone Number", "Company Name", "Lifecycle Stage",
           "Contact owner", "City"]
STAGES = ["Lead", "Subscriber", "Marketing Qualified Lead", "Sales Qualified Lead", "Opportunity", "Customer"]
OWNERS = ["Alice Smith", "Bob Jones", "Carol White"]


def write_file(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADERS)
        for i, customer in enumerate(make_customers(rows, seed=7)):
            first, _, last = customer["name"].partition(" ")
            phone = f"+420 7{i % 100:02d} {i // 100 % 1000:03d} {i // 100000 % 1000:03d}"
            writer.writerow([i + 1, first, last, customer["emails"][0], phone, customer["company"] or "",
                             STAGES[i % len(STAGES)], OWNERS[i % len(OWNERS)], "Praha"])


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def bare_insert(path: Path, db: Path) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    connection = sqlite3.connect(db)
    connection.execute("CREATE TABLE contacts (record_id, first, last, email, phone, company, stage, owner, city)")
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        next(reader)
        connection.executemany("INSERT INTO contacts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", reader)
    connection.commit()
    connection.close()
    return time.perf_counter() - started, time.process_time() - cpu


async def crmbot_import(path: Path, db: Path) -> tuple[tuple[float, float], tuple[float, float], str]:
    database = open_database(str(db))
    now = datetime.now(timezone.utc)
    try:
        async with database.sessions() as session, session.begin():
            team = await teams.create_team(session, "Bench", now)
            for name in OWNERS[:2]:
                await teams.create_member(session, team.id, name, now)
        timings = []
        for _ in range(2):
            started, cpu = time.perf_counter(), time.process_time()  # the process's CPU: the driver's thread too
            async with database.sessions() as session, session.begin():
                team = await teams.team_by_name(session, "Bench")
                report = await import_file(session, team, path, now, region="CZ")
            timings.append((time.perf_counter() - started, time.process_time() - cpu))
            summary = f"{report.added} added, {report.updated} updated, {report.skipped} skipped"
        return timings[0], timings[1], summary
    finally:
        await database.close()


def _rate(rows: int, wall: float, cpu: float) -> str:
    """Wall time and CPU time (user + sys of the whole process) with their rates: on a shared
    machine the wall time says how busy the others were, the CPU time what the import costs."""
    return f"{wall:.2f} s wall, {rows / wall:,.0f} rows/s; {cpu:.2f} s CPU, {rows / cpu:,.0f} rows per CPU-second"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        source = root / "hubspot.csv"
        writer = multiprocessing.Process(target=write_file, args=(source, args.rows))  # its memory is not the import's
        writer.start()
        writer.join()
        print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores)")
        print(f"file: {args.rows:,} rows, {source.stat().st_size / 1e6:.1f} MB")
        bare = bare_insert(source, root / "bare.db")
        open_database(str(root / "warm.db"))  # the libraries an import loads, so the peak below is the import's
        print(f"peak RSS before importing: {peak_rss()} MB")
        print(f"bare csv + sqlite3 insert: {_rate(args.rows, *bare)}")
        first, again, summary = asyncio.run(crmbot_import(source, root / "crm.db"))
        print(f"crmbot import, empty database: {_rate(args.rows, *first)} ({first[1] / bare[1]:.1f}x bare's CPU)")
        print(f"crmbot import, same file again: {_rate(args.rows, *again)} ({summary})")
        print(f"peak RSS after both imports: {peak_rss()} MB")
        print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
