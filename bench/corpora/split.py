"""Split a writer's corpus `bench/corpora/<lang>.json` into a tuning half and a sealed half.

The half a case falls in depends only on its text (a hash), so re-running never moves a case.
Rules may be tuned on `tuning/`; `sealed/` is only ever measured (bench/parse_accuracy.py).
A later round of writing for a language lands beside the earlier ones as `<lang>.<n>.json` in
each half, with its own header (writer, time zone); cases already held are left out.

    python bench/corpora/split.py cs sl zh az en cy
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def half(text: str) -> str:
    return "sealed" if hashlib.sha256(text.encode("utf-8")).digest()[0] % 2 else "tuning"


def _round_file(folder: Path, lang: str) -> Path:
    """The first free name for a language's next round: `<lang>.json`, then `<lang>.2.json`, …"""
    if not (folder / f"{lang}.json").exists():
        return folder / f"{lang}.json"
    n = 2
    while (folder / f"{lang}.{n}.json").exists():
        n += 1
    return folder / f"{lang}.{n}.json"


def _held_texts(lang: str) -> set[str]:
    texts = set()
    for name in ("tuning", "sealed"):
        for path in (HERE / name).glob(f"{lang}.*json"):
            if path.name.split(".")[0] == lang:
                texts |= {c["text"] for c in json.loads(path.read_text(encoding="utf-8"))["cases"]}
    return texts


def split(lang: str) -> dict[str, int]:
    source = HERE / f"{lang}.json"
    corpus = json.loads(source.read_text(encoding="utf-8"))
    header = {k: v for k, v in corpus.items() if k != "cases"}
    held = _held_texts(lang)
    fresh = [c for c in corpus["cases"] if c["text"] not in held]
    counts = {}
    for name in ("tuning", "sealed"):
        cases = [c for c in fresh if half(c["text"]) == name]
        counts[name] = len(cases)
        out = {**header, "half": name, "cases": cases}
        _round_file(HERE / name, lang).write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    source.unlink()  # one copy of each case: the halves are the corpus from now on
    return counts


if __name__ == "__main__":
    for code in sys.argv[1:]:
        print(code, split(code))
