"""Accounting on PostgreSQL: two gateway instances (each its own supervisor, keyholder and front) on one real
PostgreSQL server, started here in a throwaway cluster on loopback, enforce one budget and one RPM limit
together; then PostgreSQL is stopped mid-load and started again, and nothing recorded is lost."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import httpx
import openai
import pytest

from conftest import SIM_API_KEY, Gateway, gatehouse, start_gateway, start_simulator, stop_process, wait_until
from test_accounting import MESSAGES, crowd

PG_PASSWORD = "pg-fake-password-for-tests"
BINDIR = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Postgres:
    data: Path
    port: int
    process: subprocess.Popen | None = None

    def command(self, *argv: str) -> list[str]:
        # PostgreSQL refuses to run as root: CI runs as root, so the cluster belongs to the postgres user.
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command(str(BINDIR / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.data),
                         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=50"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until(self.ready, timeout=30), "PostgreSQL did not start"

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: smart shutdown; connections are closed
            self.process.wait(timeout=30)
            self.process = None

    @property
    def url(self) -> str:
        return f"postgres://gatehouse@127.0.0.1:{self.port}/postgres"


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    if BINDIR is None:
        pytest.fail("PostgreSQL's server is not installed (.ci/run installs Debian's postgresql)")
    root = Path(tempfile.mkdtemp(prefix="gatehouse-pg-"))
    data, pwfile = root / "data", root / "pwfile"
    pwfile.write_text(PG_PASSWORD + "\n")
    data.mkdir()
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (root, data, pwfile):
            os.chown(path, user.pw_uid, user.pw_gid)
    cluster = Postgres(data, free_port())
    subprocess.run(cluster.command(str(BINDIR / "initdb"), "-D", str(data), "-U", "gatehouse", "-E", "UTF8",
                                   "--auth=scram-sha-256", f"--pwfile={pwfile}"),
                   check=True, capture_output=True, timeout=120)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def two_instances(pg: Postgres) -> Iterator[tuple[Gateway, Gateway, object]]:
    """One simulator, two gateways on the same PostgreSQL; B trusts A's token authority."""
    sim = start_simulator()
    gateways: list[Gateway] = []
    with tempfile.TemporaryDirectory(prefix="gatehouse-pg-gw-") as directory:
        try:
            config = f"""providers:
  o: {{kind: openai, base_url: '{sim.base_url}/v1', key: k}}
models:
  - {{name: metered, provider: o, model: u-m}}
prices:
  u-m: {{input_per_mtok: 1000, output_per_mtok: 2000}}
state:
  driver: postgres
  url: {pg.url}
  password_key: pgpass
"""
            for name in ("a", "b"):
                root = Path(directory) / name
                root.mkdir()
                gateways.append(start_gateway(root, config, SIM_API_KEY, extra_keys={"pgpass": PG_PASSWORD}))
            a, b = gateways
            for key in (Path(a.state) / "trust").glob("*.pub"):
                shutil.copy(key, Path(b.state) / "trust" / key.name)
            probe = gatehouse("token", "mint", "--subject", "probe", state=a.state)
            client = openai.OpenAI(base_url=b.base_url + "/v1", api_key=probe, max_retries=0)

            def b_trusts_a() -> bool:
                try:
                    client.chat.completions.create(model="metered", messages=MESSAGES, max_tokens=1)
                    return True
                except openai.AuthenticationError:
                    return False

            assert wait_until(b_trusts_a, timeout=10)
            yield a, b, sim
        finally:
            for gateway in gateways:
                stop_process(gateway.process)
            stop_process(sim.process)


def usage_by_subject(gateway: Gateway, state: str) -> dict[str, dict]:
    reader = gatehouse("token", "mint", "--subject", "reader", "--scope", "usage:read", state=state)
    response = httpx.get(gateway.base_url + "/v1/gatehouse/usage", params={"group_by": "subject"},
                         headers={"authorization": f"Bearer {reader}"}, timeout=10)
    assert response.status_code == 200, response.text
    return {row["key"]: row for row in response.json()["data"]}


def test_two_instances_on_one_postgres_enforce_one_budget_and_one_rpm(postgres: Postgres) -> None:
    budget = Decimal("1.0")
    with two_instances(postgres) as (a, b, sim):
        token = gatehouse("token", "mint", "--subject", "shared", "--budget-usd", str(budget), "--rpm", "40",
                          state=a.state)
        clients = [openai.OpenAI(base_url=g.base_url + "/v1", api_key=token, max_retries=0, timeout=30) for g in (a, b)]
        sim.clear()
        costs, refusals, elapsed = crowd(clients, 200)
        assert len(costs) + sum(refusals.values()) == 200
        # docs/accounting.md: at most limit + (t + 2 s) / interval admitted over both instances; cost ≤ budget.
        assert len(costs) <= 40 + int((elapsed + 2) / 1.5) + 1, (len(costs), elapsed)
        assert sum(costs) <= budget
        assert refusals
        print(f"\n[two instances] 200 requests in {elapsed:.1f} s: {len(costs)} served for ${sum(costs)} of ${budget}, "
              f"refused {refusals}")
        served = [r for r in sim.requests() if r["path"].endswith("/chat/completions")]
        assert len(served) == len(costs)
        # Both instances' rows are in the one store, and their sum is what was served.
        def complete() -> bool:
            row = usage_by_subject(b, a.state).get("shared")
            return row is not None and row["requests"] == 200
        assert wait_until(complete, timeout=15)
        row = usage_by_subject(a, a.state)["shared"]
        assert Decimal(row["cost_usd"]) == sum(costs)


def test_postgres_stopped_mid_load_and_started_again_loses_nothing(postgres: Postgres) -> None:
    with two_instances(postgres) as (a, b, sim):
        token = gatehouse("token", "mint", "--subject", "outage", "--rpm", "600", "--budget-usd", "1000",
                          state=a.state)
        outcomes: dict[str, int] = {}
        lock = threading.Lock()
        stop = threading.Event()

        def load(gateway: Gateway) -> None:
            while not stop.is_set():
                response = httpx.post(gateway.base_url + "/v1/chat/completions", timeout=30,
                                      headers={"authorization": f"Bearer {token}"},
                                      json={"model": "metered", "messages": MESSAGES, "max_tokens": 3})
                if response.status_code == 200:
                    key = "200"
                else:
                    # Every refusal is a whole error in the caller's dialect.
                    key = f"{response.status_code}:{response.json()['error']['code']}"
                with lock:
                    outcomes[key] = outcomes.get(key, 0) + 1
                time.sleep(0.02)

        workers = [threading.Thread(target=load, args=(g,)) for g in (a, b, a, b)]
        for worker in workers:
            worker.start()
        time.sleep(1.5)
        postgres.stop()
        time.sleep(3)
        postgres.start()
        time.sleep(3)
        stop.set()
        for worker in workers:
            worker.join(timeout=60)
        total = sum(outcomes.values())
        print(f"\n[postgres outage] {total} requests over two instances, PostgreSQL down 3 s: {outcomes}")
        assert outcomes.get("200", 0) > 0
        assert set(outcomes) <= {"200", "503:accounting_unavailable", "429:rate_limited"}, outcomes
        # Every request the gateways answered is in the store once PostgreSQL is back: queued rows were written.
        def complete() -> bool:
            row = usage_by_subject(a, a.state).get("outage")
            return row is not None and row["requests"] == total
        assert wait_until(complete, timeout=20), (usage_by_subject(a, a.state).get("outage"), outcomes)
        # Each keyholder recorded the outage in its audit log.
        assert "ledger.unavailable" in (Path(a.state) / "audit" / "audit.log").read_text()
