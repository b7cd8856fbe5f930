"""A small local HTTP server speaking enough of the Elasticsearch API to show failure modes.

Real servers cannot be told to answer 429, fail one item of a bulk request,
hang past a timeout or vanish for a while on cue; this one can. It keeps the
documents it accepted in a dict keyed by index and ``_id`` (an action without
``_id`` is stored under a fresh key, so a client that relied on
auto-generated ids would show duplicates) and logs every bulk request.

Behaviour is scripted per bulk request with :meth:`EsStub.script`: each entry
is consumed by one ``_bulk`` request, then requests succeed:

* ``"ok"``: apply every action, 200/201 per item;
* ``429`` / ``503`` (int): refuse the whole request with that status;
* ``("hang", seconds)``: sleep, then apply and answer (the client has timed out);
* ``{"id": status}``: apply all but the listed ids, which get that item status.

:meth:`EsStub.disappear` closes the listening socket for a while and reopens
it on the same port (connection refused meanwhile).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ERRORS = {400: "mapper_parsing_exception", 409: "version_conflict_engine_exception",
          406: "media_type_header_exception", 429: "es_rejected_execution_exception",
          503: "unavailable_shards_exception"}


class EsStub:
    """The stub's state and controls; :attr:`url` is its address."""

    def __init__(self, alias: str = "newswatch-stories") -> None:
        self.alias = alias
        self.index = alias + "-000001"
        self.docs: dict[tuple[str, str], dict[str, Any]] = {}
        self.applied: list[str] = []  # every applied index action's id (re-applications included)
        self.requests: list[dict[str, Any]] = []  # bulk requests: {"ids": [...], "answer": ...}
        self.refreshes = 0
        self._script: list[Any] = []
        self._lock = threading.Lock()
        self._fresh = itertools.count()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self._start()

    # -------------------------------------------------------------- control
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *steps: Any) -> None:
        with self._lock:
            self._script.extend(steps)

    def _next_step(self) -> Any:
        with self._lock:
            return self._script.pop(0) if self._script else "ok"

    def _start(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: a vanished node is really gone

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("X-Elastic-Product", "Elasticsearch")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): what a real node sees too

            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def do_GET(self) -> None:
                if self.path.startswith("/_alias/"):
                    self._send(200, {stub.index: {"aliases": {stub.alias: {"is_write_index": True}}}})
                else:
                    self._send(200, {"name": "stub", "version": {"number": "9.1.0", "build_flavor": "default"},
                                     "tagline": "You Know, for Search"})

            def do_POST(self) -> None:
                body = self._body()
                if self.path.split("?")[0].endswith("/_refresh"):
                    stub.refreshes += 1
                    self._send(200, {"_shards": {"total": 1, "successful": 1, "failed": 0}})
                elif self.path.split("?")[0].endswith("/_bulk"):
                    status, answer = stub._bulk(body)
                    self._send(status, answer)
                else:
                    self._send(404, {"error": {"type": "no_handler", "reason": self.path}, "status": 404})

            do_PUT = do_POST  # the client sends PUT /{index}/_bulk

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True, name="es-stub").start()

    def disappear(self, seconds: float) -> threading.Thread:
        """Stop listening now; listen again on the same port after ``seconds`` (in the background)."""
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

        def back() -> None:
            time.sleep(seconds)
            self._start()

        t = threading.Thread(target=back, daemon=True, name="es-stub-return")
        t.start()
        return t

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -------------------------------------------------------------- bulk
    def _bulk(self, body: bytes) -> tuple[int, Any]:
        lines = [json.loads(x) for x in body.decode("utf-8").splitlines() if x.strip()]
        actions: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
        i = 0
        while i < len(lines):
            op, meta = next(iter(lines[i].items()))
            source = None
            if op in ("index", "create", "update"):
                source = lines[i + 1]
                i += 1
            actions.append((op, meta, source))
            i += 1
        ids = [str(meta.get("_id")) for _, meta, _ in actions]
        step = self._next_step()
        record: dict[str, Any] = {"ids": ids, "step": step}
        self.requests.append(record)
        if isinstance(step, int):
            return step, {"error": {"type": ERRORS.get(step, "error"), "reason": "scripted"}, "status": step}
        if isinstance(step, tuple) and step[0] == "hang":
            time.sleep(step[1])
            step = "ok"
        per_item: dict[str, int] = step if isinstance(step, dict) else {}
        items = []
        for op, meta, source in actions:
            sid = meta.get("_id")
            index = meta.get("_index", self.index)
            status = per_item.get(str(sid), 0)
            if status:
                items.append({op: {"_index": index, "_id": sid, "status": status,
                                   "error": {"type": ERRORS.get(status, "error"), "reason": f"scripted {status}"}}})
                continue
            key = (index, str(sid) if sid is not None else f"auto-{next(self._fresh)}")
            if op == "delete":
                found = self.docs.pop(key, None)
                items.append({op: {"_index": index, "_id": sid, "status": 200 if found else 404}})
            else:
                created = key not in self.docs
                self.docs[key] = source or {}
                self.applied.append(str(sid))
                items.append({op: {"_index": index, "_id": sid, "status": 201 if created else 200,
                                   "result": "created" if created else "updated"}})
        errors = any(next(iter(it.values()))["status"] >= 300 for it in items)
        return 200, {"took": 1, "errors": errors, "items": items}

    def ids(self) -> list[str]:
        return sorted(k[1] for k in self.docs)
