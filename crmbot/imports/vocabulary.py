"""What a file's headers and status words mean: every language's `locales/<lang>/import.toml`
at once, since a team's file may come from anywhere."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache

from crmbot.i18n import I18n
from crmbot.text import fold

FIELDS = ("name", "first_name", "middle_name", "last_name", "company", "email", "phone", "address", "website",
          "notes", "lead_source", "status", "owner", "preferred_channel", "tags", "ignore")


@lru_cache(maxsize=4096)  # a file's headers recur on every row
def folded_label(text: str) -> str:
    # "E-mail 2 Address" -> "e mail address": folded, anything but letters a space
    return " ".join(re.sub(r"[\W\d_]+", " ", fold(text)).split())


@dataclass(frozen=True)
class Vocabulary:
    columns: dict[str, str]  # folded header -> field
    statuses: dict[str, str]  # folded status word -> one of models.CUSTOMER_STATUSES

    @staticmethod
    def of(i18n: I18n) -> Vocabulary:
        columns: dict[str, str] = {}
        statuses: dict[str, str] = {}
        for language in i18n.languages.values():
            for field_name, headers in language.imports.get("columns", {}).items():
                columns.update((folded_label(h), field_name) for h in headers)
            for status, words in language.imports.get("status", {}).items():
                statuses.update((folded_label(w), status) for w in words)
        return Vocabulary(columns, statuses)

    @staticmethod
    @cache
    def packaged() -> Vocabulary:
        return Vocabulary.of(I18n.packaged())

    def field(self, header: str) -> str | None:
        return self.columns.get(folded_label(header))

    def status(self, word: str) -> str | None:
        return self.statuses.get(folded_label(word))
