"""Single articles that are not feeds: plain-text files and HTML article pages.

``newswatch match story.txt`` and ``newswatch ingest page.html`` take one
article: a text file's first non-empty line is the headline and the rest the
body; an HTML page's main text and metadata come from trafilatura (boilerplate,
navigation and comments removed). Pure; never raises.
"""

from __future__ import annotations

from datetime import datetime, timezone

from newswatch.records import DeadLetter, RawArticle
from newswatch.text import normalize_text

__all__ = ["parse_text_article", "parse_html_article"]


def _decode(body: bytes) -> str:
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return body.decode(enc)
        except UnicodeDecodeError:
            continue
    return body.decode("utf-8", "replace")


def parse_text_article(body: bytes, *, source_id: str, fetched_at: datetime, origin: str,
                       language_hint: str | None = None) -> tuple[list[RawArticle], list[DeadLetter]]:
    """A plain-text article: headline on the first non-empty line, body after it."""
    text = _decode(body).replace("\r\n", "\n")
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return [], [DeadLetter.of("parse", f"{origin}: empty text document", body, source_id)]
    title = normalize_text(lines[0])
    paragraphs = [normalize_text(p) for p in "\n".join(lines[1:]).split("\n\n")]
    summary = "\n\n".join(p for p in paragraphs if p)
    try:
        art = RawArticle.create(source_id=source_id, title=title, guid=f"{source_id}:{origin}",
                                summary=summary, fetched_at=fetched_at, language=language_hint)
    except ValueError as exc:
        return [], [DeadLetter.of("parse", f"{origin}: {exc}", body, source_id)]
    return [art], []


def parse_html_article(body: bytes, *, source_id: str, fetched_at: datetime, origin: str,
                       language_hint: str | None = None) -> tuple[list[RawArticle], list[DeadLetter]]:
    """An HTML article page: main text and metadata extracted with trafilatura."""
    import trafilatura

    try:
        doc = trafilatura.bare_extraction(body, url=origin if origin.startswith("http") else None,
                                          with_metadata=True, include_comments=False, favor_precision=True)
    except Exception as exc:  # trafilatura/lxml on hostile HTML: keep the page as a dead letter
        return [], [DeadLetter.of("parse", f"{origin}: HTML extraction failed: {exc}", body, source_id)]
    if doc is None:
        return [], [DeadLetter.of("parse", f"{origin}: no article text found in the HTML page", body, source_id)]
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    text = data.get("text") or ""
    title = data.get("title") or ""
    if not (title or text):
        return [], [DeadLetter.of("parse", f"{origin}: no article text found in the HTML page", body, source_id)]
    published = None
    if data.get("date"):
        try:
            published = datetime.fromisoformat(str(data["date"])).replace(tzinfo=timezone.utc)
        except ValueError:
            published = None
    url = data.get("url") or (origin if origin.startswith("http") else None)
    try:
        art = RawArticle.create(source_id=source_id, title=normalize_text(title), url=url,
                                guid=None if url else f"{source_id}:{origin}", content=text,
                                summary=data.get("description") or "", published=published,
                                authors=tuple(a.strip() for a in (data.get("author") or "").split(";") if a.strip()),
                                fetched_at=fetched_at, language=data.get("language") or language_hint)
    except ValueError as exc:
        return [], [DeadLetter.of("parse", f"{origin}: {exc}", body, source_id)]
    return [art], []
