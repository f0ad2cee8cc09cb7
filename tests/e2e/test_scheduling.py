"""The front and the keyholder ask the kernel for short scheduler slices on their event-loop threads.

Read back from the kernel's own accounting (/proc/<pid>/task/<tid>/sched, present when the kernel
has scheduler debugging; the custom slice exists from Linux 6.12). Skipped where either is missing.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest

from conftest import children_of, start_gateway, stop_process, wait_until


def kernel_has_custom_slices() -> bool:
    release = re.match(r"(\d+)\.(\d+)", os.uname().release)
    sched = Path("/proc/self/sched")
    return (bool(release) and (int(release.group(1)), int(release.group(2))) >= (6, 12)
            and sched.exists() and "se.slice" in sched.read_text())


def loop_slices(pid: int) -> list[int]:
    """se.slice (ns) of each NIO event-loop thread of process `pid`."""
    slices = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if not (task / "comm").read_text().startswith("NIO-"):
                continue
            match = re.search(r"se\.slice\s*:\s*(\d+)", (task / "sched").read_text())
        except OSError:
            continue
        if match:
            slices.append(int(match.group(1)))
    return slices


CONFIG = ("{server}providers:\n  p: {{kind: openai-compatible, base_url: 'http://127.0.0.1:9/v1', key: k}}\n"
          "models:\n  - {{name: m, provider: p}}\n")


@pytest.mark.skipif(not kernel_has_custom_slices(), reason="kernel without EEVDF custom slices or sched debug info")
@pytest.mark.parametrize(("server", "expected"), [("", 100_000), ("server: {scheduler_slice_us: 250}\n", 250_000)])
def test_event_loops_of_front_and_keyholder_run_with_the_configured_slice(server: str, expected: int) -> None:
    with tempfile.TemporaryDirectory(prefix="gatehouse-sched-") as directory:
        started = start_gateway(Path(directory), CONFIG.format(server=server), "sk-fake-scheduling-0001")
        try:
            children = [pid for pid, _ in children_of(started.process.pid)]
            assert len(children) == 2, children  # the front and the keyholder
            # The request is made on each loop as it starts; give the loops a moment.
            assert wait_until(lambda: all(loop_slices(pid) and set(loop_slices(pid)) == {expected}
                                          for pid in children)), [loop_slices(pid) for pid in children]
        finally:
            stop_process(started.process)


@pytest.mark.skipif(not kernel_has_custom_slices(), reason="kernel without EEVDF custom slices or sched debug info")
def test_a_slice_of_zero_leaves_the_kernel_default() -> None:
    # This test process's own slice is the kernel's default (nothing here asks for another).
    default = int(re.search(r"se\.slice\s*:\s*(\d+)", Path("/proc/self/sched").read_text()).group(1))
    with tempfile.TemporaryDirectory(prefix="gatehouse-sched-") as directory:
        started = start_gateway(Path(directory), CONFIG.format(server="server: {scheduler_slice_us: 0}\n"),
                                "sk-fake-scheduling-0002")
        try:
            children = [pid for pid, _ in children_of(started.process.pid)]
            assert len(children) == 2, children  # the front and the keyholder
            for pid in children:
                assert wait_until(lambda: bool(loop_slices(pid))), loop_slices(pid)
                assert set(loop_slices(pid)) == {default}
        finally:
            stop_process(started.process)
