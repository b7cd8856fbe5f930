"""Recognise a document by its content and parse it with the right parser.

Wire drops and ``newswatch ingest`` receive files whose names cannot be
trusted: a ``.xml`` may be RSS, Atom or NewsML-G2, a ``.json`` a JSON Feed or
NDJSON. :func:`detect_format` looks at the first bytes (the XML root element
and its namespace, or whether the first line is a complete JSON object) and
:func:`parse_document` dispatches. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from connectors.article import parse_html_article, parse_text_article
from connectors.ndjson import parse_ndjson
from connectors.newsml import is_newsml_root, parse_newsml
from connectors.rss import parse_feed
from connectors.sniff import head_text, root_element
from newswatch.records import DeadLetter, RawArticle

__all__ = ["DocumentFormat", "ParsedDocument", "detect_format", "parse_document"]

DocumentFormat = Literal["newsml", "ndjson", "feed", "html", "text"]

@dataclass
class ParsedDocument:
    """Articles and dead letters of one document, its detected format and any problem."""

    format: DocumentFormat
    articles: list[RawArticle] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    problem: str | None = None


def detect_format(body: bytes, *, single: bool = False) -> DocumentFormat:
    """``newsml`` (G2 root element), ``ndjson`` (first line a complete JSON object
    that is not a JSON Feed), ``html`` (an article page), ``text`` (plain text:
    headline line, then body) or ``feed`` (RSS/Atom/RDF/JSON Feed; also the
    fallback for other XML, whose parser turns anything else into a dead letter).
    ``html`` and ``text`` are only considered for ``single`` documents known to
    hold one article (``.txt``/``.html`` files, text/html responses), never in feeds
    or wire drops, where such content is garbage to dead-letter."""
    text = head_text(body).lstrip()
    if text.startswith("{"):
        first = text.split("\n", 1)[0].strip()
        try:
            obj = json.loads(first)
        except ValueError:
            return "feed"               # a multi-line JSON document: JSON Feed or nothing
        if isinstance(obj, dict) and ("jsonfeed.org" in str(obj.get("version", "")) or "items" in obj):
            return "feed"
        return "ndjson"
    root = root_element(text)
    if root and is_newsml_root(*root):
        return "newsml"
    if single and ((root and root[0].lower() == "html") or text[:15].lower().startswith("<!doctype html")):
        return "html"
    if single and text and not text.startswith("<"):
        return "text"
    return "feed"


def parse_document(body: bytes, *, source_id: str, fetched_at: datetime, origin: str,
                   language_hint: str | None = None, response_headers: Mapping[str, str] | None = None,
                   extra_tags: tuple[str, ...] = (), format: DocumentFormat | None = None,
                   single: bool = False) -> ParsedDocument:
    """Parse ``body`` with the parser its content calls for. Never raises.

    ``origin`` (path or URL) names the document in dead-letter reasons and is
    the base for relative links. A document that yields neither articles nor
    dead letters (an empty NDJSON file, a feed with zero entries) has ``problem`` set.
    """
    kind = format or detect_format(body, single=single)
    if kind == "newsml":
        articles, dead = parse_newsml(body, source_id=source_id, fetched_at=fetched_at, origin=origin,
                                      language_hint=language_hint)
        doc = ParsedDocument(kind, articles, dead)
    elif kind == "ndjson":
        articles, dead = parse_ndjson(body, source_id=source_id, fetched_at=fetched_at, origin=origin,
                                      language_hint=language_hint)
        doc = ParsedDocument(kind, articles, dead)
    elif kind == "text":
        articles, dead = parse_text_article(body, source_id=source_id, fetched_at=fetched_at, origin=origin,
                                            language_hint=language_hint)
        doc = ParsedDocument(kind, articles, dead)
    elif kind == "html":
        articles, dead = parse_html_article(body, source_id=source_id, fetched_at=fetched_at, origin=origin,
                                            language_hint=language_hint)
        doc = ParsedDocument(kind, articles, dead)
    else:
        parsed = parse_feed(body, source_id=source_id, feed_url=origin, fetched_at=fetched_at,
                            language_hint=language_hint, response_headers=response_headers,
                            extra_tags=extra_tags)
        # name the document in reasons, as the NewsML and NDJSON parsers do
        dead = [DeadLetter.of(d.stage, f"{origin}: {d.reason}", d.payload, source=d.source)
                for d in parsed.dead_letters]
        doc = ParsedDocument(kind, parsed.articles, dead, parsed.problem)
    if not doc.articles and not doc.dead_letters and doc.problem is None:
        doc.problem = "document contains no records" if body.strip() else "empty document"
    return doc
