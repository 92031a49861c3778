"""Split a writer's corpus `bench/corpora/<lang>.json` into a tuning half and a sealed half.

The half a case falls in depends only on its text (a hash), so re-running never moves a case.
Rules may be tuned on `tuning/`; `sealed/` is only ever measured (bench/parse_accuracy.py).

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


def split(lang: str) -> dict[str, int]:
    source = HERE / f"{lang}.json"
    corpus = json.loads(source.read_text(encoding="utf-8"))
    header = {k: v for k, v in corpus.items() if k != "cases"}
    counts = {}
    for name in ("tuning", "sealed"):
        cases = [c for c in corpus["cases"] if half(c["text"]) == name]
        counts[name] = len(cases)
        out = {**header, "half": name, "cases": cases}
        (HERE / name / f"{lang}.json").write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    source.unlink()  # one copy of each case: the halves are the corpus from now on
    return counts


if __name__ == "__main__":
    for code in sys.argv[1:]:
        print(code, split(code))
