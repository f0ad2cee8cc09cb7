"""A fixed-rate load of one minute on a model of three deployments, one of which fails 30% of its requests:
the callers see no error, and the test prints what the retried requests cost in added latency.

GATEHOUSE_LOAD_SECONDS (default 60) and GATEHOUSE_LOAD_RATE (requests per second, default 40) bound it.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from test_failover import deployments, group

SECONDS = float(os.environ.get("GATEHOUSE_LOAD_SECONDS", "60"))
RATE = float(os.environ.get("GATEHOUSE_LOAD_RATE", "40"))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def test_one_deployment_failing_30_percent_costs_callers_no_errors(capsys: pytest.CaptureFixture[str]) -> None:
    providers = {
        "a": ("openai", []),
        "b": ("openai", []),
        "flaky": ("openai", ["--fault", "500", "--fault-rate", "0.3", "--seed", "7"]),
    }
    with group(providers, deployments(["a", "b", "flaky"])) as g:
        url = g.gateway.base_url + "/v1/chat/completions"
        headers = {"authorization": f"Bearer {g.gateway.token}"}
        body = {"model": "smart", "messages": [{"role": "user", "content": "steady load"}]}
        results: list[tuple[int, int, float, str]] = []
        lock = threading.Lock()
        local = threading.local()

        def one() -> None:
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = httpx.Client(timeout=30)
            started = time.monotonic()
            response = client.post(url, json=body, headers=headers)
            elapsed = time.monotonic() - started
            with lock:
                results.append((response.status_code, int(response.headers.get("x-gatehouse-attempts", "0")), elapsed,
                                response.text[:200] if response.status_code != 200 else ""))

        total = int(SECONDS * RATE)
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            for index in range(total):
                delay = start + index / RATE - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(one)
        errors = [r for r in results if r[0] != 200]
        assert len(results) == total
        assert errors == [], errors[:5]
        first = [r[2] * 1000 for r in results if r[1] == 1]
        retried = [r[2] * 1000 for r in results if r[1] > 1]
        view = g.routes()["smart"]["flaky"]
        with capsys.disabled():
            print(f"\n[failover load] {total} requests at {RATE:g}/s over {SECONDS:g} s, one of three deployments failing 30%:"
                  f" 0 errors; {len(retried)} retried; p50 {statistics.median(first):.2f} ms first-attempt,"
                  + (f" {statistics.median(retried):.2f} ms retried (p95 {percentile(retried, 0.95):.2f} ms);"
                     if retried else " none retried;")
                  + f" flaky now {view['state']}")
        assert retried, "the failing deployment was asked and its failures retried"
