"""What the intent classifier is taught (crmbot.intents.train), and what one parse works out once."""

import shutil
from datetime import datetime, timezone

from crmbot.i18n import LOCALES_DIR, I18n
from crmbot.intents import parse, train


def _locales(tmp_path, extra: str = "") -> I18n:
    """The shipped locales copied, with `extra` lines put at the top of English `[intents.remind]`."""
    root = tmp_path / ("more" if extra else "same")
    shutil.copytree(str(LOCALES_DIR), root)
    path = root / "en" / "language.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("[intents.remind]\n", f"[intents.remind]\n{extra}", 1), encoding="utf-8")
    return I18n(root=root)


def test_a_word_added_to_a_phrase_table_adds_its_own_example_and_changes_no_other(tmp_path):
    before = train.vocabulary_examples(_locales(tmp_path))
    after = train.vocabulary_examples(_locales(tmp_path, '"nudge me" = 3\n'))
    assert len(after) == len(before) + 1
    added = [e for e in after if e not in set(before)]
    assert len(added) == 1 and "nudge me" in added[0].text and added[0].intent == "remind"
    assert added[0].text.replace("nudge me", "").strip()  # with a customer's name, as every remind word


def test_one_parse_normalises_its_text_once():
    parser = parse.Parser(I18n.packaged())
    now = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
    text = "called Jan Novák, wants a quote, ring him back tmrw 10am"  # a call, a follow-up and a day
    parse._normalised.cache_clear()
    intent = parser.parse(text, "en", now, "Europe/Prague")
    info = parse._normalised.cache_info()
    assert intent.name == "log_call" and intent.slots.get("due") is not None
    assert info.misses == 1 and info.hits >= 3
