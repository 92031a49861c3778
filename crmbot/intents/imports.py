"""Importing from the chat: a CSV or vCard file sent to crmbot, or a contact shared from a
phone, goes through the same importer as `crmbot import`, into the member's team, audited as
their one change (so "undo" takes it back whole).

A file of more than a handful of rows is first tried and rolled back: the member sees what it
would do and decides with "import" or "cancel" (the file waits for them, for a day at most).
A few rows are imported at once: reading a preview of three contacts would take longer than
undoing them. A shared contact is added at once too, unless a customer of nearly the same
name is held: then crmbot asks, as it does for "new customer …"."""

from __future__ import annotations

from pathlib import PurePath

from crmbot.importer import Report, UnreadableFile, import_file
from crmbot.intents import duplicates
from crmbot.intents.context import Context
from crmbot.intents.parse import Intent
from crmbot.intents.router import Router, allowed
from crmbot.messages import MAX_ATTACHMENT, Attachment, Reply
from crmbot.imports.sources import open_source
from crmbot.store import customers, uploads

router = Router()
HANDFUL = 5  # rows imported without a preview
# a file may change any customer of the team (their owner, their status): a manager's or an admin's
# to send, as `crmbot import` is the operator's; a shared contact is one new customer, anyone's to add
FILE_ROLE = "manager"
SHOWN_SKIPS = 5  # skipped rows named in a reply; the rest are counted
SUFFIXES = {".csv", ".tsv", ".txt", ".tab", ".vcf", ".vcard"}
# what a spreadsheet or a mail client calls a CSV or a vCard, when the name says nothing
MIME_TYPES = {"text/csv", "text/comma-separated-values", "text/tab-separated-values", "text/plain", "text/x-vcard",
              "text/vcard", "text/directory", "application/csv", "application/vnd.ms-excel"}
