"""Plain text from the HTML and markup that feeds and wires carry.

Feed summaries and content are HTML fragments of every quality: broken tags,
entities, scripts, tracking pixels, CDATA. The pipeline wants clean plain text
with paragraph breaks, so NER offsets and topic matching see what a reader sees.

lxml's HTML parser is used because it is fast (tens of microseconds per
summary) and recovers from any broken markup; trafilatura is built for whole
web pages (boilerplate removal) and is far too slow to run on every summary.

Every function here is pure and total: it never raises, whatever the input
(``None``, bytes, lone surrogates, NUL bytes, 10 MB of nested tags).
"""

from __future__ import annotations

import html as _html
import re
import threading
import unicodedata
from typing import Any

from lxml import etree

__all__ = ["html_to_text", "element_to_text", "normalize_text", "looks_like_html"]

#: Elements whose content is never text a reader sees.
SKIP_TAGS = frozenset({
    "script", "style", "noscript", "template", "head", "title", "iframe", "object",
    "embed", "svg", "math", "canvas", "video", "audio", "map", "select", "button",
    "textarea", "input",
})
#: Elements that start a new paragraph.
BLOCK_TAGS = frozenset({
    "p", "div", "section", "article", "header", "footer", "blockquote", "h1", "h2", "h3",
    "h4", "h5", "h6", "ul", "ol", "dl", "table", "pre", "figure", "figcaption", "hr",
    "address", "aside", "nav", "main", "form", "fieldset", "details", "summary", "center",
    "body", "html", "hgroup", "caption", "thead", "tbody", "tfoot",
    # NITF / NewsML-G2 block elements
    "body.head", "body.content", "body.end", "hedline", "hl1", "hl2", "block", "nitf",
})
#: Elements that start a new line (but not a new paragraph).
LINE_TAGS = frozenset({"br", "li", "tr", "dt", "dd", "option", "byline", "dateline"})
#: Table cells are separated by a space.
CELL_TAGS = frozenset({"td", "th"})

_PARA, _LINE, _SPACE = "\x00P", "\x00L", "\x00S"

# C0/C1 control characters except tab/newline/carriage return, lone surrogates,
# BOM and other invisible non-characters that break tokenizers.
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\ufffe\uffff\u200b\u2028\u2029\ud800-\udfff]")
_HSPACE = re.compile(r"[^\S\n]+")          # whitespace except newline
_ANYSPACE = re.compile(r"\s+")
_MANY_NL = re.compile(r"\n{3,}")
_TAGLIKE = re.compile(r"<[A-Za-z!/?][^>]*>|&(#\d+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]{1,31});")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*>", re.I)
_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.S)

_local_parser = threading.local()


def _html_parser() -> etree.HTMLParser:
    """One HTML parser per thread (lxml parsers must not be used concurrently).

    ``huge_tree`` only lifts libxml2's nesting limit from 256 to 2048 here: HTML
    parsing expands no entities and loads nothing, so it is not an attack surface.
    """
    parser = getattr(_local_parser, "parser", None)
    if parser is None:
        parser = etree.HTMLParser(remove_comments=True, remove_pis=True, no_network=True,
                                  recover=True, default_doctype=False, huge_tree=True,
                                  encoding="utf-8")
        _local_parser.parser = parser
    return parser


def _as_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a hostile __str__ must not break text cleaning
        return ""


def normalize_text(value: Any, *, multiline: bool = False) -> str:
    """Unicode NFC, control characters removed, whitespace collapsed, stripped.

    With ``multiline=False`` (titles, names, tags) every whitespace run becomes
    one space. With ``multiline=True`` (bodies) line breaks survive: each line
    is collapsed and stripped, and runs of blank lines become one paragraph
    break (``"\\n\\n"``). Never raises.
    """
    s = _as_str(value)
    if not s:
        return ""
    try:
        s = s.replace("\r\n", "\n").replace("\r", "\n")
        s = s.replace("\u2029", "\n\n").replace("\u2028", "\n")
        s = _CONTROL.sub("", s)
        s = unicodedata.normalize("NFC", s)
    except (ValueError, TypeError, UnicodeError):
        s = s.encode("utf-8", "replace").decode("utf-8", "replace")
    if not multiline:
        return _ANYSPACE.sub(" ", s).strip()
    lines = [_HSPACE.sub(" ", line).strip() for line in s.split("\n")]
    return _MANY_NL.sub("\n\n", "\n".join(lines)).strip()


