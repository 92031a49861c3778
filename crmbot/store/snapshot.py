"""A built customer index as bytes, and back: a new worker reads it instead of building.

Building the index of a million customers takes tens of seconds of CPU; reading it back is
cutting a few arrays and string lists out of one blob. The format is our own and holds only
data (numpy arrays in their raw bytes, strings joined by NUL), never pickled objects, so a
blob read from the database cannot run code. A blob of another format version is ignored."""

from __future__ import annotations

import json

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crmbot.store import models, teams

# 2: names also hold their pinyin and their ə ş ç ğ typed without them; a build of 1 lacks them
FORMAT = b"crmbot-index-2\n"
SEPARATOR = "\x00"


def encode(parts: dict[str, object]) -> bytes | None:
    """numpy arrays, lists of strings and ints by name; None when a string holds the separator."""
    header, chunks, offset = [], [], 0
    for name, value in parts.items():
        if isinstance(value, np.ndarray):
            data = np.ascontiguousarray(value).tobytes()
            header.append({"name": name, "kind": "array", "dtype": value.dtype.str, "offset": offset, "size": len(data)})
        elif isinstance(value, int):
            header.append({"name": name, "kind": "int", "value": value})
            continue
        else:
            joined = SEPARATOR.join(value)
            if joined.count(SEPARATOR) != max(len(value) - 1, 0):
                return None
            data = joined.encode("utf-8", "surrogatepass")
            header.append({"name": name, "kind": "strings", "count": len(value), "offset": offset, "size": len(data)})
        chunks.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    return b"".join([FORMAT, len(head).to_bytes(8, "little"), head, *chunks])


def decode(blob: bytes) -> dict[str, object] | None:
    """The parts `encode` was given, or None for a blob of another format."""
    if not blob.startswith(FORMAT):
        return None
    at = len(FORMAT)
    size = int.from_bytes(blob[at:at + 8], "little")
    header = json.loads(blob[at + 8:at + 8 + size])
    body = memoryview(blob)[at + 8 + size:]
    parts: dict[str, object] = {}
    for entry in header:
        if entry["kind"] == "int":
            parts[entry["name"]] = entry["value"]
            continue
        data = body[entry["offset"]:entry["offset"] + entry["size"]]
        if entry["kind"] == "array":
            parts[entry["name"]] = np.frombuffer(data, dtype=np.dtype(entry["dtype"])).copy()
        else:
            text = bytes(data).decode("utf-8", "surrogatepass")
            parts[entry["name"]] = text.split(SEPARATOR) if entry["count"] else []
    return parts


async def read(session: AsyncSession, team_id: int) -> tuple[int, bytes] | None:
    """The team's kept snapshot: (the revision it was built at, its bytes)."""
    row = (await session.execute(
        select(models.SearchSnapshot.rev, models.SearchSnapshot.data).where(models.SearchSnapshot.team_id == team_id)
    )).first()
    return (row.rev, bytes(row.data)) if row else None


async def write(engine: AsyncEngine, team_id: int, rev: int, blob: bytes) -> bool:
    """Keep a snapshot built at `rev`, in a transaction of its own, unless the team's customers
    changed since: an erasure since the build must not be written back in."""
    async with AsyncSession(engine) as session, session.begin():
        if await teams.customer_rev(session, team_id) != rev:
            return False
        await session.execute(delete(models.SearchSnapshot).where(models.SearchSnapshot.team_id == team_id))
        session.add(models.SearchSnapshot(team_id=team_id, rev=rev, data=blob))
    return True


async def forget(session: AsyncSession, team_id: int) -> None:
    """Drop the team's snapshot (an erasure: the old name must not stay on disk)."""
    await session.execute(delete(models.SearchSnapshot).where(models.SearchSnapshot.team_id == team_id))
