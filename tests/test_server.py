"""crmbot's HTTP server protects itself: real sockets against a real server on 127.0.0.1:0.

Slow clients are cut off after the header and body timeouts, bodies over the limit are refused
from their Content-Length before they are read, open connections stay capped below the open-file
limit (the oldest idle one makes room, so /healthz stays reachable), and hostile bodies get a
4xx and one log line, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest
from aiohttp import web

from crmbot.server import SECRET_HEADER, HttpLimits, HttpServer, Services, connection_cap

from tests.conftest import NOW
from tests.standins import TelegramStandIn

FAST = HttpLimits(header_timeout=1.0, body_timeout=0.5, max_body=64 * 1024, max_connections=1000)


@pytest.fixture
def db_url(sqlite_db_url) -> str:
    """SQLite only: these tests are about the platform; the store is covered on both engines elsewhere."""
    return sqlite_db_url


async def serving(limits: HttpLimits, **routes) -> HttpServer:
    server = HttpServer("127.0.0.1", 0, limits)
    for path, handler in routes.items():
        server.add_route("POST", f"/{path}", handler)
    await server.start()
    return server


@pytest.fixture
async def http() -> AsyncIterator[HttpServer]:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=str(len(await request.read())))

    server = await serving(FAST, echo=echo)
    try:
        yield server
    finally:
        await server.stop()


async def healthz(port: int) -> int:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
            return response.status


async def raw(port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bytes:
    """All the server said before closing; fails if it keeps the connection open longer."""
    said = b""
    async with asyncio.timeout(within):
        while chunk := await reader.read(65536):
            said += chunk
    return said


def no_tracebacks(caplog) -> None:
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]


async def test_healthz_answers_while_200_slow_clients_hold_connections_which_are_then_cut_off(http, caplog):
    slow = [await raw(http.port, b"POST /echo HTTP/1.1\r\nHost: crm\r\nX-Slow: ") for _ in range(200)]
    started = asyncio.get_running_loop().time()
    assert await healthz(http.port) == 200
    assert asyncio.get_running_loop().time() - started < 1.0
    # none of them finished its headers: each is closed once the header timeout passes
    said = await asyncio.gather(*(closed_by_server(reader, within=FAST.header_timeout + 2) for reader, _ in slow))
    assert all(not s.startswith(b"HTTP/1.1 200") for s in said)
    assert asyncio.get_running_loop().time() - started < FAST.header_timeout + 2
    for _, writer in slow:
        writer.close()
    no_tracebacks(caplog)


async def test_an_idle_kept_alive_connection_is_closed_too(http):
    reader, writer = await raw(http.port, b"GET /healthz HTTP/1.1\r\nHost: crm\r\n\r\n")
    said = await closed_by_server(reader, within=FAST.header_timeout + 2)
    assert said.startswith(b"HTTP/1.1 200") and said.endswith(b"ok\n")
    writer.close()


async def test_a_body_over_the_limit_is_refused_before_it_is_read(http, caplog):
    reader, writer = await raw(http.port, b"POST /echo HTTP/1.1\r\nHost: crm\r\nContent-Length: 1000000000\r\n\r\n")
    said = await closed_by_server(reader, within=2)  # not a byte of the body was sent, nor waited for
    assert said.startswith(b"HTTP/1.1 413")
    writer.close()
    # without a Content-Length (chunked), it is cut off as it grows past the limit
    async with aiohttp.ClientSession() as session:
        async def chunks():
            for _ in range(100):
                yield b"x" * 4096

        async with session.post(f"http://127.0.0.1:{http.port}/echo", data=chunks()) as response:
            assert response.status == 413
        async with session.post(f"http://127.0.0.1:{http.port}/echo", data=b"x" * 1000) as response:
            assert response.status == 200 and await response.text() == "1000"
    assert "over 65536 bytes" in caplog.text
    no_tracebacks(caplog)


async def test_a_slow_body_gets_408_and_a_cut_off_one_a_single_log_line(http, caplog):
    with caplog.at_level(logging.WARNING):
        reader, writer = await raw(http.port, b"POST /echo HTTP/1.1\r\nHost: crm\r\nContent-Length: 100\r\n\r\n0123456789")
        said = await closed_by_server(reader, within=FAST.body_timeout + 2)
        assert said.startswith(b"HTTP/1.1 408")
        writer.close()

        reader, writer = await raw(http.port, b"POST /echo HTTP/1.1\r\nHost: crm\r\nContent-Length: 100\r\n\r\n0123456789")
        writer.close()  # the client goes away mid-body
        await asyncio.sleep(0.3)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith(("crmbot", "aiohttp"))]
    assert len(lines) == 2, lines
    assert "took over 0.5 s" in lines[0] and "dropped a request to /echo" in lines[1]
    no_tracebacks(caplog)
    assert await healthz(http.port) == 200


async def test_connections_are_capped_the_oldest_idle_makes_room_and_when_all_are_busy_one_is_refused(caplog):
    release = asyncio.Event()

    async def busy(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="done")

    server = await serving(replace(FAST, header_timeout=30, max_connections=16), busy=busy)
    try:
        idle = [await raw(server.port, b"") for _ in range(40)]  # connected, never a byte sent
        assert await healthz(server.port) == 200  # room was made for it
        # the oldest were closed to make room for the newer ones and /healthz: 16 stay open
        closed = await asyncio.gather(*(closed_by_server(r, within=1) for r, _ in idle[:25]))
        assert closed == [b""] * 25
        still = await asyncio.gather(*(asyncio.wait_for(r.read(1), 0.2) for r, _ in idle[25:]), return_exceptions=True)
        assert all(isinstance(s, TimeoutError) for s in still)

        # sixteen requests inside a handler: nothing can be evicted, the next connection is refused
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            url = f"http://127.0.0.1:{server.port}/busy"
            pending = [asyncio.ensure_future(session.post(url, data=b"x")) for _ in range(16)]
            while len(server.cap.busy) < 16:
                await asyncio.sleep(0.01)
            reader, writer = await raw(server.port, b"GET /healthz HTTP/1.1\r\nHost: crm\r\n\r\n")
            assert await closed_by_server(reader, within=2) == b""
            writer.close()
            release.set()
            for response in await asyncio.gather(*pending):
                assert response.status == 200
                response.release()
        assert "HTTP connection limit (16) reached" in caplog.text
        for _, writer in idle:
            writer.close()
    finally:
        release.set()
        await server.stop()


def test_the_connection_cap_stays_below_the_open_file_limit():
    cap = connection_cap(10**9)
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert 16 <= cap <= soft - 256


# -- the Telegram webhook's body ---------------------------------------------------------------


async def test_hostile_webhook_bodies_get_4xx_and_no_traceback(app, caplog):
    async with TelegramStandIn(token="123:ABC", bot_username="crmbot_test_bot") as api:
        from crmbot.config import Settings

        settings = Settings(telegram_token="123:ABC", telegram_api_url=api.base_url, http_host="127.0.0.1", http_port=0,
                            telegram_webhook_url="https://crm.example.com/hook", telegram_webhook_secret="s3cret")
        services = Services(replace(app, settings=settings), telegram=True, slack=False, reminders=False)
        await services.start()
        try:
            url = f"http://127.0.0.1:{services.http.port}/hook"
            nested = b"[" * 100_000 + b"]" * 100_000
            bodies = {
                "nested 100k deep": (b'{"update_id": 1, "message": ' + nested + b"}", "application/json", 400),
                "not JSON": (b'{"update_id": 1, "mess', "application/json", 400),
                "not an update": (json.dumps({"update_id": "x", "message": {"chat": []}}).encode(), "application/json", 400),
                "a form": (b"update_id=1", "application/x-www-form-urlencoded", 415),
                "too large": (b'{"update_id": 1, "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}', "application/json", 413),
            }
            async with aiohttp.ClientSession() as session:
                for name, (body, content_type, status) in bodies.items():
                    headers = {SECRET_HEADER: "s3cret", "Content-Type": content_type}
                    async with session.post(url, data=body, headers=headers) as response:
                        assert response.status == status, name
            assert await healthz(services.http.port) == 200
        finally:
            await services.stop()
    no_tracebacks(caplog)
    assert not api.calls_to("sendMessage")


async def test_mail_intake_runs_beside_telegram_and_asks_about_strangers_in_the_members_telegram_chat(demo):
    import smtplib
    from email.message import EmailMessage

    from crmbot.config import Settings
    from crmbot.store import teams

    async with demo.db.sessions() as session, session.begin():
        alice = await teams.member_by_name(session, (await teams.the_only_team(session)).id, "Alice")
        alice.email = "alice@demo-sales.example"
        await teams.bind_identity(session, alice, "telegram", "4242", alice.created_at, chat_id="4242")
    async with TelegramStandIn(token="123:ABC", bot_username="crmbot_test_bot") as api:
        settings = Settings(telegram_token="123:ABC", telegram_api_url=api.base_url, http_host="127.0.0.1", http_port=0,
                            telegram_webhook_url="https://crm.example.com/hook", telegram_webhook_secret="s3cret",
                            smtp_port=0, smtp_trust_from=True, _env_file=None)
        services = Services(replace(demo, settings=settings), telegram=True, slack=False, reminders=False, email=True)
        await services.start()
        try:
            message = EmailMessage()
            message["From"], message["To"] = "Alice <alice@demo-sales.example>", "Jana Nováková <jana@beta-logistics.cz>"
            message["Cc"], message["Subject"], message["Message-ID"] = "Karel Malý <karel@pekarna.cz>", "Quote", "<tg@x>"
            message.set_content("Hi Jana, the quote is attached.")

            def send() -> None:
                with smtplib.SMTP("127.0.0.1", services.mail.port, timeout=10) as client:
                    client.send_message(message, to_addrs=["crm@demo-sales.example"])

            await asyncio.to_thread(send)
            [asked] = await api.wait_for("sendMessage")
            assert asked.params["chat_id"] in (4242, "4242") and "Karel Malý" in asked.params["text"]
            markup = asked.params["reply_markup"]
            markup = json.loads(markup) if isinstance(markup, str) else markup
            buttons = [b["text"] for row in markup["inline_keyboard"] for b in row]
            assert any("Karel Malý" in b for b in buttons)
        finally:
            await services.stop()


async def test_mail_intake_alone_keeps_a_members_question_for_the_process_that_runs_their_platform(demo):
    import smtplib
    from email.message import EmailMessage

    from sqlalchemy import select

    from crmbot.config import Settings
    from crmbot.store import models, teams

    async with demo.db.sessions() as session, session.begin():
        alice = await teams.member_by_name(session, (await teams.the_only_team(session)).id, "Alice")
        alice.email = "alice@demo-sales.example"
        await teams.bind_identity(session, alice, "telegram", "4242", alice.created_at, chat_id="4242")
    settings = Settings(smtp_port=0, smtp_trust_from=True, _env_file=None)
    services = Services(replace(demo, settings=settings, senders={}), telegram=False, slack=False, reminders=False, email=True)
    await services.start()
    try:
        message = EmailMessage()
        message["From"], message["To"] = "Alice <alice@demo-sales.example>", "Karel Malý <karel@pekarna.cz>"
        message["Subject"], message["Message-ID"] = "Bread", "<alone@x>"
        message.set_content("Two loaves, please.")

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", services.mail.port, timeout=10) as client:
                client.send_message(message, to_addrs=["crm@demo-sales.example"])

        await asyncio.to_thread(send)
    finally:
        await services.stop()
    async with demo.db.sessions() as session:
        [kept] = await session.scalars(select(models.PendingReply))
    assert (kept.adapter, kept.chat_id) == ("telegram", "4242") and "Karel Malý" in kept.replies[0]["text"]


async def test_after_a_restart_long_polling_begins_once_the_overdue_reminders_are_sent(unreminded):
    """A restart finds reminders that fell due while it was down and updates Telegram kept for
    it. The reminders go first, on a loop with nothing else to do: each is recorded the moment
    Telegram takes it, not after the backlog of messages was handled (a crash in between sends
    it twice); the updates wait in Telegram meanwhile, unconfirmed, so none is lost."""
    from datetime import timedelta

    from crmbot.config import Settings
    from crmbot.store import models, teams

    demo = unreminded
    async with demo.db.sessions() as session, session.begin():
        alice = await teams.member_by_name(session, (await teams.the_only_team(session)).id, "Alice")
        await teams.bind_identity(session, alice, "telegram", "4242", alice.created_at, chat_id="4242")
        overdue = demo.bot.clock() - timedelta(hours=1)
        session.add_all(models.FollowUp(team_id=alice.team_id, member_id=alice.id, due_at=overdue, note=f"overdue {n}",
                                        state="pending", created_at=alice.created_at, attempts=0, late=False)
                        for n in range(6))
    async with TelegramStandIn(token="123:ABC", bot_username="crmbot_test_bot") as api:
        for _ in range(3):
            api.push_update(api.text_update(4242, 4242, "/find jana"))
        settings = Settings(telegram_token="123:ABC", telegram_api_url=api.base_url, http_host="127.0.0.1", http_port=0,
                            _env_file=None)
        services = Services(replace(demo, settings=settings), telegram=True, slack=False, reminders=True)
        await services.start()
        try:
            await api.wait_for("sendMessage", 10, timeout=30)
        finally:
            await services.stop()
    order = ["poll" if c.method == "getUpdates" else "reminder" if "Reminder" in c.params["text"] else "answer"
             for c in api.calls if c.method in ("sendMessage", "getUpdates")]
    first_poll = order.index("poll")
    assert order[:first_poll] == ["reminder"] * 7, order
    assert order.count("answer") == 3  # the messages that waited, answered after


async def test_the_parsers_set_ups_are_made_before_long_polling_not_by_the_first_message(app):
    """The first message of a process made the parser's phrase tables and patterns, holding the
    event loop for half a second of CPU; `crmbot run` makes them in a thread before it polls."""
    parser = app.bot.parser
    assert "_short_phrases" not in vars(parser)
    app.bot.warm_up()
    assert "_short_phrases" in vars(parser)
    assert parser.parse("/note jana", "en", NOW).name == "add_note"
