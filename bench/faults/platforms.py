"""The Telegram and Slack stand-ins (tests/standins) as the fault runs use them: started in the
harness process on 127.0.0.1:0, with the people the runs talk as, and read back afterwards for
what the platform accepted: replies to each user message and reminders, with their times."""

from __future__ import annotations

import re
from collections import defaultdict
from contextlib import AsyncExitStack
from dataclasses import dataclass

from tests.standins import SlackStandIn, TelegramStandIn

TELEGRAM_TOKEN = "4242:fault-run-token"
BOT_USERNAME = "crmbot_faults_bot"
WEBHOOK_SECRET = "fault-run-webhook-secret"
SLACK_TOKEN = "xoxb-fault-run"
SIGNING_SECRET = "fault-run-signing-secret"
WORKSPACE = "T0FAULTS"
# Each Telegram message is written in a group of its own: there answers quote the message they
# answer, and a group's 20-a-minute send limit (which crmbot's rate limiter keeps) never binds.
GROUPS = -1_009_000_000
CHANNEL = "C0FAULTS"  # the Slack channel the reps mention the bot in: answers go to its thread
REMINDER = "⏰ Reminder"  # how a reminder starts, as the member sees it (English)
# A record's or a reminder's unique token: digits, which the parser leaves out of a customer mention.
TOKEN = re.compile(r"(#[89]\d{8})\b")


@dataclass(frozen=True)
class Sent:
    """A message the platform accepted from crmbot."""

    at: float  # time.time()
    text: str  # as the user sees it
    answers: str | None  # the user message it answers (Telegram message id or Slack ts), if any


class Platforms:
    """Both stand-ins for one scenario: `async with Platforms() as p:`; `p.env()` configures crmbot."""

    def __init__(self) -> None:
        self.telegram = TelegramStandIn(token=TELEGRAM_TOKEN, bot_username=BOT_USERNAME, max_poll_seconds=2.0)
        self.slack = SlackStandIn(token=SLACK_TOKEN, team_id=WORKSPACE)
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Platforms:
        await self._stack.enter_async_context(self.telegram)
        await self._stack.enter_async_context(self.slack)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    def env(self) -> dict[str, str]:
        return {
            "CRMBOT_TELEGRAM_TOKEN": TELEGRAM_TOKEN,
            "CRMBOT_TELEGRAM_API_URL": self.telegram.base_url,
            "CRMBOT_SLACK_BOT_TOKEN": SLACK_TOKEN,
            "CRMBOT_SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "CRMBOT_SLACK_API_URL": self.slack.base_url,
        }

    def outage(self, seconds: float, **trouble) -> None:
        """Both platforms' Web APIs misbehave the same way for `seconds` (see StandInServer.outage)."""
        self.telegram.outage(seconds, **trouble)
        self.slack.outage(seconds, **trouble)

    # -- what was accepted ---------------------------------------------------------------------

    def sent(self) -> list[Sent]:
        """Every message the platforms accepted, oldest first."""
        found = []
        for answer in self.telegram.answers:
            if answer.method.lower() == "sendmessage" and answer.status == 200:
                message = answer.json()["result"]
                quoted = (message.get("reply_to_message") or {}).get("message_id")
                found.append(Sent(answer.at, message.get("text", ""), None if quoted is None else str(quoted)))
        for answer in self.slack.answers:
            if answer.method == "chat.postMessage" and answer.status == 200:
                message = answer.json()["message"]
                found.append(Sent(answer.at, message.get("text", ""), message.get("thread_ts")))
        return sorted(found, key=lambda s: s.at)

    def reminders_sent(self) -> dict[str, list[float]]:
        """Reminder token -> the times the platform accepted a reminder carrying it."""
        times: dict[str, list[float]] = defaultdict(list)
        for sent in self.sent():
            if sent.text.startswith(REMINDER):
                for token in set(TOKEN.findall(sent.text)):
                    times[token].append(sent.at)
        return times

    def replies(self) -> dict[str, list[float]]:
        """User message (Telegram message id or Slack ts) -> the times replies to it were accepted."""
        times: dict[str, list[float]] = defaultdict(list)
        for sent in self.sent():
            if sent.answers is not None and not sent.text.startswith(REMINDER):
                times[sent.answers].append(sent.at)
        return times


