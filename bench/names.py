"""Realistic customer books for the benchmark, and typo'd mentions of their customers.

A real book of business is not a few hundred names recombined: most surnames and company names
are rare. Names here come from the six languages crmbot speaks (Czech, Slovene, English, Welsh,
Azerbaijani, Chinese): common first names and surnames from lists, and a long tail of surnames
and brands built from each language's syllables. Tail words are drawn by a Zipf-like rank
(rank = u^-1/ALPHA), so distinct name tokens grow like real ones: ~70k at 100k customers,
~350k at 1M. Everything is seeded: the same size and seed give the same book.
"""

from __future__ import annotations

import itertools
import random
import unicodedata
from dataclasses import dataclass

from crmbot.text import fold

# Zipf-like tails: the exponent sets how fast new words keep appearing as the book grows
ALPHA = 0.4
SCALE = 80  # how many tail words are common
LIST_SURNAME = 0.12  # share of surnames taken from the common-surname lists
LIST_BRAND = 0.12  # share of company brands taken from the common-brand list


@dataclass(frozen=True)
class Language:
    code: str
    males: tuple[str, ...]
    females: tuple[str, ...]
    surnames: tuple[str, ...]
    onsets: tuple[str, ...]
    nuclei: tuple[str, ...]
    endings: tuple[str, ...]  # closing a built surname
    suffixes: tuple[str, ...]  # company legal forms
    tld: str
    weight: int

    def feminine(self, surname: str) -> str:
        """The woman's form of a surname where the language has one."""
        if self.code == "cs":
            if surname.endswith("ý"):
                return surname[:-1] + "á"
            if surname.endswith("ský") or surname.endswith("cký"):
                return surname[:-1] + "á"
            if surname.endswith("a"):
                return surname[:-1] + "ová"
            return surname + "ová"
        if self.code == "az" and surname.endswith("v"):
            return surname + "a"
        return surname


def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split())


