"""Mail into the CRM: a member copies crmbot (BCC) or forwards a mail, and it is logged as an
e-mail interaction on every customer whose address it carries.

The sender must be a member (`crmbot member add NAME --email ADDRESS`); mail from anyone else
stores nothing. One mail is one transaction: it is logged whole or not at all, and a Message-ID
seen before is not logged again. Addresses crmbot does not know are put to the member as a
question in their chat, with a button per person to add them as a customer.
"""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from charset_normalizer import from_bytes

from crmbot.i18n import I18n
from crmbot.intents import reach
from crmbot.intents.context import offer
from crmbot.messages import ChatRef, Reply
from crmbot.store import Session, changes, customers, models, records, teams
from crmbot.store.audit import Actor
from crmbot.store.db import Database
from crmbot.store.faults import describe, is_transient

ADAPTER = "email"
MAX_LOOP_HOPS = 30  # more Received headers than this: a mail loop, refused
MAX_CUSTOMERS = 50  # customers one mail is logged on
MAX_QUESTIONS = 5  # unknown people asked about per mail
FIRST_LINES, MAX_SUMMARY = 3, 500
DETECT_BYTES = 64 * 1024  # of a body whose charset is wrong, what its encoding is guessed from
ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
# where a forwarded mail's own headers begin (Gmail, Outlook, Apple Mail, Thunderbird)
FORWARD_MARK = re.compile(r"^-{2,}\s*(?:Forwarded message|Original Message|Weitergeleitete Nachricht|"
                          r"Přeposlaná zpráva|Posredovano sporočilo|转发的邮件|Neges wedi'i hanfon ymlaen)|^Begin forwarded message:",
                          re.I | re.M)
FORWARD_PREFIX = re.compile(r"^(?:(?:fwd?|fw|wg|tr|vs|rv|i|přeposlat|转发)\s*:\s*)+", re.I)  # "Fwd: ", "FW: ", "WG: "…
QUOTE_INTRO = re.compile(r"^(?:On .+ wrote:|Dne .+ napsal\(a\):|.+ je napisal\(a\):|.+写道：)\s*$", re.M)


class TryLater(Exception):
    """The store cannot take the mail now (unavailable, locked, full): the sending server keeps
    it and tries again, as SMTP servers do."""


class Unreadable(Exception):
    """Not a mail crmbot can read: refused whole."""


class Looping(Exception):
    """A mail that has gone round too many servers."""


def authenticated(message: EmailMessage, sender: str) -> bool:
    """Whether the receiving mail server vouched for the From address: its (topmost)
    Authentication-Results says dmarc=pass, or dkim=pass signed by the From's own domain.
    A From header alone proves nothing: anyone can write one."""
    results = message.get_all("Authentication-Results") or ()
    if not results:
        return False
    verdict = " ".join(str(results[0]).lower().split())
    domain = sender.rpartition("@")[2]
    if re.search(r"\bdmarc=pass\b", verdict) and re.search(rf"header\.from={re.escape(domain)}\b", verdict):
        return True
    return any(re.search(rf"header\.d=(?:[\w-]+\.)*{re.escape(domain)}\b", part)
               for part in verdict.split(";") if re.search(r"\bdkim=pass\b", part))


@dataclass(frozen=True)
class Mail:
    message_id: str
    sender: str  # the From address, lower case
    authenticated: bool  # the receiving server vouched for `sender` (see `authenticated`)
    subject: str
    sent_at: datetime | None
    people: dict[str, str]  # address -> display name, of From/To/Cc and a forwarded mail's headers
    lines: list[str]  # the first lines of the body: quotes and signature trimmed
    attachments: list[str]

    def summary(self) -> str:
        parts = [self.subject or "(no subject)"]
        if self.lines:
            parts.append(" ".join(self.lines))
        text = " — ".join(parts)
        if self.attachments:
            text += " 📎 " + ", ".join(self.attachments)
        return text[:MAX_SUMMARY]


