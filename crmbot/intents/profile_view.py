"""How a customer's details and profile read in a member's language: the labels and values that
the card, the change replies and undo show."""

from __future__ import annotations

from typing import Any

import phonenumbers

from crmbot.i18n import Formats
from crmbot.intents.context import Context
from crmbot.store import models

# the order the card shows a profile in
ORDER = {kind: i for i, kind in enumerate(models.PROFILE_KINDS)}


def formats(ctx: Context) -> Formats:
    return Formats(ctx.i18n, ctx.locale, ctx.tz)


def label(ctx: Context, key: str, fallback: str | None = None) -> str:
    """A label from strings.toml; `fallback` (else the key's last part) when it has none: a
    channel imported from a file ("Signal") is shown as it was written."""
    found = ctx.t(key)
    return found if found != key else (fallback if fallback is not None else key.rsplit(".", 1)[-1])


def phone(value: str) -> str:
    """A stored number as people read it: "+420 777 999 888"."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def channel(ctx: Context, value: str | None) -> str | None:
    return label(ctx, f"channel.{value}", value) if value else None


def field_value(ctx: Context, field: str, value: Any) -> str | None:
    """A customer column's value as shown: a status or channel in words, a number spaced."""
    if value in (None, "", []):
        return None
    if field == "status":
        return label(ctx, f"status.{value}", value)
    if field == "preferred_channel":
        return channel(ctx, value)
    if field == "phones":
        return ", ".join(phone(p) for p in value)
    if field == "emails":
        return ", ".join(value)
    return str(value)


def fact_label(ctx: Context, fact: models.CustomerFact | Any) -> str:
    """"Birthday", "Wedding anniversary", "Wife", "Hobby", "Member of"."""
    if fact.kind == "family":
        relation = label(ctx, f"relation.{fact.detail}")
        return relation[:1].upper() + relation[1:]
    if fact.kind == "anniversary":
        return label(ctx, f"occasion.{fact.detail or 'other'}")
    return label(ctx, f"profile.{fact.kind}")


def occasion_word(ctx: Context, kind: str, detail: str) -> str:
    """A birthday or an anniversary as it reads inside a sentence: "birthday", "wedding anniversary"."""
    return label(ctx, "occasion_word.birthday" if kind == "birthday" else f"occasion_word.{detail or 'other'}")


def fact_value(ctx: Context, fact: models.CustomerFact | Any) -> str:
    """"12 March 1980", "Marie", "golf"."""
    if fact.kind in models.DATED_KINDS:
        if fact.month is None or fact.day is None:
            return "—"
        return formats(ctx).yearly_day(fact.month, fact.day, fact.year)
    return fact.value


def profile_lines(ctx: Context, facts: list[models.CustomerFact]) -> list[tuple[str, str]]:
    """The card's profile: one (label, value) line per kind, family members and hobbies
    joined on one line each."""
    lines: list[tuple[str, str]] = []
    grouped: dict[str, list[models.CustomerFact]] = {}
    for fact in sorted(facts, key=lambda f: (ORDER.get(f.kind, 99), f.id)):
        grouped.setdefault(fact.kind, []).append(fact)
    f = formats(ctx)
    for kind, group in grouped.items():
        if kind in ("hobby", "membership"):
            lines.append((label(ctx, "profile.hobbies" if kind == "hobby" else "profile.memberships"), f.list(g.value for g in group)))
        elif kind == "family":
            people = (f"{g.value}{f.paren(label(ctx, f'relation.{g.detail}'))}" for g in group)
            lines.append((label(ctx, "profile.family"), f.list(people)))
        else:
            lines.extend((fact_label(ctx, g), fact_value(ctx, g)) for g in group)
    return lines
