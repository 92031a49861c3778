"""The summary's chart: drawn after the answer is committed, in the member's language, shown
as a photo on Telegram, an upload on Slack and a saved file in the console."""

from __future__ import annotations

import io
import os
import warnings

import pytest
from PIL import Image as PILImage

from crmbot import charts
from crmbot.adapters.console import ConsoleChat
from crmbot.messages import Bars, Chart

# PostgreSQL only for the tests marked `both_engines`: the rest are about words, replies and rules,
# not the engine (see conftest.pytest_collection_modifyitems)
pytestmark = pytest.mark.sqlite_only

PNG = b"\x89PNG\r\n\x1a\n"


def picture(data: bytes) -> PILImage.Image:
    image = PILImage.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.both_engines
async def test_a_managers_summary_comes_with_a_chart_the_console_saves(alice: ConsoleChat, tmp_path):
    [before] = await alice.send("summary this month")
    await alice.send("called jana, wants a quote by friday")
    [summary] = await alice.send("summary this month")
    assert summary.chart is None and summary.image is not None  # drawn before any adapter sees it
    assert summary.image.data.startswith(PNG) and summary.image.filename == "summary-this_month.png"
    image = picture(summary.image.data)
    assert image.width >= 900 and image.height > image.width / 2  # legible at a phone's full width
    assert image.text["Title"].startswith("Team summary: this month")
    described = image.text["Description"]
    assert "Pipeline: Lead" in described and "Won · Lost: Won" in described

    def alices_activity(description: str) -> int:
        [line] = [line for line in description.splitlines() if line.startswith("Activity: ")]
        return int(line.removeprefix("Activity: Alice ").split(";")[0])

    assert alices_activity(described) == alices_activity(picture(before.image.data).text["Description"]) + 1
    assert summary.image.alt == described

    alice.image_folder = tmp_path / "charts"
    shown = alice.show([summary])
    [saved] = alice.image_folder.iterdir()
    assert f"🖼 {saved}" in shown and saved.read_bytes() == summary.image.data


async def test_a_rep_gets_a_chart_of_their_own_numbers(bob: ConsoleChat):
    [summary] = await bob.send("summary this week")
    image = picture(summary.image.data)
    assert image.text["Title"].startswith("Your summary: this week")
    assert "Activity: Alice" not in image.text["Description"]


async def test_the_chart_speaks_the_members_language(alice: ConsoleChat):
    await alice.send("/lang cs")
    [summary] = await alice.send("summary this month")
    image = picture(summary.image.data)
    assert "souhrn" in image.text["Title"].lower() and "summary" not in image.text["Title"]
    described = image.text["Description"]
    assert "Vyhráno" in described and "Won" not in described  # stages in Czech
    assert "15\xa0tis.\xa0€" in described  # and Czech number formats


def test_chinese_words_are_drawn_with_a_cjk_font():
    if not any(name in charts._fonts() for name in charts.CJK_FONTS):
        if os.environ.get("CRMBOT_REQUIRE_CJK_FONT"):
            pytest.fail(f"none of {charts.CJK_FONTS} is installed")
        pytest.skip("no CJK font installed (Debian: fonts-wqy-microhei)")
    chart = Chart("团队总结：本月", (Bars("销售管道", (("潜在客户", (5,), "5 · 12 000 €"), ("谈判", (0,), ""))),))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns of every glyph it has no font for
        data = charts.draw(chart)
    assert picture(data).text["Title"] == "团队总结：本月"


def test_an_empty_period_still_draws_and_panels_without_rows_are_left_out():
    chart = Chart("Your summary", (Bars("Pipeline", (("Lead", (0,), ""), ("Won", (0,), ""))), Bars("Activity", ())))
    image = picture(charts.draw(chart))
    assert image.text["Description"] == "Pipeline: Lead 0; Won 0"


async def test_a_manager_can_ask_for_a_reps_summary_and_a_rep_cannot_ask_for_a_colleagues(alice, bob):
    [theirs] = await alice.send("summary for bob this month")
    assert theirs.kind == "summary" and "Bob's summary: this month" in theirs.text
    assert picture(theirs.image.data).text["Title"].startswith("Bob's summary: this month")
    assert "Activity: Alice" not in picture(theirs.image.data).text["Description"]  # Bob's numbers only
    [refused] = await bob.send("summary for alice")
    assert refused.kind == "not_allowed"
    [own] = await bob.send("summary this week")
    assert own.kind == "summary" and "Your summary" in own.text


def test_a_long_title_wraps_inside_the_picture_and_a_symbol_no_font_has_is_written_as_its_code():
    title = "Komandanın xülasəsi: keçən ay (1 okt 2026 – 31 okt 2026 tarixindən bəri) · Rəşad Quliyev"
    chart = Chart(title, (Bars("Pipeline", (("Uyğun", (2,), "2 · 9K ₼ · 8K €"),)),))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns of every glyph no font has: the manat sign was one
        drawn = picture(charts.draw(chart))
    image = drawn.convert("L")
    assert drawn.text["Title"] == title  # the words as they are: only the drawing spells the symbol out
    top = image.crop((0, 0, image.width, 60))
    edges = [top.getpixel((x, y)) for y in range(top.height) for x in (0, 1, 2, image.width - 3, image.width - 2, image.width - 1)]
    assert min(edges) > 240  # nothing of the title cut at either side of the picture
    assert charts.drawable("9K ₼ · 8K € · CN¥5") == "9K AZN · 8K € · CN¥5"
    assert all(charts._width(line) <= charts.TITLE_COLUMNS for line in charts.wrapped(title).splitlines())
    assert charts.wrapped("团队汇总：本周（自 2026年11月23日 起）") == "团队汇总：本周（自 2026年11月23日 起）"  # short enough: one line


async def test_a_reps_summary_counts_the_complaints_they_handle_not_the_teams(alice, bob):
    def complaints(reply) -> str:
        [line] = [line for line in reply.text.splitlines() if line.startswith("**Complaints**")]
        return line

    [before] = await bob.send("summary this week")
    [team_before] = await alice.send("summary this week")
    await alice.send("complaint from lucie cerna: the brochures came late")  # Alice's customer, nobody assigned
    [after] = await bob.send("summary this week")
    [team_after] = await alice.send("summary this week")
    assert complaints(after) == complaints(before)  # not Bob's to handle
    assert complaints(team_after) != complaints(team_before)
    await alice.send("assign lucie cerna to bob")  # now her complaints are his
    [his] = await bob.send("summary this week")
    assert complaints(his) != complaints(before)


def test_a_long_note_at_a_bars_end_stays_inside_the_picture():
    note = "3 · 500 tis. CN¥ · 72 tis. € · 10 tis. US$ · 5 tis. Kč · 9 tis. £"
    chart = Chart("Povzetek", (Bars("Pipeline", (("Ponudba", (3,), note), ("Lead", (1,), "1"))),))
    image = picture(charts.draw(chart)).convert("L")
    right = [image.getpixel((x, y)) for y in range(image.height) for x in range(image.width - 4, image.width)]
    assert min(right) > 240  # nothing drawn up to the right edge: the note ends inside
