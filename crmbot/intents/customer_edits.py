"""Changing a customer by chat: phone, e-mail, website, company, address, status, preferred
channel, owner, and the personal profile (birthday, anniversaries, family, hobbies,
memberships). Every change goes through the audited writes, so "undo" takes it back; the reply
says what it was and what it is now.

A fact reaches here two ways: as an edit ("change eva's phone to …", `/edit`) or as a note
that says a fact ("eva new email …", "petr's birthday is 12 March"): crmbot/intents/calls.py
hands a note holding a fact to `keep`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import phonenumbers

from crmbot import yearly
from crmbot.intents import ownership, profile_view
from crmbot.intents.context import Asked, Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router
from crmbot.messages import Reply
from crmbot.store import models, profile, records
from crmbot.text import PHONE_REGION

router = Router()

# what a chat field is called in the customer row
COLUMNS = {"phone": "phones", "email": "emails", "website": "website", "company": "company", "address": "address",
           "status": "status", "channel": "preferred_channel"}
EMAIL_ADDRESS = re.compile(r"[\w.+-]+@[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)*\.[^\W\d_]{2,}")
WEB_ADDRESS = re.compile(r"(?:https?://)?(?:www\.)?[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)*\.[^\W\d_]{2,}(?:/\S*)?")
MAX_TEXT = 300  # a company, an address, a name: longer is a slip
# profile kinds a customer has one of (per relation or occasion); the others are lists
SINGLE_RELATIONS = frozenset({"wife", "husband", "partner", "mother", "father"})


@dataclass(frozen=True)
class Change:
    """One line of a change reply: what, before (None: nothing was held), after."""

    label: str
    old: str | None
    new: str


@router.intent("edit_customer")
async def edit_customer(ctx: Context, intent: Intent) -> list[Reply]:
    customer = await ctx.customer(intent)
    if isinstance(customer, Asked):
        return customer.replies
    return await keep(ctx, intent, customer)


async def keep(ctx: Context, intent: Intent, customer: models.Customer) -> list[Reply]:
    """Keep the fact `intent` holds about `customer` in its field; the question to answer
    first when the value is missing or does not look right."""
    slots = intent.slots
    field = slots.get("field")
    value = str(slots.get("value") or "").strip()
    if field == "owner":
        # "give petra to bob" is a reassignment: that handler (managers only) does it
        return await ctx.dispatch(Intent("reassign", intent.locale, {"text": value, "mention": "", "customer_id": customer.id}))
    if not field or (not value and field not in models.DATED_KINDS):
        named = profile_view.label(ctx, f"field.{field}").lower() if field else None  # inside a sentence
        return [ctx.reply("edit_what", customer=customer, field=named)]
    if not ownership.may_change_customer(ctx.member, customer):
        return [await not_yours(ctx, customer.display_name, customer.owner_id)]
    if field in COLUMNS:
        replies = await _contact(ctx, customer, field, value)
    elif field in models.DATED_KINDS:
        replies = await _dated(ctx, customer, field, slots)
    else:
        replies = await _listed(ctx, customer, field, value, str(slots.get("detail") or ""))
    if slots.get("rest") and replies and replies[0].kind == "customer_changed":
        # "eva plays golf, invite her to the tournament": the rest is worth a note too
        replies += await ctx.dispatch(Intent("add_note", intent.locale, {"customer_id": customer.id, "text": slots.get("text", "")}))
    return replies


async def not_yours(ctx: Context, what: str, owner_id: int | None) -> Reply:
    owner = (await records.members_by_id(ctx.session, ctx.team.id)).get(owner_id) if owner_id else None
    return ctx.reply("not_yours", what=what, owner=owner.name if owner else "—")


def changed(ctx: Context, customer: models.Customer, changes: list[Change]) -> Reply:
    return ctx.reply("customer_changed", customer=customer, changes=changes)


# -- contact details, status, channel ------------------------------------------------------------


def valid_value(ctx: Context, field: str, value: str) -> str | None:
    """The value as it is kept (a phone number in E.164, in the team's region when written
    without its country code), or None when it is not one."""
    if field == "phone":
        region = (ctx.team.settings or {}).get("region") or PHONE_REGION.get(ctx.locale)
        international = value.startswith(("+", "00"))
        try:
            number = phonenumbers.parse("+" + value[2:] if value.startswith("00") else value, None if international else region)
        except phonenumbers.NumberParseException:
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) if phonenumbers.is_valid_number(number) else None
    if field == "email":
        return value if EMAIL_ADDRESS.fullmatch(value) else None
    if field == "website":
        return value.rstrip("/") if WEB_ADDRESS.fullmatch(value) else None
    if field in ("status",):
        return value if value in models.CUSTOMER_STATUSES else None
    if field in ("company", "address", "channel"):
        return value if len(value) <= MAX_TEXT else None
    return None


async def _contact(ctx: Context, customer: models.Customer, field: str, value: str) -> list[Reply]:
    kept = valid_value(ctx, field, value)
    if kept is None:
        return [ctx.reply("value_invalid", customer=customer, field=field, value=value)]
    column = COLUMNS[field]
    before = getattr(customer, column)
    if column in ("phones", "emails"):
        # the new one becomes the first (the one used); the others stay
        held = list(before or [])
        old = held[0] if held else None
        same = (lambda a, b: a.lower() == b.lower()) if column == "emails" else (lambda a, b: _same_phone(a, b))
        after = [kept, *(h for h in held[1:] if not same(h, kept))]
        if old is not None and same(old, kept):
            return [ctx.reply("nothing_changed", customer=customer)]
        await ctx.update(customer, **{column: after})
        show = profile_view.phone if column == "phones" else str
        return [changed(ctx, customer, [Change(profile_view.label(ctx, f"field.{field}"), show(old) if old else None, show(kept))])]
    if (before or "") == kept:
        return [ctx.reply("nothing_changed", customer=customer)]
    await ctx.update(customer, **{column: kept})
    label = profile_view.label(ctx, f"field.{field}")
    return [changed(ctx, customer, [Change(label, profile_view.field_value(ctx, column, before), profile_view.field_value(ctx, column, kept))])]


def _same_phone(a: str, b: str) -> bool:
    digits = lambda s: re.sub(r"\D", "", s)  # noqa: E731
    return digits(a) == digits(b)


# -- the profile -------------------------------------------------------------------------------------


async def _dated(ctx: Context, customer: models.Customer, kind: str, slots: dict[str, Any]) -> list[Reply]:
    """A birthday or an anniversary: one of each (per occasion); a new day replaces the old one,
    and yearly reminders of it move with it."""
    month, day, year = slots.get("month"), slots.get("day"), slots.get("year")
    detail = str(slots.get("detail") or "") if kind == "anniversary" else ""
    if month is None or day is None or not yearly.valid(int(month), int(day)):
        return [ctx.reply("fact_needs_day", customer=customer, kind=kind, occasion=_occasion(ctx, kind, detail))]
    month, day = int(month), int(day)
    year = int(year) if year is not None else None
    held = [f for f in await profile.facts_of(ctx.session, ctx.team.id, customer.id) if f.kind == kind and (kind == "birthday" or f.detail == detail)]
    if held:
        fact = held[0]
        if (fact.month, fact.day, fact.year) == (month, day, year):
            return [ctx.reply("nothing_changed", customer=customer)]
        old = profile_view.fact_value(ctx, fact)
        await ctx.update(fact, month=month, day=day, year=year)
        await _move_reminders(ctx, fact)
    else:
        old = None
        fact = await ctx.create(_fact(ctx, customer, kind, detail=detail, month=month, day=day, year=year))
    return [changed(ctx, customer, [Change(profile_view.fact_label(ctx, fact), old, profile_view.fact_value(ctx, fact))])]


async def _move_reminders(ctx: Context, fact: models.CustomerFact) -> None:
    """Yearly reminders of a day that changed come on the new day (in each member's zone)."""
    members = await records.members_by_id(ctx.session, ctx.team.id)
    for followup in await profile.yearly_followups(ctx.session, ctx.team.id, fact.id):
        tz = members[followup.member_id].timezone if followup.member_id in members else ctx.tz
        await ctx.update(followup, every_year=yearly.anchor(fact.month, fact.day),
                         due_at=yearly.first_after(fact.month, fact.day, ctx.now, tz))


async def _listed(ctx: Context, customer: models.Customer, kind: str, value: str, detail: str) -> list[Reply]:
    """Family, hobbies, memberships: a spouse or a parent is one (a new name replaces the old),
    children, hobbies and clubs add up; what is already held is not added again."""
    if len(value) > MAX_TEXT:
        return [ctx.reply("too_long")]
    held = [f for f in await profile.facts_of(ctx.session, ctx.team.id, customer.id) if f.kind == kind]
    if any(f.value.casefold() == value.casefold() and f.detail == detail for f in held):
        return [ctx.reply("nothing_changed", customer=customer)]
    same_role = [f for f in held if kind == "family" and detail in SINGLE_RELATIONS and f.detail == detail]
    if same_role:
        fact = same_role[0]
        old = fact.value
        await ctx.update(fact, value=value)
    else:
        old = None
        fact = await ctx.create(_fact(ctx, customer, kind, detail=detail, value=value))
    return [changed(ctx, customer, [Change(profile_view.fact_label(ctx, fact), old, fact.value)])]


def _fact(ctx: Context, customer: models.Customer, kind: str, **values: Any) -> models.CustomerFact:
    return models.CustomerFact(team_id=ctx.team.id, customer_id=customer.id, kind=kind, created_at=ctx.now,
                               updated_at=ctx.now, **{"detail": "", "value": "", **values})


def _occasion(ctx: Context, kind: str, detail: str) -> str:
    return profile_view.occasion_word(ctx, kind, detail)