@dataclass
class Taken:
    """What became of a mail: logged on how many customers, or why not; and the questions for
    members' chats (sent after the commit)."""

    status: str  # "logged", "not_a_member", "unauthenticated", "duplicate"
    logged: int = 0
    questions: list[tuple[ChatRef, list[Reply]]] = field(default_factory=list)


def read(raw: bytes) -> Mail:
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        if len(message.get_all("Received") or ()) > MAX_LOOP_HOPS:
            raise Looping("too many Received headers")
        sender = _addresses(message, "From")
        if not sender:
            raise Unreadable("no From address")
        body = _body(message)
        people = {address: name for address, name in _pairs(message, "From", "To", "Cc")}
        forwarded = FORWARD_MARK.search(body)
        if forwarded:  # the forwarded mail's own From/To/Cc, as the mail program wrote them
            for line in body[forwarded.end():].splitlines()[:12]:
                if re.match(r"^\s*(?:From|To|Cc|Od|Komu|Kopie|Von|An|Od|Za|发件人|收件人|抄送)\s*[:：]", line, re.I):
                    for name, address in getaddresses([line.split(":", 1)[-1].split("：", 1)[-1]]):
                        if ADDRESS.fullmatch(address):
                            people.setdefault(address.lower(), name.strip())
        return Mail(
            message_id=(message.get("Message-ID") or "").strip() or _fallback_id(raw),
            sender=sender[0], authenticated=authenticated(message, sender[0]), subject=FORWARD_PREFIX.sub("", _clean(str(message.get("Subject") or ""))),
            sent_at=_date(message), people=people, lines=_first_lines(body, forwarded),
            attachments=[_clean(part.get_filename() or "") for part in message.iter_attachments() if part.get_filename()],
        )
    except (Looping, Unreadable):
        raise
    except Exception as error:  # a header or part the library could not make sense of
        raise Unreadable(f"{type(error).__name__}: {error}") from error


async def receive(db: Database, i18n: I18n, raw: bytes, now: datetime, platforms: set[str],
                  own_addresses: set[str] = frozenset(), *, trust_from: bool = False) -> Taken:
    """Read and log one mail in its own transaction. Raises Unreadable or Looping (refuse it
    for good) or TryLater (refuse it for now). Unless `trust_from` (a server that takes mail
    only from its own signed-in users), the From address must be vouched for."""
    mail = read(raw)
    if not (mail.authenticated or trust_from):
        return Taken("unauthenticated")
    try:
        async with db.sessions() as session, session.begin():
            return await take(session, i18n, mail, now, platforms, {a.lower() for a in own_addresses})
    except Exception as error:
        if is_transient(error):
            raise TryLater(describe(error)) from error
        raise


async def take(session: Session, i18n: I18n, mail: Mail, now: datetime, platforms: set[str],
               own_addresses: set[str] = frozenset()) -> Taken:
    """Log `mail` for the members who sent it (one per team they belong to), in `session`'s
    transaction; the caller commits, then sends the questions."""
    members = await teams.members_with_email(session, mail.sender)
    if not members:
        return Taken("not_a_member")
    if not await records.mark_processed(session, ADAPTER, mail.message_id[:200], now):
        return Taken("duplicate")
    taken = Taken("logged")
    for member in members:
        actor = Actor(member.team_id, member.id, ADAPTER, uuid.uuid4().hex)
        colleagues = {m.email for m in await teams.members_of(session, member.team_id) if m.email}
        others = {a for a in mail.people if a not in colleagues and a not in own_addresses}
        known = await customers.with_emails(session, member.team_id, others)
        logged = {c.id: c for found in known.values() for c in found}
        for customer in list(logged.values())[:MAX_CUSTOMERS]:
            await changes.create(session, actor, now, models.Interaction(
                team_id=member.team_id, customer_id=customer.id, member_id=member.id, kind="email",
                summary=mail.summary(), happened_at=min(mail.sent_at or now, now), created_at=now))
        taken.logged += min(len(logged), MAX_CUSTOMERS)
        unknown = sorted(others - set(known))[:MAX_QUESTIONS]
        chat = (await reach.chats_for(session, {member.id}, platforms)).get(member.id)
        if unknown and chat is not None:
            taken.questions.append((chat, [_question(i18n, session, member, mail, unknown, now)]))
    return taken


