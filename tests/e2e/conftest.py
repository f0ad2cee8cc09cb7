"""Fixtures that start Gatehouse binaries for end-to-end tests.

The binary is ``$GATEHOUSE_BIN`` (default ``<repo>/.build/debug/gatehouse``). Processes are started
with :func:`start_process`, which waits for a line on stdout matching a pattern; gateway fixtures can
reuse it the same way the simulator fixtures do.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
GATEHOUSE_BIN = os.environ.get("GATEHOUSE_BIN", str(REPO_ROOT / ".build" / "debug" / "gatehouse"))
SIM_API_KEY = "sk-fake-sim-0000"
SIM_READY = r"gatehouse simulate listening on (http://(\S+):(\d+))"
READY_TIMEOUT_SECONDS = 20.0


class ProcessStartError(RuntimeError):
    pass


def start_process(
    args: Sequence[str],
    ready_pattern: str,
    *,
    timeout: float = READY_TIMEOUT_SECONDS,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> tuple[subprocess.Popen[str], re.Match[str]]:
    """Start ``args`` and wait until a stdout line matches ``ready_pattern``.

    Returns the process and the match. Stdout keeps being drained (and kept in ``process.output``,
    a list of lines) so the child never blocks on a full pipe; stderr is inherited. Raises
    :class:`ProcessStartError` (after killing the child) if it exits or times out first.
    """
    process = subprocess.Popen(
        list(args),
        stdout=subprocess.PIPE,
        stderr=None,
        stdin=subprocess.DEVNULL,
        text=True,
        bufsize=1,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    pattern = re.compile(ready_pattern)
    lines: list[str] = []
    matched: list[re.Match[str]] = []
    ready = threading.Event()

    def drain() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if not ready.is_set():
                match = pattern.search(line)
                if match:
                    matched.append(match)
                    ready.set()
        ready.set()  # EOF: wake the waiter so it can report the exit

    thread = threading.Thread(target=drain, name=f"drain-{Path(args[0]).name}", daemon=True)
    thread.start()
    process.output = lines  # type: ignore[attr-defined]
    if not ready.wait(timeout) or not matched:
        stop_process(process)
        raise ProcessStartError(
            f"{' '.join(args)} did not print /{ready_pattern}/ within {timeout}s "
            f"(exit code {process.returncode}); stdout: {lines[-20:]}"
        )
    return process, matched[0]


def stop_process(process: subprocess.Popen[str], grace: float = 5.0) -> None:
    """Terminate (SIGTERM), then kill if the process has not exited within ``grace`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(grace)


@dataclass
class Simulator:
    """A running ``gatehouse simulate``."""

    process: subprocess.Popen[str]
    base_url: str
    port: int
    api_key: str = SIM_API_KEY
    args: list[str] = field(default_factory=list)

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    def requests(self, limit: int | None = None) -> list[dict]:
        """What the simulator received, oldest first, credentials redacted (GET /_sim/requests)."""
        query = f"?limit={limit}" if limit is not None else ""
        with urllib.request.urlopen(f"{self.base_url}/_sim/requests{query}", timeout=10) as response:
            return json.loads(response.read())

    def clear(self) -> None:
        """Forget recorded requests (DELETE /_sim/requests)."""
        request = urllib.request.Request(f"{self.base_url}/_sim/requests", method="DELETE")
        with urllib.request.urlopen(request, timeout=10):
            pass


def start_simulator(*extra_args: str, api_key: str | None = SIM_API_KEY) -> Simulator:
    """Start ``gatehouse simulate --port 0`` (plus ``extra_args``) and wait until it listens."""
    if not Path(GATEHOUSE_BIN).exists():
        pytest.fail(f"gatehouse binary not found at {GATEHOUSE_BIN}; run `swift build` or set GATEHOUSE_BIN")
    args = [GATEHOUSE_BIN, "simulate", "--port", "0"]
    if api_key is not None:
        args += ["--api-key", api_key]
    args += list(extra_args)
    process, match = start_process(args, SIM_READY)
    return Simulator(
        process=process,
        base_url=match.group(1),
        port=int(match.group(3)),
        api_key=api_key or SIM_API_KEY,
        args=args,
    )


@pytest.fixture(scope="session")
def simulator() -> Iterator[Simulator]:
    """One simulator for the session, accepting only ``sk-fake-sim-0000``."""
    sim = start_simulator()
    try:
        yield sim
    finally:
        stop_process(sim.process)


@pytest.fixture(scope="session")
def simulator_factory() -> Iterator[Callable[..., Simulator]]:
    """Start extra simulators with options, e.g. ``simulator_factory("--fault", "429")``.

    Every simulator started through the factory is stopped at the end of the session.
    """
    started: list[Simulator] = []

    def factory(*extra_args: str, api_key: str | None = SIM_API_KEY) -> Simulator:
        sim = start_simulator(*extra_args, api_key=api_key)
        started.append(sim)
        return sim

    try:
        yield factory
    finally:
        for sim in started:
            stop_process(sim.process)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout``; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def gatehouse(*args: str, state: str, stdin: str | None = None) -> str:
    """Runs a `gatehouse` state command (`keys add`, `token mint`, …) against `state`; returns its stdout."""
    result = subprocess.run([GATEHOUSE_BIN, *args, "--state", state], input=stdin, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@dataclass
class Gateway:
    """A `gatehouse serve` started by :func:`start_gateway`."""

    process: subprocess.Popen[str]
    base_url: str
    token: str
    state: str
    stderr_path: Path


def start_gateway(root: Path, config: str, key: str, extra_keys: dict[str, str] | None = None) -> Gateway:
    """Writes `config` (YAML; its providers name the sealed key `k`), seals `key` as `k` (and each of
    `extra_keys`) in a new state directory under `root`, mints a token, and starts `gatehouse serve` on a free
    port, its stderr in a file."""
    state = str(root / "state")
    config_path = root / "gatehouse.yaml"
    config_path.write_text(config)
    gatehouse("keys", "add", "k", "--stdin", state=state, stdin=key + "\n")
    for name, value in (extra_keys or {}).items():
        gatehouse("keys", "add", name, "--stdin", state=state, stdin=value + "\n")
    token = gatehouse("token", "mint", "--subject", "e2e", state=state)
    stderr_path = root / "serve.stderr"
    process, match = start_process(
        ["/bin/sh", "-c", 'exec "$@" 2>>"$SERVE_STDERR"', "sh", GATEHOUSE_BIN, "serve", "--config", str(config_path),
         "--port", "0", "--state", state],
        r"gatehouse serve listening on (http://\S+:(\d+))", env={"SERVE_STDERR": str(stderr_path)})
    return Gateway(process, match.group(1), token, state, stderr_path)


def children_of(pid: int) -> list[tuple[int, str]]:
    """The processes whose parent is `pid`, with their command lines."""
    result = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if parent == pid:
            result.append((int(entry.name), command))
    return result
