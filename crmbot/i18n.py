"""Languages: phrase tables, reply layouts, message catalogs and locale formats, one `I18n` per app.

Each reply's layout is written once, in `templates/<name>.j2`, with its words marked for
translation (jinja2's i18n extension: `{% trans %}`, `_()`, `ngettext`). Each language is a
folder `locales/<lang>/` holding `language.toml` (how people say things: intent vocabulary,
stage, period, date and currency words), `strings.toml` (short labels looked up by key),
`import.toml` (the headers and status words of files people import) and `LC_MESSAGES/crmbot.po`
(the templates' words, with the language's plural forms). English is the msgids themselves and
the fallback for any label or message a language lacks.
"""

from __future__ import annotations

import io
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache, cached_property
from gettext import NullTranslations
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_interval, format_skeleton, format_time, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_compact_currency, format_currency, format_decimal, format_percent
from babel.support import Translations
from jinja2 import BaseLoader, Environment, StrictUndefined, TemplateNotFound

# inside the package, read through importlib.resources: a wheel installed anywhere finds them
LOCALES_DIR: Traversable = files("crmbot") / "locales"
TEMPLATES_DIR: Traversable = files("crmbot") / "templates"
FALLBACK = "en"
DOMAIN = "crmbot"
PLURAL_CATEGORIES = frozenset({"zero", "one", "two", "few", "many", "other"})  # CLDR's names


class Translated(str):
    """Text a catalog message made: the values filled into it were neutralised on the way in,
    and its own `**` is the templates' markup, so it is not neutralised again."""


_PAIRED_STARS = re.compile(r"\*(?=\*)")


def _neutralise_markup(value: Any) -> Any:
    """Values put into a template can't switch formatting on: `**` is the templates' own bold
    marker, so a customer called '**x**' stays literal on every platform. A zero-width space
    goes between every two adjacent stars, so no run of them ('***x***') keeps a pair."""
    if isinstance(value, Translated):
        return value
    if isinstance(value, str):
        return _PAIRED_STARS.sub("*\u200b", value)
    return "" if value is None else value


def _fill(message: str, values: dict[str, Any]) -> Translated:
    # newstyle gettext: the message is always %-formatted, so a literal % is written %%
    return Translated(message % {key: _neutralise_markup(value) for key, value in values.items()})


def catalog_functions(translations: NullTranslations) -> dict[str, Callable[..., Translated]]:
    """The gettext functions a template calls (newstyle: values as keywords), for one language.
    They are handed to each render, never installed on the shared environment, so two
    languages rendering at once cannot see each other's words."""

    def gettext(message: str, **values: Any) -> Translated:
        return _fill(translations.gettext(message), values)

    def ngettext(singular: str, plural: str, n: int, **values: Any) -> Translated:
        values.setdefault("num", n)
        return _fill(translations.ngettext(singular, plural, n), values)

    def pgettext(context: str, message: str, **values: Any) -> Translated:
        return _fill(translations.pgettext(context, message), values)

    return {"_": gettext, "gettext": gettext, "ngettext": ngettext, "pgettext": pgettext}


def _at(table: dict[str, Any], key: str) -> Any:
    """What a dotted key ("slack.more") names in a nested TOML table, or None."""
    node: Any = table
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def read_catalog(po: Traversable, code: str) -> Translations:
    """A .po file compiled in memory: untranslated and fuzzy messages fall back to the msgid."""
    catalog = read_po(io.BytesIO(po.read_bytes()), locale=code, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


@dataclass(eq=False)  # hashed by identity: one object per language per app
class Language:
    code: str
    data: dict[str, Any]
    strings: dict[str, Any]
    catalog: Traversable | None = None  # LC_MESSAGES/crmbot.po; English has none, its words are the msgids
    imports: dict[str, Any] = field(default_factory=dict)  # import.toml: file headers and status words

    @property
    def name(self) -> str:
        return self.data["meta"]["name"]

    @cached_property
    def babel(self) -> Locale:
        """Parsed once: every date, number and plural of every reply asks for it."""
        return Locale.parse(self.data["meta"].get("babel", self.code))

    @cached_property
    def compiled(self) -> dict[str, list[re.Pattern]]:
        """Every regex list in the phrase table, compiled once."""
        patterns = self.data.get("patterns", {})
        # `{hour}` in a pattern stands for an hour in digits or in words (`[clock_hours]`, the
        # forms a clock time takes: "desáté", "desetih", "beşdə"), `{hour_word}` for words only
        words = sorted(self.data.get("clock_hours", {}), key=len, reverse=True)
        spelled = "|".join(re.escape(w).replace("\\ ", r"\s+") for w in words) or "(?!)"
        places = {"{hour}": rf"(?:\d{{1,2}}|{spelled})", "{hour_word}": f"(?:{spelled})"}

        def compiled(pattern: str) -> re.Pattern:
            for place, value in places.items():
                pattern = pattern.replace(place, value)
            return re.compile(pattern, re.IGNORECASE)

        return {key: [compiled(p) for p in value] for key, value in patterns.items()}

    @cached_property
    def translations(self) -> NullTranslations:
        """Read on first use, once: an app whose members all speak English parses no catalog."""
        return read_catalog(self.catalog, self.code) if self.catalog is not None else NullTranslations()

    @cached_property
    def gettext(self) -> dict[str, Callable[..., Translated]]:
        return catalog_functions(self.translations)

    def label(self, key: str, values: dict[str, Any]) -> str | None:
        """A label from strings.toml; a table of CLDR plural categories (one, few, other…) is
        chosen from by the `count` value, with this language's plural rules."""
        node = _at(self.strings, key)
        if isinstance(node, dict) and "count" in values and node.keys() <= PLURAL_CATEGORIES:
            node = node.get(self.babel.plural_form(abs(values["count"])), node.get("other"))
        if not isinstance(node, str):
            return None
        return node.format(**values) if values else node


class ResourceLoader(BaseLoader):
    """Templates read as package resources, so they load from a wheel, a zip or a checkout."""

    def __init__(self, root: Traversable) -> None:
        self.root = root

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Any]:
        node = self.root
        for part in template.split("/"):
            node = node / part
        if not node.is_file():
            raise TemplateNotFound(template)
        return node.read_text(encoding="utf-8"), template, lambda: True


