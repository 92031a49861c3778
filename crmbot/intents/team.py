"""Team settings a manager changes from a chat."""

from __future__ import annotations

from crmbot.intents.context import Asked, Context
from crmbot.intents.lists import names_first
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router
from crmbot.messages import Reply
from crmbot.store import teams
from crmbot.text import fold, has_cjk, words

router = Router()


@router.intent("notify_here", role="manager")
async def notify_here(ctx: Context, intent: Intent) -> list[Reply]:
    """`/notify here` makes this chat receive deal won/lost and new-complaint announcements."""
    settings = dict(ctx.team.settings or {})
    if (intent.slots.get("text") or "").strip().lower() in ctx.i18n.words("notify.off"):
        settings.pop("notify", None)
        await ctx.update(ctx.team, settings=settings)
        return [ctx.reply("notify_off")]
    settings["notify"] = {"adapter": ctx.chat.adapter, "chat_id": ctx.chat.chat_id, "thread": ctx.chat.thread}
    await ctx.update(ctx.team, settings=settings)
    return [ctx.reply("notify_on")]


@router.intent("reassign", role="manager")
async def reassign(ctx: Context, intent: Intent) -> list[Reply]:
    """"assign novak to bob": the member named in the message becomes the customer's owner."""
    said = fold(intent.slots.get("text", ""))
    words_said = set(words(said))
    members = await teams.members_of(ctx.session, ctx.team.id)
    # a member named in full first ("give alicia to bob" names Bob, not Alice)
    named = [m for m in members if set(words(fold(m.name))) <= words_said] or [m for m in members if _named(m, said, words_said)]
    if len(named) != 1:
        return [ctx.reply("reassign_who", members=members)]
    owner = named[0]
    name = words(fold(owner.name))
    mention = " ".join(w for w in intent.mention.split() if w not in set(name) and not (name and names_first(name[0], w)))
    customer = await ctx.customer(Intent(intent.name, intent.locale, {**intent.slots, "mention": mention}))
    if isinstance(customer, Asked):
        return customer.replies
    previous = next((m for m in members if m.id == customer.owner_id), None)
    await ctx.update(customer, owner_id=owner.id)
    return [ctx.reply("reassigned", customer=customer, owner=owner, previous=previous)]


def _named(member, said: str, words_said: set[str]) -> bool:
    """Whether a message names this member: every word of their name, or their first name as the
    language inflects it ("předej Kučerovou Bobovi"), or, in Chinese written without spaces,
    their name inside the text ("把王芳交给Bob")."""
    name = words(fold(member.name))
    if not name:
        return False
    if set(name) <= words_said or any(names_first(name[0], w) for w in words_said):
        return True
    return has_cjk(said) and fold(member.name) in said
