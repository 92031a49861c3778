"""The Slack adapter: a slack-bolt AsyncApp that turns Slack events into `Incoming` and renders
`Reply` as Block Kit.

    adapter = build_slack(app)            # registers app.senders["slack"]
    web_app.add_routes(adapter.routes())  # POST /slack/events: events, commands, interactivity
    await adapter.start_socket_mode()     # instead of HTTP, when CRMBOT_SLACK_APP_TOKEN is set
    await adapter.stop()

Where people talk to crmbot: DMs (message.im), mentions in channels (answered in a thread),
`/crm <text>` (acknowledged at once, answered through the response_url) and buttons
(block_actions: the pressed message is updated to show the choice). App Home shows the
member's agenda. Slack retries are de-duplicated by the core on the event id.
"""

from crmbot.adapters.slack.adapter import SlackAdapter, attach, build_slack
from crmbot.adapters.slack.blocks import (
    escape,
    mrkdwn,
    plain,
    reply_blocks,
    slack_to_plain,
)
from crmbot.adapters.slack.sender import SlackSender, delivery_failed

__all__ = [
    "SlackAdapter", "SlackSender", "attach", "build_slack", "delivery_failed", "escape", "mrkdwn", "plain",
    "reply_blocks", "slack_to_plain",
]
