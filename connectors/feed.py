"""The result type of feed parsers and the helpers RSS/Atom and JSON Feed share."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.normalize import truncate
from newswatch.records import DeadLetter, RawArticle
from newswatch.text import html_to_text, normalize_text

__all__ = ["ParsedFeed", "text_of", "entry_dead_letter", "unparseable"]


@dataclass
class ParsedFeed:
    """What one feed document produced.

    ``articles`` and ``dead_letters`` together account for every entry (an
    entry that cannot become an article is a dead letter with the reason and
    the entry as JSON). ``problem`` says what was odd about the document as a
    whole: not well-formed but recovered, zero entries, ... A document that is
    not a feed at all yields exactly one dead letter (stage ``parse``).
    """

    articles: list[RawArticle] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    problem: str | None = None
    title: str = ""
    link: str | None = None
    language: str | None = None
    version: str = ""
    encoding: str | None = None
    entries: int = 0


_LEFTOVER_ENTITY = re.compile(r"&(?:#\d{2,7}|#[xX][0-9a-fA-F]{2,6}|amp|quot|apos|lt|gt|nbsp|[a-zA-Z]{2,8});")


def text_of(value: Any, content_type: str | None = "text/html", *, multiline: bool = True) -> str:
    """Plain text of a feed field: HTML types go through :func:`html_to_text`.

    Feeds often escape their HTML twice (``&amp;amp;``, ``&#x26;amp;``), so
    entities still present after decoding are decoded once more: in news text
    a literal ``&amp;`` is far rarer than a double-encoded ampersand.
    """
    if value is None:
        return ""
    kind = (content_type or "text/html").lower()
    text = html_to_text(value) if ("html" in kind or "xml" in kind) else normalize_text(value, multiline=True)
    if "&" in text and _LEFTOVER_ENTITY.search(text):
        text = normalize_text(html.unescape(text), multiline=True)
    return text if multiline else normalize_text(text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def entry_dead_letter(entry: Any, reason: str, *, source_id: str, stage: str = "parse") -> DeadLetter:
    """A dead letter for one entry, with the entry kept as JSON."""
    try:
        payload = json.dumps(_jsonable(entry), ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        payload = repr(entry)
    return DeadLetter.of(stage, reason, truncate(payload), source=source_id)


def unparseable(body: bytes, reason: str, *, source_id: str, stage: str = "parse") -> DeadLetter:
    """The one dead letter of a document that is not a feed (payload cut at 1 MB)."""
    text = body[:1_000_000].decode("utf-8", "replace")
    if len(body) > 1_000_000:
        text += f"\n…[truncated, {len(body) - 1_000_000} more bytes]"
    return DeadLetter.of(stage, reason, text, source=source_id)
