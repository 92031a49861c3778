"""SlackSender: delivery to Slack chats for replies, announcements and reminders.

The Web API client retries what Slack failed to take: a dropped connection, a 500 or 503, and
a 429 whose Retry-After is short enough to wait for in line (a longer one becomes
DeliveryFailed(retry_after), and the reply is kept and sent later by the reminder loop).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from crmbot.adapters.slack.blocks import NAME, fallback_text, reply_blocks
from crmbot.messages import (
    ChatRef,
    DeliveryFailed,
    Reply,
)

log = logging.getLogger(__name__)

SEND_RETRIES = 2
LONGEST_INLINE_WAIT = 5.0  # seconds of Retry-After worth waiting for while a member waits


# Errors after which retrying the same message cannot help.
PERMANENT = frozenset({
    "channel_not_found", "is_archived", "not_in_channel", "account_inactive", "invalid_auth",
    "token_revoked", "not_authed", "user_not_found", "user_disabled", "cannot_dm_bot",
    "restricted_action", "msg_too_long", "invalid_blocks", "no_text", "ekm_access_denied",
})


def _header(headers: Any, name: str) -> str | None:
    for key, value in dict(headers or {}).items():
        if key.lower() == name.lower():
            return value[0] if isinstance(value, list) else value
    return None


class ShortRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler waits whatever Retry-After says; this one only when it is short."""

    async def _can_retry_async(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                               error: Exception | None = None) -> bool:
        if not await super()._can_retry_async(state=state, request=request, response=response, error=error):
            return False
        after = _header(response.headers, "Retry-After")
        try:
            return float(after or 1) <= LONGEST_INLINE_WAIT
        except ValueError:
            return False


def retry_handlers() -> list[AsyncRetryHandler]:
    return [AsyncConnectionErrorRetryHandler(max_retry_count=SEND_RETRIES),
            AsyncServerErrorRetryHandler(max_retry_count=SEND_RETRIES),
            ShortRateLimitRetryHandler(max_retry_count=SEND_RETRIES)]


def web_client(token: str | None, api_url: str, timeout: float) -> AsyncWebClient:
    """The Web API client, with a timeout longer than Slack's slowest answer (a send cut short
    may have been taken, and would be sent again) and the retries above."""
    return AsyncWebClient(token=token, base_url=api_url, timeout=int(timeout), retry_handlers=retry_handlers())


def delivery_failed(error: Exception) -> DeliveryFailed:
    """A slack_sdk error as the core's DeliveryFailed: rate limits carry Retry-After."""
    if isinstance(error, SlackApiError):
        response = error.response
        code = response.get("error") or "unknown_error"
        if response.status_code == 429 or code == "ratelimited":
            after = _header(response.headers, "Retry-After")
            try:
                seconds = float(after) if after else 1.0
            except ValueError:
                seconds = 1.0
            return DeliveryFailed("ratelimited", retry_after=seconds)
        return DeliveryFailed(code, permanent=code in PERMANENT)
    return DeliveryFailed(f"{type(error).__name__}: {error}")


class SlackSender:
    """Posts replies to a Slack conversation (a channel id, or a user id for their DM)."""

    name = NAME

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self.on_close: Callable[[], Awaitable[None]] | None = None  # the adapter's stop(), for the server

    async def close(self) -> None:
        if self.on_close is not None:
            await self.on_close()

    async def send(self, chat: ChatRef, replies: list[Reply], *, user: str | None = None) -> None:
        """Post replies in order; an ephemeral one is shown to `user` only, when given."""
        try:
            for reply in replies:
                await self.post(chat.chat_id, reply, thread_ts=chat.thread, user=user)
        except (SlackApiError, SlackClientError, ClientError, asyncio.TimeoutError) as error:
            raise delivery_failed(error) from error

    async def post(self, channel: str, reply: Reply, *, thread_ts: str | None = None, user: str | None = None) -> None:
        """One reply: a message with blocks (ephemeral when asked and a user is known), then
        its chart, if any, as a file upload in the same conversation."""
        if reply.text.strip() or reply.buttons or reply.card:
            args: dict[str, Any] = {"channel": channel, "text": fallback_text(reply), "blocks": reply_blocks(reply)}
            if thread_ts:
                args["thread_ts"] = thread_ts
            if reply.ephemeral and user:
                await self.client.chat_postEphemeral(user=user, **args)
            else:
                await self.client.chat_postMessage(**args, unfurl_links=False, unfurl_media=False)
        if reply.image is not None:
            await self.upload(channel, reply, thread_ts=thread_ts)

    async def upload(self, channel: str, reply: Reply, *, thread_ts: str | None = None) -> None:
        if channel[:1] in ("U", "W"):
            # uploads need a conversation id, not a user id
            opened = await self.client.conversations_open(users=channel)
            channel = opened["channel"]["id"]
        image = reply.image
        args: dict[str, Any] = {"channel": channel, "file": image.data, "filename": image.filename, "title": image.filename}
        if image.alt:
            args["alt_txt"] = image.alt[:1000]  # Slack's limit for an image's alt text
        if thread_ts:
            args["thread_ts"] = thread_ts
        await self.client.files_upload_v2(**args)
