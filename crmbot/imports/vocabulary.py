"""What a file's headers and status words mean: every language's `locales/<lang>/import.toml`
at once, since a team's file may come from anywhere. Contact files use `[columns]` and
`[status]`; a file of deals is read with `[deal_columns]` first, then `[columns]` for who each
deal is with, and its stage and status words with `[deal_stages]` and `[deal_status]`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from crmbot.text import fold

if TYPE_CHECKING:  # a reader process unpickles a vocabulary without the reply machinery
    from crmbot.i18n import I18n

FIELDS = ("name", "first_name", "middle_name", "last_name", "company", "email", "phone", "address", "website",
          "notes", "lead_source", "status", "owner", "preferred_channel", "tags", "ignore")
DEAL_FIELDS = ("deal_title", "deal_id", "amount", "currency", "stage", "deal_status", "close_date", "closed_time",
               "lost_reason", "contact", "organization", "deal_owner", "ignore")
DEAL_STATUSES = ("open", "won", "lost", "deleted")


@lru_cache(maxsize=4096)  # a file's headers recur on every row
def folded_label(text: str) -> str:
    # "E-mail 2 Address" -> "e mail address": folded, anything but letters a space
    return " ".join(re.sub(r"[\W\d_]+", " ", fold(text)).split())


@dataclass(frozen=True)
class Vocabulary:
    columns: dict[str, str]  # folded header -> field
    statuses: dict[str, str]  # folded status word -> one of models.CUSTOMER_STATUSES
    deal_columns: dict[str, str]  # folded header -> one of DEAL_FIELDS
    deal_stages: dict[str, str]  # folded stage word -> one of models.STAGES
    deal_statuses: dict[str, str]  # folded status word -> one of DEAL_STATUSES

    @staticmethod
    def of(i18n: I18n) -> Vocabulary:
        tables: dict[str, dict[str, str]] = {name: {} for name in ("columns", "status", "deal_columns", "deal_stages", "deal_status")}
        for language in i18n.languages.values():
            for table, found in tables.items():
                for meaning, words in language.imports.get(table, {}).items():
                    found.update((folded_label(word), meaning) for word in words)
        return Vocabulary(tables["columns"], tables["status"], tables["deal_columns"], tables["deal_stages"], tables["deal_status"])

    @staticmethod
    @cache
    def packaged() -> Vocabulary:
        from crmbot.i18n import I18n

        return Vocabulary.of(I18n.packaged())

    def field(self, header: str) -> str | None:
        return self.columns.get(folded_label(header))

    def status(self, word: str) -> str | None:
        return self.statuses.get(folded_label(word))

    def deal_field(self, header: str) -> str | None:
        """A deal file's column: a deal's own field, else a contact field naming who it is with."""
        label = folded_label(header)
        return self.deal_columns.get(label) or self.columns.get(label)

    def is_deals(self, headers: list[str]) -> bool:
        return any(self.deal_columns.get(folded_label(h)) == "deal_title" for h in headers)

    def stage(self, word: str) -> str | None:
        return self.deal_stages.get(folded_label(word))

    def deal_status(self, word: str) -> str | None:
        return self.deal_statuses.get(folded_label(word))
