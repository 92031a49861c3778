"""A team's settings from the shell: `crmbot settings show | set KEY=VALUE … | reset KEY …`.

What they tune: after how many days a customer with no contact, an open complaint and a deal
with no move count as at risk ("who's at risk", the weekly digest, `crmbot report`), and the
chance of winning a deal at each open stage (the forecast). Every change is audited.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer
from rich.table import Table

from crmbot import app as app_module
from crmbot.cli.common import DbOption, FormatOption, TeamOption, cells, check_format, cli_actor, fail, run_app, settings_cli, show, team_named
from crmbot.intents import insights
from crmbot.store import changes

MAX_DAYS = 3650
# the shell's name of each setting -> (the team settings' table, its key)
DAYS = {"quiet-days": "customer", "complaint-days": "complaint", "stalled-days": "deal"}
KEYS = {**{name: ("risk_days", kind) for name, kind in DAYS.items()},
        **{f"probability.{stage}": ("stage_probability", stage) for stage in insights.DEFAULT_PROBABILITY}}
HELP = {"quiet-days": "a customer with no call, meeting or message for this many days is at risk",
        "complaint-days": "a complaint open this many days is at risk",
        "stalled-days": "an open deal that has not changed stage for this many days is at risk",
        **{f"probability.{s}": f"the forecast counts a deal at {s} at this chance (0.25 or 25%)" for s in insights.DEFAULT_PROBABILITY}}


def _value(key: str, raw: str) -> Any:
    """The setting's value from what was typed, or a refusal that says what fits."""
    raw = raw.strip()
    table, _ = KEYS[key]
    if table == "risk_days":
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
            fail(f"{key} takes a whole number of days from 1 to {MAX_DAYS}; not {raw!r}")
        return int(raw)
    try:
        chance = Decimal(raw.rstrip("%").strip().replace(",", ".")) / (100 if raw.endswith("%") else 1)
    except InvalidOperation:
        chance = Decimal(-1)
    if not chance.is_finite() or not 0 <= chance <= 1:
        fail(f"{key} takes a chance from 0 to 1, or a percentage such as 25%; not {raw!r}")
    return str(chance.normalize())


def _current(team) -> list[dict[str, Any]]:
    days, chances = insights.risk_days(team), insights.probabilities(team)
    own = team.settings or {}
    rows = []
    for key, (table, name) in KEYS.items():
        value = days[name] if table == "risk_days" else float(chances[name])
        default = insights.DEFAULT_RISK_DAYS[name] if table == "risk_days" else float(insights.DEFAULT_PROBABILITY[name])
        rows.append({"key": key, "value": value, "default": default, "set": name in (own.get(table) or {}), "means": HELP[key]})
    return rows


def _change(db: str | None, team: str | None, update) -> None:
    async def main(app: app_module.App) -> None:
        moment = datetime.now(timezone.utc)
        async with app.db.sessions() as session, session.begin():
            team_row = await team_named(session, team)
            settings = dict(team_row.settings or {})
            for table in ("risk_days", "stage_probability"):
                settings[table] = dict(settings.get(table) or {})
            update(settings)
            settings = {k: v for k, v in settings.items() if v != {} or k not in ("risk_days", "stage_probability")}
            await changes.update(session, cli_actor(team_row.id), moment, team_row, settings=settings)
            rows = _current(team_row)
        for row in rows:
            print(f"{row['key']} = {row['value']:g}" + ("" if row["set"] else " (default)"))

    run_app(db, main)


@settings_cli.command("show")
def settings_show(format: FormatOption = "table", db: DbOption = None, team: TeamOption = None) -> None:
    """The team's settings, with the defaults they replace."""
    check_format(format)

    async def main(app: app_module.App) -> None:
        async with app.db.sessions() as session:
            team_row = await team_named(session, team)
            rows = _current(team_row)
        table = Table("Setting", "Value", "Default", "What it means", title=team_row.name)
        for row in rows:
            table.add_row(*cells(row["key"], f"{row['value']:g}", f"{row['default']:g}", row["means"]))
        show(format, rows, table)

    run_app(db, main)


@settings_cli.command("set")
def settings_set(
    pairs: Annotated[list[str], typer.Argument(help="KEY=VALUE: quiet-days=30, complaint-days=7, stalled-days=21, probability.proposal=50%.")],
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """Change settings (audited); the others keep their values."""
    wanted = []
    for pair in pairs:
        key, equals, raw = pair.partition("=")
        key = key.strip().lower()
        if not equals or key not in KEYS:
            fail(f"settings are KEY=VALUE with KEY one of {', '.join(KEYS)}; not {pair!r}")
        wanted.append((KEYS[key], _value(key, raw)))

    def update(settings: dict) -> None:
        for (table, name), value in wanted:
            settings[table][name] = value

    _change(db, team, update)


@settings_cli.command("reset")
def settings_reset(
    keys: Annotated[list[str], typer.Argument(help="The settings to set back to their defaults, e.g. quiet-days probability.lead.")],
    db: DbOption = None,
    team: TeamOption = None,
) -> None:
    """Set settings back to their defaults (audited)."""
    for key in keys:
        if key.strip().lower() not in KEYS:
            fail(f"KEY is one of {', '.join(KEYS)}; not {key!r}")

    def update(settings: dict) -> None:
        for key in keys:
            table, name = KEYS[key.strip().lower()]
            settings[table].pop(name, None)

    _change(db, team, update)
