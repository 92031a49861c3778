"""Many rows at once, for imports: inserts that hand back the new ids, updates by id, reads by
id, and the team's customers streamed for a key index. On SQLite, values are converted by each
column's own type once, then sent through an untyped copy of the table, so SQLAlchemy does no
per-row type work beyond what the driver needs (a third of an import's time, measured, went
there); PostgreSQL takes the rows through the typed table and returns the ids in order.

On SQLite the caller must already have written in the transaction (an import bumps the team's
customer revision first): from then on this transaction is the database's only writer, which
is what lets the new ids be read back instead of returned row by row (the async driver fetches
RETURNING rows one thread hop each)."""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime, timezone
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Column, Integer, MetaData, Table, bindparam, func, insert, select, update
from sqlalchemy.types import NullType
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import models
from crmbot.store.types import UTCDateTime

M = models
BATCH = 1000  # rows per executemany
PAGE = 5000  # customers read at a time for an import's key index


def _is_sqlite(session: AsyncSession) -> bool:
    return session.bind.dialect.name == "sqlite"


_UNTYPED = MetaData()


@lru_cache(maxsize=None)
def _untyped(name: str) -> Table:
    """The table without column types: values arrive already converted."""
    full: Table = M.Base.metadata.tables[name]
    return Table(name, _UNTYPED, *(Column(c.key, Integer, primary_key=True) if c.primary_key else Column(c.key, NullType())
                                   for c in full.columns))


def _target(session: AsyncSession, model: type[M.Base]) -> Table:
    return _untyped(model.__tablename__) if _is_sqlite(session) else model.__table__


async def _sqlite_many(session: AsyncSession, sql: str, rows: list[tuple]) -> None:
    """One executemany of positional rows straight through the driver: SQLAlchemy would build a
    dict of parameters per row first, which cost as much as SQLite's own insert (measured)."""
    connection = await session.connection()
    # in one call: each is a hop to the driver's thread and back, which a busy machine makes slow
    await connection.exec_driver_sql(sql, rows)


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


async def _sqlite_insert(session: AsyncSession, model: type[M.Base], rows: list[dict[str, Any]]) -> None:
    keys = list(rows[0])
    take = itemgetter(*keys)
    sql = f'INSERT INTO "{model.__tablename__}" ({_quoted(keys)}) VALUES ({", ".join("?" * len(keys))})'
    await _sqlite_many(session, sql, [take(row) for row in rows] if len(keys) > 1 else [(take(row),) for row in rows])


class Converter:
    """Python values to what the driver takes, by each column's own type (JSON to text, an aware
    datetime to naive UTC or SQLite's text form): the conversion SQLAlchemy would make per row."""

    def __init__(self, session: AsyncSession, model: type[M.Base]) -> None:
        dialect = session.bind.dialect
        self.columns = [c for c in model.__table__.columns if c.key != "id"]
        # PostgreSQL's rows go through the typed table, which converts them itself
        self.processors = {c.key: c.type.bind_processor(dialect) if _is_sqlite(session) else None for c in self.columns}
        if _is_sqlite(session) and dialect._json_serializer is None:  # json.dumps, as the dialect would call it
            self.processors.update({c.key: _json_text for c in self.columns if isinstance(c.type, JSON)})

    def __call__(self, key: str, value: Any) -> Any:
        processor = self.processors[key]
        return value if processor is None or value is None else processor(value)

    def row(self, values: dict[str, Any], fixed: dict[str, Any] | None = None) -> dict[str, Any]:
        """`values` converted; `fixed` holds values already converted, the same on every row."""
        out = dict(fixed) if fixed else {}
        get = values.get
        for key, processor in self._plan(tuple(out)):
            value = get(key)
            out[key] = processor(value) if processor is not None and value is not None else value
        return out

    def maker(self, fixed: dict[str, Any]) -> tuple[list[str], Callable[[Any], tuple]]:
        """For SQLite: the columns (all but id) and a function making the values of an object
        with those attributes as the driver takes them, in that order, `fixed` (converted) the
        same in every row. Written out as one expression: a row's conversion is most of the
        Python work of inserting it (measured)."""
        keys = [c.key for c in self.columns]
        scope: dict[str, Any] = {}
        parts = []
        for at, key in enumerate(keys):
            if key in fixed:
                value = fixed[key]
                scope[f"c{at}"] = value.isoformat(" ") if isinstance(value, datetime) else value  # as sqlite3 adapts it
                parts.append(f"c{at}")
            elif self.processors[key] is None:
                parts.append(f"row.{key}")
            else:
                scope[f"p{at}"] = self.processors[key]
                parts.append(f"(None if row.{key} is None else p{at}(row.{key}))")
        return keys, eval(f"lambda row: ({', '.join(parts)},)", scope)  # noqa: S307 - column names of our own models

    @lru_cache(maxsize=8)  # noqa: B019 - a few plans per converter, which lives for one import
    def _plan(self, fixed: tuple[str, ...]) -> list[tuple[str, Any]]:
        return [(c.key, self.processors[c.key]) for c in self.columns if c.key not in fixed]


