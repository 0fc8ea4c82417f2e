"""The server under load, on loopback only: `python app.py` is started on a free local port against index/,
N clients ask `/api/ask` (extractive answers to questions of the development set) for a fixed time, and one
more client polls `/healthz` every 100 ms throughout. Prints answers/s, latency percentiles, errors by status
(429 is the queue bound at work, not a failure), and the `/healthz` latency the load leaves.

    python benchmarks/load.py                       # 50 clients for 60 s (build the index first: make index)
    python benchmarks/load.py --clients 20 --seconds 30

Bounded: every request has a timeout, the run stops after --seconds, and the server is stopped at the end.
Target (issue 13): /healthz p99 under 100 ms with 50 clients.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def questions() -> list[str]:
    lines = (ROOT / "eval" / "dev-situations.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def start_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "POLICY_QA_PORT": str(port), "POLICY_QA_HOST": "127.0.0.1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.setdefault("POLICY_QA_REVIEW_DB", "/tmp/policy-qa-load-reviews.sqlite")
    server = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("app.py exited; run it by hand to see why (is the index built? make index)")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
    server.terminate()
    raise SystemExit("app.py did not answer within 180 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    options = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(port)
    asked = questions()
    latencies: list[float] = []
    statuses: Counter = Counter()
    health: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + options.seconds

    def client(number: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            n = number
            while time.monotonic() < stop_at:
                question = asked[n % len(asked)]
                n += options.clients
                started = time.perf_counter()
                try:
                    status = http.post("/api/ask", json={"question": question, "mode": "extractive"}).status_code
                except httpx.HTTPError as error:
                    status = type(error).__name__
                elapsed = time.perf_counter() - started
                with lock:
                    statuses[status] += 1
                    if status == 200:
                        latencies.append(elapsed)
                if status == 429:
                    time.sleep(2)  # as Retry-After asks

    def poll_health() -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                http.get("/healthz")
                health.append(time.perf_counter() - started)
                time.sleep(0.1)

    try:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(options.clients)]
        threads.append(threading.Thread(target=poll_health))
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
    finally:
        server.terminate()
        server.wait(timeout=30)

    answered = statuses.get(200, 0)
    print(f"{options.clients} clients, {wall:.0f} s, loopback, {os.cpu_count()} cores")
    print("| measure | value |")
    print("|---|---|")
    print(f"| answers | {answered} ({answered / wall:.1f}/s) |")
    for share in (0.5, 0.95, 0.99):
        print(f"| answer latency p{int(share * 100)} | {percentile(latencies, share):.2f} s |")
    print(f"| responses by status | {', '.join(f'{k}: {v}' for k, v in sorted(statuses.items(), key=str))} |")
    errors = sum(v for k, v in statuses.items() if k not in (200, 429))
    print(f"| errors (not 200 or 429) | {errors} |")
    print(f"| /healthz polls | {len(health)} |")
    print(
        f"| /healthz p50 / p99 / max | {statistics.median(health) * 1000:.0f} / {percentile(health, 0.99) * 1000:.0f} / {max(health) * 1000:.0f} ms |"
    )


if __name__ == "__main__":
    main()
