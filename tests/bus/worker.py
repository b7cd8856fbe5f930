"""Helper process for the multi-process bus tests (run as a script, not collected).

Modes:
  publish PATH PREFIX N BATCH   publish N distinct articles in batches, print "done"
  consume PATH LEASE_S           lease+ack until the queue stays empty 1 s; print each key
  hold PATH N LEASE_S            lease N messages, print their offsets, then sleep forever
  hold-in-tx PATH N LEASE_S      lease N, then inside an open transaction add alerts for
                                 them (uncommitted), print "in-tx", sleep forever
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from newswatch.bus.local import LocalBus
from newswatch.ids import alert_id
from newswatch.records import Alert, RawArticle


def main(argv: list[str]) -> None:
    mode, path = argv[0], Path(argv[1])
    bus = LocalBus(path, poll_s=0.02)
    if mode == "publish":
        prefix, n, batch = argv[2], int(argv[3]), int(argv[4])
        arts = [RawArticle.create(source_id=prefix, title=f"{prefix} story {i}", url=f"https://ex.com/{prefix}/{i}")
                for i in range(n)]
        for i in range(0, n, batch):
            bus.publish(arts[i:i + batch])
        print("done", flush=True)
    elif mode == "consume":
        lease_s = float(argv[2])
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < 1.0:
            msgs = bus.lease(25, lease_s)
            if not msgs:
                bus.wait(0.2)
                continue
            idle_since = time.monotonic()
            for m in msgs:
                print(m.key, flush=False)
            sys.stdout.flush()
            bus.ack([m.offset for m in msgs])
        print("done", flush=True)
    elif mode in ("hold", "hold-in-tx"):
        n, lease_s = int(argv[2]), float(argv[3])
        msgs = bus.lease(n, lease_s)
        print(" ".join(str(m.offset) for m in msgs), flush=True)
        if mode == "hold-in-tx":
            from newswatch.alerts.outbox import AlertOutbox
            outbox = AlertOutbox(path)
            alerts = [Alert(id=alert_id("t", m.key), topic_id="t", story_id=m.key) for m in msgs]
            with bus.transaction():
                outbox.add(alerts)
                bus.ack([m.offset for m in msgs[: len(msgs) // 2]])
                print("in-tx", flush=True)
                time.sleep(3600)
        time.sleep(3600)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1:])
