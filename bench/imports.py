"""Benchmark of `crmbot import` on a large HubSpot-shaped CSV, beside a bare csv + sqlite3 insert
of the same file (the floor: no header mapping, no phones read, no duplicates looked for, no
audit).

    .venv/bin/python bench/imports.py                  # 100,000 rows
    .venv/bin/python bench/imports.py --rows 20000
    nice -n 10 .venv/bin/python bench/imports.py       # on a shared machine

The file is deterministic (bench/names.py's six-language book, valid Czech mobile numbers). Each
run imports into a fresh SQLite file, in one transaction as `crmbot import` does, then imports
the same file again (every row already held: the "twice changes nothing" path). The imports run
in a process of their own, so what is printed is theirs alone: wall time and rows/s, CPU time
(user + sys) of that process and of its children (the reader process reading a large file's
rows), rows per CPU-second, and the peak RSS of each. The machine's load average is printed
at the start and the end: on a shared machine the wall time says how busy the others were,
the CPU time what the import costs.
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
import threading
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


def peak_rss(who: int = resource.RUSAGE_SELF) -> int:
    return resource.getrusage(who).ru_maxrss // 1024


def cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


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


async def crmbot_import(path: Path, db: Path) -> list[dict]:
    database = open_database(str(db))
    now = datetime.now(timezone.utc)
    try:
        async with database.sessions() as session, session.begin():
            team = await teams.create_team(session, "Bench", now)
            for name in OWNERS[:2]:
                await teams.create_member(session, team.id, name, now)
        runs = []
        for _ in range(2):
            started, own, children = time.perf_counter(), cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
            async with database.sessions() as session, session.begin():
                team = await teams.team_by_name(session, "Bench")
                report = await import_file(session, team, path, now, region="CZ")
            runs.append({"wall": time.perf_counter() - started, "cpu": cpu(resource.RUSAGE_SELF) - own,
                         "children": cpu(resource.RUSAGE_CHILDREN) - children,  # the reader process, ended by now
                         "summary": f"{report.added} added, {report.updated} updated, {report.skipped} skipped"})
        return runs
    finally:
        await database.close()


class ChildrenPeak:
    """The peak RSS of this process's children, looked at every few hundredths of a second
    (VmHWM: each child's own high-water mark; getrusage's figure for children would count the
    parent's pages a child shares for the instant before it execs)."""

    def __init__(self) -> None:
        self.peak_kb = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.stopped.wait(0.05):
            for task in Path("/proc/self/task").iterdir():
                try:
                    pids = (task / "children").read_text().split()
                except OSError:  # a thread that has just ended
                    continue
                for pid in pids:
                    try:
                        status = Path(f"/proc/{pid}/status").read_text()
                    except OSError:
                        continue
                    for line in status.splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_kb = max(self.peak_kb, int(line.split()[1]))

    def stop(self) -> int:
        self.stopped.set()
        self.thread.join()
        return self.peak_kb // 1024


def measured_import(path: Path, db: Path, results) -> None:
    """The importing process: both imports, then the peak RSS of itself and of its children."""
    open_database(str(db.with_suffix(".warm")))  # the libraries an import loads, so the peak below is the import's
    before = peak_rss()
    children = ChildrenPeak()
    runs = asyncio.run(crmbot_import(path, db))
    results.put({"runs": runs, "rss_before": before, "rss": peak_rss(), "rss_children": children.stop()})


def _rate(rows: int, wall: float, cpu: float, children: float = 0.0) -> str:
    total = cpu + children
    split = f" ({cpu:.2f} s the importing process + {children:.2f} s its reader process)" if children else ""
    return (f"{wall:.2f} s wall, {rows / wall:,.0f} rows/s; {total:.2f} s CPU{split}, "
            f"{rows / total:,.0f} rows per CPU-second")


def _load() -> str:
    return ", ".join(f"{load:.2f}" for load in os.getloadavg()) + f" (1, 5, 15 min; {os.cpu_count()} cores)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        source = root / "hubspot.csv"
        writer = context.Process(target=write_file, args=(source, args.rows))  # its memory is not the import's
        writer.start()
        writer.join()
        print(f"load average at start: {_load()}")
        print(f"file: {args.rows:,} rows, {source.stat().st_size / 1e6:.1f} MB")
        bare = bare_insert(source, root / "bare.db")
        print(f"bare csv + sqlite3 insert: {_rate(args.rows, *bare)}")
        results = context.Queue()
        importer = context.Process(target=measured_import, args=(source, root / "crm.db", results))
        importer.start()
        found = results.get()
        importer.join()
        first, again = found["runs"]
        total = first["cpu"] + first["children"]
        print(f"crmbot import, empty database: {_rate(args.rows, first['wall'], first['cpu'], first['children'])} "
              f"({total / bare[1]:.1f}x bare's CPU; {first['summary']})")
        print(f"crmbot import, same file again: {_rate(args.rows, again['wall'], again['cpu'], again['children'])} "
              f"({again['summary']})")
        print(f"peak RSS: importing process {found['rss']} MB ({found['rss_before']} MB before importing), "
              f"its reader process {found['rss_children']} MB")
        print(f"load average at end: {_load()}")


if __name__ == "__main__":
    main()
