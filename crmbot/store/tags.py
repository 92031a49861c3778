"""Tags: words a team labels its customers with ("vip", "trade-fair"). A tag is the team's (one
row per folded word, shown as first written); a customer carries it through a link row. Both
are written through `changes`, so tagging is audited and undone like any change; untagging and
undo soft-delete, and the same word again brings the same rows back."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crmbot.store import audit, changes, models
from crmbot.store.audit import Actor
from crmbot.text import fold

M = models
MAX_TAG = 60  # the column's size
_SPACES = re.compile(r"\s+")
_LETTERS = re.compile(r"[^\W_]")


def clean(name: str) -> str:
    """A tag as it is kept: spaces squeezed, a leading '#' dropped, at most MAX_TAG long."""
    return _SPACES.sub(" ", name).strip().lstrip("#").strip()[:MAX_TAG]


def key_of(name: str) -> str:
    """"VIP", "vip" and "#Vip" are one tag; "Důležitý" and "dulezity" too."""
    return fold(clean(name))[:MAX_TAG]


def usable(name: str) -> bool:
    """A tag needs a letter or a digit: "#" or "--" names nothing."""
    return bool(_LETTERS.search(clean(name)))


async def _tag(session: AsyncSession, team_id: int, key: str) -> M.Tag | None:
    return await session.scalar(select(M.Tag).where(M.Tag.team_id == team_id, M.Tag.key == key))


async def _link(session: AsyncSession, customer_id: int, tag_id: int) -> M.CustomerTag | None:
    return await session.scalar(select(M.CustomerTag).where(M.CustomerTag.customer_id == customer_id, M.CustomerTag.tag_id == tag_id))


async def attach(session: AsyncSession, actor: Actor, now: datetime, customer_id: int, name: str) -> M.Tag | None:
    """Tag a customer (audited); the tag, or None when they already carried it."""
    key = key_of(name)
    tag = await _tag(session, actor.team_id, key)
    if tag is None:
        tag = await changes.create(session, actor, now, M.Tag(team_id=actor.team_id, name=clean(name), key=key, created_at=now))
    elif tag.deleted_at is not None:
        await changes.update(session, actor, now, tag, deleted_at=None)
    link = await _link(session, customer_id, tag.id)
    if link is None:
        await changes.create(session, actor, now, M.CustomerTag(team_id=actor.team_id, customer_id=customer_id, tag_id=tag.id, created_at=now))
    elif link.deleted_at is not None:
        await changes.update(session, actor, now, link, deleted_at=None)
    else:
        return None
    return tag


async def detach(session: AsyncSession, actor: Actor, now: datetime, customer_id: int, name: str) -> M.Tag | None:
    """Take a tag off a customer (audited, undoable); the tag, or None when they did not carry it."""
    tag = await _tag(session, actor.team_id, key_of(name))
    link = await _link(session, customer_id, tag.id) if tag is not None and tag.deleted_at is None else None
    if link is None or link.deleted_at is not None:
        return None
    await changes.update(session, actor, now, link, deleted_at=now)
    return tag


async def live(session: AsyncSession, team_id: int) -> list[M.Tag]:
    """The team's tags that some live customer carries, by name."""
    query = (select(M.Tag).join(M.CustomerTag, M.CustomerTag.tag_id == M.Tag.id)
             .join(M.Customer, M.Customer.id == M.CustomerTag.customer_id)
             .where(M.Tag.team_id == team_id, M.Tag.deleted_at.is_(None), M.CustomerTag.deleted_at.is_(None),
                    M.Customer.deleted_at.is_(None))
             .distinct())
    return sorted(await session.scalars(query), key=lambda t: t.key)


async def named(session: AsyncSession, team_id: int, name: str) -> M.Tag | None:
    """The team's live tag of this word, if there is one."""
    tag = await _tag(session, team_id, key_of(name))
    return tag if tag is not None and tag.deleted_at is None else None


async def of_customers(session: AsyncSession, team_id: int, customer_ids: Iterable[int] | None = None) -> dict[int, list[str]]:
    """The tags each customer carries (names, sorted); None: every customer of the team."""
    query = (select(M.CustomerTag.customer_id, M.Tag.name)
             .join(M.Tag, M.Tag.id == M.CustomerTag.tag_id)
             .where(M.CustomerTag.team_id == team_id, M.CustomerTag.deleted_at.is_(None), M.Tag.deleted_at.is_(None)))
    if customer_ids is not None:
        ids = set(customer_ids)
        if not ids:
            return {}
        query = query.where(M.CustomerTag.customer_id.in_(ids))
    found: dict[int, list[str]] = defaultdict(list)
    for customer_id, name in (await session.execute(query)).all():
        found[customer_id].append(name)
    return {customer_id: sorted(names, key=fold) for customer_id, names in found.items()}


async def of_customer(session: AsyncSession, team_id: int, customer_id: int) -> list[str]:
    return (await of_customers(session, team_id, [customer_id])).get(customer_id, [])


async def attach_many(session: AsyncSession, actor: Actor, now: datetime, wanted: dict[int, list[str]]) -> int:
    """Tags for many customers at once (an import): customer id -> tag names. Tags and links
    are made or brought back in one pass, each audited in the actor's group; returns how many
    links were made or brought back."""
    names = {key_of(n): clean(n) for tags in wanted.values() for n in tags if usable(n)}
    if not names:
        return 0
    held = {t.key: t for t in await session.scalars(select(M.Tag).where(M.Tag.team_id == actor.team_id, M.Tag.key.in_(names)))}
    for key, name in names.items():
        tag = held.get(key)
        if tag is None:
            held[key] = await changes.create(session, actor, now, M.Tag(team_id=actor.team_id, name=name, key=key, created_at=now))
        elif tag.deleted_at is not None:
            await changes.update(session, actor, now, tag, deleted_at=None)
    links = {(link.customer_id, link.tag_id): link for link in await session.scalars(
        select(M.CustomerTag).where(M.CustomerTag.team_id == actor.team_id, M.CustomerTag.customer_id.in_(list(wanted))))}
    made: list[M.CustomerTag] = []
    revived = 0
    for customer_id, tags in wanted.items():
        for key in dict.fromkeys(key_of(n) for n in tags if usable(n)):
            link = links.get((customer_id, held[key].id))
            if link is None:
                link = M.CustomerTag(team_id=actor.team_id, customer_id=customer_id, tag_id=held[key].id, created_at=now)
                links[(customer_id, held[key].id)] = link
                made.append(link)
            elif link.deleted_at is not None:
                await changes.update(session, actor, now, link, deleted_at=None)
                revived += 1
    if made:
        session.add_all(made)
        await session.flush()
        for link in made:
            audit.record(session, actor, now, "create", link, None, customer_id=link.customer_id)
    return len(made) + revived


async def forget_customer(session: AsyncSession, team_id: int, customer_id: int, now: datetime) -> int:
    """An erased customer carries no tags any more (the tags stay the team's)."""
    links = list(await session.scalars(select(M.CustomerTag).where(
        M.CustomerTag.team_id == team_id, M.CustomerTag.customer_id == customer_id, M.CustomerTag.deleted_at.is_(None))))
    for link in links:
        link.deleted_at = now
    return len(links)
