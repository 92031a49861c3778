"""What one parse works out once (crmbot.intents.parse)."""

from datetime import datetime, timezone

from crmbot.i18n import I18n
from crmbot.intents import parse


def test_one_parse_normalises_its_text_once():
    parser = parse.Parser(I18n.packaged())
    now = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
    text = "called Jan Novák, wants a quote, ring him back tmrw 10am"  # a call, a follow-up and a day
    parse._normalised.cache_clear()
    intent = parser.parse(text, "en", now, "Europe/Prague")
    info = parse._normalised.cache_info()
    assert intent.slots.get("due") is not None  # the day was read from the normalised text ("tmrw")
    assert info.misses == 1 and info.hits >= 3
