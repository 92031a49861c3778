"""Which chat reaches a member: one rule for what a change tells a colleague, reminders,
digests and questions about a member's mail."""

from __future__ import annotations

from collections.abc import Collection, Iterable

from crmbot.messages import ChatRef
from crmbot.store import Session, models, teams

# where a member is reached when they have several chats, most direct first
PREFERENCE = ("telegram", "slack", "console")


def pick_chat(identities: Iterable[models.Identity], platforms: Collection[str] | None = None) -> ChatRef | None:
    """The member's most direct chat among `platforms` (any platform when None)."""
    usable = [i for i in identities if i.chat_id and (platforms is None or i.platform in platforms)]
    usable.sort(key=lambda i: (PREFERENCE.index(i.platform) if i.platform in PREFERENCE else len(PREFERENCE), i.id))
    return ChatRef(usable[0].platform, usable[0].chat_id) if usable else None


async def chats_for(session: Session, member_ids: Collection[int], platforms: Collection[str] | None = None) -> dict[int, ChatRef]:
    """Each member's chat (see `pick_chat`); members with none are left out."""
    found = await teams.identities_of_members(session, member_ids)
    chats = {member: pick_chat(identities, platforms) for member, identities in found.items()}
    return {member: chat for member, chat in chats.items() if chat is not None}
