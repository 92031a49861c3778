"""The stand-ins, driven by the real libraries they stand in for."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import Application, ApplicationBuilder, CommandHandler, MessageHandler, filters

from .slack_api import SlackStandIn, sign
from .telegram_api import TelegramStandIn, Upload, text_entities

pytestmark = pytest.mark.asyncio

TOKEN = "123:ABC"
SECRET = "signing-secret"


def telegram_app(api: TelegramStandIn) -> Application:
    return ApplicationBuilder().token(api.token).base_url(api.base_url).build()


# -- Telegram ----------------------------------------------------------------------------


async def test_initialize_asks_get_me_with_the_token_in_the_path():
    async with TelegramStandIn(token=TOKEN, bot_username="crmbot_test_bot") as api:
        app = telegram_app(api)
        await app.initialize()
        try:
            assert app.bot.username == "crmbot_test_bot"
            assert app.bot.id == 123
            [call] = api.calls_to("getMe")
            assert call.path == f"/bot{TOKEN}/getMe"
        finally:
            await app.shutdown()


async def test_a_wrong_token_is_unauthorized():
    async with TelegramStandIn(token=TOKEN) as api:
        bot = ApplicationBuilder().token("999:WRONG").base_url(api.base_url).build().bot
        with pytest.raises(InvalidToken, match="rejected by the server"):
            async with bot:  # shuts its HTTP clients down again when initialize fails
                pass
        assert api.calls == []


async def test_send_message_decodes_form_values_and_answers_a_message():
    async with TelegramStandIn(token=TOKEN) as api:
        async with telegram_app(api) as app:
            keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Done", callback_data="42")]])
            sent = await app.bot.send_message(
                chat_id=42, text="Call <b>Jan</b> &amp; co", parse_mode="HTML",
                reply_markup=keyboard,
            )
            again = await app.bot.send_message(chat_id=42, text="42")

        [first, second] = api.calls_to("sendMessage")
        assert first.params["chat_id"] == 42
        assert first.params["parse_mode"] == "HTML"
        assert first.params["reply_markup"] == {
            "inline_keyboard": [[{"text": "Done", "callback_data": "42"}]]
        }
        assert second.params["text"] == "42"  # a numeric text stays a string
        assert sent.text == "Call Jan & co"
        assert sent.from_user.username == api.bot_username
        assert sent.reply_markup == keyboard
        assert again.message_id > sent.message_id


async def test_html_the_bot_api_would_refuse_is_refused():
    async with TelegramStandIn(token=TOKEN) as api:
        async with telegram_app(api) as app:
            with pytest.raises(BadRequest, match="(?i)can't parse entities"):
                await app.bot.send_message(chat_id=1, text="<Acme> a < b", parse_mode="HTML")
            with pytest.raises(BadRequest, match="text is empty"):
                await app.bot.send_message(chat_id=1, text=" ")


async def test_send_photo_arrives_as_a_multipart_upload():
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    async with TelegramStandIn(token=TOKEN) as api:
        async with telegram_app(api) as app:
            sent = await app.bot.send_photo(chat_id=7, photo=png, caption="Pipeline")

        [call] = api.calls_to("sendPhoto")
        assert call.headers["Content-Type"].startswith("multipart/form-data")
        assert isinstance(call.params["photo"], Upload)
        assert call.params["photo"].content == png
        assert call.params["chat_id"] == 7
        assert sent.caption == "Pipeline"
        assert sent.photo and sent.photo[-1].file_size == len(png)


async def test_edits_follow_the_message_and_refuse_no_op_edits():
    async with TelegramStandIn(token=TOKEN) as api:
        async with telegram_app(api) as app:
            sent = await app.bot.send_message(chat_id=5, text="Follow up?")
            edited = await app.bot.edit_message_text("Done", chat_id=5, message_id=sent.message_id)
            with pytest.raises(BadRequest, match="not modified"):
                await app.bot.edit_message_text("Done", chat_id=5, message_id=sent.message_id)
            with pytest.raises(BadRequest, match="not found"):
                await app.bot.edit_message_reply_markup(chat_id=5, message_id=9999)

        assert edited.text == "Done" and edited.edit_date is not None
        assert api.messages[(5, sent.message_id)]["text"] == "Done"


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_fail_next_gives_forbidden_then_retry_after_then_success():
    async with TelegramStandIn(token=TOKEN) as api:
        async with telegram_app(api) as app:
            api.fail_next("sendMessage", error_code=403,
                          description="Forbidden: bot was blocked by the user")
            api.fail_next("sendMessage", error_code=429, retry_after=3)
            with pytest.raises(Forbidden, match="blocked"):
                await app.bot.send_message(chat_id=1, text="hi")
            with pytest.raises(RetryAfter, match="3"):
                await app.bot.send_message(chat_id=1, text="hi")
            await app.bot.send_message(chat_id=1, text="hi")
        assert len(api.calls_to("sendMessage")) == 3


async def test_polling_delivers_pushed_updates_to_handlers():
    seen: list[tuple[str, str]] = []

    async def on_command(update: Update, context) -> None:
        seen.append(("command", update.message.text))
        await update.message.reply_text("Welcome")

    async def on_text(update: Update, context) -> None:
        seen.append(("text", update.message.text))
        await context.bot.send_chat_action(update.effective_chat.id, "typing")

    async with TelegramStandIn(token=TOKEN) as api:
        app = telegram_app(api)
        app.add_handler(CommandHandler("start", on_command))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
        async with app:
            await app.start()
            await app.updater.start_polling(timeout=2)
            await api.wait_for("getUpdates")  # parked in a long poll: pushing must wake it
            api.push_update(api.text_update(chat_id=42, user_id=42, text="/start@crmbot_test_bot"))
            api.push_update(api.text_update(chat_id=42, user_id=42, text="Called Jan Novák"))
            [reply] = await api.wait_for("sendMessage")
            await api.wait_for("sendChatAction")
            await app.updater.stop()
            await app.stop()

    assert seen == [("command", "/start@crmbot_test_bot"), ("text", "Called Jan Novák")]
    assert reply.params == {"chat_id": 42, "text": "Welcome"}
    methods = [c.method for c in api.calls]
    assert methods.index("deleteWebhook") < methods.index("getUpdates")
    # The last getUpdates (on stop) confirmed both updates, so nothing is left queued.
    assert api.calls_to("getUpdates")[-1].params["offset"] == 3
    assert api.pending_updates == []


async def test_get_updates_long_polls_confirms_and_accepts_json_bodies():
    async with TelegramStandIn(token=TOKEN) as api, aiohttp.ClientSession() as http:
        url = f"{api.base_url}{TOKEN}/getUpdates"

        async def poll(**body) -> list[dict]:
            async with http.post(url, json=body) as response:
                return (await response.json())["result"]

        parked = asyncio.create_task(poll(timeout=5))
        await api.wait_for("getUpdates")
        first = api.push_update(api.text_update(1, 1, "one"))
        assert await asyncio.wait_for(parked, 1) == [first]  # woken by the push, not the timeout
        assert await poll(offset=first["update_id"], timeout=0) == [first]  # not confirmed yet
        assert await poll(offset=first["update_id"] + 1, timeout=0) == []
        # Telegram re-delivering the same update: pushed again, it is served again.
        api.push_update(first)
        assert await poll(offset=first["update_id"] + 1, timeout=0) == [first]
        assert api.calls_to("getUpdates")[0].params == {"timeout": 5}


async def test_update_builders_look_like_telegram():
    async with TelegramStandIn(token=TOKEN) as api:
        update = api.text_update(-100, 9, "/call 📞 @jan_novak", chat_type="supergroup")
        assert update["message"]["chat"]["type"] == "supergroup"
        # Offsets count UTF-16 units: the emoji takes two.
        assert update["message"]["entities"] == [
            {"type": "bot_command", "offset": 0, "length": 5},
            {"type": "mention", "offset": 9, "length": 10},
        ]
        button = api.callback_update(-100, 9, "done:1", message_id=77)
        assert button["update_id"] == update["update_id"] + 1
        assert api.text_update(1, 1, "again", update_id=5)["update_id"] == 5
        assert Update.de_json(button, None).callback_query.data == "done:1"
        assert text_entities("see 10/12 or me@mail.com") == []


async def test_a_document_is_fetched_with_get_file_and_downloaded_from_the_file_url():
    async with TelegramStandIn(token=TOKEN) as api:
        app = ApplicationBuilder().token(api.token).base_url(api.base_url).base_file_url(api.base_file_url).build()
        async with app:
            update = Update.de_json(api.document_update(42, 42, "leads.csv", b"Name\nOlga\n", caption="import"), app.bot)
            document = update.message.document
            assert (document.file_name, document.mime_type, document.file_size) == ("leads.csv", "text/csv", 10)
            file = await app.bot.get_file(document.file_id)
            # PTB turns the file_path getFile answered into the whole download URL
            assert file.file_path == f"{api.base_file_url}{TOKEN}/documents/file_1.csv" and file.file_size == 10
            assert bytes(await file.download_as_bytearray()) == b"Name\nOlga\n"
            [download] = api.calls_to("download")
            assert download.path == f"/file/bot{TOKEN}/documents/file_1.csv"
            with pytest.raises(BadRequest, match="(?i)invalid file_id"):
                await app.bot.get_file("no-such-file")
            huge = Update.de_json(api.document_update(42, 42, "all.csv", b"x", file_size=21 * 1024 * 1024), app.bot)
            with pytest.raises(BadRequest, match="(?i)file is too big"):
                await app.bot.get_file(huge.message.document.file_id)
            contact = Update.de_json(api.contact_update(42, 42, "420777555001", "Olga", last_name="Malá"), app.bot).message.contact
            assert (contact.phone_number, contact.first_name, contact.last_name, contact.vcard) == ("420777555001", "Olga", "Malá", None)


async def test_post_webhook_sends_the_secret_token_header():
    received: list[tuple[str | None, dict]] = []

    async def webhook(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"),
                         await request.json()))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        async with TelegramStandIn(token=TOKEN) as api:
            update = api.text_update(1, 1, "hi")
            assert await api.post_webhook(url, update, secret_token="s3cret") == 200
    finally:
        await runner.cleanup()
    assert received == [("s3cret", update)]


# -- Slack -------------------------------------------------------------------------------


def slack_client(api: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=api.token, base_url=api.base_url)


async def test_auth_test_names_the_bot():
    async with SlackStandIn() as api:
        response = await slack_client(api).auth_test()
        assert response["user_id"] == api.bot_user_id and response["bot_id"] == api.bot_id
        assert response["team_id"] == api.team_id
        [call] = api.calls_to("auth.test")
        assert call.authorization == f"Bearer {api.token}"


async def test_post_message_then_update_it():
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Acme*"}}]
    async with SlackStandIn() as api:
        client = slack_client(api)
        posted = await client.chat_postMessage(channel="U1", text="Acme", blocks=blocks)
        await client.chat_update(channel=posted["channel"], ts=posted["ts"], text="Acme ✓")
        with pytest.raises(SlackApiError) as failure:
            await client.chat_update(channel="C1", ts="1.000001", text="x")

        assert posted["channel"] == api.dm_channel("U1")  # a user id posts into the DM
        assert api.calls_to("chat.postMessage")[0].params["blocks"] == blocks
        assert api.messages[(posted["channel"], posted["ts"])]["text"] == "Acme ✓"
        assert failure.value.response["error"] == "message_not_found"


async def test_views_publish_keeps_the_home_view():
    view = {"type": "home", "blocks": [{"type": "divider"}]}
    async with SlackStandIn() as api:
        response = await slack_client(api).views_publish(user_id="U1", view=view)
        assert response["view"]["id"].startswith("V")
        assert api.calls_to("views.publish")[0].params["view"] == view
        assert api.home_views["U1"]["blocks"] == view["blocks"]


async def test_files_upload_v2_goes_through_all_three_steps():
    content = b"name,stage\nAcme,won\n"
    async with SlackStandIn() as api:
        response = await slack_client(api).files_upload_v2(
            channel="C1", content=content, filename="deals.csv", title="Deals"
        )
        [url_call] = api.calls_to("files.getUploadURLExternal")
        [upload] = api.calls_to("upload")
        [complete] = api.calls_to("files.completeUploadExternal")

        assert url_call.params["filename"] == "deals.csv"
        assert url_call.params["length"] == str(len(content))
        assert upload.params["content"] == content
        assert complete.params["channel_id"] == "C1"
        assert complete.params["files"] == [{"id": upload.params["file_id"], "title": "Deals"}]
        assert response["file"]["id"] == upload.params["file_id"]


async def test_users_info_has_tz_and_locale_when_asked_for():
    async with SlackStandIn() as api:
        api.add_user("U1", name="jana", tz="Europe/Prague", locale="cs-CZ")
        client = slack_client(api)
        with_locale = await client.users_info(user="U1", include_locale=True)
        without = await client.users_info(user="U1")
        assert with_locale["user"]["tz"] == "Europe/Prague"
        assert with_locale["user"]["locale"] == "cs-CZ"
        assert with_locale["user"]["tz_offset"] in (3600, 7200)
        assert "locale" not in without["user"]


async def test_slack_failures_and_a_bad_token():
    async with SlackStandIn() as api:
        api.fail_next("chat.postMessage", retry_after=7)
        with pytest.raises(SlackApiError) as limited:
            await slack_client(api).chat_postMessage(channel="C1", text="hi")
        with pytest.raises(SlackApiError) as wrong:
            await AsyncWebClient(token="xoxb-wrong", base_url=api.base_url).auth_test()

        assert limited.value.response.status_code == 429
        assert limited.value.response.headers["Retry-After"] == "7"
        assert wrong.value.response["error"] == "invalid_auth"


async def test_a_shared_file_has_its_info_and_its_bytes_only_for_the_bot_token():
    async with SlackStandIn(token="xoxb-test") as api:
        client = AsyncWebClient(token=api.token, base_url=api.base_url)
        file = api.share_file("U1", "leads.csv", b"Name\nOlga\n")
        info = await client.files_info(file=file["id"])
        assert info["file"]["url_private_download"] == file["url_private_download"] and info["file"]["size"] == 10
        with pytest.raises(SlackApiError, match="file_not_found"):
            await client.files_info(file="F0NOPE")
        async with aiohttp.ClientSession() as session:
            async with session.get(file["url_private_download"], headers={"Authorization": f"Bearer {api.token}"}) as response:
                assert response.status == 200 and await response.read() == b"Name\nOlga\n"
            async with session.get(file["url_private"], allow_redirects=False) as response:
                assert response.status == 302 and response.headers["Location"].startswith("/?redir=")
        event = json.loads(api.file_shared_event("U1", file["id"]))["event"]
        assert event == {"type": "file_shared", "channel_id": "D1", "file_id": file["id"], "user_id": "U1",
                         "file": {"id": file["id"]}, "event_ts": event["event_ts"]}
        message = json.loads(api.file_share_event("U1", [file]))["event"]
        assert message["subtype"] == "file_share" and message["channel_type"] == "im" and message["files"] == [file]


async def test_signed_requests_drive_a_real_bolt_app():
    async with SlackStandIn() as api:
        bolt = AsyncApp(signing_secret=SECRET, client=slack_client(api),
                        process_before_response=True)

        @bolt.event("message")
        async def on_dm(event, say):
            await say(f"got: {event['text']}")

        @bolt.command("/crm")
        async def on_command(ack, respond, command):
            await ack()
            await respond(f"searching {command['text']}")

        @bolt.action("done")
        async def on_done(ack, body, respond):
            await ack()
            await respond(f"done {body['actions'][0]['value']}")

        runner = web.AppRunner(bolt.web_app(path="/slack/events"))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
        try:
            dm = api.message_im_event("U1", "hello")
            assert (await api.post_signed(url, dm, SECRET))[0] == 200
            assert (await api.post_signed(url, dm, "wrong-secret"))[0] == 401
            assert (await api.post_signed(url, dm, SECRET, timestamp=1))[0] == 401
            command = api.slash_command("acme", user_id="U1", response_url=api.response_url("c"))
            assert (await api.post_signed(url, command, SECRET))[0] == 200
            press = api.block_actions("U1", "done", "fu-1", response_url=api.response_url("b"))
            assert (await api.post_signed(url, press, SECRET))[0] == 200
        finally:
            await runner.cleanup()

        [posted] = api.calls_to("chat.postMessage")
        assert posted.params["channel"] == api.dm_channel("U1")
        assert posted.params["text"] == "got: hello"
        assert api.responses("c")[0]["text"] == "searching acme"
        assert api.responses("b")[0]["text"] == "done fu-1"


async def test_sign_matches_slacks_documented_example():
    # The worked example from Slack's "Verifying requests from Slack" guide.
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
        b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
        b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    headers = sign("8f742231b10e8888abcd99yyyzzz85a5", body, 1531420618)
    assert headers["X-Slack-Signature"] == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )
    assert headers["X-Slack-Request-Timestamp"] == "1531420618"


# -- outages (fault runs) ----------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_a_telegram_outage_answers_errors_drops_or_answers_late_then_ends():
    async with TelegramStandIn(token=TOKEN) as api:
        async with telegram_app(api) as app:
            api.outage(30, methods=["sendMessage"], status=429, retry_after=4)
            with pytest.raises(RetryAfter, match="4"):
                await app.bot.send_message(chat_id=1, text="limited")
            api.outage(30, methods=["sendMessage"], status=500)
            with pytest.raises(NetworkError):
                await app.bot.send_message(chat_id=1, text="broken")
            api.outage(30, methods=["sendMessage"], drop=True)
            with pytest.raises(NetworkError):
                await app.bot.send_message(chat_id=1, text="dropped")
            assert await app.bot.get_me()  # other methods are not covered
            api.outage(30, methods=["sendMessage"], delay=0.3)
            began = asyncio.get_running_loop().time()
            late = await app.bot.send_message(chat_id=1, text="late")
            assert asyncio.get_running_loop().time() - began >= 0.3
            api.outage(30, methods=["sendMessage"], lag=0.3)
            began = asyncio.get_running_loop().time()
            await app.bot.send_message(chat_id=1, text="slow")
            assert asyncio.get_running_loop().time() - began >= 0.3
            api.outages.clear()  # the outage is over
            await app.bot.send_message(chat_id=1, text="fine")

        # only what took effect reached the chat; every answer was noted
        assert [m["text"] for m in api.messages.values()] == ["late", "slow", "fine"]
        assert late.text == "late"
        assert [(a.method, a.status) for a in api.answers if a.method == "sendMessage"] == [
            ("sendMessage", 429), ("sendMessage", 500), ("sendMessage", 200), ("sendMessage", 200),
            ("sendMessage", 200),
        ]
        [limited] = [a for a in api.answers if a.status == 429]
        assert limited.json()["parameters"] == {"retry_after": 4}


async def test_an_outage_ends_by_itself_and_slack_answers_it_like_slack():
    async with SlackStandIn() as api:
        api.outage(0.2, status=429, retry_after=9)
        with pytest.raises(SlackApiError) as limited:
            await slack_client(api).chat_postMessage(channel="C1", text="hi")
        await asyncio.sleep(0.25)
        await slack_client(api).chat_postMessage(channel="C1", text="hi again")

        assert limited.value.response.status_code == 429
        assert limited.value.response.headers["Retry-After"] == "9"
        assert [m["text"] for m in api.messages.values()] == ["hi again"]
        assert [c.params["text"] for c in api.calls_to("chat.postMessage")] == ["hi again"]
