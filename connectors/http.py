"""Fetch a feed body over HTTP(S) or from a local file, politely and safely.

Polite: conditional GET (``If-None-Match`` / ``If-Modified-Since``) so an
unchanged feed costs the publisher a 304 and us no parsing; a clear
``User-Agent``. Safe: connect and read timeouts plus an overall deadline, and a
hard size cap enforced while streaming (after decompression, so a gzip bomb is
refused too).

Promise: :func:`fetch` never raises for network, HTTP or file-system problems;
they come back as ``FetchResult(status="error", error=...)`` with a message
that says what happened and, where there is one, the fix.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import requests

__all__ = ["FetchStatus", "FetchResult", "fetch", "is_remote", "local_path"]

FetchStatus = Literal["ok", "not-modified", "error"]
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchResult:
    """The outcome of one fetch. ``body`` is empty unless ``status == "ok"``."""

    url: str
    status: FetchStatus
    body: bytes = b""
    http_status: int | None = None
    final_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    error: str | None = None
    duration_s: float = 0.0
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def is_remote(url: str) -> bool:
    """True for http(s) URLs."""
    try:
        return urlsplit(url.strip()).scheme.lower() in ("http", "https")
    except ValueError:
        return False


def local_path(url: str) -> Path | None:
    """The file a ``file://`` URL or plain path names, else ``None`` (other schemes)."""
    text = url.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            return None
        return Path(url2pathname(unquote(parts.path)))
    if scheme and len(scheme) > 1:      # a one-letter "scheme" is a Windows drive
        return None
    return Path(text).expanduser()


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _fetch_file(url: str, path: Path, *, etag: str | None, last_modified: str | None,
                max_bytes: int, started: float) -> FetchResult:
    def done(**kw: object) -> FetchResult:
        return FetchResult(url=url, final_url=str(path), duration_s=time.monotonic() - started, **kw)  # type: ignore[arg-type]

    try:
        st = path.stat()
        if not path.is_file():
            return done(status="error", error=f"{path} is not a file")
        mtime = formatdate(st.st_mtime, usegmt=True)
        tag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
        if (etag and etag == tag) or (not etag and last_modified and last_modified == mtime):
            return done(status="not-modified", etag=tag, last_modified=mtime)
        if st.st_size > max_bytes:
            return done(status="error", error=(
                f"{path} is {st.st_size} bytes, more than the limit of {max_bytes}; "
                "raise NEWSWATCH_HTTP_MAX_BYTES if this file is expected to be this large"))
        with path.open("rb") as fh:
            body = fh.read(max_bytes + 1)
        if len(body) > max_bytes:
            return done(status="error", error=f"{path} grew past the limit of {max_bytes} bytes while read")
    except FileNotFoundError:
        return done(status="error", error=f"file not found: {path}")
    except PermissionError:
        return done(status="error", error=f"permission denied reading {path}")
    except OSError as exc:
        return done(status="error", error=f"cannot read {path}: {exc.strerror or exc}")
    except ValueError as exc:           # e.g. a NUL byte in the path
        return done(status="error", error=f"invalid path {str(path)!r}: {exc}")
    return done(status="ok", body=body, etag=tag, last_modified=mtime,
                headers={"etag": tag, "last-modified": mtime})


