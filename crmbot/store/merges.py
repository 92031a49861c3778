"""Two records of one customer made one: everything the absorbed record holds moves to the one
that survives, its contact details are folded in, and it is then deleted (softly). Every row
goes through the audited writes in the caller's group, so one undo restores both customers and
every moved row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import changes, models
from crmbot.store.audit import Actor
from crmbot.store.duplicates import phone_number
from crmbot.text import fold, words


@dataclass(frozen=True)
class Owned:
    """A table whose rows belong to a customer through `customer_id`. Columns in `same_when`
    make a row a repeat of one the survivor holds already (a tag's name): such a row is
    deleted instead of moved, and undo brings it back."""

    model: type[models.Base]
    same_when: tuple[str, ...] = ()


# Every customer-owned table: a merge moves the rows of each. A new one is a line here.
OWNED: tuple[Owned, ...] = (
    Owned(models.Interaction),
    Owned(models.Deal),
    Owned(models.Complaint),
    Owned(models.FollowUp),
    Owned(models.CustomerTag, same_when=("tag_id",)),
    Owned(models.CustomerFact),
)

# text fields where the richer value is kept and a differing one goes to the notes
TEXT_FIELDS = ("name", "company", "address", "website", "preferred_channel", "lead_source")
STATUS_ORDER = ("lead", "prospect", "customer")  # the further along wins; "churned" is never taken over


@dataclass(frozen=True)
class Plan:
    """The survivor's columns after the merge, and the absorbed record's values that differ
    from what the survivor keeps (field, value): the caller writes those into the notes, in
    the member's words."""

    values: dict[str, Any]
    conflicts: tuple[tuple[str, str], ...]


def richer(kept: str | None, other: str | None) -> tuple[str | None, str | None]:
    """(the value to keep, the other value when it conflicts): a value beats an empty one, and
    one holding all the other's words and more beats it ("Karel Malý" over "Karel")."""
    if not other or not other.strip():
        return kept, None
    if not kept or not kept.strip():
        return other, None
    if fold(kept) == fold(other):
        return kept, None
    mine, theirs = set(words(fold(kept))), set(words(fold(other)))
    if mine < theirs:
        return other, None
    if theirs <= mine:
        return kept, None
    return kept, other


def _union(kept: list | None, other: list | None, key) -> list:
    """`kept` and then what of `other` it lacks, compared by `key`."""
    out, seen = list(kept or []), {key(value) for value in kept or []}
    for value in other or []:
        if key(value) not in seen:
            seen.add(key(value))
            out.append(value)
    return out


def plan(survivor: models.Customer, absorbed: models.Customer) -> Plan:
    values: dict[str, Any] = {}
    conflicts: list[tuple[str, str]] = []
    for field in TEXT_FIELDS:
        value, conflict = richer(getattr(survivor, field), getattr(absorbed, field))
        if value != getattr(survivor, field):
            values[field] = value
        if conflict is not None:
            conflicts.append((field, conflict))
    emails = _union(survivor.emails, absorbed.emails, lambda e: str(e).lower())
    phones = _union(survivor.phones, absorbed.phones, phone_number)  # equal in E.164
    if emails != list(survivor.emails or []):
        values["emails"] = emails
    if phones != list(survivor.phones or []):
        values["phones"] = phones
    if survivor.owner_id is None and absorbed.owner_id is not None:
        values["owner_id"] = absorbed.owner_id
    if survivor.status in STATUS_ORDER and absorbed.status in STATUS_ORDER \
            and STATUS_ORDER.index(absorbed.status) > STATUS_ORDER.index(survivor.status):
        values["status"] = absorbed.status
    if absorbed.created_at < survivor.created_at:
        values["created_at"] = absorbed.created_at  # the customer is as old as their first record
    notes = [n.strip() for n in (survivor.notes, absorbed.notes) if n and n.strip()]
    if len(notes) == 2 and notes[1] not in notes[0]:
        values["notes"] = f"{notes[0]}\n{notes[1]}"
    elif notes and not survivor.notes:
        values["notes"] = notes[-1]
    return Plan(values, tuple(conflicts))


async def lock_pair(session: AsyncSession, team_id: int, first_id: int, second_id: int) -> dict[int, models.Customer]:
    """Both customers, live, locked until the transaction ends and re-read (in id order, so
    two merges of the same pair never deadlock); a missing one is left out."""
    rows = await session.scalars(
        select(models.Customer)
        .where(models.Customer.team_id == team_id, models.Customer.id.in_((first_id, second_id)),
               models.Customer.deleted_at.is_(None))
        .order_by(models.Customer.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.id: row for row in rows}


async def holdings(session: AsyncSession, team_id: int, customer_id: int) -> dict[str, int]:
    """How many live rows of each customer-owned table the customer has, by table name."""
    counts: dict[str, int] = {}
    for owned in OWNED:
        model = owned.model
        query = select(func.count()).select_from(model).where(model.team_id == team_id, model.customer_id == customer_id)
        if hasattr(model, "deleted_at"):
            query = query.where(model.deleted_at.is_(None))
        counts[model.__tablename__] = await session.scalar(query) or 0
    return counts


async def _repeats(session: AsyncSession, owned: Owned, team_id: int, survivor_id: int) -> dict[tuple, models.Base]:
    """The survivor's rows of `owned` by their `same_when` values, soft-deleted ones too (a
    unique key counts those as well)."""
    if not owned.same_when:
        return {}
    model = owned.model
    rows = await session.scalars(select(model).where(model.team_id == team_id, model.customer_id == survivor_id))
    return {tuple(getattr(row, c) for c in owned.same_when): row for row in rows}


async def merge(session: AsyncSession, actor: Actor, now: datetime, survivor: models.Customer,
                absorbed: models.Customer, values: dict[str, Any], owned: tuple[Owned, ...] = OWNED) -> dict[str, int]:
    """Fold `absorbed` into `survivor`: the survivor takes `values` (a `Plan`'s, notes
    included), every row of `absorbed` in the `owned` tables moves over, and `absorbed` is
    deleted softly. Returns the live rows moved per table. All audited in the actor's group:
    the two customers' entries first ("merge"), so undo names the change by them."""
    await changes.update(session, actor, now, survivor, action="merge", **values)
    await changes.update(session, actor, now, absorbed, action="merge", deleted_at=now)
    moved: dict[str, int] = {}
    for table in owned:
        model = table.model
        rows = list(await session.scalars(
            select(model).where(model.team_id == actor.team_id, model.customer_id == absorbed.id)
            .order_by(model.id).with_for_update()))
        held = await _repeats(session, table, actor.team_id, survivor.id)
        count = 0
        for row in rows:
            live = getattr(row, "deleted_at", None) is None
            twin = held.get(tuple(getattr(row, c) for c in table.same_when)) if table.same_when else None
            if twin is not None:  # a repeat stays with the absorbed record, gone if it was live
                if live and getattr(twin, "deleted_at", None) is not None:
                    await changes.update(session, actor, now, twin, deleted_at=None)  # untagged there, tagged here
                if live and hasattr(row, "deleted_at"):
                    await changes.update(session, actor, now, row, deleted_at=now)
                elif live:
                    await changes.delete(session, actor, now, row)
                continue
            # a moved deal is no fresher than it was: its updated_at stays
            await changes.update(session, actor, now, row, touch=False, customer_id=survivor.id)
            count += live
        moved[model.__tablename__] = count
    return moved
