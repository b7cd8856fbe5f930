"""Story index backends behind one interface (:class:`StoryIndex`).

Pick one by name through :mod:`newswatch.registry` (``index: tantivy`` is the
embedded default; Elasticsearch scales out). This package imports no backend:
``newswatch.index.tantivy_index`` is loaded only when selected.
"""

from newswatch.index.base import (
    FACET_SIZE,
    Facets,
    Hit,
    IndexBackendError,
    IndexLockedError,
    IndexMissingError,
    IndexSchemaError,
    QueryError,
    ReadOnlyIndexError,
    SearchParams,
    SearchResult,
    StoryIndex,
    keyword_value,
    story_date,
    story_fields,
    story_text,
)

__all__ = [
    "FACET_SIZE", "Facets", "Hit", "IndexBackendError", "IndexLockedError", "IndexMissingError",
    "IndexSchemaError", "QueryError", "ReadOnlyIndexError", "SearchParams", "SearchResult",
    "StoryIndex", "keyword_value", "story_date", "story_fields", "story_text",
]
