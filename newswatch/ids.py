"""Stable identifiers: canonical URLs and content-derived ids.

The same story polled twice, from the same or another feed, must get the same id
everywhere (bus key, index ``_id``, alert key). The id is a hash of the canonical
URL (tracking parameters and fragments removed, host lower-cased), else of the
GUID, else of source + title + published.
"""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: Query parameters that identify a campaign or a click, not a document.
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid",
    "cmpid", "cmp", "ocid", "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname",
    "ns_fee", "at_medium", "at_campaign", "at_custom1", "at_custom2", "at_custom3",
    "at_custom4", "ito", "smid", "smtyp", "share", "ref", "ref_src", "rss", "feed",
    "_ga", "spm", "partner", "src", "xtor",
})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "oly_")


def canonical_url(url: str | None) -> str | None:
    """Return ``url`` without tracking parameters, fragment, default port or
    trailing ``?``; scheme and host lower-cased. Non-http(s) strings are
    returned stripped (a GUID such as ``tag:...`` is not a URL to canonicalize).
    """
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return url
    host = (parts.hostname or "").lower()
    port = parts.port if parts.port not in (None, 80, 443) else None
    netloc = f"{host}:{port}" if port else host
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)]
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), netloc, path, urlencode(query, doseq=True), ""))


def digest(*parts: str | None, length: int = 20) -> str:
    """A hex sha256 digest over the parts (None as empty), ``length`` hex chars."""
    h = hashlib.sha256()
    for p in parts:
        h.update((p or "").encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()[:length]


def article_id(url: str | None, guid: str | None, *, source_id: str = "", title: str = "",
               published: str = "") -> str:
    """The stable id of an article: canonical URL, else GUID, else source+title+date."""
    canon = canonical_url(url)
    if canon:
        return digest("url", canon)
    if guid and guid.strip():
        return digest("guid", guid.strip())
    return digest("fallback", source_id, title.strip(), published)


def alert_id(topic_id: str, story_id: str) -> str:
    """One alert per (topic, story): its id is derived from both."""
    return digest("alert", topic_id, story_id)
