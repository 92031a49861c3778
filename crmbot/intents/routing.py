"""Routing rules set by chat (managers): "new leads from the web go to Bob", "complaints about
invoices go to Carol", "spread new leads between Bob and Dana", "show routing rules", "remove
rule 2". Nothing is stored before the manager presses the confirming button; what is stored is
audited and taken back with "undo", like `crmbot route add | remove` from the shell."""

from __future__ import annotations

import re
from typing import Any

from crmbot.i18n import Formats
from crmbot.intents import rule_words
from crmbot.intents.context import Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router
from crmbot.messages import Reply
from crmbot.store import models, records, routes, teams
from crmbot.text import fold

router = Router()
NUMBER = re.compile(r"\d+")


def view(ctx: Context, entity: str, conditions: list, assignees: list[int], round_robin: bool,
         members: dict[int, models.Member], rule_id: int | None = None) -> dict[str, Any]:
    """A rule as the templates show it, in the member's words: "New customers · source = web → Bob"."""
    f = Formats(ctx.i18n, ctx.locale, ctx.tz)

    def shown(name: str, value: str) -> str:
        if name == "status":
            return ctx.t(f"status.{value}")
        return f.country(value) if name == "country" else value

    return {"id": rule_id, "entity": entity, "names": [members[m].name for m in assignees if m in members],
            "conditions": [(ctx.t(f"route_field.{name}"), shown(name, value)) for name, value in conditions],
            "in_turn": round_robin and len(assignees) > 1}


def _slots(entity: str, conditions: list, assignees: list[int], round_robin: bool) -> dict[str, Any]:
    return {"entity": entity, "conditions": [list(c) for c in conditions], "assignees": list(assignees), "round_robin": round_robin}


@router.intent("route_add", role="manager")
async def route_add(ctx: Context, intent: Intent) -> list[Reply]:
    members = await records.members_by_id(ctx.session, ctx.team.id)
    slots = intent.slots
    if "assignees" not in slots:  # said in a sentence: read it
        said = rule_words.read(ctx.i18n.language(intent.locale), ctx.i18n.language("en"), slots.get("text", ""),
                               await teams.members_of(ctx.session, ctx.team.id),
                               await routes.known_values(ctx.session, ctx.team.id, "source"),
                               await routes.known_values(ctx.session, ctx.team.id, "company"))
        if not said.assignees:
            return [ctx.reply("route_who", members=[m for m in members.values() if m.active])]
        ids = [m.id for m in said.assignees]
        if said.unclear is not None:  # "from Acme": where they come from, or where they work?
            value, fields = said.unclear
            options = [(f"{ctx.t(f'route_field.{name}')} = {value}", "route_add",
                        _slots(said.entity, [*said.conditions, (name, value)], ids, said.round_robin)) for name in fields]
            buttons = await ctx.buttons([*options, (ctx.t("button.cancel"), "cancel", {})])
            return [ctx.reply("route_which_field", value=value, buttons=buttons)]
        slots = {**slots, **_slots(said.entity, said.conditions, ids, said.round_robin)}
    conditions = [(str(name), str(value)) for name, value in slots["conditions"]]
    assignees = [int(m) for m in slots["assignees"]]
    shown = view(ctx, slots["entity"], conditions, assignees, bool(slots["round_robin"]), members)
    if not slots.get("confirmed"):
        buttons = await ctx.buttons([
            (ctx.t("button.save_rule"), "route_add", {**_slots(slots["entity"], conditions, assignees, bool(slots["round_robin"])), "confirmed": True}),
            (ctx.t("button.cancel"), "cancel", {}),
        ])
        return [ctx.reply("route_confirm", rule=shown, buttons=buttons)]
    if any(m not in members or not members[m].active for m in assignees):
        # someone named left the team between the question and the press
        return [ctx.reply("route_who", members=[m for m in members.values() if m.active])]
    route = await routes.make(ctx.session, ctx.team.id, conditions, assignees, bool(slots["round_robin"]), ctx.now,
                              entity=slots["entity"])
    await ctx.create(route)
    return [ctx.reply("route_saved", rule={**shown, "id": route.id})]


@router.intent("route_list", role="manager")
async def route_list(ctx: Context, intent: Intent) -> list[Reply]:
    members = await records.members_by_id(ctx.session, ctx.team.id)
    rules = [view(ctx, r.entity, r.conditions, r.assignees, r.round_robin, members, r.id)
             for r in await routes.active(ctx.session, ctx.team.id)]
    return [ctx.reply("route_list", rules=rules)]


@router.intent("route_remove", role="manager")
async def route_remove(ctx: Context, intent: Intent) -> list[Reply]:
    chosen = intent.slots.get("route_id")
    if chosen is None:
        number = NUMBER.search(fold(intent.slots.get("text", "")))
        chosen = int(number.group(0)) if number else None
    route = await routes.get(ctx.session, ctx.team.id, int(chosen)) if chosen is not None and int(chosen) < 2**31 else None
    if route is None:
        return [ctx.reply("route_not_found", number=chosen)]
    members = await records.members_by_id(ctx.session, ctx.team.id)
    shown = view(ctx, route.entity, route.conditions, route.assignees, route.round_robin, members, route.id)
    if not intent.slots.get("confirmed"):
        buttons = await ctx.buttons([
            (ctx.t("button.remove_rule"), "route_remove", {"route_id": route.id, "confirmed": True}),
            (ctx.t("button.cancel"), "cancel", {}),
        ])
        return [ctx.reply("route_remove_confirm", rule=shown, buttons=buttons)]
    await ctx.update(route, deleted_at=ctx.now)
    return [ctx.reply("route_removed", rule=shown)]
