"""A bounded HTTP load generator, run as its own process: ``python -m tests.e2e.load``.

The load must not share a process (nor a GIL) with the app under test or with pytest, so the
tests start this module in a subprocess and read one JSON object from its standard output.
Request ``i`` goes to ``paths[i % len(paths)]``: two runs with the same arguments ask for the
same paths the same number of times, so their response bodies can be compared as multisets.

Each client thread owns one ``http.client`` connection (reopened when the server closes it, as
gunicorn's sync workers do after every response). The run stops after ``--requests`` requests
or ``--max-seconds``, whichever comes first.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import itertools
import json
import threading
import time
from collections import Counter
from urllib.parse import urlsplit


def _client(
    host: str,
    port: int,
    paths: list[str],
    tickets: itertools.count[int],
    total: int,
    deadline: float,
    out: dict[str, object],
    lock: threading.Lock,
) -> None:
    latencies: list[float] = []
    bodies: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    errors: list[str] = []
    conn = http.client.HTTPConnection(host, port, timeout=30)
    while time.monotonic() < deadline:
        i = next(tickets)  # itertools.count is atomic under the GIL
        if i >= total:
            break
        path = paths[i % len(paths)]
        began = time.perf_counter()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            errors.append(f"{path}: {type(error).__name__}: {error}")
            conn.close()
            continue
        latencies.append((time.perf_counter() - began) * 1000)
        statuses[f"{path} {response.status}"] += 1
        digest = hashlib.sha256(body).hexdigest()[:16]
        bodies[f"{path} {response.status} {digest}"] += 1
        if response.will_close:
            conn.close()
    conn.close()
    with lock:
        out.setdefault("latencies_ms", []).extend(latencies)  # type: ignore[attr-defined]
        out.setdefault("bodies", Counter()).update(bodies)  # type: ignore[attr-defined]
        out.setdefault("statuses", Counter()).update(statuses)  # type: ignore[attr-defined]
        out.setdefault("errors", []).extend(errors)  # type: ignore[attr-defined]


def run(
    base_url: str, paths: list[str], total: int, concurrency: int, max_s: float
) -> dict[str, object]:
    """Send ``total`` GETs over ``concurrency`` connections; return what was seen."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    tickets = itertools.count()
    out: dict[str, object] = {}
    lock = threading.Lock()
    began = time.monotonic()
    deadline = began + max_s
    threads = [
        threading.Thread(
            target=_client, args=(host, port, paths, tickets, total, deadline, out, lock)
        )
        for _ in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out["elapsed_s"] = time.monotonic() - began
    out.setdefault("latencies_ms", [])
    out.setdefault("bodies", {})
    out.setdefault("statuses", {})
    out.setdefault("errors", [])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("base_url")
    parser.add_argument("--paths", default="/health", help="comma-separated paths")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=30.0)
    args = parser.parse_args()
    paths = [p for p in args.paths.split(",") if p]
    result = run(args.base_url, paths, args.requests, args.concurrency, args.max_seconds)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
