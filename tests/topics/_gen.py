"""Random topics and articles over a small vocabulary (prefilter exactness and tantivy parity tests)."""

from __future__ import annotations

import random

from newswatch.topics.matcher import MatchDoc

VOCAB = ["russia", "taliban", "troops", "bounty", "bounties", "weapon", "weapons", "kill",
         "paid", "forces", "us", "moscow", "talks", "doha"]
ENTITIES = [("GPE", "Russia"), ("ORG", "Taliban"), ("GPE", "United States"),
            ("PERSON", "Maria Zakharova"), ("GPE", "Qatar"), ("ORG", "Kremlin")]
SOURCES = ["bbc-world", "dw", "tass", "nyt"]
LANGS = ["en", "de", None]
SEPARATORS = [" ", " ", " ", ", ", ". ", "-", "'s ", " (", ") ", " U.S. "]


def random_text(rng: random.Random, n_min: int, n_max: int) -> str:
    words = [rng.choice(VOCAB) for _ in range(rng.randint(n_min, n_max))]
    out = []
    for i, w in enumerate(words):
        if rng.random() < 0.2:
            w = w.capitalize()
        out.append(w)
        if i < len(words) - 1:
            out.append(rng.choice(SEPARATORS))
    return "".join(out)


def random_doc(rng: random.Random, i: int) -> MatchDoc:
    text = random_text(rng, 4, 30)
    ents = []
    for label, name in rng.sample(ENTITIES, rng.randint(0, 3)):
        pos = text.lower().find(name.split()[0].lower())
        ents.append((label, name, pos, pos + len(name.split()[0])) if pos >= 0 else (label, name, -1, -1))
    return MatchDoc(id=f"d{i}", title=random_text(rng, 1, 6), text=text, source=rng.choice(SOURCES),
                    lang=rng.choice(LANGS), entities=tuple(ents))


def _leaf(rng: random.Random) -> str:
    r = rng.random()
    w = rng.choice(VOCAB)
    if r < 0.25:
        return w
    if r < 0.33:
        return w[: rng.randint(2, max(2, len(w) - 1))] + "*"
    if r < 0.45:
        k = rng.choice([2, 2, 3])
        words = [rng.choice(VOCAB) for _ in range(k)]
        slop = rng.choice([0, 0, 1, 2, 3])
        return '"' + " ".join(words) + '"' + (f"~{slop}" if slop else "")
    if r < 0.52:
        return f"{rng.choice(['title', 'text'])}:{w}"
    if r < 0.62:
        label, name = rng.choice(ENTITIES)
        fld = rng.choice([label.lower(), "entity"])
        return f'{fld}:"{name}"' if " " in name else f"{fld}:{name}"
    if r < 0.67:
        label, name = rng.choice(ENTITIES)
        return f"{label.lower()}:{name[:3].lower()}*"
    if r < 0.73:
        return f"source:{rng.choice(SOURCES)}"
    if r < 0.77:
        return f"lang:{rng.choice(['en', 'de'])}"
    if r < 0.82:
        return f"{w}^{rng.choice([2, 0.5, 3])}"
    if r < 0.87:
        return "U.S."
    return w


def random_query(rng: random.Random, depth: int = 3) -> str:
    if depth == 0 or rng.random() < 0.3:
        return _leaf(rng)
    a = random_query(rng, depth - 1)
    b = random_query(rng, depth - 1)
    r = rng.random()
    if r < 0.25:
        return f"({a} AND {b})"
    if r < 0.5:
        return f"({a} OR {b})"
    if r < 0.62:
        return f"({a} AND NOT {b})"
    if r < 0.68:
        return f"(NOT {a})"
    if r < 0.78:
        return f"({a} {b})"
    if r < 0.88:
        c = random_query(rng, depth - 1)
        return f"(+{a} {b} -{c})"
    if r < 0.93:
        return f"({a} OR NOT {b})"
    return f"({a})^2"
