"""Logging that keeps secrets and personal data out of log files.

Tokens appear in library logs (httpx logs every Telegram API URL, which carries the bot
token); e-mail addresses and phone numbers appear in messages we log. Every record passes
through `Redactor` before any handler writes it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

PATTERNS = [
    (re.compile(r"bot\d{3,}:[A-Za-z0-9_-]{10,}"), "bot<token>"),  # Telegram token inside API URLs
    (re.compile(r"\b\d{3,}:[A-Za-z0-9_-]{30,}\b"), "<token>"),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]+"), "<slack-token>"),
    (re.compile(r"\bxapp-[A-Za-z0-9-]+"), "<slack-app-token>"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"(?<![\w:/.])\+?\d[\d ()./-]{6,}\d(?![\w/])"), lambda m: "<phone>" if _phone_like(m.group(0)) else m.group(0)),
]


def _phone_like(text: str) -> bool:
    """Nine digits or more, and not an ISO date: "+420 777 123 456" yes, "2026-11-25" no."""
    return sum(ch.isdigit() for ch in text) >= 9 and not re.fullmatch(r"\d{4}-\d{2}-\d{2}(?:[ T].*)?", text)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<secret>")
    for pattern, replacement in PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class Redactor(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = redact(message, self.secrets), None
        if record.exc_info and record.exc_info[1] is not None:
            # tracebacks can quote a token from a URL; keep the type, redact the text
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info), self.secrets)
            record.exc_info = None
        return True


def setup(level: int = logging.INFO, secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Redactor(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
