"""Copy one crmbot database into another, e.g. a SQLite file into PostgreSQL.

Every table of the models is copied in foreign-key order with its ids, inside one target
transaction, into a target that was upgraded to the same schema and is still empty. On
PostgreSQL the id sequences are then moved past the copied ids, or the next insert would
collide. Nothing is taken on trust: afterwards both sides are summarised (rows per table, a
sha256 of each table's rows, a sha256 of each team's JSON export) and the summaries compared.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from crmbot.exporter import export_team
from crmbot.store import teams
from crmbot.store.db import Database, open_database, sync_url, to_url
from crmbot.store.models import Base

BATCH = 1000  # rows per INSERT: bounded memory however large the source


class CopyRefused(Exception):
    """The target is not a safe place to copy into."""


@dataclass(frozen=True)
class Summary:
    """What a database holds, in a form that can be compared across engines."""

    counts: dict[str, int]  # table -> rows
    tables: dict[str, str]  # table -> sha256 of its rows in primary-key order
    exports: dict[str, str]  # team name -> sha256 of crmbot.exporter.export_team

    def differences(self, other: Summary) -> list[str]:
        found = []
        for label, mine, theirs in (("rows", self.counts, other.counts), ("table sha256", self.tables, other.tables),
                                    ("export sha256", self.exports, other.exports)):
            for key in sorted(mine.keys() | theirs.keys()):
                if mine.get(key) != theirs.get(key):
                    found.append(f"{label} of {key}: {mine.get(key)} != {theirs.get(key)}")
        return found


@dataclass(frozen=True)
class CopyReport:
    source: Summary
    target: Summary

    @property
    def differences(self) -> list[str]:
        return self.source.differences(self.target)


def tables() -> list[Table]:
    # from the models, parents first: tables added by later migrations are copied too
    return list(Base.metadata.sorted_tables)


async def copy_database(source: str, target: str) -> CopyReport:
    """Copy everything from `source` into the empty `target` (both URLs or SQLite paths)."""
    if sync_url(to_url(source)).render_as_string(hide_password=False) == sync_url(to_url(target)).render_as_string(hide_password=False):
        raise CopyRefused("source and target are the same database")
    src = open_database(source)
    try:
        dst = open_database(target)
    except BaseException:
        await src.close()
        raise
    try:
        filled = {name: n for name, n in (await _counts(dst)).items() if n}
        if filled:
            raise CopyRefused("the target database is not empty: " + ", ".join(f"{name} ({n} rows)" for name, n in filled.items()))
        async with src.engine.connect() as reader, dst.engine.begin() as writer:
            if src.is_postgres:
                # one snapshot of the whole source, even if someone writes to it meanwhile
                await reader.execution_options(isolation_level="REPEATABLE READ")
            for table in tables():
                await _copy_table(reader, writer, table)
            if dst.is_postgres:
                await _reset_sequences(writer)
        return CopyReport(await summarise(src), await summarise(dst))
    finally:
        await src.close()
        await dst.close()


async def _copy_table(reader: AsyncConnection, writer: AsyncConnection, table: Table) -> None:
    result = await reader.stream(select(table).order_by(*table.primary_key.columns))
    async for rows in result.partitions(BATCH):
        await writer.execute(insert(table), [row._asdict() for row in rows])


async def _reset_sequences(writer: AsyncConnection) -> None:
    """Move each serial/identity sequence past the highest copied id."""
    for table in tables():
        for column in table.primary_key.columns:
            sequence = await writer.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name})
            if sequence is None:
                continue  # not generated: text keys, composite keys
            highest = await writer.scalar(select(func.max(column)))
            # is_called=false: the next nextval() returns exactly this value
            await writer.execute(text("SELECT setval(CAST(:s AS regclass), :v, false)"), {"s": sequence, "v": (highest or 0) + 1})


async def _counts(db: Database) -> dict[str, int]:
    async with db.engine.connect() as connection:
        return {t.name: await connection.scalar(select(func.count()).select_from(t)) for t in tables()}


def _plain(value: Any) -> Any:
    # the same value must serialise the same way whichever engine it was read from
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):  # a kept search index: compared by its digest
        return hashlib.sha256(bytes(value)).hexdigest()
    return value


def _sha256(data: Any) -> str:
    encoded = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


async def summarise(db: Database) -> Summary:
    counts, digests = {}, {}
    async with db.engine.connect() as connection:
        for table in tables():
            digest, rows = hashlib.sha256(), 0
            result = await connection.stream(select(table).order_by(*table.primary_key.columns))
            async for part in result.partitions(BATCH):
                for row in part:
                    digest.update(_sha256(row._asdict()).encode("ascii"))
                    rows += 1
            counts[table.name], digests[table.name] = rows, digest.hexdigest()
    exports = {}
    async with db.sessions() as session:
        for team in await teams.all_teams(session):
            exports[team.name] = _sha256(await export_team(session, team.id))
    return Summary(counts, digests, exports)
