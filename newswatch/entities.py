"""Entity resolution: model mentions → canonical entities, plus gazetteer hits.

Pure functions over plain data: the NER model (``newswatch.nlp``) gives
mentions as ``(text, label, start, end)``; :class:`Gazetteer` (built from
``config/entities.yaml``) maps them to canonical names, drops known model
errors, adds alias mentions the model missed, and adds implied entities (a
Kremlin spokesman's name implies Russia). The result is what topics match on
(``gpe:Russia``) and what the index stores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import ahocorasick

from newswatch.config import EntitiesFile, EntitySpec
from newswatch.fields import ENTITY_LABELS
from newswatch.records import Entity

#: spaCy labels kept as entities; numbers, dates, money and the like are dropped.
KEPT_LABELS = frozenset(ENTITY_LABELS)

_POSSESSIVE = re.compile(r"(?:['’]s|['’])$")
_LEADING_THE = re.compile(r"^the\s+", re.IGNORECASE)
_EDGE_PUNCT = " \t\n\r\"'“”‘’«»()[]{}.,;:!?-–—"


def normalize_mention(text: str) -> str:
    """Surface form → lookup form: no possessive, no leading 'the', single spaces.

    ``"Mike Pompeo's"`` → ``"Mike Pompeo"``; ``"the Kremlin"`` → ``"Kremlin"``.
    """
    t = " ".join(text.split()).strip(_EDGE_PUNCT.replace(".", ""))
    t = _POSSESSIVE.sub("", t).strip(_EDGE_PUNCT.replace(".", ""))
    t = _LEADING_THE.sub("", t)
    return t.strip()


def _key(text: str) -> str:
    return normalize_mention(text).casefold()


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


@dataclass(frozen=True)
class Gazetteer:
    """Canonical entities and their aliases, compiled once per config."""

    by_alias: dict[str, EntitySpec]
    by_canonical: dict[str, EntitySpec]
    ignore: frozenset[str]
    automaton: "ahocorasick.Automaton | None" = field(default=None, compare=False)

    @classmethod
    def from_config(cls, cfg: EntitiesFile | None) -> "Gazetteer":
        cfg = cfg or EntitiesFile()
        by_alias: dict[str, EntitySpec] = {}
        by_canonical: dict[str, EntitySpec] = {}
        auto = ahocorasick.Automaton()
        for spec in cfg.entities:
            by_canonical[spec.canonical] = spec
            for name in (spec.canonical, *spec.aliases):
                by_alias.setdefault(_key(name), spec)
                surface = " ".join(name.split())
                # Case-sensitive text scan: "US" must not match the pronoun "us".
                if surface and not auto.exists(surface):
                    auto.add_word(surface, (surface, spec))
        if len(auto):
            auto.make_automaton()
        return cls(by_alias=by_alias, by_canonical=by_canonical,
                   ignore=frozenset(_key(t) for t in cfg.ignore),
                   automaton=auto if len(auto) else None)

    def lookup(self, text: str) -> EntitySpec | None:
        return self.by_alias.get(_key(text))

    def scan(self, text: str) -> list[tuple[int, int, EntitySpec]]:
        """Alias occurrences in ``text`` on word boundaries, longest first, non-overlapping."""
        if self.automaton is None or not text:
            return []
        found: list[tuple[int, int, EntitySpec]] = []
        for end_idx, (surface, spec) in self.automaton.iter(text):
            start = end_idx - len(surface) + 1
            end = end_idx + 1
            if start > 0 and _is_word_char(text[start - 1]):
                continue
            if end < len(text) and _is_word_char(text[end]):
                continue
            found.append((start, end, spec))
        found.sort(key=lambda t: (-(t[1] - t[0]), t[0]))
        taken: list[tuple[int, int, EntitySpec]] = []
        for s, e, spec in found:
            if all(e <= ts or s >= te for ts, te, _ in taken):
                taken.append((s, e, spec))
        taken.sort(key=lambda t: t[0])
        return taken


Mention = tuple[str, str, int, int]


def resolve_entities(mentions: Iterable[Mention], text: str, gazetteer: Gazetteer,
                     *, scan: bool = True) -> list[Entity]:
    """Canonical entities of one document, in text order.

    - model mentions whose normalized text is in ``ignore`` are dropped;
    - a mention whose text is an alias takes the alias's canonical name and label
      (the model's label is overridden: "Zakharova" tagged ORG is still the person);
    - other mentions keep the model label (if it is a kept label) and their
      normalized text as canonical name;
    - with ``scan``, alias occurrences the model missed are added;
    - every entity whose canonical spec ``implies`` others adds those, at the same offsets.
    """
    out: list[Entity] = []
    spans: list[tuple[int, int]] = []
    for surface, label, start, end in mentions:
        key = _key(surface)
        if not key or key in gazetteer.ignore:
            continue
        spec = gazetteer.by_alias.get(key)
        if spec is not None:
            out.append(Entity(text=surface, label=spec.label, canonical=spec.canonical, start=start, end=end))
        elif label in KEPT_LABELS:
            out.append(Entity(text=surface, label=label, canonical=normalize_mention(surface), start=start, end=end))
        else:
            continue
        spans.append((start, end))
    if scan:
        for start, end, spec in gazetteer.scan(text):
            if any(start < e and end > s for s, e in spans):
                continue
            out.append(Entity(text=text[start:end], label=spec.label, canonical=spec.canonical,
                              start=start, end=end))
            spans.append((start, end))
    implied: list[Entity] = []
    for ent in out:
        spec = gazetteer.by_canonical.get(ent.canonical)
        if spec is None:
            continue
        for name in spec.implies:
            target = gazetteer.by_canonical[name]
            implied.append(Entity(text=ent.text, label=target.label, canonical=target.canonical,
                                  start=ent.start, end=ent.end))
    out.extend(implied)
    out.sort(key=lambda e: (e.start, e.end, e.label))
    return out


def unique_entities(entities: Sequence[Entity]) -> list[tuple[str, str]]:
    """Distinct (label, canonical) pairs, first-seen order (for display and facets)."""
    seen: dict[tuple[str, str], None] = {}
    for e in entities:
        seen.setdefault((e.label, e.canonical), None)
    return list(seen)