LANGUAGES = (
    Language(
        "cs",
        _split("Jan Petr Tomáš Martin Jakub Lukáš Jiří Pavel Josef Jaroslav Miroslav Zdeněk Václav Michal František "
               "Karel Milan Vojtěch Ondřej Radek Filip Aleš Stanislav Roman Vladimír Matěj Štěpán Dominik Marek Vít"),
        _split("Jana Marie Eva Hana Anna Lenka Kateřina Lucie Věra Alena Petra Veronika Jaroslava Tereza Martina "
               "Michaela Jitka Zuzana Markéta Ivana Barbora Kristýna Šárka Klára Zdeňka Růžena Dagmar Simona"),
        _split("Novák Svoboda Novotný Dvořák Černý Procházka Kučera Veselý Horák Němec Marek Pospíšil Pokorný Hájek "
               "Král Jelínek Růžička Beneš Fiala Sedláček Doležal Zeman Kolář Navrátil Čermák Urban Blažek Kříž "
               "Kovář Bartoš Vlček Polák Musil Kopecký Šimek Konečný Malý Holub Štěpánek Kadlec Dostál Šťastný"),
        _split("b br č d dr h ch j k kr l m n p pr r ř s st š t tr v vl z ž"),
        _split("a á e é ě i í o ou u ů y"),
        _split("k ek ák ík ec ka ník ský ný ta čka l"),
        _split("s.r.o. a.s. v.o.s. spol."),
        "cz", 30,
    ),
    Language(
        "sl",
        _split("Luka Žiga Matej Jure Rok Nejc Gašper Anže Miha Blaž Tadej Primož Aljaž Urban Jaka Tilen"),
        _split("Maja Nina Eva Špela Nika Urška Tjaša Mojca Petra Katja Ana Lara Manca Neža Pia Zala"),
        _split("Novak Horvat Kovačič Krajnc Zupančič Potočnik Kovač Mlakar Kos Vidmar Golob Turk Božič Kralj "
               "Zupan Bizjak Hribar Korošec Rozman Kotnik Oblak Petek Žagar Kolar"),
        _split("b br č d g gr j k kr l lj m n nj p r s sk š t v z ž"),
        _split("a e i o u"),
        _split("ič čič nik ar ec šek ovec an ej"),
        _split("d.o.o. d.d. s.p."),
        "si", 14,
    ),
    Language(
        "en",
        _split("James John Robert Michael William David Richard Joseph Thomas Charles Daniel Matthew Mark Paul "
               "Steven Andrew Kevin Brian George Edward Liam Sean Connor Oliver Harry Jack"),
        _split("Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Nancy Lisa Emily Emma "
               "Olivia Sophie Chloe Megan Grace Amelia Isla Ava"),
        _split("Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore Jackson Martin "
               "Lee Thompson White Harris Clark Lewis Robinson Walker Young Allen King Wright Scott Green Baker "
               "Adams Nelson Hill Campbell Mitchell Roberts Carter Phillips Turner Parker Collins O'Neil O'Brien"),
        _split("b bl br c ch cl cr d f g gr h k l m n p pr r s sh st t th tr w wh"),
        _split("a e i o u ee oo ar er or"),
        _split("son ton ley er ford field wood man ham ridge well"),
        _split("Ltd LLC Inc. Group PLC"),
        "co.uk", 20,
    ),
    Language(
        "cy",
        _split("Rhys Gareth Dafydd Owen Ifan Gethin Huw Emyr Iwan Aled Dylan Gwilym Elis Llŷr Siôn Tudur"),
        _split("Siân Cerys Nia Ffion Eleri Mared Angharad Gwen Manon Lowri Catrin Elin Heledd Non Mali Alaw"),
        _split("Jones Davies Williams Evans Thomas Roberts Hughes Lewis Morgan Griffiths Owen Price Jenkins "
               "Pritchard Powell Rees Parry Vaughan Llewellyn Bowen Prosser Pugh Gruffydd"),
        _split("b c d dd f ff g h ll m n p r rh s t th w"),
        _split("a e i o u w y ae ai"),
        _split("ydd wen wyn og an in ws"),
        _split("Cyf. Ltd CCC"),
        "cymru", 10,
    ),
    Language(
        "az",
        _split("Elvin Rəşad Orxan Tural Anar Kamran Elnur Vüsal Ramil Fərid Murad Nicat Rauf Zaur"),
        _split("Aysel Leyla Günel Nərmin Səbinə Könül Aynur Gülnar Lalə Şəbnəm Fidan Nigar Samirə Ülviyyə"),
        _split("Məmmədov Əliyev Həsənov Quliyev Hüseynov İsmayılov Abbasov Cəfərov Rzayev Nəsirov Süleymanov "
               "Bağırov Kərimov Vəliyev Qasımov Mustafayev"),
        _split("b c ç d g ğ h x k q l m n r s ş t v y z"),
        _split("a ə e ı i o ö u ü"),
        _split("ov yev lı zadə bəyli"),
        _split("MMC ASC QSC"),
        "az", 10,
    ),
    Language(
        "zh",
        _split("伟 强 磊 军 洋 勇 杰 涛 明 超 刚 平 辉 鹏 华 飞"),
        _split("芳 娜 敏 静 丽 艳 娟 霞 燕 玲 婷 雪 慧 颖 琳 晶"),
        _split("王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 林 罗 高"),
        (), (), (),
        _split("有限公司 集团 股份有限公司"),
        "cn", 8,
    ),
)

# characters of Chinese given names and brand words beyond the common ones
ZH_CHARS = "安邦宝彬博才昌辰成诚承春聪达德东栋方峰福富光广国海浩和恒宏鸿虎家建江金锦晋京景俊凯康坤兰乐雷立利良林龙隆茂美民铭宁鹏奇启谦庆荣瑞润森山善盛世双顺思松泰天通伟文熙祥鑫信兴旭轩亚彦阳耀义毅英永友宇裕元远云泽振正志中忠洲卓子"
ZH_CITIES = _split("上海 北京 深圳 广州 杭州 南京 成都 武汉 天津 苏州")
ZH_TRADES = _split("科技 贸易 物流 电子 建设 食品 服装 医药 机械 传媒")
BUSINESS_WORDS = _split(
    "Stavby Doprava Logistika Elektro Auto Servis Trade Consulting Systems Solutions Design Media Foods Bakery "
    "Farm Textil Metal Plast Glass Energy Solar Tech Soft Data Cloud Print Studio Transport Motors Imports Export "
    "Holding Partners Digital Medical Pharma Optik Sport Hotel Travel Garden Wood Stone Gwasanaethau Tekstil Tikinti"
)
BRAND_WORDS = _split(
    "Acme Alfa Beta Gama Delta Omega Nova Atlas Orion Apex Vertex Zenit Polaris Aurora Vega Sirius Lumen Kvítek "
    "Horizont Alpine Baltic Danube Vltava Tatra Šumava Karpaty Adriatic Bohemia Morava Triglav Bled Cymru Eryri "
    "Xəzər Qafqaz Blue Red Green Silver Golden North West East"
)


