"""manifest.yml against the code: the events, command and interactivity the Bolt listeners
really handle, and exactly the bot scopes the Web API calls of the Slack adapter need."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from crmbot.adapters.slack import SlackAdapter, build_slack
from crmbot.adapters.slack.blocks import EVENTS_PATH, button_blocks
from crmbot.app import build
from crmbot.config import Settings
from crmbot.messages import Button

ROOT = Path(__file__).resolve().parents[1]
SLACK_CODE = ROOT / "crmbot" / "adapters" / "slack"

# The bot scope each Web API call of ours needs (api.slack.com/methods/<method>), by slack_sdk
# client method. A call the adapter starts making must be added here, and its scope to the manifest.
CALL_SCOPES: dict[str, str | None] = {
    "chat_postMessage": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_update": "chat:write",
    "views_publish": None,  # needs no scope
    "auth_test": None,  # who the bot is (the adapter asks it for Bolt); needs no scope
    "users_info": "users:read",
    "conversations_open": "im:write",  # a DM by user id, to upload a chart there
    "files_upload_v2": "files:write",  # files.getUploadURLExternal + files.completeUploadExternal
    "files_info": "files:read",  # a file shared to import (its url_private download needs the same scope)
}
# The scope a subscription to each bot event needs (api.slack.com/events/<event>).
EVENT_SCOPES: dict[str, str | None] = {
    "message.im": "im:history",
    "app_mention": "app_mentions:read",
    "app_home_opened": None,
    "file_shared": "files:read",
}
COMMAND_SCOPE = "commands"


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))


@pytest.fixture
async def adapter(tmp_path) -> AsyncIterator[SlackAdapter]:
    """The real adapter with its listeners registered; nothing here reaches Slack."""
    settings = Settings(slack_bot_token="xoxb-manifest", slack_signing_secret="secret",
                        slack_api_url="http://127.0.0.1:9/api/", _env_file=None)
    app = build(settings, db=f"sqlite:///{tmp_path / 'crm.db'}")
    yield build_slack(app)
    await app.close()


def event_request(name: str) -> dict:
    """An Events API callback for a manifest event name: `message.im` is a message in an IM."""
    kind, _, channel_type = name.partition(".")
    event = {"type": kind, "user": "U1", "channel": "D1", "ts": "1.2", "text": "hi", "tab": "home"}
    if channel_type:
        event["channel_type"] = channel_type
    return {"type": "event_callback", "team_id": "T1", "event_id": "Ev1", "event": event}


def command_request(command: str) -> dict:
    return {"command": command, "text": "help", "user_id": "U1", "channel_id": "D1", "team_id": "T1"}


def press_request() -> dict:
    """A press of a button as our own blocks draw it."""
    button = button_blocks((Button("Yes", "c:token"),))[0].to_dict()["elements"][0]
    action = {"type": "button", "block_id": "b1", "action_id": button["action_id"], "value": button["value"]}
    return {"type": "block_actions", "user": {"id": "U1"}, "actions": [action], "team": {"id": "T1"}}


async def handled_by(adapter: SlackAdapter, body: dict) -> list[str]:
    """The names of the Bolt listeners that would take this request."""
    request = AsyncBoltRequest(body=body, mode="socket_mode")
    # slack-bolt keeps its listeners here; matching runs only their matchers, no listener code
    listeners = adapter.bolt._async_listeners
    return [listener.ack_function.__name__ for listener in listeners
            if await listener.async_matches(req=request, resp=BoltResponse(status=200))]


async def test_the_bot_events_are_exactly_those_the_listeners_handle(adapter, manifest):
    subscribed = manifest["settings"]["event_subscriptions"]["bot_events"]
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert "/crm" in commands
    declared = {f"event {name}": event_request(name) for name in subscribed}
    declared |= {f"command {name}": command_request(name) for name in commands}
    if manifest["settings"]["interactivity"]["is_enabled"]:
        declared["interactivity"] = press_request()
    taken: dict[str, list[str]] = {what: await handled_by(adapter, body) for what, body in declared.items()}
    assert all(taken.values()), f"declared in manifest.yml but no listener takes it: {[w for w, by in taken.items() if not by]}"
    listeners = {listener.ack_function.__name__ for listener in adapter.bolt._async_listeners}
    unused = listeners - {name for names in taken.values() for name in names}
    assert not unused, f"listeners for requests manifest.yml does not subscribe to: {unused}"


def test_the_app_home_and_every_url_match_the_code(manifest):
    app_home = manifest["features"]["app_home"]
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert app_home["home_tab_enabled"] == ("app_home_opened" in events)
    assert app_home["messages_tab_enabled"] == ("message.im" in events)
    urls = [manifest["settings"]["event_subscriptions"]["request_url"], manifest["settings"]["interactivity"]["request_url"]]
    urls += [c["url"] for c in manifest["features"]["slash_commands"]]
    assert all(url.endswith(EVENTS_PATH) for url in urls), urls  # all arrive on the adapter's one route
    assert manifest["settings"]["socket_mode_enabled"] is False  # the HTTP variant; the README says how to switch


def web_api_calls() -> set[str]:
    """Every `<...>client.<method>(...)` call in the Slack adapter's code."""
    calls = set()
    for path in SLACK_CODE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                if (isinstance(owner, ast.Attribute) and owner.attr == "client") or (isinstance(owner, ast.Name) and owner.id == "client"):
                    calls.add(node.func.attr)
    return calls


def test_the_bot_scopes_are_exactly_those_the_code_needs(manifest):
    calls = web_api_calls()
    assert calls == set(CALL_SCOPES), f"calls without a scope in CALL_SCOPES: {calls - set(CALL_SCOPES)}; " \
                                      f"no longer made: {set(CALL_SCOPES) - calls}"
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert set(events) <= set(EVENT_SCOPES), f"events without a scope in EVENT_SCOPES: {set(events) - set(EVENT_SCOPES)}"
    needed = {CALL_SCOPES[c] for c in calls} | {EVENT_SCOPES[e] for e in events}
    if manifest["features"]["slash_commands"]:
        needed.add(COMMAND_SCOPE)
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(needed - {None})
