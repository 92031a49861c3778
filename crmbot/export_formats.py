"""The team's data in the formats other tools read: CSV (customers with the headers `crmbot import`
reads back, or any other entity's rows), vCard of customers for phones and address books,
iCalendar of follow-ups for calendars. Built from `exporter.export_team`'s JSON-ready lists."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

import vobject
from icalendar import Calendar, Event

from crmbot.exporter import columns

ENTITIES = ("customers", "deals", "interactions", "complaints", "followups")
# the customer CSV's columns: header (one `crmbot import` maps back) and the customer's key
CUSTOMER_COLUMNS = (("Name", "name"), ("Company", "company"), ("E-mail", "emails"), ("Phone", "phones"),
                    ("Address", "address"), ("Website", "website"), ("Status", "status"), ("Owner", "owner"),
                    ("Lead source", "lead_source"), ("Preferred channel", "preferred_channel"), ("Notes", "notes"),
                    ("Tags", "tags"))
FOLLOWUP_MINUTES = 15  # how long a follow-up shows in a calendar


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def _named(rows: list[dict], names: dict[int, str], customers: dict[int, str]) -> list[dict]:
    """Each row with the names beside the ids: a spreadsheet reader knows no ids."""
    out = []
    for row in rows:
        named: dict[str, Any] = {}
        for key, value in row.items():
            named[key] = value
            if key == "customer_id":
                named["customer"] = customers.get(value)
            elif key in ("owner_id", "member_id"):
                named[key.removesuffix("_id")] = names.get(value)
        out.append(named)
    return out


def customers_csv(data: dict[str, list], names: dict[int, str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([header for header, _ in CUSTOMER_COLUMNS])
    for customer in data["customers"]:
        customer = {**customer, "owner": names.get(customer.get("owner_id"))}
        writer.writerow([_cell(customer.get(key)) for _, key in CUSTOMER_COLUMNS])
    return out.getvalue()


def entity_csv(data: dict[str, list], entity: str, names: dict[int, str]) -> str:
    if entity == "customers":
        return customers_csv(data, names)
    customers = {c["id"]: c["name"] for c in data["customers"]}
    rows = _named(data[entity], names, customers)
    out = io.StringIO()
    # with no rows, the header alone: a spreadsheet still shows the columns, an empty file shows nothing
    header = list(rows[0]) if rows else list(_named([dict.fromkeys(columns(entity))], {}, {})[0])
    writer = csv.DictWriter(out, fieldnames=header)
    writer.writeheader()
    writer.writerows({key: _cell(value) for key, value in row.items()} for row in rows)
    return out.getvalue()


def customers_vcard(data: dict[str, list], names: dict[int, str]) -> str:
    cards = []
    for customer in data["customers"]:
        card = vobject.vCard()
        card.add("fn").value = customer["name"]
        family = customer["name"].rsplit(" ", 1)[-1] if " " in customer["name"] else ""
        given = customer["name"][: -len(family)].strip() if family else customer["name"]
        card.add("n").value = vobject.vcard.Name(family=family, given=given)
        if customer.get("company"):
            card.add("org").value = [customer["company"]]
        for email in customer.get("emails") or []:
            card.add("email").value = email
        for phone in customer.get("phones") or []:
            card.add("tel").value = phone
        if customer.get("address"):
            card.add("adr").value = vobject.vcard.Address(street=customer["address"])
        if customer.get("website"):
            card.add("url").value = customer["website"]
        if customer.get("notes"):
            card.add("note").value = customer["notes"]
        # crmbot's own fields, as vCard extensions `crmbot import` reads back
        for key, prop in (("status", "x-crmbot-status"), ("lead_source", "x-crmbot-source"),
                          ("preferred_channel", "x-crmbot-channel")):
            if customer.get(key):
                card.add(prop).value = customer[key]
        if names.get(customer.get("owner_id")):
            card.add("x-crmbot-owner").value = names[customer["owner_id"]]
        if customer.get("tags"):
            card.add("categories").value = list(customer["tags"])  # what address books call groups or labels
        cards.append(card.serialize())
    return "".join(cards)


def followups_ics(data: dict[str, list], names: dict[int, str], now: datetime) -> bytes:
    customers = {c["id"]: c["name"] for c in data["customers"]}
    tagged = {c["id"]: c.get("tags") or [] for c in data["customers"]}
    calendar = Calendar()
    calendar.add("prodid", "-//crmbot//follow-ups//EN")
    calendar.add("version", "2.0")
    for followup in data["followups"]:
        due = datetime.fromisoformat(followup["due_at"])
        event = Event()
        event.add("uid", f"followup-{followup['id']}@crmbot")
        event.add("dtstamp", now)
        event.add("dtstart", due)
        event.add("dtend", due + timedelta(minutes=FOLLOWUP_MINUTES))
        who = customers.get(followup.get("customer_id"))
        note = followup.get("note") or ""
        event.add("summary", f"{who}: {note}" if who and note else who or note or "Follow-up")
        event.add("description", f"{note}\n{names.get(followup['member_id'], '')}".strip())
        event.add("status", "CANCELLED" if followup["state"] == "cancelled" else "CONFIRMED")
        if tagged.get(followup.get("customer_id")):
            event.add("categories", tagged[followup["customer_id"]])  # the customer's tags: calendars filter by them
        calendar.add_component(event)
    return calendar.to_ical()
