"""Read articles from any file, folder or URL at once: ``newswatch ingest``.

One-shot, no cursor: local files, folders (recursively, in sorted order),
``file://`` URLs and http(s) URLs; each document is recognised by its content
(:mod:`connectors.document`). Nothing vanishes silently: every document shows
up in :attr:`ReadResult.reports` with what it produced, and a document that
could not be read at all (missing file, HTTP error, too large) is reported
there with the error instead of raising.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from connectors.document import parse_document
from connectors.http import fetch, is_remote, local_path
from connectors.normalize import slugify
from newswatch.records import DeadLetter, RawArticle, utcnow
from newswatch.settings import Settings

__all__ = ["READ_SUFFIXES", "DocumentReport", "ReadResult", "read_any", "iter_documents"]

#: File name endings read when walking a folder (single files are read whatever their name).
READ_SUFFIXES = frozenset({".xml", ".rss", ".atom", ".rdf", ".json", ".jsonl", ".ndjson", ".feed", ".newsml"})
#: Files holding one article (plain text: headline line then body; or an HTML page).
SINGLE_ARTICLE_SUFFIXES = frozenset({".txt", ".text", ".md", ".html", ".htm"})
#: Names skipped when walking a folder: hidden, temporary, partial downloads.
SKIP_SUFFIXES = frozenset({".tmp", ".part", ".partial", ".crdownload", ".swp"})


@dataclass(frozen=True)
class DocumentReport:
    """What one document produced (``error`` set when it could not be read at all)."""

    origin: str
    source_id: str
    format: str | None
    articles: int
    dead_letters: int
    problem: str | None = None
    error: str | None = None


class ReadResult(tuple):
    """``(articles, dead_letters)`` — unpacks as a pair — plus per-document ``reports``."""

    reports: list[DocumentReport]

    def __new__(cls, articles: list[RawArticle], dead_letters: list[DeadLetter],
                reports: list[DocumentReport]) -> ReadResult:
        obj = super().__new__(cls, (articles, dead_letters))
        obj.reports = reports
        return obj

    @property
    def articles(self) -> list[RawArticle]:
        return self[0]

    @property
    def dead_letters(self) -> list[DeadLetter]:
        return self[1]

    @property
    def problems(self) -> list[str]:
        """One line per document that was odd or failed: ``origin: problem``."""
        return [f"{r.origin}: {r.error or r.problem}" for r in self.reports if r.error or r.problem]

    @property
    def errors(self) -> list[str]:
        """Documents that could not be read at all."""
        return [f"{r.origin}: {r.error}" for r in self.reports if r.error]


def _skipped(path: Path, root: Path) -> bool:
    rel = path.relative_to(root)
    return any(part.startswith(".") for part in rel.parts) or path.suffix.lower() in SKIP_SUFFIXES


def iter_documents(root: Path) -> Iterator[Path]:
    """Files under ``root`` that ``read_any`` reads, recursively, in sorted order."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if not _skipped(path, root) and path.suffix.lower() in READ_SUFFIXES:
            yield path


def _safe_local(location: str) -> Path | None:
    try:
        path = local_path(location)
        return path
    except ValueError:                  # malformed URL: fetch() reports it
        return None


def _read_one(location: str, *, settings: Settings, source_id: str | None,
              language_hint: str | None) -> tuple[list[RawArticle], list[DeadLetter], DocumentReport]:
    remote = is_remote(location)
    if source_id is None:
        if remote:
            source_id = slugify(urlsplit(location).hostname or "", default="url")
        else:
            source_id = slugify(Path(_safe_local(location) or location).stem, default="file")
    fetched = fetch(location, timeout_s=settings.http_timeout_s, max_bytes=settings.http_max_bytes,
                    user_agent=settings.user_agent)
    if fetched.status != "ok":
        error = fetched.error or f"fetch status {fetched.status}"
        return [], [], DocumentReport(location, source_id, None, 0, 0, error=error)
    origin = fetched.final_url if remote and fetched.final_url else location
    ctype = (fetched.content_type or "").split(";")[0].strip().lower()
    suffix = Path(urlsplit(origin).path if remote else origin).suffix.lower()
    single = suffix in SINGLE_ARTICLE_SUFFIXES or ctype in ("text/html", "text/plain")
    doc = parse_document(fetched.body, source_id=source_id, fetched_at=utcnow(), origin=origin,
                         language_hint=language_hint, single=single,
                         response_headers=fetched.headers if remote else None)
    report = DocumentReport(location, source_id, doc.format, len(doc.articles), len(doc.dead_letters),
                            problem=doc.problem)
    return doc.articles, doc.dead_letters, report


def read_any(path_or_url: str | Path, *, settings: Settings, source_id: str | None = None,
             language_hint: str | None = None) -> ReadResult:
    """Read every article in a file, a folder (recursively) or a URL. Never raises.

    ``source_id`` defaults to a slug of each file's stem, or of the URL's host.
    Folders are walked in sorted order and only files ending in
    :data:`READ_SUFFIXES` are read (hidden and ``*.tmp``/``*.part`` files never);
    a single named file is read whatever its name. Sizes are capped by
    ``settings.http_max_bytes``.
    """
    location = str(path_or_url)
    articles: list[RawArticle] = []
    dead: list[DeadLetter] = []
    reports: list[DocumentReport] = []
    path = None if is_remote(location) else _safe_local(location)
    if path is not None and path.is_dir():
        targets = [str(p) for p in iter_documents(path)]
        if not targets:
            reports.append(DocumentReport(location, source_id or slugify(path.name), None, 0, 0,
                                          problem="folder contains no readable documents "
                                                  f"({', '.join(sorted(READ_SUFFIXES))})"))
    else:
        targets = [location]
    for target in targets:
        a, d, report = _read_one(target, settings=settings, source_id=source_id, language_hint=language_hint)
        articles.extend(a)
        dead.extend(d)
        reports.append(report)
    return ReadResult(articles, dead, reports)
