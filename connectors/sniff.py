"""Peek at the start of a document: its text and its XML root element. Pure."""

from __future__ import annotations

import codecs
import re

__all__ = ["head_text", "root_element"]

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_PROLOG = re.compile(r"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE(?:[^\[>]*\[.*?\])?[^>]*>)", re.S | re.I)
_ROOT = re.compile(r"<(?:([A-Za-z_][\w.\-]*):)?([A-Za-z_][\w.\-]*)([^>]*)>?", re.S)
_XMLNS = re.compile(r"""xmlns(?::([\w.\-]+))?\s*=\s*["']([^"']*)["']""")


def head_text(body: bytes, size: int = 8192) -> str:
    """The first ``size`` bytes as text (BOM-aware; UTF-16/32 markup without BOM works too)."""
    head = body[:size]
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return head[len(bom):].decode(encoding, "ignore")
    if b"\x00" in head[:64]:            # UTF-16/32 without BOM: markup is ASCII
        head = head.replace(b"\x00", b"")
    return head.decode("utf-8", "replace")


def root_element(text: str) -> tuple[str, str | None] | None:
    """(local name, namespace) of the first element, if the text starts with markup."""
    pos = 0
    while True:
        m = _PROLOG.match(text, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
    rest = text[pos:].lstrip()
    if not rest.startswith("<"):
        return None
    m = _ROOT.match(rest)
    if not m:
        return None
    prefix, local, attrs = m.group(1), m.group(2), m.group(3) or ""
    namespaces = {p or "": uri for p, uri in _XMLNS.findall(attrs)}
    return local, namespaces.get(prefix or "")
