"""Slots survive a button press: stored as JSON in a Choice, read back with their types."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any


def to_json(slots: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in slots.items():
        if isinstance(value, datetime):
            out[key] = {"datetime": value.isoformat()}
        elif isinstance(value, Decimal):
            out[key] = {"decimal": str(value)}
        elif isinstance(value, timedelta):
            out[key] = {"seconds": value.total_seconds()}
        else:
            out[key] = value
    return out


def from_json(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and len(value) == 1:
            kind, raw = next(iter(value.items()))
            if kind == "datetime":
                value = datetime.fromisoformat(raw)
            elif kind == "decimal":
                value = Decimal(raw)
            elif kind == "seconds":
                value = timedelta(seconds=raw)
        out[key] = value
    return out
