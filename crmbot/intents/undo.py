"""Undo: reverse the member's last change, read from the audit trail."""

from __future__ import annotations

from crmbot.intents.context import Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router
from crmbot.messages import Reply
from crmbot.store import audit

router = Router()


@router.intent("undo")
async def undo(ctx: Context, intent: Intent) -> list[Reply]:
    entries = await audit.last_group(ctx.session, ctx.team.id, ctx.member.id)
    if not entries:
        return [ctx.reply("nothing_to_undo")]
    what = entries[-1]  # the first change of the group names the action best
    await audit.undo_group(ctx.session, ctx.actor, ctx.now, entries)
    return [ctx.reply("undone", entity=what.entity, action=what.action, at=what.at)]
