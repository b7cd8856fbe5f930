"""Fixtures of the Elasticsearch backend tests: the osmem test double, the failure stub, stories."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from newswatch.index.es_index import ElasticsearchIndex
from newswatch.index.es_setup import IndexLayout, setup
from tests.fixtures.osmem import es_client, osmem_clone_url, osmem_process  # noqa: F401
from tests.index.es.stub import EsStub


@pytest.fixture
def es_index(osmem_clone_url: str) -> Iterator[ElasticsearchIndex]:
    """An ElasticsearchIndex on a fresh osmem clone, after `index setup`."""
    client = es_client(osmem_clone_url)
    setup(client, IndexLayout())
    ix = ElasticsearchIndex(url=osmem_clone_url, server_mode="serverless")
    try:
        yield ix
    finally:
        ix.close()
        client.close()


@pytest.fixture
def stub() -> Iterator[EsStub]:
    server = EsStub()
    try:
        yield server
    finally:
        server.stop()


def stub_index(stub: EsStub, **kw: Any) -> ElasticsearchIndex:
    """An index on the stub with production client settings and short, test-sized retry timings."""
    opts: dict[str, Any] = {"retry_initial_s": 0.05, "retry_max_delay_s": 0.2, "retry_max_time_s": 20.0,
                            "request_timeout_s": 5.0}
    opts.update(kw)
    return ElasticsearchIndex(url=stub.url, **opts)
