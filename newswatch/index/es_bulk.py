"""Bulk writes to Elasticsearch: batching, bounded retries, per-item dead letters.

The write path of :class:`~newswatch.index.es_index.ElasticsearchIndex`, kept
apart from the client so every decision is testable with a fake ``send``:

* An :class:`Action` is one pre-encoded bulk action (``index`` with the story
  id as ``_id``, or ``delete``): deterministic ids make every write
  idempotent, so retrying a request that may have been applied is safe.
* :func:`batches` cuts actions into requests of at most ``max_docs`` actions
  and ``max_bytes`` body bytes (one action larger than ``max_bytes`` goes
  alone rather than never).
* :class:`BulkSender` sends the batches. A whole request failing with a
  transient error (429, 5xx, timeout, connection refused/reset: raised by
  ``send`` as :class:`TransientError`) is retried; so are the *items* of a
  partial response with status 429, 409 (a concurrent write to the same id:
  re-applying ours is what "last write wins" means) or 5xx. Items with any
  other error status (400 mapping errors, 413...) are not retried: they come
  back as :class:`ItemFailure` for the caller to store as dead letters.
  Retries back off exponentially with jitter (``retry_initial_s`` doubling up
  to ``retry_max_delay_s``) and stop after ``retry_max_time_s`` in total with
  :class:`BulkRetryExhaustedError`.

Delivery promise of :meth:`BulkSender.write`: when it returns, every action
was acknowledged by the cluster or is listed in ``failures`` (non-retryable);
when it raises, some actions may have been applied and some not — the caller
must not acknowledge its input, and re-sending everything is safe.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Literal, Mapping, Sequence, TypeVar

from newswatch.index.base import IndexBackendError

log = logging.getLogger(__name__)

Op = Literal["index", "delete"]
T = TypeVar("T")


class TransientError(Exception):
    """A bulk request failed as a whole in a way that may succeed later (429, 5xx, timeout, connection)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BulkRejectedError(IndexBackendError):
    """The cluster refused a whole bulk request for good (401/403 auth, 400 malformed, 404 no alias...)."""


class BulkRetryExhaustedError(IndexBackendError):
    """Transient failures lasted longer than ``retry_max_time_s``; nothing may be acknowledged."""


@dataclass(frozen=True, slots=True)
class Action:
    """One encoded bulk action: ``lines`` is the NDJSON (action line + source line for ``index``).

    ``record`` is what a dead letter keeps if the cluster refuses the action:
    a str, or an object with ``to_json()`` (a Story), serialised only then.
    """

    op: Op
    id: str
    lines: bytes
    record: Any = None

    @property
    def size(self) -> int:
        return len(self.lines)

    @property
    def payload(self) -> str:
        if self.record is None:
            return ""
        return self.record if isinstance(self.record, str) else self.record.to_json()


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """An action the cluster refused for good: its id, status, error type and reason."""

    id: str
    op: Op
    status: int
    error_type: str
    reason: str
    payload: str = ""

    def describe(self) -> str:
        return f"elasticsearch {self.op} {self.status} {self.error_type}: {self.reason}"


@dataclass(slots=True)
class BulkOutcome:
    """What :meth:`BulkSender.write` did: acknowledged actions, refused items, requests and retries."""

    acknowledged: int = 0
    failures: list[ItemFailure] = field(default_factory=list)
    requests: int = 0
    retries: int = 0


@dataclass(frozen=True, slots=True)
class BulkPolicy:
    """Batch limits and the retry budget (see :class:`~newswatch.index.es_settings.ElasticsearchSettings`)."""

    max_docs: int = 500
    max_bytes: int = 5_000_000
    retry_max_time_s: float = 120.0
    retry_initial_s: float = 0.5
    retry_max_delay_s: float = 30.0


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def index_action(story_id: str, source: Mapping[str, Any], *, record: Any = None,
                 raw: Mapping[str, str] | None = None) -> Action:
    """An ``index`` action with ``_id`` = story id (the alias is the request's target).

    ``raw`` adds fields whose values are already JSON text (the stored Story:
    spliced in, not decoded and re-encoded).
    """
    head = _dumps({"index": {"_id": story_id}})
    body = _dumps(source)
    if raw:
        extra = ",".join(f"{_dumps(k)}:{v}" for k, v in raw.items())
        body = body[:-1] + ("," if len(body) > 2 else "") + extra + "}"
    return Action("index", story_id, (head + "\n" + body + "\n").encode("utf-8", "surrogatepass"), record)


def delete_action(story_id: str) -> Action:
    """A ``delete`` action for ``story_id`` (404 = already gone = fine)."""
    return Action("delete", story_id, (_dumps({"delete": {"_id": story_id}}) + "\n").encode("utf-8"))


