"""The `crmbot` command: one module per area registers its commands on the shared app."""

from __future__ import annotations

from crmbot.cli import chat, data, members, ops, privacy, quality, reports, routes, settings  # noqa: F401  (registration by import)
from crmbot.cli.common import cli


def main() -> None:
    cli()


__all__ = ["cli", "main"]