def _json_text(value: Any) -> str:
    """json.dumps(value); a list of strings (a customer's e-mails or phones) written directly,
    several times sooner, to the same text."""
    if type(value) is list:
        if len(value) == 1 and type(value[0]) is str:  # most customers: one e-mail, one phone
            return "[" + encode_basestring_ascii(value[0]) + "]"
        if all(type(item) is str for item in value):
            return "[" + ", ".join(map(encode_basestring_ascii, value)) + "]"
    return json.dumps(value)


async def insert_rows(session: AsyncSession, model: type[M.Base], rows: list[dict[str, Any]]) -> list[int]:
    """Insert converted rows (every column but id); their new ids, in order."""
    if not rows:
        return []
    target = _target(session, model)
    full = model.__table__
    if not _is_sqlite(session):
        ids: list[int] = []
        for start in range(0, len(rows), BATCH):
            result = await session.execute(
                insert(target).returning(target.c.id, sort_by_parameter_order=True), rows[start:start + BATCH])
            ids += [row[0] for row in result]
        return ids
    floor = await session.scalar(select(func.max(full.c.id))) or 0
    await _sqlite_insert(session, model, rows)
    ids = list(await session.scalars(select(full.c.id).where(full.c.id > floor).order_by(full.c.id)))
    if len(ids) != len(rows):
        raise RuntimeError(f"inserted {len(rows)} {model.__tablename__} but found {len(ids)}")  # rolled back whole
    return ids


async def insert_values(session: AsyncSession, model: type[M.Base], keys: list[str], rows: list[tuple]) -> list[int]:
    """On SQLite: insert rows of values already in the driver's form (`keys`' order, every
    column but id); their new ids, in order."""
    if not rows:
        return []
    full = model.__table__
    floor = await session.scalar(select(func.max(full.c.id))) or 0
    sql = f'INSERT INTO "{model.__tablename__}" ({_quoted(keys)}) VALUES ({", ".join("?" * len(keys))})'
    await _sqlite_many(session, sql, rows)
    ids = list(await session.scalars(select(full.c.id).where(full.c.id > floor).order_by(full.c.id)))
    if len(ids) != len(rows):
        raise RuntimeError(f"inserted {len(rows)} {model.__tablename__} but found {len(ids)}")  # rolled back whole
    return ids


async def insert_many(session: AsyncSession, model: type[M.Base], rows: list[dict[str, Any]]) -> None:
    """Insert converted rows whose ids nobody needs (audit entries)."""
    if not rows:
        return
    if _is_sqlite(session):
        await _sqlite_insert(session, model, rows)
        return
    target = _target(session, model)
    for start in range(0, len(rows), BATCH):
        await session.execute(insert(target), rows[start:start + BATCH])


# what audit.snapshot writes of a customer, made by SQLite from the row as stored: its dates
# are the import's time in ISO form (the one parameter), its JSON lists embedded as lists
_CREATED_AFTER = ("json_object('id', id, 'team_id', team_id, 'name', name, 'company', company, "
                  "'emails', json(emails), 'phones', json(phones), 'address', address, 'website', website, "
                  "'preferred_channel', preferred_channel, 'lead_source', lead_source, 'notes', notes, "
                  "'owner_id', owner_id, 'status', status, 'created_at', :dates, 'updated_at', :dates, "
                  "'deleted_at', NULL, 'rev', rev)")


def is_sqlite(session: AsyncSession) -> bool:
    return _is_sqlite(session)


async def audit_created_customers(session: AsyncSession, fixed: dict[str, Any], ids: list[int], dates: str) -> None:
    """On SQLite, a "create" audit entry for each customer just inserted (`ids`, ascending and
    one run, as insert_rows gives them), in id order: one INSERT … SELECT, the "after" written by
    SQLite's json_object instead of a json.dumps per row in Python (the import's dearest step
    after reading its rows, measured). `fixed`: the entries' other columns, converted."""
    if not ids:
        return
    names = [key for key in fixed if key not in ("action", "entity", "entity_id", "customer_id", "before", "after")]
    sql = (f'INSERT INTO audit_entries ({_quoted(names)}, "action", "entity", "entity_id", "customer_id", "before", "after") '
           f"SELECT {', '.join(':' + name for name in names)}, 'create', 'customer', id, id, NULL, {_CREATED_AFTER} "
           "FROM customers WHERE team_id = :team_id AND id BETWEEN :first AND :last ORDER BY id")
    connection = await session.connection()
    result = await connection.exec_driver_sql(sql, {**fixed, "dates": dates, "first": ids[0], "last": ids[-1]})
    if result.rowcount != len(ids):
        raise RuntimeError(f"audited {result.rowcount} new customers of {len(ids)}")  # rolled back whole