def batches(actions: Sequence[Action], max_docs: int, max_bytes: int) -> Iterator[list[Action]]:
    """Consecutive groups of at most ``max_docs`` actions and ``max_bytes`` bytes (an oversize action goes alone)."""
    batch: list[Action] = []
    size = 0
    for action in actions:
        if batch and (len(batch) >= max_docs or size + action.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(action)
        size += action.size
    if batch:
        yield batch


def item_verdict(op: str, status: int) -> Literal["ok", "retry", "fail"]:
    """What to do with one item of a bulk response, by status."""
    if 200 <= status < 300 or (op == "delete" and status == 404):
        return "ok"
    if status in (409, 429) or (status >= 500 and status != 501):
        return "retry"
    return "fail"


def backoff_delays(policy: BulkPolicy, rng: random.Random) -> Iterator[float]:
    """Exponential backoff with "equal jitter": d/2 + U(0, d/2), d doubling up to the cap."""
    delay = policy.retry_initial_s
    while True:
        yield delay / 2 + rng.uniform(0, delay / 2)
        delay = min(delay * 2, policy.retry_max_delay_s)


def retry_transient(fn: Callable[[], T], policy: BulkPolicy, *, what: str,
                    sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                    rng: random.Random | None = None) -> T:
    """``fn()``, retried with the same bounded backoff while it raises :class:`TransientError`."""
    deadline = clock() + policy.retry_max_time_s
    delays = backoff_delays(policy, rng or random.Random())
    while True:
        try:
            return fn()
        except TransientError as exc:
            delay = next(delays)
            if clock() + delay > deadline:
                raise BulkRetryExhaustedError(
                    f"{what} still failing after retrying for {policy.retry_max_time_s:.0f}s: {exc}") from exc
            log.warning("elasticsearch %s: retrying in %.1fs (%s)", what, delay, exc)
            sleep(delay)


def _error_of(result: Mapping[str, Any]) -> tuple[str, str]:
    err = result.get("error")
    if isinstance(err, Mapping):
        reason = str(err.get("reason") or "")
        caused = err.get("caused_by")
        if isinstance(caused, Mapping) and caused.get("reason"):
            reason = f"{reason} (caused by {caused.get('type')}: {caused.get('reason')})"
        return str(err.get("type") or "error"), reason
    return "error", str(err or "")


class BulkSender:
    """Send actions in batches with bounded retries (see the module docstring for the promise).

    ``send(body)`` posts one NDJSON body to ``_bulk`` and returns the decoded
    response; it raises :class:`TransientError` for retryable failures of the
    whole request and :class:`BulkRejectedError` for permanent ones.
    ``sleep``/``clock``/``rng`` are injectable so tests need not wait.
    """

    def __init__(self, send: Callable[[bytes], Mapping[str, Any]], policy: BulkPolicy, *,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self.send = send
        self.policy = policy
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()

    def write(self, actions: Iterable[Action]) -> BulkOutcome:
        pending = list(actions)
        outcome = BulkOutcome()
        if not pending:
            return outcome
        deadline = self.clock() + self.policy.retry_max_time_s
        delays = backoff_delays(self.policy, self.rng)
        while pending:
            retry: list[Action] = []
            last_error = ""
            for batch in batches(pending, self.policy.max_docs, self.policy.max_bytes):
                outcome.requests += 1
                try:
                    response = self.send(b"".join(a.lines for a in batch))
                except TransientError as exc:
                    retry.extend(batch)
                    last_error = str(exc)
                    continue
                retry.extend(self._items(batch, response, outcome))
                if retry and not last_error:
                    last_error = "some items were rejected with 429/409/5xx"
            if not retry:
                break
            delay = next(delays)
            left = deadline - self.clock()
            if left <= 0 or delay > left:
                raise BulkRetryExhaustedError(
                    f"{len(retry)} of the bulk actions still failing after retrying for "
                    f"{self.policy.retry_max_time_s:.0f}s (last error: {last_error}); nothing is lost: "
                    "the batch stays unacknowledged and is redelivered. Raise NEWSWATCH_ES_RETRY_MAX_TIME_S "
                    "to wait longer, and check the cluster's health.")
            log.warning("elasticsearch bulk: retrying %d action(s) in %.1fs (%s)", len(retry), delay, last_error)
            outcome.retries += 1
            self.sleep(delay)
            pending = retry
        return outcome

    @staticmethod
    def _items(batch: list[Action], response: Mapping[str, Any], outcome: BulkOutcome) -> list[Action]:
        items = response.get("items")
        if not isinstance(items, list) or len(items) != len(batch):
            raise BulkRejectedError(
                f"malformed bulk response: {len(items) if isinstance(items, list) else 'no'} items for "
                f"{len(batch)} actions")
        retry: list[Action] = []
        for action, item in zip(batch, items):
            result = item.get(action.op) or next(iter(item.values()), {})
            status = int(result.get("status", 0))
            verdict = item_verdict(action.op, status)
            if verdict == "ok":
                outcome.acknowledged += 1
            elif verdict == "retry":
                retry.append(action)
            else:
                etype, reason = _error_of(result)
                outcome.failures.append(ItemFailure(action.id, action.op, status, etype, reason, action.payload))
        return retry
