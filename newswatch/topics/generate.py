"""Generate realistic watch topics in bulk (benchmarks and scale tests).

Analysts' topics are not random strings: they name an entity or two, a few
content words and phrases, sometimes a prefix, a proximity, an exclusion or a
boost with a ``min_score``. :func:`generate_topics` builds such topics from a
:class:`Vocabulary` taken from real articles (:func:`vocabulary_from_docs`), so
the prefilter sees anchors with a realistic spread of frequencies — mostly
mid-frequency content words, never stop words — instead of a toy vocabulary
where every topic is a candidate for every article.

Deterministic for a given seed. Every generated query parses (it is built from
tokens of :func:`newswatch.fields.tokenize`, so it never contains syntax).
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

from newswatch.config import TopicSpec
from newswatch.fields import ENTITY_LABELS, entity_value, tokenize

#: Words analysts never watch on their own (and Lucene operators in any case).
_STOP = frozenset("""a about after all also an and any are as at be been but by can could did do does for from
had has have he her his how i if in into is it its just more most new no not now of on one or other our out over
said says she so some than that the their them then there these they this to up us was we were what when which
who will with would you your year years after before more than two three first last""".split())

#: Entity values used in generated queries: letters, digits, spaces, '.', '-', apostrophes.
_SAFE_VALUE = re.compile(r"^[^\W_](?:[\w .'-]*[^\W_])?$")


@dataclass(frozen=True)
class Vocabulary:
    """Words (with document frequency), entity values by field, sources and languages."""

    words: tuple[str, ...]
    weights: tuple[float, ...]
    entities: tuple[tuple[str, str], ...]   # (field, value) e.g. ("gpe", "russia")
    sources: tuple[str, ...]
    langs: tuple[str, ...] = ("en",)


def vocabulary_from_docs(docs: Iterable[object], *, min_len: int = 4, max_df: float = 0.2,
                         min_df: int = 1) -> Vocabulary:
    """A :class:`Vocabulary` from :class:`~newswatch.topics.matcher.MatchDoc`-like objects.

    Words: letters only, at least ``min_len`` characters, not stop words, in at
    least ``min_df`` and at most ``max_df`` (fraction) of the documents. Each is
    weighted by ``log(1 + df)``, so topics favour words that actually occur in
    news without being dominated by the most frequent ones.
    """
    docs = list(docs)
    df: Counter[str] = Counter()
    ents: Counter[tuple[str, str]] = Counter()
    sources: Counter[str] = Counter()
    langs: Counter[str] = Counter()
    for d in docs:
        toks = {t.text for t in tokenize(f"{getattr(d, 'title', '')}\n{getattr(d, 'text', '')}")}
        df.update(t for t in toks if t.isalpha() and len(t) >= min_len and t not in _STOP)
        for ent in getattr(d, "entities", ()):
            label, canonical = ent[0], ent[1]
            value = entity_value(canonical)
            if label in ENTITY_LABELS and _SAFE_VALUE.match(value):
                ents[(label.lower(), value)] += 1
        if getattr(d, "source", ""):
            sources[" ".join(str(d.source).split()).lower()] += 1  # type: ignore[attr-defined]
        if getattr(d, "lang", None):
            langs[str(d.lang).lower()] += 1  # type: ignore[attr-defined]
    limit = max(min_df, int(max_df * max(1, len(docs))))
    words = sorted(w for w, n in df.items() if min_df <= n <= limit)
    if not words:
        raise ValueError("no usable words in the documents; pass more (or longer) documents")
    return Vocabulary(words=tuple(words), weights=tuple(math.log1p(df[w]) for w in words),
                      entities=tuple(sorted(ents)) or (("gpe", "russia"),),
                      sources=tuple(sorted(sources)) or ("bbc-world",),
                      langs=tuple(sorted(langs)) or ("en",))


class _Gen:
    def __init__(self, vocab: Vocabulary, rng: random.Random) -> None:
        self.v = vocab
        self.rng = rng
        # cumulative weights once: random.choices with cum_weights is O(log n)
        acc = 0.0
        self.cum = []
        for w in vocab.weights:
            acc += w
            self.cum.append(acc)

    def word(self) -> str:
        return self.rng.choices(self.v.words, cum_weights=self.cum)[0]

    def phrase(self, slop: int = 0) -> str:
        n = self.rng.choice((2, 2, 2, 3))
        body = '"' + " ".join(self.word() for _ in range(n)) + '"'
        return body + (f"~{slop}" if slop else "")

    def prefix(self) -> str:
        w = self.word()
        return w[:max(4, len(w) - self.rng.randint(1, 3))] + "*"

    def entity(self) -> str:
        field, value = self.rng.choice(self.v.entities)
        if self.rng.random() < 0.15:
            field = "entity"
        return f'{field}:"{value}"' if not value.isalnum() else f"{field}:{value}"

    def ors(self, k: int, phrase_share: float = 0.3) -> str:
        parts = [self.phrase() if self.rng.random() < phrase_share else self.word() for _ in range(k)]
        return "(" + " OR ".join(parts) + ")" if k > 1 else parts[0]

    def topic(self, i: int) -> TopicSpec:
        r = self.rng.random()
        rng = self.rng
        exclude = None
        min_score = 0.0
        if r < 0.30:    # entity AND (words or phrases)
            q = f"{self.entity()} AND {self.ors(rng.randint(1, 4))}"
        elif r < 0.45:  # two entities and a word
            q = f"{self.entity()} AND {self.entity()} AND {self.word()}"
        elif r < 0.60:  # phrases, OR'ed
            q = self.ors(rng.randint(1, 3), phrase_share=1.0)
        elif r < 0.70:  # prefix AND word/phrase
            q = f"{self.prefix()} AND {self.ors(rng.randint(1, 2))}"
        elif r < 0.78:  # proximity, with NOT
            q = f"{self.phrase(slop=rng.choice((2, 3, 5)))} AND NOT {self.word()}"
        elif r < 0.86:  # weighted terms with a threshold (EMM-style)
            weights = [rng.choice((1, 1, 2, 3)) for _ in range(rng.randint(4, 6))]
            q = " OR ".join(f"{self.word()}^{w}" for w in weights)
            min_score = float(math.ceil(sum(weights) / 2))  # about half the weight must be present
        elif r < 0.93:  # title field and a nested group
            q = f"title:{self.word()} AND ({self.word()} OR ({self.entity()} AND {self.word()}))"
        else:           # source/lang restricted
            fld = rng.choice(("source", "lang"))
            val = rng.choice(self.v.sources if fld == "source" else self.v.langs)
            val = f'"{val}"' if not val.isalnum() else val
            q = f"{fld}:{val} AND {self.ors(rng.randint(1, 3))}"
        if rng.random() < 0.2:
            exclude = self.ors(rng.randint(1, 2))
        return TopicSpec(id=f"gen-{i:06d}", name=f"generated {i}", query=q, exclude=exclude, min_score=min_score)


def generate_topics(n: int, vocab: Vocabulary, *, seed: int = 1) -> list[TopicSpec]:
    """``n`` realistic topics over ``vocab`` (ids ``gen-000000``...), deterministic for ``seed``."""
    gen = _Gen(vocab, random.Random(seed))
    return [gen.topic(i) for i in range(n)]


def sample(items: Sequence[object], k: int, *, seed: int = 1) -> list[object]:
    """``k`` items (all if fewer), deterministic."""
    items = list(items)
    if len(items) <= k:
        return items
    return random.Random(seed).sample(items, k)
