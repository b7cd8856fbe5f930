"""JSON Feed (https://jsonfeed.org, versions 1.0 and 1.1) to RawArticles.

feedparser 6.0.14, the release on PyPI, has no JSON Feed support (it is only on
feedparser's development branch), so JSON Feeds are mapped here. Pure.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from connectors.feed import ParsedFeed, entry_dead_letter, text_of, unparseable
from connectors.normalize import http_url, normalize_language, parse_date, sane_published, unique
from newswatch.records import RawArticle
from newswatch.text import normalize_text

__all__ = ["looks_like_json", "parse_json_feed"]


def looks_like_json(body: bytes) -> bool:
    """True when the document starts with ``{`` (after a BOM and whitespace)."""
    head = body[:64].lstrip(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"{")


def _names(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [value.get("name") or ""]
    if isinstance(value, list):
        return [a.get("name") or "" for a in value if isinstance(a, dict)]
    return []


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def parse_json_feed(body: bytes, *, source_id: str, feed_url: str | None, fetched_at: datetime,
                    language_hint: str | None = None, extra_tags: tuple[str, ...] = ()) -> ParsedFeed:
    """Parse a JSON Feed document; never raises (see :class:`ParsedFeed`)."""
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return ParsedFeed(dead_letters=[unparseable(body, f"not a feed: invalid JSON ({exc})", source_id=source_id)],
                          problem=f"invalid JSON: {exc}")
    if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
        return ParsedFeed(dead_letters=[unparseable(
            body, "not a feed: JSON document without an 'items' list (not a JSON Feed)", source_id=source_id)],
            problem="JSON document is not a JSON Feed")
    feed_lang = normalize_language(doc.get("language"))
    home = http_url(doc.get("home_page_url")) or http_url(feed_url)
    out = ParsedFeed(title=normalize_text(doc.get("title")), link=home, language=feed_lang or language_hint,
                     version="json" + str(doc.get("version", "")).rsplit("/", 1)[-1].replace(".", ""),
                     encoding="utf-8", entries=len(doc["items"]))
    for index, item in enumerate(doc["items"]):
        where = f"JSON Feed item {index}"
        if not isinstance(item, dict):
            out.dead_letters.append(entry_dead_letter(item, f"{where}: not an object", source_id=source_id))
            continue
        try:
            title = text_of(item.get("title"), "text/plain", multiline=False)
            summary = text_of(item.get("summary"), "text/plain")
            content = text_of(item.get("content_html"), "text/html") or text_of(item.get("content_text"), "text/plain")
            if not (title or summary or content):
                out.dead_letters.append(entry_dead_letter(
                    item, f"{where}: entry has no title, summary or content", source_id=source_id))
                continue
            published = parse_date(item.get("date_published")) or parse_date(item.get("date_modified"))
            guid = item.get("id")
            article = RawArticle.create(
                source_id=source_id, feed_url=feed_url, fetched_at=fetched_at,
                title=title, summary=summary, content="" if content == summary else content,
                url=http_url(item.get("url"), home) or http_url(item.get("external_url"), home),
                guid=normalize_text(guid) if guid is not None else None,
                published=sane_published(published, fetched_at),
                authors=unique(_names(item.get("authors")) + _names(item.get("author"))),
                language=normalize_language(item.get("language")) or out.language,
                tags=unique([*_list(item.get("tags")), *extra_tags], limit=50),
            )
        except Exception as exc:  # noqa: BLE001 - one bad item must not lose the feed; kept as a dead letter
            out.dead_letters.append(entry_dead_letter(item, f"{where}: {type(exc).__name__}: {exc}",
                                                      source_id=source_id))
            continue
        out.articles.append(article)
    if not doc["items"]:
        out.problem = "feed has no entries"
    return out
