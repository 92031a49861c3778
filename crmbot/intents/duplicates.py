"""Before a customer is added: do we hold them already? The same e-mail address, the same
phone number (in E.164 when typed with its country code), or a near-identical name in the same
company (or where a company is not known) makes crmbot ask "is this X?" instead of adding a
second record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz

from crmbot.intents import slots as slot_json
from crmbot.intents.context import Asked, Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router
from crmbot.messages import Reply
from crmbot.store import customers, models, records
from crmbot.text import fold, same_number, words

router = Router()

NAME_RATIO = 90  # names this alike, word order aside ("Jan Novak" / "Jan Novák" / "Novák Jan")
MAX_SHOWN = 3


@dataclass(frozen=True)
class Held:
    customer: models.Customer
    reason: str  # "email", "phone" or "name"


def _companies_differ(a: str | None, b: str | None) -> bool:
    """Two companies both given and not the same one: then two people, whatever their names."""
    if not a or not b:
        return False
    return fuzz.token_sort_ratio(fold(a), fold(b)) < NAME_RATIO


def near_name(held: models.Customer, name: str, company: str | None) -> bool:
    """A name that reads as the held customer's: nearly the same words (with no other company
    given), or, in the same company, one name holding every word of the other ("Karel" and
    "Karel Malý" at Pekárna)."""
    if _companies_differ(held.company, company):
        return False
    if fuzz.token_sort_ratio(fold(held.name), fold(name)) >= NAME_RATIO:
        return True
    mine, theirs = set(words(fold(name))), set(words(fold(held.name)))
    same_company = bool(company and held.company) and not _companies_differ(held.company, company)
    return same_company and bool(mine) and bool(theirs) and (mine <= theirs or theirs <= mine)


async def already_held(ctx: Context, name: str, company: str | None, emails: list[str], phones: list[str]) -> list[Held]:
    """The team's live customers this new one may be, the surest first."""
    found: dict[int, Held] = {}
    by_email = await customers.with_emails(ctx.session, ctx.team.id, {e.lower() for e in emails})
    for holders in by_email.values():
        for customer in holders:
            found.setdefault(customer.id, Held(customer, "email"))
    for phone in phones:
        for match in await ctx.search(phone):  # numbers are looked up exactly, never fuzzily
            customer = await customers.get(ctx.session, ctx.team.id, match.customer_id)
            if customer is not None and any(same_number(phone, str(p), None) for p in customer.phones or ()):
                found.setdefault(customer.id, Held(customer, "phone"))
    for match in await ctx.search(name):
        customer = await customers.get(ctx.session, ctx.team.id, match.customer_id)
        if customer is not None and near_name(customer, name, company):
            found.setdefault(customer.id, Held(customer, "name"))
    return list(found.values())[:MAX_SHOWN]


async def ask(ctx: Context, held: list[Held], slots: dict[str, Any]) -> list[Reply]:
    """"Is this X?": yes (use X), no (add a new customer), cancel."""
    options = [(ctx.t("button.same_customer", name=h.customer.display_name), "use_customer", {**slots, "customer_id": h.customer.id})
               for h in held]
    options += [(ctx.t("button.add_new"), "add_customer", {**slots, "confirmed": True}), (ctx.t("button.cancel"), "cancel", {})]
    return [ctx.reply("customer_same", name=slots["name"], matches=held, buttons=await ctx.buttons(options))]


@router.intent("use_customer")
async def use_customer(ctx: Context, intent: Intent) -> list[Reply]:
    """"Yes, it's X": no new record. The e-mails and phones typed for the new one are added to
    X when the member may edit X; then whatever the new customer was wanted for is done with X."""
    customer = await ctx.customer(intent)
    if isinstance(customer, Asked):
        return customer.replies
    emails = [e for e in intent.slots.get("emails") or [] if e.lower() not in {str(h).lower() for h in customer.emails or ()}]
    phones = [p for p in intent.slots.get("phones") or [] if not any(same_number(p, str(h), None) for h in customer.phones or ())]
    values: dict[str, Any] = {}
    if emails:
        values["emails"] = [*(customer.emails or []), *emails]
    if phones:
        values["phones"] = [*(customer.phones or []), *phones]
    if intent.slots.get("company") and not customer.company:
        values["company"] = intent.slots["company"]
    added: list[str] = []
    kept_apart = None  # who looks after X, when the member may not add to it
    if values and ctx.may_edit(customer):
        await ctx.update(customer, **values)
        added = [*emails, *phones, *([values["company"]] if "company" in values else [])]
    elif values:
        kept_apart = (await records.members_by_id(ctx.session, ctx.team.id)).get(customer.owner_id)
    replies = [ctx.reply("customer_used", customer=customer, added=added, owner=kept_apart)]
    follow_on = intent.slots.get("then")
    if follow_on:
        then = Intent(follow_on, ctx.locale, {**slot_json.from_json(intent.slots.get("then_slots") or {}), "customer_id": customer.id})
    else:
        then = Intent("find_customer", ctx.locale, {"customer_id": customer.id})  # their card
    return replies + await ctx.dispatch(then)