def looks_like_html(value: str) -> bool:
    """True when ``value`` contains something that looks like a tag or an entity."""
    return bool(value) and bool(_TAGLIKE.search(value))


def _local(tag: Any) -> str | None:
    if not isinstance(tag, str):
        return None                         # comment, processing instruction, entity
    return tag.rsplit("}", 1)[-1].lower()


def _collect(root: etree._Element) -> list[str]:
    """Walk ``root`` and emit text pieces and break markers."""
    out: list[str] = []
    pre_depth = 0
    walker = etree.iterwalk(root, events=("start", "end"))
    for event, el in walker:
        name = _local(el.tag)
        if event == "start":
            if name is None or name in SKIP_TAGS:
                walker.skip_subtree()
                continue
            if name in BLOCK_TAGS:
                out.append(_PARA)
            elif name in LINE_TAGS:
                out.append(_LINE)
            elif name in CELL_TAGS:
                out.append(_SPACE)
            if name == "pre":
                pre_depth += 1
            if el.text:
                out.append(el.text if pre_depth else _ANYSPACE.sub(" ", el.text))
        else:
            if name is not None and name not in SKIP_TAGS:
                if name == "pre":
                    pre_depth = max(0, pre_depth - 1)
                if name in BLOCK_TAGS:
                    out.append(_PARA)
                elif name in ("li", "tr", "dt", "dd"):
                    out.append(_LINE)
            if el is not root and el.tail:
                out.append(el.tail if pre_depth else _ANYSPACE.sub(" ", el.tail))
    return out


def _join(pieces: list[str]) -> str:
    text: list[str] = []
    pending = ""                            # strongest break seen since the last text
    for piece in pieces:
        if piece == _PARA:
            pending = "\n\n"
        elif piece == _LINE:
            if pending != "\n\n":
                pending = "\n"
        elif piece == _SPACE:
            if not pending:
                pending = " "
        elif piece:
            if pending and text:
                text.append(pending)
            pending = ""
            text.append(piece)
    return normalize_text("".join(text), multiline=True)


def element_to_text(el: Any) -> str:
    """Plain text of an lxml element tree (HTML, XHTML, NITF; any namespace).

    Scripts, styles and other invisible elements are dropped; block elements
    become paragraph breaks, ``<br>``/``<li>`` line breaks. Never raises.
    """
    try:
        return _join(_collect(el))
    except Exception:  # noqa: BLE001 - text extraction is best effort and total
        try:
            return normalize_text(" ".join(el.itertext()), multiline=True)
        except Exception:  # noqa: BLE001
            return ""


def _regex_fallback(s: str) -> str:
    s = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", s)
    s = re.sub(r"(?i)<\s*(br|/p|/div|/li|/h\d)\b[^>]*>", "\n", s)
    s = re.sub(r"<[^>]*>", " ", s)
    return normalize_text(_html.unescape(s), multiline=True)


def html_to_text(html: Any) -> str:
    """Clean plain text from an HTML fragment or document.

    Tags are stripped, scripts/styles removed, entities decoded (``&amp;`` →
    ``&``, ``&eacute;`` → ``é``), paragraphs separated by ``"\\n\\n"``, line
    breaks kept as ``"\\n"``, other whitespace collapsed; text that contains no
    markup is only normalised. Never raises: on input lxml cannot handle at all
    a regex fallback is used, and non-string input is coerced (``None`` → "").
    """
    s = _as_str(html)
    if not s or not s.strip():
        return ""
    if "<" not in s and "&" not in s:
        return normalize_text(s, multiline=True)
    try:
        s = _XML_DECL.sub("", s, count=1)
        if "<![CDATA[" in s:
            # CDATA left inside feed HTML (double-wrapped) is meant as markup: unwrap it
            s = _CDATA.sub(lambda m: m.group(1), s)
        data = _CONTROL.sub("", s).encode("utf-8", "replace")
        parser = _html_parser()
        root = etree.fromstring(data, parser) if data.strip() else None
        too_deep = any(e.type_name == "ERR_RESOURCE_LIMIT" for e in parser.error_log)
    except (etree.LxmlError, ValueError, RecursionError, MemoryError):
        return _regex_fallback(s)
    if root is None or too_deep:
        return _regex_fallback(s)
    return element_to_text(root)