def zipf_rank(rng: random.Random) -> int:
    return int(SCALE * (1.0 - rng.random()) ** (-1.0 / ALPHA))


def built_word(lang: Language, rank: int, ending: bool) -> str:
    """The rank-th word of the language's long tail: the same rank always gives the same word."""
    x = _mix(rank * 131 + ord(lang.code[0]) * 7 + ord(lang.code[1]))
    x, syllables = divmod(x, 3)
    letters = []
    for _ in range(2 + (syllables == 2)):
        x, onset = divmod(x, len(lang.onsets))
        x, nucleus = divmod(x, len(lang.nuclei))
        letters += (lang.onsets[onset], lang.nuclei[nucleus])
    if ending:
        letters.append(lang.endings[x % len(lang.endings)])
    return "".join(letters).capitalize()


def _mix(x: int) -> int:
    """A cheap 64-bit hash (splitmix64's finaliser): seeding a Random per word is too slow."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def _zh_person(rng: random.Random, lang: Language, male: bool) -> str:
    given = rng.choice(lang.males if male else lang.females)
    if rng.random() < 0.7:
        given = rng.choice(ZH_CHARS) + given
    return rng.choice(lang.surnames) + given


def _zh_company(rng: random.Random) -> str:
    brand = "".join(rng.choice(ZH_CHARS) for _ in range(2))
    return f"{rng.choice(ZH_CITIES)}{brand}{rng.choice(ZH_TRADES)}{rng.choice(LANGUAGES[-1].suffixes)}"


def person(rng: random.Random, lang: Language) -> str:
    male = rng.random() < 0.55
    if lang.code == "zh":
        return _zh_person(rng, lang, male)
    first = rng.choice(lang.males if male else lang.females)
    if rng.random() < LIST_SURNAME:
        surname = rng.choice(lang.surnames)
    else:
        surname = built_word(lang, zipf_rank(rng), ending=True)
    return f"{first} {surname if male else lang.feminine(surname)}"


def company(rng: random.Random, lang: Language, name: str) -> str | None:
    roll = rng.random()
    if roll < 0.2:
        return None
    if lang.code == "zh":
        return _zh_company(rng)
    if roll < 0.45:
        brand = name.split()[-1]  # a family firm
    elif rng.random() < LIST_BRAND:
        brand = rng.choice(BRAND_WORDS)
    else:
        brand = built_word(lang, zipf_rank(rng) + 1_000_000_000, ending=False)
    return f"{brand} {rng.choice(BUSINESS_WORDS)} {rng.choice(lang.suffixes)}"


_NO_DECOMPOSITION = str.maketrans({"ł": "l", "Ł": "L", "ß": "ss", "ı": "i", "ə": "e", "Ə": "E", "İ": "I"})


def ascii_fold_keep_case(text: str) -> str:
    """What someone typing without the language's keyboard writes: "Novák" -> "Novak"."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_NO_DECOMPOSITION))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def make_customers(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    cumulative = list(itertools.accumulate(lang.weight for lang in LANGUAGES))
    out = []
    for i in range(count):
        lang = rng.choices(LANGUAGES, cum_weights=cumulative)[0]
        name = person(rng, lang)
        firm = company(rng, lang, name)
        if lang.code == "zh":
            mail = f"kehu{i}@qiye.cn"
        else:
            mail = f"{fold(name).replace(' ', '.')}{i}@{fold((firm or name).split()[0])}.{lang.tld}".replace("'", "")
        digits = f"{rng.getrandbits(40):013d}"
        out.append({"name": name, "company": firm, "emails": [mail],
                    "phones": [f"+{digits[:3]} {digits[3:6]} {digits[6:9]} {digits[9:12]}"]})
    return out


