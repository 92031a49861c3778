"""What a reminder says and which buttons it carries, in the member's language.

Buttons are stored `Choice` rows, as the bot's own buttons are: pressing one runs its intent
as the member through `Bot.handle`. Done and the snoozes form one set (using one spends the
others); Open customer is a set of its own so it still works after a snooze.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crmbot.i18n import I18n
from crmbot.messages import Button, Reply
from crmbot.store import models


LABELS = ("button.done", "button.snooze_1h", "button.snooze_tomorrow", "button.snooze_week", "button.open")


@dataclass
class ChoiceMaker:
    """Collects the Choice rows of many messages, to insert them in one statement; the buttons'
    labels are looked up once per language for all of them."""

    now: datetime
    rows: list[dict[str, Any]]
    _labels: dict[str, dict[str, str]] = field(default_factory=dict)
    _random: bytes = b""
    _used: int = 0

    def labels(self, i18n: I18n, code: str) -> dict[str, str]:
        found = self._labels.get(code)
        if found is None:
            found = self._labels[code] = {key: i18n.string(code, key) for key in LABELS}
        return found

    def _bytes(self, size: int) -> bytes:
        """`size` random bytes from the OS, read in blocks of many tokens (a system call a token
        cost more than the rest of a button)."""
        if self._used + size > len(self._random):
            self._random, self._used = secrets.token_bytes(max(size, 4096)), 0
        self._used += size
        return self._random[self._used - size:self._used]

    def buttons(self, member: models.Member, options: list[tuple[str, str, dict[str, Any]]]) -> tuple[Button, ...]:
        set_id = self._bytes(8).hex()  # as secrets.token_hex(8)
        made = []
        for label, intent, slots in options:
            token = base64.urlsafe_b64encode(self._bytes(12)).decode("ascii")  # as secrets.token_urlsafe(12)
            self.rows.append(dict(token=token, set_id=set_id, team_id=member.team_id, member_id=member.id, intent=intent,
                                  slots=slots, label=label[:200], created_at=self.now, used_at=None))
            made.append(Button(label=label, action=f"c:{token}"))
        return tuple(made)


def reminder(i18n: I18n, choices: ChoiceMaker, member: models.Member, followup: Any,
             customer: models.Customer | None, *, late: bool) -> Reply:
    """`followup`: the follow-up's row (an ORM object or a row read with its table's columns)."""
    code = member.locale
    t = choices.labels(i18n, code)
    fid = {"followup_id": followup.id}
    buttons = choices.buttons(member, [
        (t["button.done"], "followup_done", fid),
        (t["button.snooze_1h"], "followup_snooze", {**fid, "how": "1h"}),
        (t["button.snooze_tomorrow"], "followup_snooze", {**fid, "how": "tomorrow"}),
        (t["button.snooze_week"], "followup_snooze", {**fid, "how": "week"}),
    ])
    if customer is not None:
        buttons += choices.buttons(member, [(t["button.open"], "find_customer", {"customer_id": customer.id})])
    text = i18n.render(code, "reminder", member.timezone, followup=followup, customer=customer, late=late)
    return Reply(text, buttons=buttons)
