"""Who may change what: a rep changes the customers and deals that are theirs or nobody's;
managers and admins change everything of their team's."""

from __future__ import annotations

from crmbot.intents.router import allowed
from crmbot.store import models


def may_change(member: models.Member, owner_id: int | None) -> bool:
    return allowed(member.role, "manager") or owner_id is None or owner_id == member.id


def may_change_customer(member: models.Member, customer: models.Customer) -> bool:
    return may_change(member, customer.owner_id)


def may_change_deal(member: models.Member, deal: models.Deal) -> bool:
    return may_change(member, deal.owner_id)
