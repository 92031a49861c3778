"""What an import did, row by row where it matters: counts of what was added, updated and
skipped, and why each skipped row was. Reasons are codes with values, so the shell prints them
in English (below) and a chat says them in the member's language."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MAX_DETAILS = 1000  # skipped rows kept with their reasons; beyond that only counted

# The reasons a row is skipped, in the shell's words.
REASONS = {
    "no_name": "no name",
    "wrong_columns": "values in {found} columns, the header has {expected}",
    "not_email": "not an e-mail address: {value}",
    "too_long": "longer than {limit} characters",
    "held": "already held as {customer}, nothing new",
    "no_title": "no deal title",
    "no_customer": "does not say who the deal is with",
    "ambiguous_customer": "several customers are called {name}; add their e-mail or company to the file",
    "deleted": "a deleted deal",
    "bad_amount": "not an amount: {value}",
    "bad_currency": "not a currency code: {value}",
    "bad_date": "not a date: {value}",
    "deal_held": "already held as {deal} for {customer}, nothing new",
    "no_owner": "nobody to own the deal: the team has no members",
}


@dataclass(frozen=True)
class Skip:
    row: int
    column: str | None
    reason: str  # a key of REASONS
    values: dict[str, Any] = field(default_factory=dict)

    def english(self) -> str:
        return REASONS[self.reason].format(**self.values)


@dataclass
class Report:
    kind: str = "contacts"  # or "deals"
    unit: str = "row"  # "contact" for a vCard file
    encoding: str = "utf-8"
    rows: int = 0
    added: int = 0
    updated: int = 0
    skipped: int = 0
    skips: list[Skip] = field(default_factory=list)  # the first MAX_DETAILS, in file order
    reasons: Counter[str] = field(default_factory=Counter)  # every skip, by reason
    customers_added: int = 0  # a deal file's people and organisations not held before
    unknown_owners: Counter[str] = field(default_factory=Counter)
    unknown_stages: Counter[str] = field(default_factory=Counter)  # imported as "lead"
    routed: Counter[int] = field(default_factory=Counter)  # new customers the routing rules gave each member (by id)
    group_id: str = ""

    def skip(self, row: int, reason: str, column: str | None = None, **values: Any) -> None:
        self.skipped += 1
        self.reasons[reason] += 1
        if len(self.skips) < MAX_DETAILS:
            self.skips.append(Skip(row, column, reason, values))

    def lines(self) -> list[str]:
        return [f"{self.unit} {s.row}" + (f", column {s.column!r}" if s.column else "") + f": {s.english()}"
                for s in self.skips]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.customers_added)
