"""A person's data: their history (`audit`) and its erasure (`forget`)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

import typer

from crmbot import app as app_module
from crmbot.cli.common import (
    DbOption,
    TeamOption,
    cli,
    cli_actor,
    fail,
    one_customer,
    run_app,
    team_named,
)
from crmbot.store import erasure, records

IGNORED_FIELDS = {"updated_at", "rev", "created_at", "id", "team_id"}


def _changes(before: dict | None, after: dict | None) -> str:
    if before is None and after is None:
        return ""
    if before is None:
        shown = {k: v for k, v in (after or {}).items() if k not in IGNORED_FIELDS and v not in (None, "", [], {})}
        return ", ".join(f"{k}={v!r}" for k, v in list(shown.items())[:6])
    changed = [k for k in (after or before) if k not in IGNORED_FIELDS and (before or {}).get(k) != (after or {}).get(k)]
    return ", ".join(f"{k}: {before.get(k)!r} → {(after or {}).get(k)!r}" for k in changed[:6])


@cli.command()
def audit(
    customer: Annotated[str, typer.Option("--customer", help="Whose history to print.")],
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """Print a customer's history: who changed what, when, through which platform."""

    async def main(app: app_module.App) -> None:
        async with app.db.sessions() as session:
            team_row = await team_named(session, team)
            match = await one_customer(app, session, team_row.id, customer)
            members = await records.members_by_id(session, team_row.id)
            print(f"History of {match.display}:")
            for entry in await erasure.history(session, team_row.id, match.customer_id):
                who = members[entry.member_id].name if entry.member_id in members else "(shell)"
                undone = " [undone]" if entry.undone_at else ""
                print(f"{entry.at.isoformat(timespec='seconds')}  {who:<12} {entry.platform:<9} {entry.action:<7} "
                      f"{entry.entity} #{entry.entity_id}{undone}  {_changes(entry.before, entry.after)}")

    run_app(db, main)


@cli.command()
def forget(
    customer: Annotated[str, typer.Argument(help="The customer to erase.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """Erase a customer's personal data everywhere (the audit trail keeps the fact, not the data)."""

    async def main(app: app_module.App) -> None:
        async with app.db.sessions() as session, session.begin():
            team_row = await team_named(session, team)
            match = await one_customer(app, session, team_row.id, customer)
            if not yes and not typer.confirm(f"Erase {match.display} and everything held about them? This cannot be undone"):
                fail("Nothing erased.")
            row = await records.customers_by_id(session, team_row.id, {match.customer_id})
            actor = cli_actor(team_row.id)
            counts = await erasure.erase_customer(session, actor, row[match.customer_id], datetime.now(timezone.utc))
        print(f"Erased {match.display}: " + ", ".join(f"{n} {table}" for table, n in counts.items()))

    run_app(db, main)