async def update_rows(session: AsyncSession, model: type[M.Base], rows: list[dict[str, Any]], keys: Iterable[str]) -> None:
    """Set `keys` of each row (converted values, with its "id") in one executemany."""
    if not rows:
        return
    keys = list(keys)
    if _is_sqlite(session):
        take = itemgetter(*keys, "id")
        assignments = ", ".join(f'"{key}" = ?' for key in keys)
        sql = f'UPDATE "{model.__tablename__}" SET {assignments} WHERE id = ?'
        await _sqlite_many(session, sql, [take(row) for row in rows])
        return
    target = _target(session, model)
    statement = (update(target).where(target.c.id == bindparam("row_id", type_=Integer))
                 .values({key: bindparam(key) for key in keys}))
    for start in range(0, len(rows), BATCH):
        await session.execute(statement, [{"row_id": row["id"], **{key: row[key] for key in keys}}
                                          for row in rows[start:start + BATCH]])


async def rows_by_id(session: AsyncSession, model: type[M.Base], team_id: int, ids: Iterable[int]) -> list[dict[str, Any]]:
    """The team's rows with these ids, every column, in id order. On SQLite their date columns
    stay as the driver gives them (text) until `dated` reads them: most rows an import reads
    are only compared, and reading every date was most of that reading's cost."""
    ids = sorted(set(ids))
    full = model.__table__
    sqlite = _is_sqlite(session)
    source = _untyped(model.__tablename__) if sqlite else full
    keys = [c.key for c in source.columns]
    json_at = [at for at, c in enumerate(full.columns) if isinstance(c.type, JSON)] if sqlite else []
    loads = json.loads
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), BATCH):
        result = await session.execute(
            select(source).where(source.c.team_id == team_id, source.c.id.in_(ids[start:start + BATCH])).order_by(source.c.id))
        for row in result:
            if json_at:
                row = list(row)
                for at in json_at:
                    if isinstance(row[at], str):
                        row[at] = loads(row[at])
            found.append(dict(zip(keys, row)))
    return found


def dated(session: AsyncSession, model: type[M.Base], values: dict[str, Any]) -> dict[str, Any]:
    """`values` from rows_by_id with its dates read (aware UTC datetimes), as a typed read gives them."""
    if not _is_sqlite(session):
        return values
    out = dict(values)
    for column in model.__table__.columns:
        if isinstance(column.type, UTCDateTime) and isinstance(out.get(column.key), str):
            # SQLite keeps them as "2026-11-25 10:00:00.000000", naive UTC
            out[column.key] = datetime.fromisoformat(out[column.key]).replace(tzinfo=timezone.utc)
    return out


async def max_id(session: AsyncSession, model: type[M.Base]) -> int:
    full = model.__table__
    return await session.scalar(select(func.max(full.c.id))) or 0


async def customer_contacts(session: AsyncSession, team_id: int) -> AsyncIterator[list[tuple[int, str, str | None, list, list]]]:
    """The team's live customers as (id, name, company, emails, phones), a partition at a time,
    in id order: what an import's key index is built from, never all held at once."""
    c = _untyped("customers") if _is_sqlite(session) else M.Customer.__table__
    last = 0
    while True:  # pages by id: a server-side cursor through the async SQLite driver fetches a row per thread hop
        page = (await session.execute(
            select(c.c.id, c.c.name, c.c.company, c.c.emails, c.c.phones)
            .where(c.c.team_id == team_id, c.c.deleted_at.is_(None), c.c.id > last).order_by(c.c.id).limit(PAGE))).all()
        if not page:
            return
        yield [(i, name, company, _listed(emails), _listed(phones)) for i, name, company, emails, phones in page]
        last = page[-1][0]


def _listed(value: Any) -> list:
    """A JSON list column as read untyped (text) or typed (a list)."""
    return json.loads(value) if isinstance(value, str) else (value or [])


async def deals_by_source(session: AsyncSession, team_id: int, refs: Iterable[str]) -> list[dict[str, Any]]:
    """Live deals an import made before from these source ids."""
    refs = sorted(set(refs))
    full = M.Deal.__table__
    found: list[dict[str, Any]] = []
    for start in range(0, len(refs), BATCH):
        result = await session.execute(select(full).where(
            full.c.team_id == team_id, full.c.deleted_at.is_(None), full.c.source_ref.in_(refs[start:start + BATCH]))
            .order_by(full.c.id))
        found += [dict(row) for row in result.mappings()]
    return found


async def deals_of(session: AsyncSession, team_id: int, customer_ids: Iterable[int]) -> list[dict[str, Any]]:
    """Live deals of these customers, in id order."""
    ids = sorted(set(customer_ids))
    full = M.Deal.__table__
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), BATCH):
        result = await session.execute(select(full).where(
            full.c.team_id == team_id, full.c.deleted_at.is_(None), full.c.customer_id.in_(ids[start:start + BATCH]))
            .order_by(full.c.id))
        found += [dict(row) for row in result.mappings()]
    return found


def json_ready(values: dict[str, Any]) -> dict[str, Any]:
    """A row as audit.snapshot writes it: datetimes in ISO form."""
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in values.items()}