def _question(i18n: I18n, session: Session, member: models.Member, mail: Mail, unknown: list[str], now: datetime) -> Reply:
    options = [(f"＋ {mail.people.get(a) or a}", "add_customer", {"name": mail.people.get(a) or _name_of(a), "emails": [a]})
               for a in unknown]
    buttons = offer(session, member, now, [*options, (i18n.string(member.locale, "button.cancel"), "cancel", {})])
    people = [f"{mail.people[a]} <{a}>" if mail.people.get(a) else a for a in unknown]
    text = i18n.render(member.locale, "mail_unknown", member.timezone, subject=mail.subject, people=people)
    return Reply(text, buttons=buttons, kind="mail_unknown", team_id=member.team_id)


# -- reading a mail -----------------------------------------------------------------------------


def _pairs(message: EmailMessage, *headers: str) -> list[tuple[str, str]]:
    values = [str(v) for h in headers for v in message.get_all(h) or ()]
    return [(address.lower(), _clean(name)) for name, address in getaddresses(values) if ADDRESS.fullmatch(address)]


def _addresses(message: EmailMessage, header: str) -> list[str]:
    return [address for address, _ in _pairs(message, header)]


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = _decoded(part)
    if part.get_content_subtype() == "html":
        text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S | re.I)
        text = re.sub(r"<br\s*/?>|</p>|</div>", "\n", text, flags=re.I)
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return text


def _decoded(part: EmailMessage) -> str:
    """A text part's words: in its declared charset when its bytes are that, else UTF-8, else
    what the bytes look like (a mail program that declared us-ascii and wrote cp1250, or named a
    charset nobody knows). Never a run of replacement characters where the words were readable."""
    data = part.get_payload(decode=True) or b""
    for encoding in (part.get_content_charset() or "us-ascii", "utf-8"):
        try:
            return _lf(data.decode(encoding))
        except (LookupError, UnicodeError):
            continue
    best = from_bytes(data[:DETECT_BYTES]).best()
    return _lf(data.decode(best.encoding if best is not None else "utf-8", "replace"))


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _first_lines(body: str, forwarded: re.Match | None) -> list[str]:
    """The first lines of what was said, quotes and signature trimmed; for a forwarded mail, the
    member's own note (if any) and then the forwarded mail's words, after its header block."""
    if not forwarded:
        return _lines(body, FIRST_LINES)
    mine = _lines(body[:forwarded.start()], FIRST_LINES)
    rest = body[forwarded.end():].split("\n\n", 1)
    theirs = _lines(rest[1], FIRST_LINES - len(mine)) if len(rest) > 1 and len(mine) < FIRST_LINES else []
    return mine + theirs


def _lines(body: str, wanted: int) -> list[str]:
    lines: list[str] = []
    for line in body.splitlines():
        if len(lines) >= wanted:
            break
        if line.rstrip() in ("--", "-- ") or QUOTE_INTRO.match(line) or FORWARD_MARK.match(line):
            break  # a signature, or the quoted mail this one answers
        line = _clean(line)
        if line and not line.startswith(">"):
            lines.append(line)
    return lines


def _date(message: EmailMessage) -> datetime | None:
    try:
        sent = parsedate_to_datetime(str(message.get("Date")))
    except (TypeError, ValueError, IndexError):
        return None
    return sent if sent.tzinfo is not None else None


def _clean(text: str) -> str:
    return " ".join("".join(ch for ch in text if ch.isprintable() or ch == " ").split())


def _name_of(address: str) -> str:
    """"jan.novak@acme.cz" -> "Jan Novak": a name to start from when the mail gave none."""
    return " ".join(part.capitalize() for part in re.split(r"[._-]+", address.split("@")[0]) if part) or address


def _fallback_id(raw: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(raw).hexdigest()
