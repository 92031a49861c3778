"""Languages: phrase tables, reply templates and locale formats, one `I18n` per app.

Each language is a folder `locales/<lang>/` holding `language.toml` (how people say things:
intent vocabulary, stage, period, date and currency words), `strings.toml` (short labels)
and `templates/` (jinja2 replies). English is the fallback for anything a language lacks.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_currency, format_decimal
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, TemplateNotFound

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
FALLBACK = "en"


@dataclass(eq=False)  # hashed by identity: one object per language per app
class Language:
    code: str
    data: dict[str, Any]
    strings: dict[str, Any]

    @property
    def name(self) -> str:
        return self.data["meta"]["name"]

    @property
    def babel(self) -> Locale:
        return Locale.parse(self.data["meta"].get("babel", self.code))

    @cached_property
    def compiled(self) -> dict[str, list[re.Pattern]]:
        """Every regex list in the phrase table, compiled once."""
        patterns = self.data.get("patterns", {})
        return {key: [re.compile(p, re.IGNORECASE) for p in value] for key, value in patterns.items()}


def _neutralise_markup(value: Any) -> Any:
    """Values put into a template can't switch formatting on: `**` is the templates' own bold
    marker, so a customer called '**x**' stays literal on every platform."""
    if isinstance(value, str):
        return value.replace("**", "*\u200b*")
    return "" if value is None else value


@dataclass
class I18n:
    root: Path = LOCALES_DIR
    languages: dict[str, Language] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for folder in sorted(p for p in self.root.iterdir() if (p / "language.toml").exists()):
            data = tomllib.loads((folder / "language.toml").read_text(encoding="utf-8"))
            strings_file = folder / "strings.toml"
            strings = tomllib.loads(strings_file.read_text(encoding="utf-8")) if strings_file.exists() else {}
            self.languages[folder.name] = Language(folder.name, data, strings)
        self.env = Environment(
            loader=ChoiceLoader([FileSystemLoader(str(self.root))]),
            undefined=StrictUndefined,
            finalize=_neutralise_markup,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )

    @property
    def codes(self) -> list[str]:
        return list(self.languages)

    def language(self, code: str | None) -> Language:
        return self.languages.get(self.pick(code), self.languages[FALLBACK])

    def pick(self, hint: str | None) -> str:
        """The locale we have for a platform hint such as 'cs-CZ' or 'zh-hans'."""
        if hint:
            base = hint.replace("_", "-").split("-")[0].lower()
            if base in self.languages:
                return base
        return FALLBACK

    def string(self, code: str, key: str, **values: Any) -> str:
        for lang in (code, FALLBACK):
            table = self.languages[lang].strings if lang in self.languages else {}
            node: Any = table
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, str):
                return node.format(**values) if values else node
        return key

    def render(self, code: str, template: str, tz: str = "UTC", **values: Any) -> str:
        try:
            tpl = self.env.get_template(f"{code}/templates/{template}.j2")
        except TemplateNotFound:
            tpl = self.env.get_template(f"{FALLBACK}/templates/{template}.j2")
        fmt = Formats(self, code, tz)
        text = tpl.render(f=fmt, t=lambda key, **kw: self.string(code, key, **kw), **values)
        return re.sub(r"\n{3,}", "\n\n", text).strip()


@dataclass
class Formats:
    """Babel formats for one member: what templates call as f.money(...), f.when(...)."""

    i18n: I18n
    code: str
    tz: str

    @property
    def locale(self) -> Locale:
        return self.i18n.language(self.code).babel

    def money(self, amount: Decimal | int | float | None, currency: str | None) -> str:
        if amount is None:
            return "—"
        if not currency:
            return format_decimal(amount, locale=self.locale)
        return format_currency(amount, currency, locale=self.locale, format_type="standard")

    def number(self, value: Any) -> str:
        return format_decimal(value, locale=self.locale)

    def when(self, moment: datetime | None) -> str:
        if moment is None:
            return "—"
        local = moment.astimezone(ZoneInfo(self.tz))
        return f"{format_date(local, 'medium', locale=self.locale)} {format_time(local, 'short', locale=self.locale)}"

    def day(self, moment: datetime | None) -> str:
        if moment is None:
            return "—"
        return format_date(moment.astimezone(ZoneInfo(self.tz)), "medium", locale=self.locale)

    def time(self, moment: datetime) -> str:
        return format_time(moment.astimezone(ZoneInfo(self.tz)), "short", locale=self.locale)

    def stage(self, stage: str) -> str:
        return self.i18n.string(self.code, f"stage.{stage}")

    def role(self, role: str) -> str:
        return self.i18n.string(self.code, f"role.{role}")
