"""The fault runs of bench/faults: their arithmetic always; the short run itself (10 to 20
minutes of kill -9, outages and hostile clients against `crmbot run`, PostgreSQL included) only
with CRMBOT_FAULTS=1, since it occupies the machine's cores for that long."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bench.faults.figures import Figures, HarnessError, gaps, lateness, merged
from bench.faults.harness import Run
from bench.faults.traffic import Deliveries, Pushed

ROOT = Path(__file__).resolve().parent.parent


def pushed(*tokens: str) -> list[Pushed]:
    return [Pushed(token, "telegram", str(n), 0.0) for n, token in enumerate(tokens)]


def test_lateness_counts_only_time_when_delivery_was_possible():
    assert merged([(5, 8), (0, 2), (1, 3)]) == [(0, 3), (5, 8)]
    # workers up 0-10 and 20-30: between 10 and 20 nothing could be sent
    assert gaps([(20, 30), (0, 10)], 0, 40) == [(10, 20), (30, 40)]
    down = gaps([(0, 10), (20, 30)], 0, 40)
    assert lateness(due=8, delivered=22, unavailable=down) == pytest.approx(4)  # 2 s before the crash, 2 after
    assert lateness(due=12, delivered=21, unavailable=down) == pytest.approx(1)  # due while down: from the restart
    assert lateness(due=5, delivered=4, unavailable=down) == 0
    # overlapping outages (no worker and no platform) are not subtracted twice
    assert lateness(due=0, delivered=30, unavailable=[(10, 20), (15, 25)]) == pytest.approx(15)


def test_records_are_counted_by_token_lost_apart_from_still_queued():
    figures = Figures("x")
    records = Counter({"#810000001": 1, "#810000002": 2})
    replies = {"0": [1.0], "1": [1.0, 2.0]}
    figures.count_records(pushed("#810000001", "#810000002", "#810000003", "#810000004"), records, replies,
                          waiting={"#810000004"})
    assert (figures.pushed, figures.handled, figures.lost, figures.backlog, figures.duplicated) == (4, 2, 1, 1, 1)
    assert figures.replied == 2
    assert figures.missed == ["no record lost", "no record duplicated", "backlog handled"]


def test_reminder_figures_and_their_targets():
    figures = Figures("x")
    due = {f"#91000000{n}": 100.0 for n in range(3)}
    sent = {"#910000000": [101.0], "#910000001": [140.0, 150.0]}
    states = {"#910000000": ("pending", True), "#910000001": ("pending", True), "#910000002": ("failed", False)}
    figures.count_reminders(due, sent, states, unavailable=[(100.0, 105.0)], kills=[100.5, 140.25])
    assert (figures.reminders, figures.reminded, figures.reminders_lost) == (3, 2, 1)
    assert (figures.reminders_failed, figures.reminders_twice) == (1, 1)
    assert figures.late == [0.0, pytest.approx(35.0)]
    assert figures.info["sent again after"] == "10.0s"
    assert figures.info["sent twice by"].startswith("a kill with the send in flight 0, after the platform took it 1, neither 0")
    assert figures.missed == ["no reminder lost", "≤1% reminders twice", "none >30 s late"]


def test_each_reminder_sent_twice_is_put_down_to_the_kill_nearest_its_first_send():
    """A kill just before the platform took it (the request in flight), just after (before
    crmbot's record), or none near it: a duplicate no kill explains is a fault, not luck."""
    due = {f"#91000000{n}": 100.0 for n in range(3)}
    sent = {"#910000000": [200.0, 210.0], "#910000001": [300.0, 310.0], "#910000002": [400.0, 410.0]}
    figures = Figures("x")
    figures.count_reminders(due, sent, {t: ("pending", True) for t in due}, unavailable=[],
                            kills=[199.9, 300.05, 350.0])
    assert figures.info["sent twice by"] == ("a kill with the send in flight 1, after the platform took it 1, neither 1; "
                                             "kill − first send p50 -0.10s, -50.00…0.05s")


def test_the_ci_run_bounds_reminders_sent_twice_by_the_kills_not_by_a_rate():
    """60 reminders and 12 kills: one sent twice is 1.7%, over the full run's 1% target by the
    luck of one kill, but within what a correct crmbot can do (one per kill); more twice than
    kills is a fault whatever the luck."""
    due = {f"#91000{n:04d}": 100.0 for n in range(60)}
    for twice, kills, met in ((1, 12, True), (3, 2, False)):
        sent = {t: [101.0, 120.0] if n < twice else [101.0] for n, t in enumerate(due)}
        states = {t: ("pending", True) for t in due}
        full, ci = Figures("full"), Figures("ci")
        full.count_reminders(due, sent, states, unavailable=[], kills=[101.01] * kills)
        ci.count_reminders(due, sent, states, unavailable=[], kills=iter([101.01] * kills), twice_per_kill=True)
        assert full.missed == ["≤1% reminders twice"]
        assert ci.missed == ([] if met else ["≤1 reminder twice per kill"])
        assert ci.info["sent twice by"].endswith("p50 0.01s, 0.01…0.01s")  # a generator of kills is read once


def test_a_run_that_targets_replies_waits_for_an_answer_to_every_message():
    """Fault run d once counted 17 replies as lost that crmbot still kept, to send when their
    backoff ended: the harness stopped the worker once records and reminders were in."""
    records, states, sent = Counter({"#840000001": 1, "#840000002": 1}), {}, {}
    answered = {"0": [1.0]}  # the second message's reply is still kept by crmbot
    for replies, accounted in ((False, True), (True, False)):
        run = Run(plan=None, scenario="d", index=4, title="d", replies=replies)
        run.deliveries = Deliveries(platforms=None, workers=[], polling=False)  # nothing in flight
        run.deliveries.pushed.extend(pushed("#840000001", "#840000002"))
        assert run._accounted(records, states, sent, answered) is accounted
    assert run._accounted(records, states, sent, {**answered, "1": [2.0]})


def test_a_token_nobody_sent_means_the_harness_is_wrong():
    with pytest.raises(HarnessError):
        Figures("x").count_records(pushed("#810000001"), Counter({"#899999999": 1}), {}, set())
    with pytest.raises(HarnessError):
        Figures("x").count_records(pushed("#810000001", "#810000001"), Counter(), {}, set())


@pytest.mark.skipif(os.environ.get("CRMBOT_FAULTS") != "1", reason="the short fault run takes 10-20 min: set CRMBOT_FAULTS=1")
def test_the_short_fault_run_meets_every_target(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bench.faults", "--cycles", "20", "--quick", "--keep", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=3600,
    )
    lines = result.stdout.splitlines()
    for scenario in "0abcdefgh":
        assert any(line.startswith(f"{scenario} ") for line in lines), result.stdout + result.stderr
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
