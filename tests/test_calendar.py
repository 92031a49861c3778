"""A member's private calendar: issued by the CLI, served over crmbot's real HTTP server,
showing only their own follow-ups, and dead once revoked or reissued."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp
from icalendar import Calendar
from typer.testing import CliRunner

from crmbot.cli import cli
from crmbot.config import Settings
from crmbot.server import Services


def issue(db_url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["calendar-url", *args, "--db", db_url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output.splitlines()[0]


async def get(url: str) -> tuple[int, bytes, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.read(), response.headers.get("Content-Type", "")


async def test_a_members_calendar_shows_their_follow_ups_until_it_is_revoked(demo, db_url, monkeypatch):
    monkeypatch.setenv("CRMBOT_PUBLIC_URL", "https://crm.example.com")  # what the CLI builds the address from
    app = replace(demo, settings=Settings(http_port=0, public_url="https://crm.example.com", _env_file=None))
    services = Services(app, telegram=False, slack=False, reminders=False)
    await services.start()
    try:
        address = await asyncio.to_thread(issue, db_url, "Alice")
        assert address.startswith("https://crm.example.com/calendar/") and address.endswith(".ics")
        local = f"http://127.0.0.1:{services.http.port}" + address.removeprefix("https://crm.example.com")
        status, body, kind = await get(local)
        assert status == 200 and kind.startswith("text/calendar")
        events = [e for e in Calendar.from_ical(body).walk("VEVENT")]
        summaries = " | ".join(str(e["summary"]) for e in events)
        assert "Send Acme the website quote" in summaries and "Call Jana about the fleet contract" not in summaries  # Bob's

        again = await asyncio.to_thread(issue, db_url, "Alice")
        assert again != address and (await get(local))[0] == 404  # the old address is dead
        renewed = f"http://127.0.0.1:{services.http.port}" + again.removeprefix("https://crm.example.com")
        assert (await get(renewed))[0] == 200
        await asyncio.to_thread(issue, db_url, "Alice", "--revoke")
        assert (await get(renewed))[0] == 404
        bobs = await asyncio.to_thread(issue, db_url, "Bob")
        bobs_local = f"http://127.0.0.1:{services.http.port}" + bobs.removeprefix("https://crm.example.com")
        assert (await get(bobs_local))[0] == 200
        left = await asyncio.to_thread(CliRunner().invoke, cli, ["member", "remove", "Bob", "--db", db_url])
        assert left.exit_code == 0 and (await get(bobs_local))[0] == 404  # a member who left has no calendar
        assert (await get(f"http://127.0.0.1:{services.http.port}/calendar/guess.ics"))[0] == 404
    finally:
        await services.stop()