# -- typo'd mentions ---------------------------------------------------------------------------

KINDS = ("deletion", "insertion", "substitution", "transposition", "no diacritics", "case ending")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
# what names look like inflected in a sentence, in the languages that inflect them
# ("s Janem Novákem", "Tjašou", "z Novakom", "Məmmədovaya"); the parser takes the endings it
# knows off before the look-up, the index must stand the rest
CASE_ENDINGS = {
    "cs": {"a": ("u", "ou", "y", "e"), "á": ("é", "ou"), "ý": ("ého", "ému"), "": ("a", "ovi", "em", "u")},
    "sl": {"a": ("o", "i", "e"), "": ("a", "u", "om", "em")},
    "az": {"a": ("ya", "nın"), "ə": ("yə", "nin"), "": ("un", "a", "la")},
}
FIRST_NAMES = {first: lang.code for lang in LANGUAGES for first in lang.males + lang.females}


def language_of(name: str) -> str:
    """The language a customer's name was made in (Chinese names are not spaced)."""
    return FIRST_NAMES.get(name.split()[0], "zh")


def _inflect(rng: random.Random, word: str, lang: str) -> str:
    endings = CASE_ENDINGS[lang]
    for last in endings:
        if last and word.endswith(last):
            return word[:-len(last)] + rng.choice(endings[last])
    return word + rng.choice(endings[""])


def _edit(rng: random.Random, word: str, kind: str) -> str:
    # never the first letter: people rarely get that wrong
    i = rng.randrange(1, len(word))
    if kind == "deletion":
        return word[:i] + word[i + 1:]
    if kind == "insertion":
        return word[:i] + rng.choice(LETTERS) + word[i:]
    if kind == "substitution":
        return word[:i] + rng.choice(LETTERS.replace(word[i].lower(), "")) + word[i + 1:]
    for j in [i - 1, *range(1, len(word) - 1)]:  # transpose two neighbours that differ
        if j >= 1 and word[j] != word[j + 1]:
            return word[:j] + word[j + 1] + word[j] + word[j + 2:]
    return word


def typo(rng: random.Random, name: str, kind: str) -> str:
    parts = name.split()
    if kind == "no diacritics":
        mention = ascii_fold_keep_case(name)
    else:
        long_enough = [k for k, p in enumerate(parts) if len(p) >= 4] or [len(parts) - 1]
        k = rng.choice(long_enough)
        if kind == "case ending":
            parts = [_inflect(rng, p, language_of(name)) for p in parts]
        elif has_cjk_only(parts[k]):
            parts[k] = parts[k][:-1] + rng.choice(ZH_CHARS)  # a wrong character from the same sound
        else:
            parts[k] = _edit(rng, parts[k], kind)
        mention = " ".join(parts)
        if rng.random() < 0.5:
            mention = ascii_fold_keep_case(mention)  # typos and missing accents come together
    return mention.lower() if rng.random() < 0.6 else mention  # chat is mostly lower case


def has_cjk_only(word: str) -> bool:
    return all("\u4e00" <= ch <= "\u9fff" for ch in word)


def mentions(rng: random.Random, names: list[str], n: int) -> list[tuple[str, str, str, str]]:
    """(kind, typed mention, intended name, its language) for n customers whose name, as
    matched (folded), no other customer has: a mention of them has one right answer."""
    counts: dict[str, int] = {}
    for name in names:
        key = fold(name)
        counts[key] = counts.get(key, 0) + 1
    out = []
    while len(out) < n:
        kind = KINDS[len(out) % len(KINDS)]
        name = rng.choice(names)
        lang = language_of(name)
        if counts[fold(name)] > 1:
            continue
        if kind == "no diacritics" and ascii_fold_keep_case(name) == name:
            continue  # the mention would be the name itself
        if kind == "case ending" and lang not in CASE_ENDINGS:
            continue
        out.append((kind, typo(rng, name, kind), name, lang))
    return out
