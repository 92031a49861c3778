"""Mail intake over SMTP (aiosmtpd), in the bot's own event loop: `crmbot run --email`.

The answer to DATA is given only after the mail's transaction committed: 250 when it was
logged (or seen before), 550 when the sender is not a member, 554 for a mail that cannot be
read or loops, 451 when the store cannot take it now, so the sending server tries again later
and nothing is lost. Mail over the size limit is refused by aiosmtpd itself (552) before it is
stored anywhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiosmtpd.smtp import SMTP, Envelope, Session

from crmbot import mail_intake
from crmbot.messages import ChatRef, Reply

# one mail's bytes and the addresses it was sent to (crmbot's own) -> what became of it
Receive = Callable[[bytes, set[str]], Awaitable[mail_intake.Taken]]
Deliver = Callable[[ChatRef, list[Reply]], Awaitable[None]]

log = logging.getLogger(__name__)

ANSWERS = {
    "logged": "250 OK: logged",
    "duplicate": "250 OK: seen before",
    "not_a_member": "550 5.7.1 the sender is not a crmbot member",
    "unauthenticated": "550 5.7.26 the sender's address is not vouched for (no DKIM or DMARC pass)",
}


class MailHandler:
    """aiosmtpd's handler: one mail in, one answer out."""

    def __init__(self, receive: Receive, deliver: Deliver) -> None:
        self.receive, self.deliver = receive, deliver

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            taken = await self.receive(raw, set(envelope.rcpt_tos))
        except mail_intake.Looping:
            log.warning("a mail that went round too many servers was refused")
            return "554 5.4.6 mail loop"
        except mail_intake.Unreadable as error:
            log.warning("an unreadable mail was refused: %s", error)
            return "554 5.6.0 not a mail crmbot can read"
        except mail_intake.TryLater as error:
            log.warning("a mail could not be stored now, the sender will try again: %s", error)
            return "451 4.3.0 try again later"
        except Exception:
            log.exception("a mail could not be handled")
            return "451 4.3.0 try again later"
        if taken.status in ("not_a_member", "unauthenticated"):
            log.info("a mail was refused: %s", taken.status.replace("_", " "))
        for chat, replies in taken.questions:
            try:  # the mail is logged: nothing here may turn that into a bounce
                await self.deliver(chat, replies)  # kept and sent later when the platform is away
            except Exception:
                log.exception("a question about a logged mail could not be sent")
        return ANSWERS[taken.status]


class MailServer:
    """The SMTP listener, on `host:port` (port 0: any free port, for tests)."""

    def __init__(self, handler: MailHandler, host: str, port: int, max_bytes: int) -> None:
        self.handler, self.host, self.port, self.max_bytes = handler, host, port, max_bytes
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        handler = self.handler
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(handler, data_size_limit=self.max_bytes, enable_SMTPUTF8=True, hostname="crmbot"),
            self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("mail intake listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
