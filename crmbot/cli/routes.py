"""Rules a team sets from the shell: who gets new work (`crmbot route add | list | remove`) and
the follow-ups it gets every time (`crmbot auto-follow-up set | off`)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

import typer
from rich.table import Table

from crmbot import app as app_module
from crmbot.cli.common import (
    DbOption,
    FormatOption,
    TeamOption,
    auto_followup_cli,
    cells,
    check_format,
    cli_actor,
    fail,
    route_cli,
    run_app,
    show,
    team_named,
)
from crmbot.store import audit, changes, models, records, routes, teams


def _conditions(when: list[str]) -> list[tuple[str, str]]:
    parsed = []
    for condition in when:
        field, equals, value = condition.partition("=")
        field, value = field.strip().lower(), value.strip()
        if field == "text" and len(value.split()) > 1:
            fail(f"--when text=WORD takes one word (a complaint mentioning it); not {condition!r}")
        if not equals or not value or field not in routes.FIELDS:
            fail(f"--when takes FIELD=VALUE with FIELD one of {', '.join(routes.FIELDS)}; not {condition!r}")
        if field == "country":  # rules compare ISO codes: "Germany", "Německo" and "de" are DE
            code = routes.country_code(value)
            if code is None:
                fail(f"--when country= takes a country code such as CZ or a country's name; not {value!r}")
            value = code
        parsed.append((field, value))
    return parsed


@route_cli.command("add")
def route_add(
    to: Annotated[str, typer.Option("--to", help="Who gets the work: a member's name, or several separated by commas.")],
    when: Annotated[list[str], typer.Option("--when", help="FIELD=VALUE, all must hold: source, status, tag (a tag the customer carries), company, country (from the phone or the address, e.g. CZ), and for complaints text (a word in it) and product.")],
    round_robin: Annotated[bool, typer.Option("--round-robin", help="Hand the work to each of --to in turn instead of the first.")] = False,
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """Add a rule: new customers or complaints that nobody owns yet and match it go to these members."""
    conditions = _conditions(when)
    names = [name.strip() for name in to.split(",") if name.strip()]
    if not names:
        fail("--to names at least one member")

    async def main(app: app_module.App) -> None:
        now = datetime.now(timezone.utc)
        async with app.db.sessions() as session, session.begin():
            team_row = await team_named(session, team)
            assignees = []
            for name in names:
                member = await teams.member_by_name(session, team_row.id, name)
                if member is None or not member.active:
                    fail(f"no member named {name!r} (see `crmbot member list`)")
                assignees.append(member.id)
            route = await routes.add(session, team_row.id, conditions, assignees, round_robin, now)
            audit.record(session, cli_actor(team_row.id), now, "create", route, None)
        print(f"Rule {route.id}: new {route.entity}s with {describe(route)} go to {', '.join(names)}"
              + (" in turn." if round_robin and len(names) > 1 else "."))

    run_app(db, main)


@route_cli.command("list")
def route_list(
    format: FormatOption = "table",
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """List the team's routing rules, in the order they are tried."""
    check_format(format)

    async def main(app: app_module.App) -> None:
        async with app.db.sessions() as session:
            team_row = await team_named(session, team)
            members = await records.members_by_id(session, team_row.id)
            rules = await routes.active(session, team_row.id)
        rows = [{"id": r.id, "for": r.entity, "when": {n: v for n, v in r.conditions},
                 "to": [members[m].name for m in r.assignees if m in members], "round_robin": r.round_robin} for r in rules]
        table = Table("ID", "For", "When", "To", "In turn", title=team_row.name)
        for row, rule in zip(rows, rules):
            table.add_row(*cells(row["id"], row["for"], describe(rule), ", ".join(row["to"]), "yes" if row["round_robin"] else "no"))
        show(format, rows, table)

    run_app(db, main)


@route_cli.command("remove")
def route_remove(
    rule: Annotated[int, typer.Argument(help="The rule's ID (see `crmbot route list`).")],
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """Remove a routing rule (audited; work already handed out stays where it went)."""

    async def main(app: app_module.App) -> None:
        now = datetime.now(timezone.utc)
        async with app.db.sessions() as session, session.begin():
            team_row = await team_named(session, team)
            route = await routes.get(session, team_row.id, rule)
            if route is None:
                fail(f"no rule {rule} (see `crmbot route list`)")
            await changes.update(session, cli_actor(team_row.id), now, route, deleted_at=now)
        print(f"Rule {rule} removed.")

    run_app(db, main)


def describe(route: models.Route) -> str:
    return " and ".join(f"{name}={value}" for name, value in route.conditions)


# -- follow-ups a team gets every time ------------------------------------------------------------

TRIGGER_NAMES = {"new-lead": "new_lead", "resolved-complaint": "resolved_complaint"}


@auto_followup_cli.command("set")
def auto_followup_set(
    on: Annotated[str, typer.Argument(help="new-lead (a customer added as a lead) or resolved-complaint.")],
    after: Annotated[float, typer.Option("--after", help="Days after it, e.g. 2.")],
    note: Annotated[str, typer.Option("--note", help="What the reminder says (default: a note in each member's language).")] = "",
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """Every new lead (or resolved complaint) gets a follow-up this many days later."""
    trigger = _trigger(on)
    if not 0 < after <= 365:
        fail("--after must be a number of days between 0 and 365")
    _set_auto_followup(db, team, trigger, {"days": after, **({"note": note.strip()} if note.strip() else {})})
    print(f"Every {on.replace('-', ' ')} now gets a follow-up after {after:g} days.")


@auto_followup_cli.command("off")
def auto_followup_off(
    on: Annotated[str, typer.Argument(help="new-lead or resolved-complaint.")],
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """No more automatic follow-ups for this."""
    _set_auto_followup(db, team, _trigger(on), None)
    print(f"No automatic follow-up for a {on.replace('-', ' ')} any more.")


def _trigger(on: str) -> str:
    if on not in TRIGGER_NAMES:
        fail(f"ON must be one of: {', '.join(TRIGGER_NAMES)}")
    return TRIGGER_NAMES[on]


def _set_auto_followup(db: str | None, team: str | None, trigger: str, wanted: dict | None) -> None:
    async def main(app: app_module.App) -> None:
        now = datetime.now(timezone.utc)
        async with app.db.sessions() as session, session.begin():
            team_row = await team_named(session, team)
            rules = {k: v for k, v in ((team_row.settings or {}).get("auto_followups") or {}).items() if k != trigger}
            if wanted is not None:
                rules[trigger] = wanted
            await changes.update(session, cli_actor(team_row.id), now, team_row,
                                 settings={**(team_row.settings or {}), "auto_followups": rules})

    run_app(db, main)
