"""Real channel servers for the alerts tests: a JSON webhook (HTTP) and an SMTP server,
both on 127.0.0.1, started and stopped by the fixtures."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from typing import Any, Iterator

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Webhook:
    """A JSON webhook receiver. ``received``: every request body that arrived;
    ``answered``: the ones it answered 200. ``fail_codes``: statuses to answer
    first (e.g. ``[503, 503]``); ``block_at``: the n-th request (1-based) is held
    open, never answered, until ``release`` is set (to kill a client mid-request)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[dict[str, Any]] = []
        self.answered: list[dict[str, Any]] = []
        self.fail_codes: list[int] = []
        self.block_at: int | None = None
        self.blocked = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/hook", **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"json://127.0.0.1:{self.port}{path}" + (f"?{query}" if query else "")

    def start(self) -> "Webhook":
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                payload = json.loads(body or b"{}")
                payload["_path"] = self.path
                with hook._lock:
                    hook.received.append(payload)
                    n = len(hook.received)
                    code = hook.fail_codes.pop(0) if hook.fail_codes else 200
                if hook.block_at == n:
                    hook.blocked.set()
                    hook.release.wait(60)
                    self.close_connection = True
                    return  # never answered
                if code == 200:  # recorded before the client can read the answer (no race with it)
                    with hook._lock:
                        hook.answered.append(payload)
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if code == 200 else b"unavailable")

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def titles(self, which: str = "answered") -> list[str]:
        return [p.get("title", "") for p in getattr(self, which)]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook().start()
    yield hook
    hook.stop()


class SMTPServer:
    """aiosmtpd on 127.0.0.1 accepting any login (no TLS); ``messages``: the envelopes received."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.messages: list[Any] = []
        server = self

        class Handler:
            async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
                server.messages.append(envelope)
                return "250 OK"

        def auth(*_args: Any) -> AuthResult:
            return AuthResult(success=True)

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     authenticator=auth, auth_require_tls=False)

    def url(self, to: str = "analyst@example.org") -> str:
        # plain SMTP on a custom port: mailto:// with mode=insecure (no STARTTLS, no SSL)
        return (f"mailto://alerts:secret@127.0.0.1:{self.port}?mode=insecure"
                f"&from=newswatch@example.org&to={to}")


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    import warnings

    server = SMTPServer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server.controller.start()
    yield server
    server.controller.stop()
