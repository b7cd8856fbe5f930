"""Field names and the tokenizer shared by the in-stream matcher and the indexes.

The in-stream topic matcher and the index search must agree on what a "term"
is, or a backtest would flag different stories than the live stream. Both use
:func:`tokenize`, which reproduces tantivy's ``default`` analyzer: split on
every non-alphanumeric character, drop tokens of 40 bytes or more, lower-case.
"""

from __future__ import annotations

import regex
from typing import Iterator, NamedTuple

#: Full-text fields a query can name (``title:``, ``text:``). Unfielded terms search both.
TEXT_FIELDS = ("title", "text")
#: Exact-value fields (``source:bbc-world``, ``lang:en``).
KEYWORD_FIELDS = ("source", "lang", "topic", "cluster")
#: Entity fields by spaCy label, matched on lower-cased canonical names; ``entity:`` is any label.
ENTITY_LABELS = ("PERSON", "ORG", "GPE", "NORP", "LOC", "FAC", "EVENT", "PRODUCT")
ENTITY_FIELDS = tuple(label.lower() for label in ENTITY_LABELS)
ANY_ENTITY_FIELD = "entity"
DEFAULT_FIELDS = TEXT_FIELDS

MAX_TOKEN_BYTES = 40
#: tantivy's SimpleTokenizer keeps runs of Rust ``char::is_alphanumeric`` (Alphabetic or Numeric).
_TOKEN = regex.compile(r"[\p{Alphabetic}\p{N}]+")


class Token(NamedTuple):
    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Tokens of ``text`` with character offsets, as tantivy's default analyzer makes them."""
    return list(iter_tokens(text))


def iter_tokens(text: str) -> Iterator[Token]:
    for m in _TOKEN.finditer(text):
        word = m.group()
        if len(word.encode("utf-8")) >= MAX_TOKEN_BYTES:
            continue
        yield Token(word.lower(), m.start(), m.end())


def entity_value(canonical: str) -> str:
    """How a canonical entity name is stored and compared: lower-cased, spaces collapsed."""
    return " ".join(canonical.split()).lower()