# the first bytes of what people send by mistake: spreadsheets, PDFs, pictures, archives
BINARY_STARTS = (b"PK\x03\x04", b"%PDF", b"\xd0\xcf\x11\xe0", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b")


def _acceptable(attachment: Attachment) -> bool:
    if attachment.contact:
        return True
    suffix = PurePath(attachment.name).suffix.lower()
    named = suffix in SUFFIXES or (not suffix and attachment.mime.split(";")[0].strip().lower() in MIME_TYPES)
    return named and not (attachment.data or b"").startswith(BINARY_STARTS)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


async def _run(ctx: Context, name: str, data: bytes) -> Report:
    region = (ctx.team.settings or {}).get("region")
    return await import_file(ctx.session, ctx.team, data, ctx.now, name=name, member=ctx.member,
                             platform=ctx.platform, region=region, actor=ctx.actor)


def _report(ctx: Context, template: str, name: str, report: Report, contact: str | None = None) -> Reply:
    return ctx.reply(template, name=name, report=report, skips=report.skips[:SHOWN_SKIPS], contact=contact)


async def _done(ctx: Context, name: str, report: Report, contact: str | None = None) -> list[Reply]:
    """The import's report; members the team's routing rules gave new customers hear it in their chat."""
    for member_id, count in sorted(report.routed.items()):
        if member_id != ctx.member.id:
            await ctx.tell(member_id, "import_assigned", name=name, count=count)
    return [_report(ctx, "import_done", name, report, contact=contact)]


@router.intent("import_upload")
async def import_upload(ctx: Context, intent: Intent) -> list[Reply]:
    attachment = ctx.attachment
    if attachment is None:  # only a message with a file runs this
        return [ctx.reply("import_gone")]
    if not attachment.contact and not allowed(ctx.member.role, FILE_ROLE):
        return [ctx.reply("not_allowed", intent="import_upload")]
    if attachment.problem == "too_large" or (attachment.data is not None and len(attachment.data) > MAX_ATTACHMENT):
        return [ctx.reply("import_refused", problem="too_large", name=attachment.name,
                          size=_megabytes(attachment.size), limit=_megabytes(MAX_ATTACHMENT))]
    if attachment.problem or attachment.data is None:
        return [ctx.reply("import_refused", problem="unreachable", name=attachment.name)]
    if not _acceptable(attachment):
        return [ctx.reply("import_refused", problem="wrong_type", name=attachment.name)]
    try:
        async with uploads.trial(ctx.session):
            report = await _run(ctx, attachment.name, attachment.data)
        contact = _contact_name(attachment.data) if attachment.contact else None
        if contact and report.added:
            lookalikes = await _lookalikes(ctx, contact)
            if lookalikes:
                return await _ask_first(ctx, attachment, contact, lookalikes)
        if report.rows <= HANDFUL or attachment.contact:
            report = await _run(ctx, attachment.name, attachment.data)
            return await _done(ctx, attachment.name, report, contact=contact)
    except UnreadableFile as problem:
        return [ctx.reply("import_refused", problem=problem.code, **{"name": attachment.name, **problem.values})]
    upload_id = await uploads.keep(ctx.session, ctx.team.id, ctx.member.id, attachment.name, attachment.data, ctx.now)
    buttons = await ctx.buttons([(ctx.t("button.import"), "import_confirm", {"upload_id": upload_id}),
                                 (ctx.t("button.cancel"), "import_cancel", {"upload_id": upload_id})])
    return [ctx.reply("import_preview", name=attachment.name, report=report, skips=report.skips[:SHOWN_SKIPS], buttons=buttons)]


def _contact_name(vcard: bytes) -> str | None:
    """The shared contact's name, as the importer reads it from the vCard."""
    try:
        with open_source(vcard, "contact.vcf") as source:
            for _, pairs in source.rows:
                names = [value.strip() for header, value in pairs if header == "full name" and value.strip()]
                joined = " ".join(value.strip() for header, value in pairs if header in ("first name", "last name") and value.strip())
                return (names or [joined])[0] or None
    except UnreadableFile:
        return None
    return None


async def _lookalikes(ctx: Context, name: str) -> list[duplicates.Held]:
    """Held customers whose name reads like the shared contact's (its e-mail and phone matched
    nobody, or the importer would have updated that customer instead)."""
    return [held for held in await duplicates.already_held(ctx, name, None, [], []) if held.reason == "name"]


async def _ask_first(ctx: Context, attachment: Attachment, name: str, lookalikes: list[duplicates.Held]) -> list[Reply]:
    """"Is this X?": yes (X's card), no (import the contact as a new customer), cancel."""
    upload_id = await uploads.keep(ctx.session, ctx.team.id, ctx.member.id, attachment.name, attachment.data or b"", ctx.now)
    options = [(ctx.t("button.same_customer", name=h.customer.display_name), "find_customer", {"customer_id": h.customer.id})
               for h in lookalikes]
    options += [(ctx.t("button.add_new"), "import_confirm", {"upload_id": upload_id, "contact": name}),
                (ctx.t("button.cancel"), "cancel", {})]
    return [ctx.reply("customer_same", name=name, matches=lookalikes, buttons=await ctx.buttons(options))]


@router.intent("import_confirm")
async def import_confirm(ctx: Context, intent: Intent) -> list[Reply]:
    kept = await uploads.take(ctx.session, ctx.team.id, ctx.member.id, int(intent.slots.get("upload_id", 0)), ctx.now)
    if kept is None:
        return [ctx.reply("import_gone")]
    name, data = kept
    if not intent.slots.get("contact") and not allowed(ctx.member.role, FILE_ROLE):  # their role changed since
        return [ctx.reply("not_allowed", intent="import_confirm")]
    try:
        report = await _run(ctx, name, data)
    except UnreadableFile as problem:  # read fine for the preview; a change of vocabulary since could do it
        return [ctx.reply("import_refused", problem=problem.code, **{"name": name, **problem.values})]
    return await _done(ctx, name, report, contact=intent.slots.get("contact"))


@router.intent("import_cancel")
async def import_cancel(ctx: Context, intent: Intent) -> list[Reply]:
    await uploads.take(ctx.session, ctx.team.id, ctx.member.id, int(intent.slots.get("upload_id", 0)), ctx.now)
    return [ctx.reply("cancelled")]
