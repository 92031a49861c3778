"""Team settings a manager changes from a chat."""

from __future__ import annotations

from crmbot.intents.context import Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router
from crmbot.messages import Reply

router = Router()
OFF_WORDS = {"off", "stop", "none", "vypnout", "izklopi", "关闭", "diffodd", "söndür"}


@router.intent("notify_here", role="manager")
async def notify_here(ctx: Context, intent: Intent) -> list[Reply]:
    """`/notify here` makes this chat receive deal won/lost and new-complaint announcements."""
    settings = dict(ctx.team.settings or {})
    if (intent.slots.get("text") or "").strip().lower() in OFF_WORDS:
        settings.pop("notify", None)
        await ctx.update(ctx.team, settings=settings)
        return [ctx.reply("notify_off")]
    settings["notify"] = {"adapter": ctx.chat.adapter, "chat_id": ctx.chat.chat_id, "thread": ctx.chat.thread}
    await ctx.update(ctx.team, settings=settings)
    return [ctx.reply("notify_on")]
