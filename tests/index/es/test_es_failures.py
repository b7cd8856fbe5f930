"""Failure modes against a local HTTP stub of the bulk API: nothing lost, nothing duplicated.

The index talks to the stub with production client settings (``server_mode``
"stack"); only retry timings are shortened. Real servers cannot be made to
answer 429, fail single items, hang or vanish on cue — hence the stub.
"""

from __future__ import annotations

import time

import pytest

from newswatch.index.base import IndexBackendError, ReadOnlyIndexError
from newswatch.index.es_bulk import BulkRetryExhaustedError
from newswatch.records import DeadLetter, Story
from tests.index.es.conftest import stub_index
from tests.index.es.stub import EsStub
from tests.index.factories import make_stories

#: How long the node stays away in the outage test (production sees minutes; same code path).
OUTAGE_S = 3.0


def assert_exactly_once(stub: EsStub, stories: list[Story], *, missing: set[str] = frozenset()) -> None:
    expected = sorted(s.id for s in stories if s.id not in missing)
    assert stub.ids() == expected  # nothing lost, no extra documents
    assert all(r_id != "None" for req in stub.requests for r_id in req["ids"])  # every action carried _id


def test_429_then_success(stub: EsStub):
    stories = make_stories(30)
    stub.script(429, 429)
    with stub_index(stub) as ix:
        assert ix.upsert(stories) == 30
        ix.commit()
        assert ix.stats["retries"] == 2 and ix.take_dead_letters() == []
    assert [r["step"] for r in stub.requests] == [429, 429, "ok"]
    assert stub.refreshes == 1
    assert_exactly_once(stub, stories)


def test_partial_bulk_errors_dead_letter_the_400_and_retry_the_429(stub: EsStub):
    stories = make_stories(10)
    bad, busy = stories[3].id, stories[7].id
    stub.script({bad: 400, busy: 429})
    with stub_index(stub) as ix:
        ix.upsert(stories)
        ix.commit()
        dead = ix.take_dead_letters()
        assert ix.take_dead_letters() == []  # taken once
    assert stub.requests[1]["ids"] == [busy]  # only the 429 item was re-sent
    assert len(dead) == 1 and isinstance(dead[0], DeadLetter)
    assert dead[0].stage == "index" and "400" in dead[0].reason and "mapper_parsing_exception" in dead[0].reason
    assert Story.from_json(dead[0].payload) == stories[3]  # the story itself is kept for replay
    assert_exactly_once(stub, stories, missing={bad})


def test_timeout_then_retry_applies_once(stub: EsStub):
    stories = make_stories(5)
    stub.script(("hang", 1.5))  # the first request is applied after the client gave up
    with stub_index(stub, request_timeout_s=0.5) as ix:
        ix.upsert(stories)
        ix.commit()
    assert len(stub.requests) >= 2
    time.sleep(1.2)  # let the hung request finish applying
    assert_exactly_once(stub, stories)  # applied twice, stored once: the id is the key


def test_node_disappears_for_a_while(stub: EsStub):
    first, second = make_stories(20), make_stories(20, seed=9, prefix="t")
    with stub_index(stub, retry_max_time_s=OUTAGE_S * 5) as ix:
        ix.upsert(first)
        ix.commit()
        returned = stub.disappear(OUTAGE_S)
        started = time.monotonic()
        ix.upsert(second)
        ix.commit()  # blocks through the outage, retrying with backoff
        waited = time.monotonic() - started
        returned.join()
        assert ix.stats["retries"] >= 1
    assert waited >= OUTAGE_S * 0.9
    assert_exactly_once(stub, first + second)


def test_outage_longer_than_the_budget_raises_and_keeps_the_buffer(stub: EsStub):
    stories = make_stories(8)
    with stub_index(stub, retry_max_time_s=0.5) as ix:
        back = stub.disappear(1.5)
        ix.upsert(stories)
        with pytest.raises(BulkRetryExhaustedError, match="redelivered"):
            ix.commit()
        back.join()
        ix.commit()  # the same actions, still buffered, go through now
    assert_exactly_once(stub, stories)


def test_back_pressure_flushes_when_the_buffer_is_full(stub: EsStub):
    stories = make_stories(25)
    with stub_index(stub, buffer_max_docs=10, bulk_max_docs=4) as ix:
        ix.upsert(stories[:9])
        assert stub.requests == []  # below the limit: buffered
        ix.upsert(stories[9:])  # crosses it twice: upsert itself waits for the cluster
        flushed = sum(len(r["ids"]) for r in stub.requests)
        assert flushed == 20 and all(len(r["ids"]) <= 4 for r in stub.requests)
        ix.commit()
    assert_exactly_once(stub, stories)


def test_409_items_are_retried(stub: EsStub):
    stories = make_stories(4)
    stub.script({stories[0].id: 409})
    with stub_index(stub) as ix:
        ix.upsert(stories)
        ix.commit()
        assert ix.take_dead_letters() == []
    assert stub.requests[1]["ids"] == [stories[0].id]
    assert_exactly_once(stub, stories)


def test_last_upsert_of_an_id_wins_and_deletes_are_sent(stub: EsStub):
    a, b = make_stories(2)
    newer = a.model_copy(update={"title": "newer title"})
    with stub_index(stub) as ix:
        assert ix.upsert([a, b, newer]) == 2
        ix.commit()
        assert [sorted(r["ids"]) for r in stub.requests] == [[a.id, b.id]]  # one action per id
        ix.delete([b.id, "unknown"])
        ix.commit()
    assert stub.docs[(stub.index, a.id)]["title"] == "newer title"
    assert stub.ids() == [a.id]


def test_readonly_and_closed_and_auth_errors(stub: EsStub):
    ro = stub_index(stub, readonly=True)
    with pytest.raises(ReadOnlyIndexError):
        ro.upsert(make_stories(1))
    ro.close()
    ix = stub_index(stub)
    stub.script(401)
    ix.upsert(make_stories(1))
    with pytest.raises(IndexBackendError, match="credentials"):
        ix.commit()
    ix.close()
    with pytest.raises(IndexBackendError, match="closed"):
        ix.upsert(make_stories(1))


def test_secrets_never_in_repr(stub: EsStub):
    ix = stub_index(stub, api_key="c2VjcmV0LWlkOnNlY3JldC1rZXk=")
    try:
        assert "c2VjcmV0" not in repr(ix) and "c2VjcmV0" not in repr(ix.es)
    finally:
        ix.close()
    ix2 = stub_index(stub, basic_auth=("elastic", "hunter2"))
    try:
        assert "hunter2" not in repr(ix2)
    finally:
        ix2.close()


def test_version_mismatch_is_explained(stub: EsStub):
    """An 8.x cluster refuses elasticsearch-py 9's media types: say what to install."""
    stub.script(406)
    with stub_index(stub) as ix:
        ix.upsert(make_stories(1))
        with pytest.raises(IndexBackendError, match=r"elasticsearch>=8.13,<9"):
            ix.commit()
