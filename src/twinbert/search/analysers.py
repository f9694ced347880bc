"""Analysers: text -> the terms a lexical index counts (twinbert.search.lexical).

* ``kiwi``: Korean morphemes from kiwipiepy (Kiwi, Apache-2.0), keeping the content morphemes whose
  part-of-speech tag is in ``tags`` (a preset name or a list of Sejong tags), lower-cased. Particles
  and endings (조사, 어미) carry no topic: "시위를" and "시위가" both give "시위".
* ``words``: Unicode words (``\\w+`` after NFKC, case-folded): English, German, Russian, ... any
  script that separates words with spaces.
* ``ngrams``: character n-grams of each word (words shorter than n kept whole); no dictionary,
  so it works for any script and for misspelled or unknown words, at the cost of a larger index.
* ``auto`` (the default): chosen per text: Kiwi for a text with Hangul, words otherwise. A query is
  analysed by the same rule, so an English query against a Korean index still matches its Latin
  words (Kiwi keeps them whole, tag SL).

The tag presets, measured on korquad dev (BM25 k1 1.2, b 0.75; nDCG@10): nouns 0.943, +verbs and
adjectives 0.952, +adverbs, determiners, auxiliaries and noun suffixes (``content``, the default)
0.953, every morpheme 0.947 (benchmarks/korean_search.py; chosen on dev only).
"""
from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ..errors import InputError
from ..extras import require

ANALYSERS = ("auto", "kiwi", "words", "ngrams")
_NOUNS = ("NNG", "NNP", "NNB", "NR", "NP", "SL", "SH", "SN", "XR")
TAG_PRESETS = {
    "nouns": _NOUNS,
    "nouns-verbs": _NOUNS + ("VV", "VA"),
    "content": _NOUNS + ("VV", "VA", "MAG", "MM", "VX", "XSN"),
}
DEFAULT_TAGS = "content"
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class AnalyserConfig:
    """How texts become terms; saved with a lexical index and used again for its queries."""

    name: str = "auto"          # auto | kiwi | words | ngrams
    tags: str | tuple[str, ...] = DEFAULT_TAGS  # kiwi: a TAG_PRESETS name or Sejong tags to keep
    n: int = 2                  # ngrams: characters per gram

    def __post_init__(self):
        if self.name not in ANALYSERS:
            raise InputError(f"analyser {self.name!r}: expected one of {', '.join(ANALYSERS)}", argument="analyser")
        if isinstance(self.tags, str) and self.tags not in TAG_PRESETS:
            raise InputError(f"tags {self.tags!r}: expected one of {', '.join(TAG_PRESETS)} or a list of "
                             "part-of-speech tags (NNG, NNP, VV, ...)", argument="tags")
        if not isinstance(self.tags, str):
            object.__setattr__(self, "tags", tuple(str(t) for t in self.tags))
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise InputError(f"n={self.n!r}: expected a positive integer (characters per n-gram)", argument="n")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["tags"] = self.tags if isinstance(self.tags, str) else list(self.tags)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> AnalyserConfig:
        tags = data.get("tags", DEFAULT_TAGS)
        return cls(name=data.get("name", "auto"), tags=tags if isinstance(tags, str) else tuple(tags),
                   n=data.get("n", 2))


_KIWI = threading.local()  # Kiwi objects per thread and worker count: loading one takes ~1 s


def _kiwi(threads: int):
    cache = _KIWI.__dict__.setdefault("by_threads", {})
    if threads not in cache:
        kiwipiepy = require("kiwipiepy", "Korean morpheme analysis (analyser 'kiwi' or 'auto' on Korean text)")
        # kiwipiepy >= 0.21: num_workers 1 = the calling thread only, n > 1 = a pool of n
        cache[threads] = kiwipiepy.Kiwi(num_workers=threads)
    return cache[threads]


def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def ngrams(text: str, n: int) -> list[str]:
    grams: list[str] = []
    for word in words(text):
        grams.extend([word] if len(word) <= n else [word[i:i + n] for i in range(len(word) - n + 1)])
    return grams


class Analyser:
    """Callable: ``analyser(texts) -> [[term, ...], ...]``, one list per text. ``threads``: Kiwi's
    worker threads (1: the calling thread)."""

    def __init__(self, config: AnalyserConfig | None = None, threads: int = 1):
        self.config = config or AnalyserConfig()
        self.threads = threads
        tags = self.config.tags
        self._tags = frozenset(TAG_PRESETS[tags] if isinstance(tags, str) else tags)

    def __call__(self, texts: Sequence[str]) -> list[list[str]]:
        name = self.config.name
        if name == "words":
            return [words(t) for t in texts]
        if name == "ngrams":
            return [ngrams(t, self.config.n) for t in texts]
        korean = [i for i, t in enumerate(texts) if name == "kiwi" or _HANGUL.search(t)]
        out = [words(t) if name == "auto" else [] for t in texts]
        if korean:
            tokenized = _kiwi(self.threads).tokenize([unicodedata.normalize("NFKC", texts[i]) for i in korean])
            for i, tokens in zip(korean, tokenized):
                out[i] = [tok.form.casefold() for tok in tokens if tok.tag.split("-")[0] in self._tags]
        return out


__all__ = ["ANALYSERS", "DEFAULT_TAGS", "TAG_PRESETS", "Analyser", "AnalyserConfig", "ngrams", "words"]
