"""The ORM models. Every row belongs to a team; every query filters on `team_id`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from crmbot.store.types import UTCDateTime

ROLES = ("rep", "manager", "admin")
CUSTOMER_STATUSES = ("lead", "prospect", "customer", "churned")
INTERACTION_KINDS = ("call", "meeting", "email", "message", "note")
STAGES = ("lead", "qualified", "proposal", "negotiation", "won", "lost")
OPEN_STAGES = ("lead", "qualified", "proposal", "negotiation")
FOLLOWUP_STATES = ("pending", "done", "cancelled", "failed")
# the personal profile a CRM keeps beside contact details: days to remember, family, interests
PROFILE_KINDS = ("birthday", "anniversary", "family", "hobby", "membership")
DATED_KINDS = ("birthday", "anniversary")  # kinds that are a day of the year

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Bumped in every transaction that changes a customer: the fuzzy index compares it to
    # know when another process changed the team's customers.
    customer_rev: Mapped[int] = mapped_column(BigInteger, default=0)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("team_id", "name", name="uq_members_team_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="rep")
    locale: Mapped[str] = mapped_column(String(10), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    digest_time: Mapped[str] = mapped_column(String(5), default="08:30")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # the address they send mail from (lower case): mail copied to crmbot from it is theirs
    email: Mapped[str | None] = mapped_column(String(320), nullable=True, index=True)
    # the SHA-256 of the secret in their private calendar address (`crmbot calendar-url`)
    calendar_key: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Identity(Base):
    """A member as one platform knows them, and the chat where they can be reached."""

    __tablename__ = "identities"
    __table_args__ = (
        UniqueConstraint("platform", "workspace", "external_id", name="uq_identities_platform_user"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    workspace: Mapped[str] = mapped_column(String(64), default="")
    external_id: Mapped[str] = mapped_column(String(64))
    chat_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Invite(Base):
    __tablename__ = "invites"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_team_rev", "team_id", "rev"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    company: Mapped[str | None] = mapped_column(String(300), nullable=True)
    emails: Mapped[list] = mapped_column(JSON, default=list)
    phones: Mapped[list] = mapped_column(JSON, default=list)
    address: Mapped[str | None] = mapped_column(Text, nullable=True)
    website: Mapped[str | None] = mapped_column(String(300), nullable=True)
    preferred_channel: Mapped[str | None] = mapped_column(String(20), nullable=True)
    lead_source: Mapped[str | None] = mapped_column(String(100), nullable=True)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="lead")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # soft delete keeps undo possible; erased rows have their personal data wiped
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rev: Mapped[int] = mapped_column(BigInteger, default=0)

    owner: Mapped[Member | None] = relationship(lazy="raise")

    @property
    def display_name(self) -> str:
        return f"{self.name} ({self.company})" if self.company else self.name


class Interaction(Base):
    __tablename__ = "interactions"
    __table_args__ = (Index("ix_interactions_team_customer", "team_id", "customer_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(Text, default="")
    happened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Deal(Base):
    __tablename__ = "deals"
    __table_args__ = (Index("ix_deals_team_source", "team_id", "source_ref"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    title: Mapped[str] = mapped_column(String(300))
    # minor units (cents) keep money exact on both engines
    amount_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    stage: Mapped[str] = mapped_column(String(20), default="lead")
    expected_close: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lost_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    competitor: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # the id another app gave the deal ("record id:1234"), when it came in an import: importing
    # the same export again finds it by this
    source_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)

    @property
    def amount(self) -> Decimal | None:
        return None if self.amount_minor is None else Decimal(self.amount_minor) / 100


class DealStageChange(Base):
    __tablename__ = "deal_stage_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    from_stage: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_stage: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Complaint(Base):
    __tablename__ = "complaints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    text: Mapped[str] = mapped_column(Text)
    product: Mapped[str | None] = mapped_column(String(200), nullable=True)
    severity: Mapped[str] = mapped_column(String(10), default="normal")
    status: Mapped[str] = mapped_column(String(10), default="open")
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    # who deals with it (a routing rule's pick), apart from who reported it (member_id)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CustomerFact(Base):
    """One piece of a customer's personal profile: a birthday or an anniversary (a day of the
    year, with the year when it is known), a family member, a hobby or a membership. Kept in
    fields of their own, not as note text, so the card can show them and a day can be reminded
    every year."""

    __tablename__ = "customer_facts"
    __table_args__ = (Index("ix_customer_facts_team_customer", "team_id", "customer_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    kind: Mapped[str] = mapped_column(String(20))  # one of PROFILE_KINDS
    # a family member's relation ("wife"), an anniversary's occasion ("wedding"); else empty
    detail: Mapped[str] = mapped_column(String(40), default="")
    # a family member's name, a hobby, a club; empty for a birthday
    value: Mapped[str] = mapped_column(String(300), default="")
    month: Mapped[int | None] = mapped_column(Integer, nullable=True)
    day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Route(Base):
    """A routing rule: what a new customer or complaint must be like (`conditions`, all of
    them) for whom (`assignees`, one of them, in turn when `round_robin`). Rules are tried in
    `position` order; the first that matches wins."""

    __tablename__ = "routes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    entity: Mapped[str] = mapped_column(String(20))  # "customer" or "complaint"
    conditions: Mapped[list] = mapped_column(JSON)  # [[field, value], ...]
    assignees: Mapped[list] = mapped_column(JSON)  # member ids
    round_robin: Mapped[bool] = mapped_column(Boolean, default=False)
    turn: Mapped[int] = mapped_column(Integer, default=0)  # how many it has handed out
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Tag(Base):
    """A word a team labels customers with ("vip"): one row per team and folded word, shown as
    first written. Soft-deleted when the tagging that made it is undone; the same word later
    brings the row back."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("team_id", "key", name="uq_tags_team_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    key: Mapped[str] = mapped_column(String(60))  # folded: "VIP" and "vip" are one tag
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CustomerTag(Base):
    """A customer carries a tag. Untagging soft-deletes the row (undo brings it back); tagging
    again brings the same row back, so a customer holds each tag at most once."""

    __tablename__ = "customer_tags"
    __table_args__ = (
        UniqueConstraint("customer_id", "tag_id", name="uq_customer_tags_customer_tag"),
        Index("ix_customer_tags_team_tag", "team_id", "tag_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


WAITING_SQL = text("state = 'pending' AND deleted_at IS NULL AND delivered_at IS NULL")


class FollowUp(Base):
    __tablename__ = "followups"
    __table_args__ = (
        Index("ix_followups_state_due", "state", "due_at"),
        # the reminder loop's queue: only what waits for delivery, in the order it is claimed
        # (delivered rows keep state 'pending', so the index above grows with every reminder
        # ever sent, and a claim's ORDER BY due_at, id sorted every due row of a burst)
        Index("ix_followups_waiting_due", "due_at", "id", postgresql_where=WAITING_SQL, sqlite_where=WAITING_SQL),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(12), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # delivery bookkeeping for the reminder loop: a lease, then the delivery mark
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    # a reminder that comes back every year on this day ("MM-DD"): once delivered, the next
    # year's is written beside it; `fact_id` is the birthday or anniversary it is about
    every_year: Mapped[str | None] = mapped_column(String(5), nullable=True)
    fact_id: Mapped[int | None] = mapped_column(ForeignKey("customer_facts.id"), nullable=True)
    # the deal a follow-up is about, when it is about one: deleting the deal cancels it
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id"), nullable=True, index=True)


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_team_member", "team_id", "member_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    platform: Mapped[str] = mapped_column(String(20), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # one user action may change several rows; they share a group and are undone together
    group_id: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    before: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ProcessedMessage(Base):
    """Platform message ids already handled, so redeliveries are not handled twice."""

    __tablename__ = "processed_messages"
    platform: Mapped[str] = mapped_column(String(20), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DigestSent(Base):
    """One row per digest delivered, keyed by the member's local date: never twice a day."""

    __tablename__ = "digests_sent"
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    local_date: Mapped[str] = mapped_column(String(10), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # the row is the claim (taken before sending); delivered_at marks that the platform took it
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Choice(Base):
    """A button's meaning, kept server-side: platforms cap button payloads (Telegram: 64
    bytes), and a stored choice can only be used by its member, once."""

    __tablename__ = "choices"
    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    set_id: Mapped[str] = mapped_column(String(32), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    intent: Mapped[str] = mapped_column(String(40))
    slots: Mapped[dict] = mapped_column(JSON, default=dict)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PendingReply(Base):
    """Replies a platform could not take when they were due (an outage, a rate limit): kept
    here, after the change they answer was committed, and sent again in order per chat by the
    reminder loop. A row is claimed with a lease like a follow-up."""

    __tablename__ = "pending_replies"
    __table_args__ = (Index("ix_pending_replies_chat", "chat_key", "id"), Index("ix_pending_replies_team", "team_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # the team whose records the replies may show (None: they show none), for erasure
    team_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    adapter: Mapped[str] = mapped_column(String(20))
    chat_id: Mapped[str] = mapped_column(String(64))
    thread: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # adapter and chat in one value: what "in order per chat" groups by
    chat_key: Mapped[str] = mapped_column(String(160))
    replies: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class RateWindow(Base):
    """Messages counted per sender in the current minute, shared by every worker: one row per
    sender, moved to the new minute by the same atomic upsert that counts."""

    __tablename__ = "rate_windows"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger)  # minutes since the epoch
    hits: Mapped[int] = mapped_column(Integer)


class PendingUpload(Base):
    """A file a member sent to the chat, kept while they decide on its import preview (the
    "import" and "cancel" buttons); deleted once imported or cancelled, and after a day."""

    __tablename__ = "pending_uploads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SearchSnapshot(Base):
    """A team's customer index as one worker built it (crmbot.store.snapshot), so the next
    worker reads it instead of building: valid as of `rev`, later changes are read on top."""

    __tablename__ = "search_snapshots"
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    rev: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)


# -- the customer look-up index kept in the database (PostgreSQL: crmbot.store.shared_index) --------


class SearchState(Base):
    """How far a team's look-up index in the database has read its customers: every change up to
    `rev`; `live` customers; `tokens` name tokens numbered 0 .. tokens - 1 (a few may be gone)."""

    __tablename__ = "search_states"
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    rev: Mapped[int] = mapped_column(BigInteger)
    live: Mapped[int] = mapped_column(Integer)
    tokens: Mapped[int] = mapped_column(Integer)


class SearchToken(Base):
    """A name or company token of a team's customers and its number. Tokens only join (an
    erasure takes its customer's own ones out): workers keep them in order, by number."""

    __tablename__ = "search_tokens"
    __table_args__ = (UniqueConstraint("team_id", "token", name="uq_search_tokens_team_token"),)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(300))


class SearchPosting(Base):
    """Who holds a token, in the person's name (kind 0) or in the company only (kind 1): their
    sort keys (name length << 40 | customer id, which orders equal evidence) as little-endian
    64-bit integers, so a search reads a token's holders as one value."""

    __tablename__ = "search_postings"
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    token: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    holders: Mapped[bytes] = mapped_column(LargeBinary)


class SearchHeld(Base):
    """A live customer in the index and the tokens it holds (32-bit token numbers), so that a
    change takes it out of exactly those postings."""

    __tablename__ = "search_held"
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    names: Mapped[bytes] = mapped_column(LargeBinary)
    companies: Mapped[bytes] = mapped_column(LargeBinary)


class SearchContact(Base):
    """An e-mail address (kind 0) or phone key (kind 1) and a customer holding it."""

    __tablename__ = "search_contacts"
    __table_args__ = (Index("ix_search_contacts_team_customer", "team_id", "customer_id"),)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    kind: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
