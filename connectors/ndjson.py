"""Newline-delimited JSON articles to RawArticles.

Each line is one JSON object: either a full record as newswatch writes it
(``RawArticle.to_json()``, or a ``Story`` whose article is taken), or a simple
object a wire or a script can produce without knowing our schema::

    {"title": "...", "url": "https://...", "summary": "<p>HTML or text</p>",
     "content": "...", "published": "2026-02-17T20:19:37Z", "guid": "...",
     "language": "en", "tags": ["..."], "authors": ["..."]}

(``link``, ``description``, ``body``/``text``, ``date``/``pubDate``, ``id``,
``lang``, ``keywords``, ``author`` are accepted as aliases; other keys are
ignored). A line that is not valid UTF-8, not JSON, not an object, or has no
text becomes a dead letter naming the line number, with the line as payload.
Blank lines are skipped. Pure.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from connectors.normalize import http_url, normalize_language, parse_date, sane_published, truncate, unique
from newswatch.records import DeadLetter, RawArticle, Story
from newswatch.text import html_to_text, looks_like_html, normalize_text

__all__ = ["parse_ndjson", "simple_to_article"]


def _first(obj: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = obj.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    return html_to_text(value) if looks_like_html(value) else normalize_text(value, multiline=True)


def _strings(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [value.get("name") or value.get("term") or ""]
    if isinstance(value, list):
        return [(v.get("name") or v.get("term") or "") if isinstance(v, dict) else v for v in value]
    return [str(value)]


def simple_to_article(obj: dict[str, Any], *, source_id: str, fetched_at: datetime, origin: str,
                      language_hint: str | None = None) -> RawArticle:
    """Build a RawArticle from a simple article object. Raises ``ValueError`` without text."""
    title = normalize_text(_text(_first(obj, "title", "headline")))
    summary = _text(_first(obj, "summary", "description"))
    content = _text(_first(obj, "content", "body", "text"))
    if content == summary:
        content = ""
    if not (title or summary or content):
        raise ValueError("object has no title, summary or content")
    guid = _first(obj, "guid", "id")
    published = parse_date(_first(obj, "published", "date", "pubDate", "published_at", "updated"))
    return RawArticle.create(
        source_id=source_id, feed_url=origin, fetched_at=fetched_at, title=title, summary=summary,
        content=content, url=http_url(_first(obj, "url", "link")),
        guid=normalize_text(guid) if guid is not None else None,
        published=sane_published(published, fetched_at),
        authors=unique(_strings(_first(obj, "authors", "author", "byline")), limit=20),
        language=normalize_language(_first(obj, "language", "lang")) or normalize_language(language_hint),
        tags=unique(_strings(_first(obj, "tags", "keywords", "categories")), limit=50))


def _record(obj: dict[str, Any]) -> RawArticle | None:
    """A full newswatch record (raw_article or story), else ``None`` (a simple object)."""
    kind = obj.get("kind")
    if kind == "story":
        return Story.model_validate(obj).article()
    if kind == "raw_article" or {"id", "source_id", "fetched_at"} <= obj.keys():
        return RawArticle.model_validate(obj)
    return None


def parse_ndjson(body: bytes, *, source_id: str, fetched_at: datetime, origin: str,
                 language_hint: str | None = None) -> tuple[list[RawArticle], list[DeadLetter]]:
    """Parse NDJSON (one JSON object per line) into articles and dead letters. Never raises.

    Full records keep their own id and source id (a replay of what newswatch
    wrote); simple objects get ``source_id`` and a stable id from their URL/GUID.
    """
    articles: list[RawArticle] = []
    dead: list[DeadLetter] = []
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    for lineno, raw in enumerate(body.split(b"\n"), start=1):
        raw = raw.strip()
        if not raw:
            continue

        def reject(reason: str, raw: bytes = raw, lineno: int = lineno) -> None:
            dead.append(DeadLetter.of("parse", f"{origin}:{lineno}: {reason}",
                                      truncate(raw.decode("utf-8", "replace")), source=source_id))

        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            reject(f"line is not valid UTF-8 ({exc.reason} at byte {exc.start})")
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as exc:
            reject(f"not valid JSON: {exc}")
            continue
        if not isinstance(obj, dict):
            reject(f"expected a JSON object, got {type(obj).__name__}")
            continue
        try:
            article = _record(obj) or simple_to_article(
                obj, source_id=source_id, fetched_at=fetched_at, origin=origin, language_hint=language_hint)
        except ValidationError as exc:
            errors = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors()[:5])
            reject(f"invalid article: {errors}")
            continue
        except (ValueError, TypeError) as exc:
            reject(str(exc))
            continue
        articles.append(article)
    return articles, dead
