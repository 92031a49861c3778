""""What did I change": the member's latest changes from the audit trail, in the words undo
uses, each with a button that undoes that one change."""

from __future__ import annotations

from crmbot.intents.context import Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router
from crmbot.intents.undo import described
from crmbot.messages import Reply
from crmbot.store import audit

router = Router()

SHOWN = 8  # changes listed: a phone screen's worth


@router.intent("history")
async def history(ctx: Context, intent: Intent) -> list[Reply]:
    groups = await audit.recent_groups(ctx.session, ctx.team.id, ctx.member.id, SHOWN)
    if not groups:
        return [ctx.reply("history_empty")]
    items, options = [], []
    for number, entries in enumerate(groups, start=1):
        undoable = not any(e.action == "erase" for e in entries)
        items.append({**await described(ctx, entries), "number": number, "undoable": undoable})
        if undoable:
            options.append((ctx.t("button.undo_item", n=number), "undo", {"group_id": entries[0].group_id}))
    return [ctx.reply("history", items=items, buttons=await ctx.buttons(options) if options else ())]