def fetch(url: str, *, etag: str | None = None, last_modified: str | None = None,
          timeout_s: float = 20.0, max_bytes: int = 10_000_000, user_agent: str = "newswatch",
          connect_timeout_s: float | None = None,
          session: requests.Session | None = None) -> FetchResult:
    """Fetch ``url`` (http, https, file:// or a local path) once.

    ``etag``/``last_modified`` from the previous response make the request
    conditional; a 304 (or an unchanged local file) gives ``status="not-modified"``.
    ``timeout_s`` bounds connecting and each read (``connect_timeout_s`` overrides
    the first); the whole transfer may take at most 3 × ``timeout_s`` so a server
    trickling bytes cannot hold a poller forever. Bodies larger than ``max_bytes`` (as announced or as streamed, after
    decompression) are refused with ``status="error"``. Redirects are followed;
    ``final_url`` is where the body came from. Never raises.
    """
    started = time.monotonic()
    try:
        path = local_path(url)
        remote = path is None and is_remote(url)
    except ValueError as exc:
        return FetchResult(url=url, status="error", error=f"invalid URL {url!r}: {exc}")
    if path is not None:
        return _fetch_file(url, path, etag=etag, last_modified=last_modified,
                           max_bytes=max_bytes, started=started)
    if not remote:
        return FetchResult(url=url, status="error",
                           error=f"unsupported URL scheme in {url!r}; use http(s)://, file:// or a path")

    def done(**kw: object) -> FetchResult:
        return FetchResult(url=url, duration_s=time.monotonic() - started, **kw)  # type: ignore[arg-type]

    headers = {"User-Agent": user_agent,
               "Accept": "application/rss+xml, application/atom+xml, application/feed+json, "
                         "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8",
               "Accept-Encoding": "gzip, deflate"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    http = session or requests.Session()
    response: requests.Response | None = None
    try:
        response = http.get(url, headers=headers, stream=True, allow_redirects=True,
                            timeout=(connect_timeout_s or timeout_s, timeout_s))
        info = {k.lower(): v for k, v in response.headers.items()}
        common = dict(http_status=response.status_code, final_url=response.url, headers=info,
                      etag=info.get("etag"), last_modified=info.get("last-modified"),
                      content_type=info.get("content-type"))
        if response.status_code == 304:
            return done(status="not-modified", **common)
        if response.status_code >= 400 or response.status_code < 200:
            reason = response.reason or ""
            return done(status="error", error=f"HTTP {response.status_code} {reason}".strip() + f" from {response.url}",
                        retry_after_s=_retry_after(info.get("retry-after")), **common)
        announced = info.get("content-length", "")
        if announced.isdigit() and int(announced) > max_bytes and "content-encoding" not in info:
            return done(status="error", error=(
                f"response is {announced} bytes, more than the limit of {max_bytes}; "
                "raise NEWSWATCH_HTTP_MAX_BYTES if this feed is expected to be this large"), **common)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                return done(status="error", error=(
                    f"response exceeded the limit of {max_bytes} bytes; "
                    "raise NEWSWATCH_HTTP_MAX_BYTES if this feed is expected to be this large"), **common)
            if time.monotonic() - started > timeout_s * 3:
                return done(status="error", error=f"timed out: transfer took longer than {timeout_s * 3:.0f}s",
                            **common)
            chunks.append(chunk)
        return done(status="ok", body=b"".join(chunks), **common)
    except requests.exceptions.ConnectTimeout:
        return done(status="error", error=f"timed out connecting to {url} after {connect_timeout_s or timeout_s}s")
    except (requests.exceptions.ReadTimeout, requests.exceptions.Timeout):
        return done(status="error", error=f"timed out: no data from {url} for {timeout_s}s")
    except requests.exceptions.TooManyRedirects:
        return done(status="error", error=f"too many redirects fetching {url}")
    except requests.exceptions.SSLError as exc:
        return done(status="error", error=f"TLS error fetching {url}: {exc}")
    except requests.exceptions.ConnectionError as exc:
        text = str(exc)
        if "timed out" in text.lower():
            return done(status="error", error=f"timed out: no data from {url} for {timeout_s}s")
        return done(status="error", error=f"cannot connect to {url}: {_short(text)}")
    except requests.exceptions.RequestException as exc:
        return done(status="error", error=f"request to {url} failed: {type(exc).__name__}: {_short(str(exc))}")
    except (OSError, ValueError) as exc:
        return done(status="error", error=f"fetching {url} failed: {type(exc).__name__}: {_short(str(exc))}")
    finally:
        if response is not None:
            response.close()
        if session is None:
            http.close()


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"