@dataclass
class I18n:
    root: Traversable = LOCALES_DIR
    templates: Traversable = TEMPLATES_DIR
    languages: dict[str, Language] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for folder in sorted((p for p in self.root.iterdir() if (p / "language.toml").is_file()), key=lambda p: p.name):
            data = tomllib.loads((folder / "language.toml").read_text(encoding="utf-8"))
            strings_file = folder / "strings.toml"
            strings = tomllib.loads(strings_file.read_text(encoding="utf-8")) if strings_file.is_file() else {}
            imports_file = folder / "import.toml"
            imports = tomllib.loads(imports_file.read_text(encoding="utf-8")) if imports_file.is_file() else {}
            po = folder / "LC_MESSAGES" / f"{DOMAIN}.po"
            self.languages[folder.name] = Language(folder.name, data, strings, po if po.is_file() else None, imports)
        self.env = Environment(
            loader=ResourceLoader(self.templates),
            extensions=["jinja2.ext.i18n"],
            undefined=StrictUndefined,
            finalize=_neutralise_markup,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.env.newstyle_gettext = True  # type: ignore[attr-defined]  # read when templates compile
        self._minutes: dict[tuple, str] = {}  # Formats.when's words, by language and local minute

    @staticmethod
    @cache
    def packaged() -> I18n:
        """The locales shipped in the package, read and compiled once per process: every app
        built in it (workers, tests) shares the parsed catalogs and compiled templates."""
        return I18n()

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

    def translator(self, code: str | None) -> Callable[..., Translated]:
        """`_` in Python code: a language's gettext, values as keywords, like the templates'."""
        functions = self.language(code).gettext
        return functions["_"]

    def words(self, key: str) -> frozenset[str]:
        """A word list from every language's phrase table ("notify.off"): any member may type any of them."""
        lists = (_at(language.data, key) for language in self.languages.values())
        return frozenset(word for found in lists if isinstance(found, list) for word in found)

    def string(self, code: str, key: str, **values: Any) -> str:
        for lang in (code, FALLBACK):
            found = self.languages[lang].label(key, values) if lang in self.languages else None
            if found is not None:
                return found
        return key

    def render(self, code: str, template: str, tz: str = "UTC", **values: Any) -> str:
        tpl = self.env.get_template(f"{template}.j2")
        catalog = self.language(code).gettext  # this member's words, for this render only
        text = tpl.render(**catalog, f=Formats(self, code, tz), t=lambda key, **kw: self.string(code, key, **kw), **values)
        return re.sub(r"\n{3,}", "\n\n", text).strip()


@dataclass
class Formats:
    """Babel formats for one member: what templates call as f.money(...), f.when(...), and the
    punctuation a layout joins its parts with (f.colon, f.list(...)), which differs by script."""

    i18n: I18n
    code: str
    tz: str

    @property
    def locale(self) -> Locale:
        return self.i18n.language(self.code).babel

    @property
    def _catalog(self) -> dict[str, Callable[..., Translated]]:
        return self.i18n.language(self.code).gettext

    def money(self, amount: Decimal | int | float | None, currency: str | None) -> str:
        if amount is None:
            return "—"
        if not currency:
            return format_decimal(amount, locale=self.locale)
        return format_currency(amount, currency, locale=self.locale, format_type="standard")

    def compact_money(self, amount: Decimal | int | float, currency: str | None) -> str:
        """"€15K", "15 tis. €", "¥50万": where space is short (a chart's labels) or a glance is
        what is wanted (the summary's pipeline totals)."""
        if not currency:
            return format_decimal(amount, format="#,##0", locale=self.locale)
        return format_compact_currency(amount, currency, locale=self.locale, fraction_digits=1)

    def number(self, value: Any) -> str:
        return format_decimal(value, locale=self.locale)

    def days(self, count: float) -> str:
        """"2 days", "2 dny", "2天": a number of days in words, in the language's plural."""
        return format_timedelta(timedelta(days=count), granularity="day", threshold=10**6, locale=self.locale)

    def share(self, value: float | None) -> str:
        """"67%", "67 %", "67%": a share of a whole, or a dash when there is nothing to share."""
        return "—" if value is None else format_percent(value, locale=self.locale)

    def country(self, code: str) -> str:
        """"CZ" as the reader's language names it: "Czechia", "Česko", "捷克"."""
        return self.locale.territories.get(code.upper(), code)

    def when(self, moment: datetime | None) -> str:
        if moment is None:
            return "—"
        local = moment.astimezone(ZoneInfo(self.tz))
        # the words show the day and the minute: the same minute reads the same, so a burst of
        # reminders due together (or set together) formats it once
        key = (self.code, local.year, local.month, local.day, local.hour, local.minute)
        cache = self.i18n._minutes
        said = cache.get(key)
        if said is None:
            if len(cache) >= 10_000:
                cache.clear()
            said = cache[key] = f"{format_date(local, 'medium', locale=self.locale)} {format_time(local, 'short', locale=self.locale)}"
        return said

    def when_day(self, moment: datetime | None) -> str:
        """"Fri, 27 Nov 2026 09:00": a moment with its weekday, to be checked at a glance."""
        if moment is None:
            return "—"
        local = moment.astimezone(ZoneInfo(self.tz))
        return f"{format_skeleton('yMMMEd', local, locale=self.locale)} {format_time(local, 'short', locale=self.locale)}"

    def day(self, moment: datetime | None) -> str:
        if moment is None:
            return "—"
        return format_date(moment.astimezone(ZoneInfo(self.tz)), "medium", locale=self.locale)

    def weekday(self, moment: datetime) -> str:
        """"Friday 27 November", "pá 27. listopadu": a day heading in an agenda."""
        return format_skeleton("MMMMEEEEd", moment.astimezone(ZoneInfo(self.tz)), locale=self.locale)

    def span(self, first: date, last: date) -> str:
        """"1 – 15 Nov 2026", "1.–15. 11. 2026": the first and last day of a span, both included."""
        if first == last:
            return format_date(first, "medium", locale=self.locale)
        return format_interval(first, last, "yMMMd", locale=self.locale)

    def yearly_day(self, month: int, day: int, year: int | None = None) -> str:
        """A day that comes back every year: "12 March", "12. března", "3月12日"; with its year
        when known ("12 March 1980")."""
        if year is not None:
            return format_date(date(year, month, day), "long", locale=self.locale)
        return format_skeleton("MMMMd", date(2000, month, day), locale=self.locale)  # 2000 has a 29 February

    def month(self, moment: datetime) -> str:
        """"December 2026", "prosinec 2026": a month on its own."""
        return format_date(moment.astimezone(ZoneInfo(self.tz)), "LLLL y", locale=self.locale)

    def time(self, moment: datetime) -> str:
        return format_time(moment.astimezone(ZoneInfo(self.tz)), "short", locale=self.locale)

    def stage(self, stage: str) -> str:
        return self.i18n.string(self.code, f"stage.{stage}")

    def role(self, role: str) -> str:
        return self.i18n.string(self.code, f"role.{role}")

    @property
    def colon(self) -> Translated:
        """Between a label and its value: 'Owner: Bob'."""
        pgettext = self._catalog["pgettext"]  # called by that name, so `pybabel extract` finds the msgid
        return pgettext("punctuation", ": ")

    @property
    def comma(self) -> Translated:
        """Between the items of a list."""
        pgettext = self._catalog["pgettext"]
        return pgettext("punctuation", ", ")

    def paren(self, text: Any) -> Translated:
        """An aside after a word: 'Call (Bob)'."""
        pgettext = self._catalog["pgettext"]
        return pgettext("punctuation", " (%(text)s)", text=text)

    def list(self, items: Iterable[Any], bold: bool = False) -> Translated:
        """Items joined by the language's list separator, each neutralised (and bold if asked)."""
        parts = (str(_neutralise_markup(item)) for item in items)
        return Translated(self.comma.join(f"**{part}**" if bold else part for part in parts))
