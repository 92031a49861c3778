"""Looking customers up, showing their card, adding new ones."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from crmbot.i18n import Formats, Language
from crmbot.intents import slots as slot_json
from crmbot.intents import auto_followups, duplicates, profile_view
from crmbot.intents.context import Asked, Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router
from crmbot.messages import Card, Reply
from crmbot.store import models, profile, records, routes, tags
from crmbot.text import EMAIL, fold, has_cjk, normalise_phone, words

router = Router()

PHONE = re.compile(r"\+?\d[\d ()./-]{5,}\d")
FULLWIDTH = str.maketrans({"，": ",", "；": ";"})  # "陈明，广州明达" splits like "Chen Ming, Mingda"


async def card(ctx: Context, customer: models.Customer) -> Reply:
    """The customer card: contact, owner, last interactions, open deals, complaints, next follow-up."""
    team_id = ctx.team.id
    members = await records.members_by_id(ctx.session, team_id)
    interactions = [_as_said(i, customer) for i in await records.recent_interactions(ctx.session, team_id, customer.id)]
    deals = await records.open_deals(ctx.session, team_id, customer.id)
    complaints = await records.open_complaints(ctx.session, team_id, customer.id)
    followup = await records.next_followup(ctx.session, team_id, customer.id)
    carried = await tags.of_customer(ctx.session, team_id, customer.id)
    facts = await profile.facts_of(ctx.session, team_id, customer.id)
    owner = members.get(customer.owner_id) if customer.owner_id else None
    fields = [(ctx.t("field.owner"), owner.name if owner else "—")]
    if customer.phones:
        fields.append((ctx.t("field.phone"), ", ".join(customer.phones)))
    if customer.emails:
        fields.append((ctx.t("field.email"), ", ".join(customer.emails)))
    fields.append((ctx.t("field.status"), ctx.t(f"status.{customer.status}")))
    if carried:
        fields.append((ctx.t("field.tags"), Formats(ctx.i18n, ctx.locale, ctx.tz).list(carried)))
    return ctx.reply(
        "card", customer=customer, owner=owner, members=members, interactions=interactions, deals=deals,
        complaints=complaints, followup=followup, tags=carried, card=Card(customer.display_name, tuple(fields)),
        channel=profile_view.channel(ctx, customer.preferred_channel), profile=profile_view.profile_lines(ctx, facts),
        phones=[profile_view.phone(p) for p in customer.phones or ()],
    )


@dataclass(frozen=True)
class Said:
    """An interaction as the card shows it: what was said, not the message that logged it."""

    happened_at: datetime
    kind: str
    member_id: int | None
    summary: str


# where a message that logs a call turns from whom it was with to what was said
LEAD_IN = re.compile(r"\s*[,;:—–]\s*|\s+-\s+|\s*[，；：]\s*")
NAME_STEM = 4  # a name inflected keeps this much of itself ("Novákovi", "Kučerové")


def _as_said(interaction: models.Interaction, customer: models.Customer) -> Said:
    """"called jana novakova, wants a quote by friday" is shown as "Wants a quote by friday":
    the words before the first comma (or colon, dash) that name the customer are how the call
    was logged, not what was said on it."""
    summary = interaction.summary or ""
    head, sep, rest = _split_once(summary)
    if sep and rest.strip() and _names(head, customer):
        rest = rest.strip()
        summary = rest[:1].upper() + rest[1:]
    return Said(interaction.happened_at, interaction.kind, interaction.member_id, summary)


def _split_once(text: str) -> tuple[str, str, str]:
    match = LEAD_IN.search(text)
    return (text[:match.start()], match.group(0), text[match.end():]) if match else (text, "", "")


def _names(head: str, customer: models.Customer) -> bool:
    said = fold(head)
    name = fold(customer.name)
    if has_cjk(name):
        return name in said
    heard = words(said)
    return any(h.startswith(n[:NAME_STEM]) for n in words(name) if len(n) >= 3 for h in heard)


@router.intent("find_customer")
async def find_customer(ctx: Context, intent: Intent) -> list[Reply]:
    customer = await ctx.customer(intent)
    if isinstance(customer, Asked):
        return customer.replies
    return [await card(ctx, customer)]


def split_contact(text: str, language: Language) -> tuple[str, str | None, list[str], list[str]]:
    """Name, company, e-mails and phones from "Jan Novák from Acme, jan@acme.cz, +420…"; the
    words before the name and before the company are the language's `[new_customer]`."""
    words = language.data.get("new_customer", {})
    text = text.translate(FULLWIDTH)
    emails = EMAIL.findall(text)
    rest = EMAIL.sub(" ", text)
    phones = [normalise_phone(p) for p in PHONE.findall(rest)]
    rest = PHONE.sub(" ", rest)
    lead_in = f"(?:{words['lead_in']})?" if "lead_in" in words else ""
    rest = re.sub(rf"^\s*(?:/\w+\s+)?{lead_in}\s*", "", rest, count=1, flags=re.IGNORECASE)
    rest = re.sub(r"\s*[,;]\s*(?=[,;]|$)", "", re.sub(r"\s+", " ", rest)).strip(" ,;:-")
    company = None
    head, _, tail = rest.partition(",")
    match = re.search(words["company"], head, re.IGNORECASE) if "company" in words else None
    if match:
        company = match.group("company").strip(" ,;")
        head = head[: match.start()]
    elif tail.strip():
        company = tail.strip(" ,;")
    return head.strip(" ,;:-"), company or None, emails, phones


@router.intent("add_customer")
async def add_customer(ctx: Context, intent: Intent) -> list[Reply]:
    if intent.slots.get("name"):
        name, company = intent.slots["name"], intent.slots.get("company")
        emails, phones = list(intent.slots.get("emails") or []), list(intent.slots.get("phones") or [])
    else:
        name, company, emails, phones = split_contact(intent.slots.get("text", ""), ctx.i18n.language(intent.locale))
    if not name or not re.search(r"[^\W\d_]", name):
        return [ctx.reply("add_customer_needs_name")]
    if len(name) > 200:
        return [ctx.reply("too_long")]
    if not intent.slots.get("confirmed"):
        # someone with this e-mail or phone, or a near name in the same company: ask, never a silent second record
        held = await duplicates.already_held(ctx, name, company, emails, phones)
        if held:
            slots = {**intent.slots, "name": name, "company": company, "emails": emails, "phones": phones}
            return await duplicates.ask(ctx, held, slots)
    row = models.Customer(
        team_id=ctx.team.id, name=name, company=company, emails=emails, phones=phones, owner_id=None,
        status="lead", created_at=ctx.now, updated_at=ctx.now, rev=0,
    )
    # the team's routing rules pick the owner (audited with the customer, so undone with it);
    # with no rule for them, whoever added them owns them
    routed = await routes.assignee_for(ctx.session, ctx.team.id, row)
    row.owner_id = routed or ctx.member.id
    customer = await ctx.create(row)
    assignee = (await records.members_by_id(ctx.session, ctx.team.id)).get(routed) if routed not in (None, ctx.member.id) else None
    if assignee is not None:
        await ctx.tell(assignee.id, "customer_assigned", customer=customer, adder=ctx.member)
    replies = [ctx.reply("customer_added", customer=customer, assignee=assignee)]
    replies += await auto_followups.follow_up(ctx, auto_followups.NEW_LEAD, customer, assignee or ctx.member)
    follow_on = intent.slots.get("then")
    if follow_on:
        then = Intent(follow_on, ctx.locale, {**slot_json.from_json(intent.slots.get("then_slots") or {}), "customer_id": customer.id})
        replies += await ctx.dispatch(then)
    return replies
