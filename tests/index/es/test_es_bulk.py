"""Bulk actions, batching and the retry loop, with an in-memory ``send`` and a fake clock."""

from __future__ import annotations

import json
import random

import pytest

from newswatch.index.es_bulk import (
    BulkPolicy,
    BulkRetryExhaustedError,
    BulkSender,
    TransientError,
    backoff_delays,
    batches,
    delete_action,
    index_action,
    item_verdict,
)
from newswatch.index.es_index import story_action, story_document
from newswatch.index.base import story_fields
from tests.index.factories import make_stories


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def test_index_action_is_ndjson_with_story_id_as_id():
    story = make_stories(1)[0]
    action = story_action(story)
    head, body, end = action.lines.decode().split("\n")
    assert end == "" and json.loads(head) == {"index": {"_id": story.id}}
    doc = json.loads(body)
    assert doc == json.loads(json.dumps(story_document(story)))
    assert doc["doc"]["id"] == story.id and doc["id"] == story.id
    assert json.loads(action.payload)["id"] == story.id
    fields = story_fields(story)
    for name, values in fields.items():
        if values and name not in ("id", "title", "text"):
            assert doc[name] == values
    assert doc["published"].endswith("Z") and "." not in doc["published"]
    assert delete_action("x").lines == b'{"delete":{"_id":"x"}}\n'


def test_batches_respect_count_and_bytes():
    actions = [index_action(f"s{i}", {"t": "x" * 90}) for i in range(10)]
    size = actions[0].size
    by_count = list(batches(actions, max_docs=3, max_bytes=10**9))
    assert [len(b) for b in by_count] == [3, 3, 3, 1]
    by_bytes = list(batches(actions, max_docs=100, max_bytes=size * 4 + 1))
    assert [len(b) for b in by_bytes] == [4, 4, 2]
    assert all(sum(a.size for a in b) <= size * 4 + 1 for b in by_bytes)
    huge = index_action("big", {"t": "y" * 5000})
    assert [len(b) for b in batches([huge, *actions[:2]], 100, 1000)] == [1, 2]  # oversize goes alone
    assert [a.id for b in by_bytes for a in b] == [a.id for a in actions]


@pytest.mark.parametrize("op,status,verdict", [
    ("index", 200, "ok"), ("index", 201, "ok"), ("delete", 404, "ok"), ("index", 404, "fail"),
    ("index", 429, "retry"), ("index", 409, "retry"), ("index", 503, "retry"), ("index", 400, "fail"),
    ("index", 413, "fail")])
def test_item_verdicts(op, status, verdict):
    assert item_verdict(op, status) == verdict


def test_backoff_doubles_with_jitter_up_to_cap():
    policy = BulkPolicy(retry_initial_s=1.0, retry_max_delay_s=8.0)
    delays = backoff_delays(policy, random.Random(1))
    got = [next(delays) for _ in range(6)]
    for d, base in zip(got, [1, 2, 4, 8, 8, 8]):
        assert base / 2 <= d <= base


def _answer(body: bytes, statuses: dict[str, int]) -> dict:
    items = []
    for line in body.decode().splitlines():
        obj = json.loads(line)
        if "index" in obj or "delete" in obj:
            op = "index" if "index" in obj else "delete"
            sid = obj[op]["_id"]
            st = statuses.get(sid, 201)
            items.append({op: {"_id": sid, "status": st, **({"error": {"type": "t", "reason": "r"}}
                                                             if st >= 300 else {})}})
    return {"errors": True, "items": items}


def test_partial_failures_retry_429_and_report_400():
    fc = FakeClock()
    calls: list[list[str]] = []
    answers = [{"b": 429, "c": 400}, {}]

    def send(body: bytes) -> dict:
        calls.append([json.loads(x)["index"]["_id"] for x in body.decode().splitlines() if '"index"' in x])
        return _answer(body, answers.pop(0))

    sender = BulkSender(send, BulkPolicy(retry_initial_s=0.1), sleep=fc.sleep, clock=fc.clock)
    out = sender.write([index_action(x, {"v": x}, record=x) for x in "abc"])
    assert calls == [["a", "b", "c"], ["b"]]
    assert out.acknowledged == 2 and out.retries == 1 and out.requests == 2
    assert [(f.id, f.status, f.payload) for f in out.failures] == [("c", 400, "c")]


def test_transient_failures_give_up_after_the_budget():
    fc = FakeClock()

    def send(body: bytes) -> dict:
        raise TransientError("HTTP 503", 503)

    sender = BulkSender(send, BulkPolicy(retry_initial_s=1, retry_max_delay_s=4, retry_max_time_s=30),
                        sleep=fc.sleep, clock=fc.clock)
    with pytest.raises(BulkRetryExhaustedError, match="HTTP 503"):
        sender.write([index_action("a", {})])
    assert fc.now <= 30 and sum(fc.slept) == fc.now and len(fc.slept) >= 5


def test_raw_fields_are_spliced_as_json():
    a = index_action("x", {"id": "x"}, raw={"doc": '{"a":[1,"é"]}'})
    assert json.loads(a.lines.decode().splitlines()[1]) == {"id": "x", "doc": {"a": [1, "é"]}}
    b = index_action("y", {}, raw={"doc": "{}"})
    assert json.loads(b.lines.decode().splitlines()[1]) == {"doc": {}}
