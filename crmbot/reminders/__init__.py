"""The reminder loop: due follow-ups and scheduled digests, delivered from the database."""

from crmbot.reminders.loop import PassReport, ReminderLoop

__all__ = ["PassReport", "ReminderLoop"]
