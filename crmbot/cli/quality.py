"""Data quality: `crmbot duplicates`, the likely duplicate customers of a team."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from crmbot import app as app_module
from crmbot.cli.common import DbOption, FormatOption, TeamOption, cells, check_format, cli, fail, run_app, show, team_named
from crmbot.store import duplicates as finder

WHY = {"email": "same e-mail", "phone": "same phone", "name": "similar name", "name_part": "name within name, same company"}


@cli.command()
def duplicates(
    format: FormatOption = "table",
    min_score: Annotated[float, typer.Option("--min-score", help="Leave out pairs scoring below this (0 to 100).")] = 0.0,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many pairs, the likeliest first (0: all).")] = 0,
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """List likely duplicate customers with a score: the same e-mail or phone (100), near-identical names in the same company."""
    check_format(format)
    if not 0 <= min_score <= 100:
        fail("--min-score must be between 0 and 100")
    if limit < 0:
        fail("--limit must be 0 (all) or more")

    async def main(app: app_module.App) -> None:
        async with app.db.sessions() as session:
            team_row = await team_named(session, team)
            book = await finder.team_book(session, team_row.id)
        pairs = finder.likely_pairs(book, min_score)
        shown = pairs[:limit] if limit else pairs
        by_id = {customer_id: (name, company) for customer_id, name, company in zip(book.ids, book.names, book.companies)}

        def customer(customer_id: int) -> dict:
            name, company = by_id[customer_id]
            return {"id": customer_id, "name": name, "company": company}

        rows = [{"score": p.score, "reasons": list(p.reasons), "first": customer(p.first), "second": customer(p.second)} for p in shown]
        title = f"{team_row.name}: {len(pairs)} likely duplicate pair{'s' if len(pairs) != 1 else ''}"
        if len(shown) < len(pairs):
            title += f", the {len(shown)} likeliest shown"
        table = Table("Score", "Why", "ID", "Customer", "ID", "Customer", title=title)
        for row in rows:
            first, second = row["first"], row["second"]
            table.add_row(*cells(f"{row['score']:g}", ", ".join(WHY[r] for r in row["reasons"]),
                                 first["id"], _display(first), second["id"], _display(second)))
        show(format, rows, table)

    run_app(db, main)


def _display(customer: dict) -> str:
    return f"{customer['name']} ({customer['company']})" if customer["company"] else customer["name"]
