"""Whether a customer's first name is a man's or a woman's, when the name itself says so.

Only used to tell apart people who share a surname when the message says which one it means by
grammar: "pana Horvata" / "gospe Horvat", "s Horvatem" (a man's surname declined; a woman's
foreign surname is not, in Czech and Slovenian). The book keeps no gender, so the first name is
read: most women's names in the six languages end in -a, men's in a consonant. The exceptions
below are the common ones; any other name that breaks the pattern (a man's name in -a that is
not listed) could mislead, so a cue only ever settles rivals whose names are all read, one of
each kind (`CustomerIndex.search`), and an unlisted name in -e, -i, -o, -u, -y or -h is not read.
"""

from __future__ import annotations

from crmbot.text import fold, words

# men's names ending in -a (Slavic, Italian, Arabic, Hebrew, Russian short forms)
MEN_IN_A = frozenset({
    "luka", "nikola", "jaka", "vojta", "ondra", "jarda", "standa", "tonda", "ziga", "murtuza", "miha", "matija", "andrija", "ilija", "kosta", "joshua", "ezra",
    "mustafa", "musa", "yahya", "zakaria", "luca", "toma", "jirka", "honza", "kuba", "mirza",
    "aleksa", "dima", "vova", "pepa", "franta", "jura", "ota", "zdenda",
})
# women's names ending in a consonant (Azerbaijani, Welsh, English, German, Hebrew and others)
WOMEN_IN_CONSONANT = frozenset({
    "aysel", "aynur", "nigar", "gulnar", "sevinc", "aygun", "konul", "nermin", "sebnem", "gunel", "lamiyat", "ulviyyet",
    "cerys", "gwen", "bethan", "sian", "catrin", "eleri", "nest", "non", "carys", "mair", "megan",
    "ingrid", "karin", "dagmar", "miriam", "ruth", "carmen", "doris", "agnes", "mercedes", "edith", "judith",
    "esther", "rachel", "abigail", "alison", "allison", "ann", "caitlin", "carol", "ellen", "helen", "gretchen",
    "jasmin", "jennifer", "kathryn", "kim", "lilian", "lillian", "madison", "margaret", "mariam", "maryam", "meryem",
    "nur", "gul", "raquel", "shannon", "sharon", "sigrid", "vivien", "yasmin", "zeynep",
    "beatrix", "iris", "irmgard", "elif", "aylin", "ayten", "kristin", "kirsten",
    "lauren", "evelyn", "beth", "elizabeth", "sarah", "hannah", "leah", "deborah", "rebekah", "noor",
    "susan", "karen", "janet", "joan", "kathleen", "eileen", "maureen", "colleen", "doreen", "gwendolyn",
    "rhiannon", "ffion", "angharad", "elin", "manon", "heledd", "branwen", "eluned", "ceridwen", "llinos", "mared",
    "nergiz", "pervin", "turkan", "mehriban", "gulsen", "afaq", "dilber", "gulnaz", "aydan", "sevil",
})
# names given to both, or read either way across the six languages
AMBIGUOUS = frozenset({"andrea", "mira", "sasha", "vanja", "jean", "kim", "robin", "morgan", "taylor", "ashley",
                       "isa", "elia", "nikola", "misa", "sasa", "nikita", "sol", "alex", "sam", "chris", "jo", "jordan", "casey"})
VOWELS = set("aeiouy")
TITLES = frozenset({"ing", "mgr", "bc", "mudr", "judr", "phdr", "rndr", "mvdr", "dr", "prof", "doc", "phd", "mba", "dipl",
                    "mr", "mrs", "ms", "miss", "sir", "pan", "pani", "gospod", "gospa", "ga", "g"})


def first_name_gender(name: str) -> str | None:
    """"m", "f", or None when the first name does not say (or the name is Chinese, family name first)."""
    # titles stored with the name ("Ing. Eva Horvat", "Dr Maja Horvat") are not its first name
    parts = [w for w in words(fold(name).replace(".", ". ")) if w.isalpha() and w.isascii() and w not in TITLES]
    if len(parts) < 2:
        return None
    first = parts[0]
    if first in AMBIGUOUS or len(first) < 2:
        return None
    if first in MEN_IN_A:
        return "m"
    if first in WOMEN_IN_CONSONANT:
        return "f"
    if first.endswith("a"):
        return "f"
    if first[-1] not in VOWELS and not first.endswith("h"):
        return "m"
    return None
