"""Processes the benchmark starts, and what they cost, read from /proc.

Every process is started in its own session (so its whole tree can be stopped by its process
group), registered, and stopped in reverse order when the benchmark ends, however it ends.
Only processes started here are ever signalled.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MB = 1024 * 1024


class StartError(RuntimeError):
    """A process exited or did not become ready in time."""


@dataclass
class Child:
    """A started process: its Popen, its log files and the stdout lines seen so far."""

    name: str
    popen: subprocess.Popen[str]
    log_dir: Path
    started_at: float
    lines: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tree(self) -> list[int]:
        """This process and all its live descendants."""
        return process_tree(self.pid)

    def stderr_tail(self, lines: int = 20) -> str:
        path = self.log_dir / f"{self.name}.stderr"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Supervisor:
    """Starts processes, waits for them to be ready, and stops all of them at the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []

    def start(
        self,
        name: str,
        argv: list[str],
        *,
        ready: str | None = None,
        timeout: float = 30.0,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
    ) -> tuple[Child, re.Match[str] | None]:
        """Start `argv`; with `ready`, wait until a stdout line matches that regex."""
        stderr = open(self.log_dir / f"{name}.stderr", "w")
        stdout_log = open(self.log_dir / f"{name}.stdout", "w")
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            bufsize=1,
            env=env if env is not None else dict(os.environ),
            cwd=cwd,
            start_new_session=True,
        )
        stderr.close()
        child = Child(name, popen, self.log_dir, time.monotonic())
        self.children.append(child)
        pattern = re.compile(ready) if ready else None
        matched: list[re.Match[str]] = []
        is_ready = threading.Event()

        def drain() -> None:
            assert popen.stdout is not None
            with stdout_log:
                for line in popen.stdout:
                    child.lines.append(line.rstrip("\n"))
                    stdout_log.write(line)
                    stdout_log.flush()
                    if pattern and not matched:
                        match = pattern.search(line)
                        if match:
                            matched.append(match)
                            is_ready.set()
            is_ready.set()

        threading.Thread(target=drain, name=f"drain-{name}", daemon=True).start()
        if pattern is None:
            return child, None
        deadline = time.monotonic() + timeout
        while not is_ready.wait(0.05):
            if time.monotonic() > deadline:
                self.stop(child)
                raise StartError(f"{name} not ready after {timeout:.0f} s\n{child.stderr_tail()}")
        if not matched:
            popen.wait(5)
            raise StartError(f"{name} exited with status {popen.returncode} before it was ready\n"
                             f"{child.stderr_tail()}")
        return child, matched[0]

    def stop(self, child: Child, grace: float = 10.0) -> None:
        """SIGTERM the process, then SIGKILL its process group if it lingers."""
        if child.popen.poll() is None:
            try:
                child.popen.send_signal(signal.SIGTERM)
                child.popen.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(child.pid, signal.SIGKILL)  # leftovers of its tree (its own session)
        except (ProcessLookupError, PermissionError):
            pass
        if child.popen.poll() is None:
            child.popen.wait(5)
        if child in self.children:
            self.children.remove(child)

    def stop_all(self) -> None:
        for child in reversed(list(self.children)):
            try:
                self.stop(child)
            except Exception as error:  # keep stopping the others
                print(f"bench: could not stop {child.name} ({child.pid}): {error}")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (field 3, state, is index 0)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def process_tree(root: int) -> list[int]:
    """`root` and its live descendants, found through the parent ids in /proc/*/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        if Path(f"/proc/{pid}").exists():
            tree.append(pid)
            pending.extend(children.get(pid, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of `pids` (utime + stime)."""
    total = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            pass
    return total


def pss_bytes(pids: list[int]) -> int:
    """Proportional set size: shared pages are divided among the processes that map them."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        except (OSError, ValueError):
            pass
    return total


class RssSampler:
    """Samples the summed RSS of a process tree in the background and keeps the peak; PSS
    too (every fifth sample: reading smaps_rollup costs more), since summed RSS counts the
    pages the processes share once per process."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        self.root = root
        self.interval = interval
        self.peak = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        pids = process_tree(self.root)
        last_listing = time.monotonic()
        samples = 0
        while not self._stop.is_set():
            if time.monotonic() - last_listing > 1.0:
                pids, last_listing = process_tree(self.root), time.monotonic()
            self.peak = max(self.peak, rss_bytes(pids))
            samples += 1
            if samples % 5 == 1:
                self.peak_pss = max(self.peak_pss, pss_bytes(pids))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
