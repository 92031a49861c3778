"""Settings from the environment (prefix CRMBOT_) or a `.env` file; secrets never logged."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_database() -> str:
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return str(data_home / "crmbot" / "crmbot.db")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRMBOT_", env_file=".env", extra="ignore")

    database_url: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    reminder_poll_seconds: float = 1.0
    # a reminder loop holds a claimed row this long, renewing it every third of it while it
    # sends; after a crash another worker takes the row once it runs out. Short, because a worker
    # that takes a crashed worker's rows can crash too before sending them, and each such crash
    # costs a whole lease (15 s made reminders 47 s late under kill -9 every 4 s); long enough that
    # only an event loop stalled for 4 s lets it lapse while a send is in flight.
    reminder_lease_seconds: float = 6.0
    # longer than the platforms' slowest answer: a send cut short may have been taken already
    send_timeout_seconds: float = 40.0
    rate_limit_per_minute: int = 30
    http_header_timeout_seconds: float = 10.0  # also how long an idle kept-alive connection stays
    http_body_timeout_seconds: float = 10.0
    http_max_body_bytes: int = 1024 * 1024  # Telegram updates and Slack events are far smaller
    http_max_connections: int = 1000  # lowered to fit the open-file limit
    # how the world reaches crmbot's HTTP server ("https://crm.example.com"): links it hands out,
    # such as a member's calendar address, start with it; set, `crmbot run` always serves HTTP
    public_url: str | None = None
    smtp_host: str = "127.0.0.1"  # `crmbot run --email`: where mail copied to crmbot arrives
    smtp_port: int = 2525
    smtp_max_bytes: int = 10 * 1024 * 1024  # a larger mail is refused in SMTP (552), never half-read
    # take the From address on trust: only for a relay that accepts mail from signed-in users alone;
    # otherwise the relay's Authentication-Results must say dmarc=pass or dkim=pass for it
    smtp_trust_from: bool = False

    @property
    def database(self) -> str:
        return self.database_url or default_database()
