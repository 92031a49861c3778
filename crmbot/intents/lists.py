"""Lists: deals by stage, owner, customer or closing period; customers by tag or status; open
complaints; follow-ups (through the agenda). A page at a time, with next/previous buttons.

What a message asks for is read once into a query (plain JSON, kept in the page buttons), so
turning a page lists the same thing without reading the message again. Whose records show is
decided on every page from the member's role as it is then: a rep sees what is theirs (and
customers nobody owns), a manager the team's unless they ask for their own ("my deals") or a
colleague's ("bob's deals").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from crmbot.intents import periods
from crmbot.intents.context import Asked, Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router, allowed
from crmbot.messages import Button, Reply
from crmbot.store import lists, models, records, tags
from crmbot.text import fold, words

router = Router()
PAGE = 10  # rows per page: a phone screen of them
KINDS = ("deals", "customers", "complaints", "followups")
CLOSED = ("won", "lost")


def manager(ctx: Context) -> bool:
    return allowed(ctx.member.role, "manager")


async def pager(ctx: Context, intent: str, slots: dict[str, Any], page: int, total: int, size: int = PAGE) -> tuple[Button, ...]:
    """◀ / ▶ for a list of `total` rows shown `size` at a time, `page` (from 0) showing now."""
    options = []
    if page > 0:
        options.append((ctx.t("button.previous"), intent, {**slots, "page": page - 1}))
    if (page + 1) * size < total:
        options.append((ctx.t("button.next"), intent, {**slots, "page": page + 1}))
    return await ctx.buttons(options) if options else ()


async def paged(intent: Intent, fetch: Callable[[int, int], Awaitable[lists.Page]], size: int = PAGE) -> tuple[int, lists.Page]:
    """The page a button asked for (the first for a message), and its rows: the last page when
    the list has shrunk since the button was made."""
    try:
        page = max(0, int(intent.slots.get("page") or 0))
    except (TypeError, ValueError):
        page = 0
    found = await fetch(page * size, size)
    if page and not found.rows and found.total:
        page = (found.total - 1) // size
        found = await fetch(page * size, size)
    return page, found


def shown(reply: Reply, intent: Intent) -> Reply:
    """A page turned with its button replaces the page it came from."""
    return replace(reply, in_place=intent.slots.get("page") is not None)


async def _query(ctx: Context, intent: Intent) -> dict[str, Any] | list[Reply]:
    """What the message asks to list, or the answer to give instead (which list? which customer?)."""
    slots = intent.slots
    named_tags = [t for t in slots.get("tags") or () if tags.usable(t)]
    what = slots.get("what")
    if what not in KINDS:
        what = "customers" if named_tags or slots.get("status") else "deals" if slots.get("stage") or slots.get("closing") else None
    if what is None:
        options = [(ctx.t(f"list.{kind}"), "list", {**slots, "what": kind}) for kind in KINDS]
        return [ctx.reply("list_which", buttons=await ctx.buttons(options))]
    query: dict[str, Any] = {"what": what, "scope": slots.get("scope")}
    if what == "deals":
        query |= {"stage": slots.get("stage"), "period": slots.get("period"), "closing": bool(slots.get("closing"))}
    elif what == "customers":
        query |= {"status": slots.get("status"), "tag": named_tags[0] if named_tags else None}
    elif what == "followups":
        query |= {"period": slots.get("period"), "day": slots.get("day")}
    mention = intent.mention
    named = await _member_named(ctx, mention) if what != "followups" else None
    if named is not None:
        member, naming = named
        mention = " ".join(w for w in mention.split() if w not in naming)
        if member.id == ctx.member.id:
            query["scope"] = "mine"  # "bob's deals" from Bob
        elif not manager(ctx):
            return [ctx.reply("not_allowed")]  # a colleague's records are for managers to list
        else:
            query["owner_id"] = member.id
    if slots.get("customer_id") is not None or (mention and what in ("deals", "complaints")):
        customer = await ctx.customer(Intent("list", intent.locale, {**slots, "mention": mention}), required=False)
        if isinstance(customer, Asked):
            return customer.replies
        if customer is None:
            return [ctx.reply("list_nobody", mention=mention)]
        query["customer_id"] = customer.id
    return query


def names_first(first: str, word: str) -> bool:
    """Whether a word is this first name, also as other languages inflect it ("obchody Boba",
    "Aliciny obchody"): the name, or a word a few letters longer starting like it."""
    stem = first[:max(3, len(first) - 1)]
    return word == first or (len(first) >= 3 and word.startswith(stem) and len(word) <= len(first) + 4)


async def _member_named(ctx: Context, mention: str) -> tuple[models.Member, set[str]] | None:
    """A member of the team the words left over name by first or full name ("bob's deals",
    "deals of alice smith"): whose records to list, not a customer to look up; with the
    words that named them."""
    said = mention.split()
    for member in (await records.members_by_id(ctx.session, ctx.team.id)).values():
        name = words(fold(member.name))
        if not member.active or not name:
            continue
        if any(names_first(name[0], w) for w in said):
            return member, {w for w in said if w in name or names_first(name[0], w)}
    return None


@router.intent("list")
async def list_(ctx: Context, intent: Intent) -> list[Reply]:
    query = intent.slots.get("query")
    if not isinstance(query, dict) or query.get("what") not in KINDS:
        found = await _query(ctx, intent)
        if isinstance(found, list):
            return found
        query = found
    if query["what"] == "followups":
        # the agenda lists follow-ups: the same list, whichever way it was asked for
        agenda = {k: v for k, v in query.items() if k in ("period", "day", "scope") and v is not None}
        return await ctx.dispatch(Intent("agenda", intent.locale, {**agenda, **({"page": intent.slots["page"]} if "page" in intent.slots else {})}))
    # a rep's list is theirs whatever they asked; a manager's the team's unless they said whose
    mine = not manager(ctx) or query.get("scope") == "mine"
    scope = lists.Scope(ctx.team.id, ctx.member.id if mine else None)
    owner = (await records.members_by_id(ctx.session, ctx.team.id)).get(query.get("owner_id")) if query.get("owner_id") else None
    customer = await records.customers_by_id(ctx.session, ctx.team.id, {query["customer_id"]}) if query.get("customer_id") else {}
    about = dict(query=query, owner=owner, customer=customer.get(query.get("customer_id")), whose="mine" if mine else "team")
    lister = {"deals": _deals, "customers": _customers, "complaints": _complaints}[query["what"]]
    return [await lister(ctx, intent, query, scope, about)]


async def _deals(ctx: Context, intent: Intent, query: dict, scope: lists.Scope, about: dict) -> Reply:
    stage = query.get("stage")
    stages = (stage,) if stage in models.STAGES else models.OPEN_STAGES
    span = periods.window(ctx.now, ctx.tz, query["period"]) if query.get("period") else None
    # a period of won or lost deals is when they closed; of open deals, when they should
    closing, closed = (None, span) if stage in CLOSED else (span, None)
    if query.get("closing") and closing is None and stage not in CLOSED:
        closing = lists.Window()  # "deals closing": those with a closing date, soonest first

    async def fetch(offset: int, limit: int) -> lists.Page:
        return await lists.deals(ctx.session, scope, stages=stages, owner_id=query.get("owner_id"), customer_id=query.get("customer_id"),
                                 closing=closing, closed=closed, offset=offset, limit=limit)

    page, found = await paged(intent, fetch)
    people = await records.customers_by_id(ctx.session, ctx.team.id, {d.customer_id for d in found.rows})
    return await _reply(ctx, intent, "list_deals", query, page, found, about, customers=people, totals=found.totals)


async def _customers(ctx: Context, intent: Intent, query: dict, scope: lists.Scope, about: dict) -> Reply:
    tag = await tags.named(ctx.session, ctx.team.id, query["tag"]) if query.get("tag") else None

    async def fetch(offset: int, limit: int) -> lists.Page:
        if query.get("tag") and tag is None:
            return lists.Page([], 0)  # nobody carries a tag the team never used
        return await lists.customers(ctx.session, scope, status=query.get("status"), tag_id=tag.id if tag else None,
                                     owner_id=query.get("owner_id"), offset=offset, limit=limit)

    page, found = await paged(intent, fetch)
    carried = await tags.of_customers(ctx.session, ctx.team.id, [c.id for c in found.rows])
    return await _reply(ctx, intent, "list_customers", query, page, found, about, tags=carried,
                        tag=tag.name if tag else query.get("tag"))


async def _complaints(ctx: Context, intent: Intent, query: dict, scope: lists.Scope, about: dict) -> Reply:
    async def fetch(offset: int, limit: int) -> lists.Page:
        return await lists.open_complaints(ctx.session, scope, customer_id=query.get("customer_id"), owner_id=query.get("owner_id"),
                                           offset=offset, limit=limit)

    page, found = await paged(intent, fetch)
    people = await records.customers_by_id(ctx.session, ctx.team.id, {c.customer_id for c in found.rows})
    return await _reply(ctx, intent, "list_complaints", query, page, found, about, customers=people)


async def _reply(ctx: Context, intent: Intent, template: str, query: dict, page: int, found: lists.Page, about: dict,
                 **values: Any) -> Reply:
    members = await records.members_by_id(ctx.session, ctx.team.id)
    buttons = await pager(ctx, "list", {"query": query}, page, found.total)
    reply = ctx.reply(template, rows=found.rows, total=found.total, first=page * PAGE + 1, members=members, buttons=buttons,
                      **about, **values)
    return shown(reply, intent)
