"""IPTC NewsML-G2 wire items to RawArticles.

Handles a standalone ``newsItem`` and ``newsMessage`` envelopes carrying
several items. Text comes from ``contentMeta`` (headline, description,
slugline, subjects, keywords, creators, language) and from ``contentSet``
(``inlineXML`` holding XHTML or NITF, or ``inlineData``). Items that carry no
story text — ``conceptItem``, ``knowledgeItem``, ``planningItem``,
``packageItem``, event lists, sports statistics without a headline — become
dead letters that say so, never exceptions and never silence.

Namespace-agnostic: elements are matched by local name, so G2 documents with
or without the ``http://iptc.org/std/nar/2006-10-01/`` default namespace (and
embedded XHTML/NITF namespaces) parse alike. The XML parser is hardened: no
network, no DTD loading, no entity expansion (billion-laughs safe), libxml2's
default size and depth limits (``huge_tree`` off). Pure.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from connectors.normalize import http_url, normalize_language, parse_date, sane_published, truncate, unique
from newswatch.records import DeadLetter, RawArticle
from newswatch.text import element_to_text, html_to_text, normalize_text

__all__ = ["G2_NS", "NewsItemFields", "parse_newsml", "extract_news_item", "is_newsml_root", "ITEM_KINDS"]

G2_NS = "http://iptc.org/std/nar/2006-10-01/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

#: Root/item element names of NewsML-G2, and why the non-news ones carry no story.
ITEM_KINDS = {
    "newsItem": "",
    "conceptItem": "a conceptItem describes a concept (person, organisation, event), not a story",
    "knowledgeItem": "a knowledgeItem is a set of concepts, not a story",
    "planningItem": "a planningItem announces coverage that is planned, not a story",
    "packageItem": "a packageItem only references other items",
    "catalogItem": "a catalogItem is a controlled vocabulary",
}
#: G2 elements that appear as roots of fragments (documentation excerpts).
FRAGMENT_ROOTS = frozenset({"contentMeta", "itemMeta", "contentSet", "groupSet", "group",
                            "itemSet", "header", "assert", "conceptSet", "partMeta", "rightsInfo"})
_HTML_LIKE = frozenset({"html", "body", "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol",
                        "table", "blockquote", "pre", "span", "a", "b", "i", "em", "strong", "br",
                        "section", "article", "nitf", "body.content", "block"})
_WITHDRAWN = ("canceled", "cancelled", "withheld")

_local_parser = threading.local()


def _parser() -> etree.XMLParser:
    parser = getattr(_local_parser, "parser", None)
    if parser is None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                 dtd_validation=False, huge_tree=False, recover=False,
                                 remove_comments=True, remove_pis=True)
        _local_parser.parser = parser
    return parser


def _ln(el: object) -> str:
    tag = getattr(el, "tag", None)
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _kids(el: etree._Element, name: str) -> Iterator[etree._Element]:
    return (c for c in el if _ln(c) == name)


def _kid(el: etree._Element | None, name: str) -> etree._Element | None:
    if el is None:
        return None
    return next(_kids(el, name), None)


def _desc(el: etree._Element, name: str) -> Iterator[etree._Element]:
    return (d for d in el.iter() if _ln(d) == name)


def _text(el: etree._Element | None, *, multiline: bool = False) -> str:
    if el is None:
        return ""
    return normalize_text("".join(el.itertext()) if not multiline else element_to_text(el),
                          multiline=multiline)


def is_newsml_root(name: str, namespace: str | None = None) -> bool:
    """True when a root element ``name`` (local name) belongs to NewsML-G2."""
    return namespace == G2_NS or name in ITEM_KINDS or name == "newsMessage" or name in FRAGMENT_ROOTS


@dataclass(frozen=True)
class NewsItemFields:
    """What a ``newsItem`` says, before it becomes a RawArticle."""

    guid: str | None
    version: str | None
    item_class: str | None
    headline: str = ""
    summary: str = ""
    body: str = ""
    language: str | None = None
    published: datetime | None = None
    tags: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    link: str | None = None
    pub_status: str | None = None
    #: Why there is no body when there is inline content that is not text (for dead letters).
    no_text_hint: str = ""
    remote: tuple[str, ...] = field(default=())

    @property
    def has_text(self) -> bool:
        return bool(self.headline or self.summary or self.body)


def _subject_name(subject: etree._Element, lang: str | None) -> str:
    holders = [subject, *_kids(subject, "mainConcept")]
    for holder in holders:
        names = list(_kids(holder, "name"))
        if not names:
            continue
        if lang:
            base = lang.split("-")[0]
            for name in names:
                item_lang = normalize_language(name.get(XML_LANG)) or ""
                if item_lang.split("-")[0] == base:
                    return _text(name)
        return _text(names[0])
    return ""


def _inline_body(el: etree._Element) -> tuple[str, str]:
    """(text, hint) of one ``inlineXML``/``inlineData`` element."""
    ctype = (el.get("contenttype") or "").lower()
    if _ln(el) == "inlineData":
        raw = el.text or ""
        if (el.get("encoding") or "").lower() == "base64":
            try:
                raw = base64.b64decode(raw, validate=False).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                return "", "inlineData is not valid base64"
        if not raw.strip():
            return "", ""
        if ctype and not ctype.startswith("text/") and "html" not in ctype and "xml" not in ctype:
            return "", f"inlineData holds {ctype} data, not story text"
        return (html_to_text(raw) if ("html" in ctype or "<" in raw) else normalize_text(raw, multiline=True)), ""
    children = [c for c in el if _ln(c)]
    if not children:
        return normalize_text(el.text, multiline=True), ""
    for name in ("body.content", "body"):
        found = next(_desc(el, name), None)
        if found is not None:
            return element_to_text(found), ""
    if "html" in ctype or "nitf" in ctype or "text/" in ctype or _ln(children[0]) in _HTML_LIKE:
        return element_to_text(el), ""
    what = ctype or f"<{_ln(children[0])}>"
    return "", f"inlineXML holds {what} data, not story text"


def extract_news_item(item: etree._Element, *, language_hint: str | None = None) -> NewsItemFields:
    """Pull the story fields out of one ``newsItem`` element (any namespace)."""
    item_meta = _kid(item, "itemMeta")
    content_meta = _kid(item, "contentMeta")
    content_set = _kid(item, "contentSet")
    cm = content_meta if content_meta is not None else etree.Element("contentMeta")

    language = None
    lang_el = _kid(cm, "language")
    if lang_el is not None:
        language = normalize_language(lang_el.get("tag"))
    headline_el = _kid(cm, "headline")
    language = (language or normalize_language(headline_el.get(XML_LANG) if headline_el is not None else None)
                or normalize_language(item.get(XML_LANG)) or normalize_language(language_hint))

    headline = _text(headline_el) or _text(_kid(item_meta, "title"))
    descriptions = [_text(d, multiline=True) for d in _kids(cm, "description")]
    summary = "\n\n".join(d for d in descriptions if d)
    slugline = _text(_kid(cm, "slugline"))

    body, hint, remote = "", "", []
    if content_set is not None:
        for part in content_set:
            name = _ln(part)
            if name in ("inlineXML", "inlineData") and not body:
                text, why = _inline_body(part)
                body, hint = (text, "") if text else (body, hint or why)
            elif name == "remoteContent":
                href = http_url(part.get("href"))
                if href:
                    if "html" in (part.get("contenttype") or ""):
                        remote.insert(0, href)
                    else:
                        remote.append(href)
    if not summary and not body and headline and slugline:
        summary = slugline

    links = [http_url(lk.get("href")) for lk in _kids(item_meta, "link")] if item_meta is not None else []
    link = next((u for u in links if u), None) or (remote[0] if remote else None)

    published = None
    for el in (_kid(item_meta, "firstCreated"), _kid(item_meta, "versionCreated"), _kid(cm, "contentCreated")):
        published = parse_date(_text(el)) if el is not None else None
        if published is not None:
            break

    tags = [_subject_name(s, language) for s in _kids(cm, "subject")]
    tags += [_text(k) for k in _kids(cm, "keyword")]
    authors = [_text(_kid(c, "name")) for c in _kids(cm, "creator")] + [_text(b) for b in _kids(cm, "by")]
    item_class = _kid(item_meta, "itemClass")
    pub_status = _kid(item_meta, "pubStatus")
    return NewsItemFields(
        guid=normalize_text(item.get("guid")) or None, version=item.get("version"),
        item_class=item_class.get("qcode") if item_class is not None else None,
        headline=headline, summary=summary, body=body if body != summary else "",
        language=language, published=published, tags=unique(tags, limit=50),
        authors=unique(authors, limit=20), link=link,
        pub_status=pub_status.get("qcode") if pub_status is not None else None,
        no_text_hint=hint, remote=tuple(remote))


def _payload(el: etree._Element) -> str:
    try:
        return truncate(etree.tostring(el, encoding="unicode"))
    except (ValueError, TypeError, etree.LxmlError):
        return ""


def _items(root: etree._Element) -> list[etree._Element]:
    """The items of a ``newsMessage`` (inside ``itemSet``), in document order."""
    out: list[etree._Element] = []
    for item_set in _kids(root, "itemSet"):
        out.extend(c for c in item_set if _ln(c))
    return out


def parse_newsml(body: bytes, *, source_id: str, fetched_at: datetime, origin: str,
                 language_hint: str | None = None) -> tuple[list[RawArticle], list[DeadLetter]]:
    """Parse one NewsML-G2 document into articles and dead letters. Never raises.

    ``origin`` (file name or URL) is named in dead-letter reasons and becomes
    ``RawArticle.feed_url``. Every item is accounted for: an article, or a dead
    letter whose reason says why (not well-formed XML, not a G2 item, an item
    kind that carries no story text, a withdrawn story, a newsItem without text).
    """
    articles: list[RawArticle] = []
    dead: list[DeadLetter] = []

    def reject(reason: str, payload: str | bytes) -> None:
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
        dead.append(DeadLetter.of("parse", f"{origin}: {reason}", truncate(text), source=source_id))

    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        reject(f"not well-formed XML: {normalize_text(str(exc))[:300]}", body[:1_000_000])
        return articles, dead
    except (ValueError, etree.LxmlError) as exc:
        reject(f"cannot parse XML: {type(exc).__name__}: {exc}", body[:1_000_000])
        return articles, dead
    if root is None:
        reject("empty document", body[:1_000_000])
        return articles, dead

    name = _ln(root)
    if name == "newsMessage":
        items = _items(root)
        if not items:
            reject("NewsML-G2 newsMessage carries no items", body[:1_000_000])
    elif name in ITEM_KINDS:
        items = [root]
    else:
        kind = "a NewsML-G2 fragment" if name in FRAGMENT_ROOTS else "not NewsML-G2"
        reject(f"root element <{name}> is not a newsItem or newsMessage ({kind}): no story to extract",
               body[:1_000_000])
        return articles, dead

    for item in items:
        kind = _ln(item)
        guid = normalize_text(item.get("guid")) or "(no guid)"
        if kind != "newsItem":
            why = ITEM_KINDS.get(kind) or f"<{kind}> is not a NewsML-G2 item"
            reject(f"NewsML-G2 {kind} {guid} carries no story text ({why})", _payload(item))
            continue
        try:
            fields = extract_news_item(item, language_hint=language_hint)
        except Exception as exc:  # noqa: BLE001 - one odd item must not lose the message; kept as a dead letter
            reject(f"NewsML-G2 newsItem {guid}: cannot read it: {type(exc).__name__}: {exc}", _payload(item))
            continue
        status = (fields.pub_status or "").rsplit(":", 1)[-1].lower()
        if status in _WITHDRAWN:
            reject(f"NewsML-G2 newsItem {guid} is withdrawn (pubStatus {fields.pub_status})", _payload(item))
            continue
        if not fields.has_text:
            detail = fields.no_text_hint or "no headline, description or body"
            reject(f"NewsML-G2 newsItem {guid} carries no story text ({detail})", _payload(item))
            continue
        try:
            articles.append(RawArticle.create(
                source_id=source_id, feed_url=origin, fetched_at=fetched_at,
                title=fields.headline, summary=fields.summary, content=fields.body,
                url=fields.link, guid=fields.guid,
                published=sane_published(fields.published, fetched_at),
                authors=fields.authors, language=fields.language, tags=fields.tags))
        except ValueError as exc:
            reject(f"NewsML-G2 newsItem {guid} is not a valid article: {exc}", _payload(item))
    return articles, dead
