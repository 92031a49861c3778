"""crmbot: a chat-first CRM assistant."""

__version__ = "0.1.0"
