"""Connectors: the I/O edge that turns feeds, wires and files into RawArticles.

Sources with a lifecycle (``setup``/``poll``/``ack``/``close``, see
:mod:`connectors.base`): :class:`connectors.rss.RssSource` (RSS/Atom/RDF/JSON
Feed over HTTP or from files) and :class:`connectors.wire.WireDropSource`
(NewsML-G2/NDJSON drop folder). One-shot reading: :func:`connectors.files.read_any`.
The parsers in the middle are pure: ``parse_feed``, ``parse_newsml``, ``parse_ndjson``.
"""
