"""Logs never carry tokens, e-mail addresses or phone numbers."""

from __future__ import annotations

import logging

from crmbot.logs import Redactor, redact


def test_redact_tokens_emails_and_phones():
    line = ("POST https://api.telegram.org/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage "
            "to jan.novak@acme.cz +420 777 123 456 with xoxb-1234-5678-abcdef")
    out = redact(line, ["s3cret-signing"])
    assert "AAHdqTcv" not in out and "jan.novak@acme.cz" not in out and "777 123 456" not in out and "xoxb-1234" not in out
    assert out.startswith("POST https://api.telegram.org/bot<token>/sendMessage to <email> <phone> with <slack-token>")


def test_filter_redacts_formatted_args_and_secrets(caplog):
    logger = logging.getLogger("crmbot.test")
    logger.addFilter(Redactor(["hunter2hunter2"]))
    try:
        with caplog.at_level(logging.INFO):
            logger.info("secret %s for %s, deal 12,500 EUR on 2026-11-25", "hunter2hunter2", "eva@acme.cz")
    finally:
        logger.filters.clear()
    assert caplog.records[0].getMessage() == "secret <secret> for <email>, deal 12,500 EUR on 2026-11-25"
